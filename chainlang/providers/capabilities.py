"""What each provider does with an image: the resolution it keeps and what it costs.

Sending more pixels than a provider keeps costs bandwidth and encoding time
and buys nothing, so images are resized here to the size the provider would
resize them to anyway, and the image-token estimate is computed from that
same size. Both follow the providers' published rules:

- openai, detail high: fit 2048×2048, then shortest side ≤ 768;
  tokens 85 + 170 per 512×512 tile. Detail low: fit 512×512; 85 tokens.
- anthropic: long edge ≤ 1568 and ≤ 1.15 MP; tokens ⌈w·h / 750⌉.
- gemini: long edge ≤ 3072 (our choice; Gemini tiles large images in 768
  squares itself); tokens 258 if both sides ≤ 384, else 258 per 768×768 tile.
- openai-compat: unchanged (the server decides); tokens estimated with the
  openai high-detail rule.

Images are sent as JPEG (quality 90) unless the spec says ``image_format=png``.
Images are only ever scaled down, never up. Encoding is memoised in an
:class:`ImageMemo` keyed by (content digest, target size, format), so each
distinct image is encoded once however many questions show it.
"""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np

from chainlang.errors import UsageError
from chainlang.image import ImageData
from chainlang.providers.base import Detail, ModelRef

FORMATS = {"jpeg": "image/jpeg", "png": "image/png"}
DEFAULT_FORMAT = "jpeg"  # ~7x smaller and far faster to write than PNG for photos


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """Largest image a provider keeps (None = no limit) and the format we send it in."""

    max_long: int | None = None
    max_short: int | None = None
    max_pixels: int | None = None
    fmt: str = DEFAULT_FORMAT


def image_policy(ref: ModelRef, detail: Detail = "high") -> ImagePolicy:
    """The resize policy for ``ref`` at ``detail`` (format: the ``image_format`` option)."""
    fmt = dict(ref.options).get("image_format", DEFAULT_FORMAT)
    if fmt not in FORMATS:
        raise UsageError(f"image_format={fmt!r} in {ref}: choose one of {', '.join(FORMATS)}")
    if ref.provider == "openai":
        if detail == "low":
            return ImagePolicy(max_long=512, fmt=fmt)
        return ImagePolicy(max_long=2048, max_short=768, fmt=fmt)
    if ref.provider == "anthropic":
        return ImagePolicy(max_long=1568, max_pixels=1_150_000, fmt=fmt)
    if ref.provider == "gemini":
        return ImagePolicy(max_long=3072, fmt=fmt)
    return ImagePolicy(fmt=fmt)


def target_size(size: tuple[int, int], policy: ImagePolicy) -> tuple[int, int]:
    """The (width, height) after scaling ``size`` down to fit ``policy`` (aspect kept)."""
    w, h = size
    scale = 1.0
    if policy.max_long and max(w, h) > policy.max_long:
        scale = policy.max_long / max(w, h)
    if policy.max_short and min(w, h) * scale > policy.max_short:
        scale = policy.max_short / min(w, h)
    if policy.max_pixels and w * h * scale * scale > policy.max_pixels:
        scale = math.sqrt(policy.max_pixels / (w * h))
    if scale >= 1.0:
        return w, h
    # the epsilon keeps 3000 * (1568 / 3000) from flooring to 1567
    return max(1, int(w * scale + 1e-6)), max(1, int(h * scale + 1e-6))


def image_tokens(ref: ModelRef, size: tuple[int, int], detail: Detail = "high") -> int:
    """Estimated input tokens for one image of ``size`` (before resizing) sent to ``ref``."""
    w, h = target_size(size, image_policy(ref, detail))
    if ref.provider == "anthropic":
        return math.ceil(w * h / 750)
    if ref.provider == "gemini":
        if w <= 384 and h <= 384:
            return 258
        return 258 * math.ceil(w / 768) * math.ceil(h / 768)
    if detail == "low" and ref.provider == "openai":
        return 85
    # OpenAI's tile rule, also our estimate for OpenAI-compatible servers.
    w2, h2 = target_size((w, h), ImagePolicy(max_long=2048, max_short=768))
    return 85 + 170 * math.ceil(w2 / 512) * math.ceil(h2 / 512)


class ImageMemo:
    """A bounded, thread-safe memo of encoded images keyed by (digest, size, format).

    One instance is shared by all providers of a run (the registry passes it),
    so an image shown to several models at the same size is encoded once.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self._entries: OrderedDict[tuple[str, tuple[int, int], str], bytes] = OrderedDict()
        self._max = max_entries
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def get_or_encode(self, image: ImageData, size: tuple[int, int], fmt: str) -> bytes:
        """Return the encoded bytes of ``image`` at ``size`` in ``fmt``, encoding on a miss."""
        key = (image.digest, size, fmt)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        data = _encode(image, size, fmt)  # outside the lock: encoding is the slow part
        with self._lock:
            self.misses += 1
            self._entries[key] = data
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return data


def prepare_image(
    image: ImageData,
    ref: ModelRef,
    detail: Detail = "high",
    *,
    memo: ImageMemo | None = None,
) -> tuple[bytes, str, tuple[int, int]]:
    """Resize ``image`` to what ``ref`` keeps and encode it.

    Returns:
        (encoded bytes, MIME type, (width, height) sent).
    """
    policy = image_policy(ref, detail)
    size = target_size(image.size, policy)
    data = memo.get_or_encode(image, size, policy.fmt) if memo else _encode(image, size, policy.fmt)
    return data, FORMATS[policy.fmt], size


def encode_png(image: ImageData) -> bytes:
    """Full-resolution PNG (for image-generation inputs, which the provider resizes itself)."""
    return _encode(image, image.size, "png")


def _encode(image: ImageData, size: tuple[int, int], fmt: str) -> bytes:
    if size != image.size:
        image = ImageData.of(_resize(image.pixels, size))
    try:  # the vision package's encoder owns the format settings when present
        from chainlang.vision.encode import EncodePolicy, encode
    except ImportError:
        return _encode_pil(image.pixels, fmt)
    return encode(image, EncodePolicy(format=fmt))


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    # resized here, to exactly the size the token estimate and memo key use
    return np.asarray(Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.LANCZOS))


def _encode_pil(pixels: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=90)
    else:
        Image.fromarray(pixels, "RGB").save(buf, "PNG")
    return buf.getvalue()
