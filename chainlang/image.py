"""Images as immutable, content-addressed values.

Every image that flows through a chain (inputs, crops, marked views) is an
:class:`ImageData`: RGB uint8 pixels plus a digest of their content. The
digest is what cache keys, the journal and the encoder memo use, so the same
pixels are encoded and paid for once however often they are asked about.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class ImageData:
    """Pixels plus their content digest. Equality and hashing use the digest."""

    pixels: np.ndarray  # H x W x 3 uint8 RGB (never modified after construction)
    digest: str  # sha256 hex of the pixel bytes + shape

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageData) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    @staticmethod
    def of(pixels: np.ndarray) -> ImageData:
        """Wrap an H x W x 3 uint8 array (made read-only) with its digest."""
        arr = np.ascontiguousarray(pixels, dtype=np.uint8)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 RGB array, got shape {arr.shape}")
        arr.setflags(write=False)
        return ImageData(arr, digest_of(arr))


def decode_image(data: bytes) -> ImageData:
    """An encoded image (PNG, JPEG, WebP ...) as RGB :class:`ImageData`.

    This is how a generated image (a provider's answer, a journal entry, a file
    of a run folder) becomes the value a chain computes with.

    Raises:
        ValueError: ``data`` is not an image PIL can read.
    """
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(data)) as img:
            return ImageData.of(np.asarray(img.convert("RGB")))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"not a readable image ({len(data)} bytes): {err}") from err


def digest_of(pixels: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes (hex)."""
    h = hashlib.sha256(f"{pixels.shape}|{pixels.dtype}|".encode())
    h.update(np.ascontiguousarray(pixels).data)
    return h.hexdigest()
