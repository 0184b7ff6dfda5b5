"""Robust image loading: any file a dataset may hold becomes RGB ``ImageData`` or a ``DataError``.

Decisions that affect pixels (documented in ``docs/datasets.md``):

* EXIF orientation is applied (``ImageOps.exif_transpose``): pixels come out upright.
* Transparency (RGBA, LA, palette with a transparent index) is composited onto **white**. Dropping
  the alpha channel instead would reveal whatever colours happen to be stored under fully
  transparent pixels, which is arbitrary encoder output.
* 16-bit greyscale is reduced to 8 bits by keeping the high byte (rounded), not by clipping.
* Multi-frame files (GIF, TIFF) use their first frame.
* Images above ``max_pixels`` (default 100 MP) are refused before decoding, so a tiny file that
  declares enormous dimensions (a decompression bomb) cannot exhaust memory.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from chainlang.errors import DataError
from chainlang.image import ImageData

DEFAULT_MAX_PIXELS = 100_000_000

# Errors Pillow raises for unreadable, truncated, corrupt or oversized files.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read an image file as upright RGB pixels.

    Args:
        path: The image file.
        max_pixels: Refuse images with more pixels than this (checked from the header, before
            any pixel is decoded). Pillow's own hard limit still applies above ~179 MP.

    Returns:
        The image as :class:`ImageData` (H×W×3 uint8).

    Raises:
        DataError: The file is missing, empty, not an image, truncated, corrupt or too large.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"image file not found: {p}")
    if p.stat().st_size == 0:
        raise DataError(f"image file is empty (0 bytes): {p}")
    try:
        with _open_checked(p, max_pixels) as im:
            im.load()
            upright = ImageOps.exif_transpose(im)
            pixels = to_rgb_array(upright)
    except DataError:
        raise
    except DECODE_ERRORS as exc:
        raise DataError(f"cannot read image {p}: {exc}") from exc
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise DataError(f"image has zero size: {p}")
    return ImageData.of(pixels)


def image_size(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """The upright (width, height) of an image, read from its header without decoding pixels.

    Raises:
        DataError: The file is missing or not a readable image.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"image file not found: {p}")
    try:
        with _open_checked(p, max_pixels) as im:
            w, h = im.size
            # Orientations 5..8 rotate by 90 degrees, which swaps width and height.
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
    except DataError:
        raise
    except DECODE_ERRORS as exc:
        raise DataError(f"cannot read image {p}: {exc}") from exc
    return int(w), int(h)


def _open_checked(path: Path, max_pixels: int) -> Image.Image:
    """Open lazily and enforce the pixel cap from the header."""
    with warnings.catch_warnings():
        # Our own cap replaces Pillow's warning; tests turn warnings into errors.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise DataError(f"image is too large (decompression bomb?): {path}: {exc}") from exc
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise DataError(
            f"image is too large: {path} is {w}×{h} = {w * h:,} pixels, over the cap of "
            f"{max_pixels:,} (raise max_pixels if this is intended)"
        )
    if w == 0 or h == 0:
        im.close()
        raise DataError(f"image has zero size: {path}")
    return im


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """Convert a decoded PIL image of any mode to an H×W×3 uint8 RGB array.

    Raises:
        DataError: The mode has no sensible RGB interpretation.
    """
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8)
    if mode.startswith("I;16") or mode == "I":
        return _gray_to_rgb(_sixteen_to_eight(np.asarray(im)))
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        # Float images are taken as intensities in [0, 1] (the usual convention for "F" files).
        return _gray_to_rgb(np.round(np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255).astype(np.uint8))
    if (mode == "P" and "transparency" in im.info) or mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        return _composite_on_white(np.asarray(im.convert("RGBA"), dtype=np.uint8))
    try:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except ValueError as exc:
        raise DataError(f"unsupported image mode {mode!r}: {exc}") from exc


def _sixteen_to_eight(arr: np.ndarray) -> np.ndarray:
    """Map 16-bit intensities 0..65535 onto 0..255 (dividing by 257 maps 65535 to 255 exactly)."""
    wide = np.clip(arr.astype(np.int64), 0, 65535)
    return ((wide + 128) // 257).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    rgb = rgba[:, :, :3].astype(np.float32)
    out = rgb * alpha + 255.0 * (1.0 - alpha)
    return np.round(out).astype(np.uint8)
