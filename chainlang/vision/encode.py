"""Encoding images for requests: a declared format policy, resizing, and a memo.

Request preparation is where the reference spent its CPU: every question
re-encoded a full-resolution PNG. Here an image is encoded in a declared
format (JPEG quality 90 by default: about 7x smaller than PNG for photos and
far faster to write), resized to what the provider actually looks at, and
encoded once per (content, size, policy) through an :class:`Encoder` memo.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from chainlang.errors import UsageError
from chainlang.image import ImageData

Format = Literal["jpeg", "png"]
_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


@dataclass(frozen=True, slots=True)
class EncodePolicy:
    """How images are written into requests.

    Attributes:
        format: ``jpeg`` (photos, markers) or ``png`` (lossless, e.g. masks).
        quality: JPEG quality 1..100 (ignored for PNG); 90 keeps thin marker lines crisp.
        subsampling: JPEG chroma subsampling; ``4:4:4`` keeps 1-px coloured lines sharp
            at some cost in size.
        png_level: zlib level for PNG (0..9).
    """

    format: Format = "jpeg"
    quality: int = 90
    subsampling: Literal["4:4:4", "4:2:2", "4:2:0"] = "4:2:0"
    png_level: int = 6

    def __post_init__(self) -> None:
        if self.format not in ("jpeg", "png"):
            raise UsageError(f"image format must be 'jpeg' or 'png', got {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"JPEG quality must be in 1..100, got {self.quality}")
        if self.subsampling not in _SUBSAMPLING:
            raise UsageError(f"unknown chroma subsampling {self.subsampling!r}")
        if not 0 <= self.png_level <= 9:
            raise UsageError(f"PNG level must be in 0..9, got {self.png_level}")

    @property
    def mime(self) -> str:
        """The media type of encoded images (``image/jpeg`` or ``image/png``)."""
        return f"image/{self.format}"


EncodingKey = tuple[tuple[int, int], EncodePolicy]  # (size sent, policy)


@dataclass(frozen=True, slots=True, eq=False)
class EncodedImage(ImageData):
    """An image prepared in another process: its digest, its size and the encodings
    made there for the requests that show it, without its pixels.

    A preparation worker (``chainlang.runtime.prep_pool``) draws and encodes the
    images of a request and ships this instead of the pixels, so the process that
    sends the request neither copies megabytes of pixels nor encodes them again.
    It is an :class:`ImageData` with the same digest (request keys, the journal and
    the simulated answerers see the same image) and the same ``size``; ``pixels`` is
    an empty ``H x W x 0`` array, so anything that would draw on it or encode it
    anew fails at once instead of reading made-up pixels.
    """

    encodings: tuple[tuple[EncodingKey, bytes], ...] = ()

    @staticmethod
    def stand_in(image: ImageData, encodings: dict[EncodingKey, bytes]) -> EncodedImage:
        """``image`` without its pixels, carrying ``encodings``."""
        height, width = image.pixels.shape[:2]
        return _encoded_image((height, width), image.digest, tuple(encodings.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its shape: a request of 16 crops carries 16 of these, and pickling
        # 16 empty numpy arrays was most of what the request cost to send.
        return _encoded_image, (self.pixels.shape[:2], self.digest, self.encodings)

    def encoded(self, target: tuple[int, int], policy: EncodePolicy) -> bytes:
        """The bytes prepared for ``(target, policy)``.

        Raises:
            UsageError: the image was not prepared for that size and policy (the
                preparing process and the sender disagree on the model's image rule).
        """
        for key, data in self.encodings:
            if key == (target, policy):
                return data
        made = ", ".join(f"{w}x{h} {p.format}" for (w, h), p in (k for k, _ in self.encodings))
        raise UsageError(
            f"image {self.digest[:12]} was prepared in a worker as [{made or 'nothing'}], "
            f"not as {target[0]}x{target[1]} {policy.format}; run with --workers 1"
        )


def _encoded_image(
    shape: tuple[int, int], digest: str, encodings: tuple[tuple[EncodingKey, bytes], ...]
) -> EncodedImage:
    placeholder = np.empty((*shape, 0), dtype=np.uint8)
    placeholder.setflags(write=False)
    return EncodedImage(placeholder, digest, encodings)


def encode(image: ImageData, policy: EncodePolicy | None = None) -> bytes:
    """The image's bytes in the policy's format (no resizing, no memo)."""
    policy = policy or EncodePolicy()
    if isinstance(image, EncodedImage):  # no pixels here: only what was prepared
        return image.encoded(image.size, policy)
    buffer = io.BytesIO()
    picture = Image.fromarray(image.pixels)
    if policy.format == "jpeg":
        picture.save(
            buffer,
            format="JPEG",
            quality=policy.quality,
            subsampling=_SUBSAMPLING[policy.subsampling],
        )
    else:
        picture.save(buffer, format="PNG", compress_level=policy.png_level)
    return buffer.getvalue()


def fit_size(
    size: tuple[int, int],
    max_long: int | None = None,
    max_short: int | None = None,
    max_pixels: int | None = None,
) -> tuple[int, int]:
    """The largest (width, height) with the same aspect that meets every limit; never larger.

    Raises:
        UsageError: a limit below 1.
    """
    width, height = size
    scale = 1.0
    for name, limit in (
        ("max_long", max_long),
        ("max_short", max_short),
        ("max_pixels", max_pixels),
    ):
        if limit is not None and limit < 1:
            raise UsageError(f"{name} must be >= 1, got {limit}")
    if max_long is not None:
        scale = min(scale, max_long / max(width, height))
    if max_short is not None:
        scale = min(scale, max_short / min(width, height))
    if max_pixels is not None:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return width, height
    # The epsilon keeps 3000 * (1568 / 3000) from flooring to 1567.
    return max(1, math.floor(width * scale + 1e-6)), max(1, math.floor(height * scale + 1e-6))


def resize_to_fit(
    image: ImageData,
    max_long: int | None = None,
    max_short: int | None = None,
    max_pixels: int | None = None,
) -> ImageData:
    """The image scaled down (Lanczos, antialiased) to meet the limits; never upscaled.

    Returns the same object when it already fits.

    Raises:
        UsageError: a limit below 1.
    """
    target = fit_size(image.size, max_long, max_short, max_pixels)
    if target == image.size:
        return image
    if isinstance(image, EncodedImage):
        raise UsageError(f"image {image.digest[:12]} was prepared in a worker: it has no pixels")
    resized = Image.fromarray(image.pixels).resize(target, Image.Resampling.LANCZOS)
    return ImageData.of(np.asarray(resized))


class Encoder:
    """Resize-and-encode with a bounded, thread-safe memo.

    The key is (image digest, target size, policy), so an image asked about in
    many questions (the full view in every segmentation batch) is encoded
    once. The memo drops the least recently used entries beyond
    ``max_entries`` or ``max_bytes``.
    """

    def __init__(self, max_entries: int = 512, max_bytes: int = 256 * 2**20) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise UsageError("an encoder memo needs room for at least one entry and one byte")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._memo: OrderedDict[tuple[str, tuple[int, int], EncodePolicy], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._memo)

    def encode(
        self,
        image: ImageData,
        policy: EncodePolicy | None = None,
        *,
        max_long: int | None = None,
        max_short: int | None = None,
        max_pixels: int | None = None,
    ) -> bytes:
        """Resize ``image`` to fit the limits and encode it, or return the memoised bytes."""
        policy = policy or EncodePolicy()
        target = fit_size(image.size, max_long, max_short, max_pixels)
        if isinstance(image, EncodedImage):  # encoded where it was drawn
            return image.encoded(target, policy)
        key = (image.digest, target, policy)
        with self._lock:
            found = self._memo.get(key)
            if found is not None:
                self._memo.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        data = encode(resize_to_fit(image, max_long, max_short, max_pixels), policy)
        self._store(key, data)
        return data

    def _store(self, key: tuple[str, tuple[int, int], EncodePolicy], data: bytes) -> None:
        with self._lock:
            if key in self._memo:
                return
            self._memo[key] = data
            self._bytes += len(data)
            while len(self._memo) > self.max_entries or (
                self._bytes > self.max_bytes and len(self._memo) > 1
            ):
                _, dropped = self._memo.popitem(last=False)
                self._bytes -= len(dropped)
