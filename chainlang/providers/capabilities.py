"""What each provider does with an image: the resolution it keeps and what it costs.

The rule of each provider is its spec's :class:`~chainlang.providers.specs.ImageRule`;
this module applies it.

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
Images are only ever scaled down, never up. Encoding goes through the
vision package's :class:`~chainlang.vision.encode.Encoder`, whose memo is keyed
by (content digest, target size, policy); a run shares one encoder across its
providers, so each distinct image is encoded once however many questions and
models show it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainlang.errors import UsageError
from chainlang.image import ImageData
from chainlang.providers.base import Detail, ModelRef
from chainlang.providers.specs import AS_SENT, ImageRule, find_spec
from chainlang.vision.encode import EncodePolicy, Encoder, encode, fit_size, resize_to_fit

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
    keep = _rule(ref).fit(detail)
    return ImagePolicy(keep.max_long, keep.max_short, keep.max_pixels, fmt=fmt)


def _rule(ref: ModelRef) -> ImageRule:
    spec = find_spec(ref.provider)
    return AS_SENT if spec is None else spec.image


def target_size(size: tuple[int, int], policy: ImagePolicy) -> tuple[int, int]:
    """The (width, height) after scaling ``size`` down to fit ``policy`` (aspect kept)."""
    return fit_size(size, policy.max_long, policy.max_short, policy.max_pixels)


def image_tokens(ref: ModelRef, size: tuple[int, int], detail: Detail = "high") -> int:
    """Estimated input tokens for one image of ``size`` (before resizing) sent to ``ref``."""
    w, h = target_size(size, image_policy(ref, detail))
    return _rule(ref).tokens(w, h, detail)


def prepare_image(
    image: ImageData,
    ref: ModelRef,
    detail: Detail = "high",
    *,
    encoder: Encoder | None = None,
) -> tuple[bytes, str, tuple[int, int]]:
    """Resize ``image`` to what ``ref`` keeps and encode it (through ``encoder``'s memo).

    Returns:
        (encoded bytes, MIME type, (width, height) sent).
    """
    policy = image_policy(ref, detail)
    fmt = EncodePolicy(format=policy.fmt)  # type: ignore[arg-type]  # checked in FORMATS
    limits = {"max_long": policy.max_long, "max_short": policy.max_short}
    limits["max_pixels"] = policy.max_pixels
    if encoder is None:
        sized = resize_to_fit(image, **limits)
        return encode(sized, fmt), fmt.mime, sized.size
    return encoder.encode(image, fmt, **limits), fmt.mime, target_size(image.size, policy)


def encode_png(image: ImageData) -> bytes:
    """Full-resolution PNG (for image-generation inputs, which the provider resizes itself)."""
    return encode(image, EncodePolicy(format="png"))
