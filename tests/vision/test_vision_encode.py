"""The encode policy, resizing and the encoder memo."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from chainlang.errors import UsageError
from chainlang.image import ImageData
from chainlang.vision.encode import EncodePolicy, Encoder, encode, fit_size, resize_to_fit


def test_jpeg_is_much_smaller_than_png_for_a_photo(coffee_medium: ImageData) -> None:
    jpeg = encode(coffee_medium, EncodePolicy("jpeg", 90))
    png = encode(coffee_medium, EncodePolicy("png"))
    assert jpeg[:2] == b"\xff\xd8" and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 3 * len(jpeg)
    assert len(encode(coffee_medium, EncodePolicy("jpeg", 60))) < len(jpeg)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert np.array_equal(decoded, coffee_medium.pixels)  # PNG is lossless


def test_policy_defaults_and_validation() -> None:
    policy = EncodePolicy()
    assert (policy.format, policy.quality, policy.mime) == ("jpeg", 90, "image/jpeg")
    with pytest.raises(UsageError, match="format"):
        EncodePolicy("gif")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="quality"):
        EncodePolicy(quality=0)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({}, (1024, 768)),
        ({"max_long": 512}, (512, 384)),
        ({"max_short": 384}, (512, 384)),
        ({"max_pixels": 1024 * 768 // 4}, (512, 384)),
        ({"max_long": 2048}, (1024, 768)),  # never upscale
        ({"max_long": 800, "max_short": 300}, (400, 300)),
    ],
)
def test_fit_size(limits: dict[str, int], expected: tuple[int, int]) -> None:
    assert fit_size((1024, 768), **limits) == expected


def test_resize_to_fit(coffee_medium: ImageData) -> None:
    assert resize_to_fit(coffee_medium, max_long=1000) is coffee_medium
    small = resize_to_fit(coffee_medium, max_long=128)
    assert small.size == (128, 96)
    with pytest.raises(UsageError, match="max_long"):
        resize_to_fit(coffee_medium, max_long=0)


def test_encoder_memo_encodes_once_and_is_bounded(coffee_medium: ImageData) -> None:
    encoder = Encoder(max_entries=2)
    first = encoder.encode(coffee_medium, max_long=128)
    again = encoder.encode(coffee_medium, max_long=128)
    assert again is first and (encoder.hits, encoder.misses) == (1, 1)
    encoder.encode(coffee_medium, EncodePolicy("png"), max_long=128)
    encoder.encode(coffee_medium, max_long=64)
    assert len(encoder) == 2
    encoder.encode(coffee_medium, max_long=128)  # evicted, so encoded again
    assert encoder.misses == 4
    size = Image.open(io.BytesIO(first)).size
    assert size == (128, 96)
