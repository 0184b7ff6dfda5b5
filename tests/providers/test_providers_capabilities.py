"""Per-provider image resolution, token formulas and the encode memo."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from chainlang.errors import UsageError
from chainlang.image import ImageData
from chainlang.providers.capabilities import (
    image_policy,
    image_tokens,
    prepare_image,
    target_size,
)
from chainlang.providers.registry import parse_model
from chainlang.vision.encode import Encoder

OPENAI = parse_model("openai:gpt-4o")
CLAUDE = parse_model("anthropic:claude-x")
GEMINI = parse_model("gemini:g")
COMPAT = parse_model("openai-compat:m@http://h/v1")


@pytest.mark.parametrize(
    ("ref", "detail", "size", "expected"),
    [
        (OPENAI, "high", (1024, 1024), (768, 768)),
        (OPENAI, "high", (2048, 4096), (768, 1536)),
        (OPENAI, "high", (500, 300), (500, 300)),  # never upscaled
        (OPENAI, "low", (1024, 768), (512, 384)),
        (CLAUDE, "high", (3000, 1000), (1568, 522)),
        (CLAUDE, "high", (1500, 1500), (1072, 1072)),  # the 1.15 MP cap
        (GEMINI, "high", (4000, 3000), (3072, 2304)),
        (COMPAT, "high", (4000, 3000), (4000, 3000)),
    ],
)
def test_target_size_follows_each_providers_rule(ref, detail, size, expected) -> None:
    assert target_size(size, image_policy(ref, detail)) == expected


@pytest.mark.parametrize(
    ("ref", "detail", "size", "tokens"),
    [
        (OPENAI, "high", (1024, 1024), 765),  # 768x768: 4 tiles
        (OPENAI, "high", (2048, 4096), 1105),  # 768x1536: 6 tiles
        (OPENAI, "low", (4000, 4000), 85),
        (CLAUDE, "high", (1000, 750), 1000),
        (GEMINI, "high", (384, 300), 258),
        (GEMINI, "high", (1024, 768), 516),
    ],
)
def test_image_tokens(ref, detail, size, tokens) -> None:
    assert image_tokens(ref, size, detail) == tokens


def test_prepare_image_resizes_encodes_and_memoises() -> None:
    img = ImageData.of(np.full((1600, 1200, 3), 90, np.uint8))
    encoder = Encoder()
    data, mime, size = prepare_image(img, OPENAI, "high", encoder=encoder)
    assert mime == "image/jpeg" and size == (768, 1024)
    assert Image.open(io.BytesIO(data)).size == (768, 1024)
    again, _, _ = prepare_image(img, OPENAI, "high", encoder=encoder)
    _, _, low_size = prepare_image(img, OPENAI, "low", encoder=encoder)
    assert again is data and low_size == (384, 512)
    assert (encoder.hits, encoder.misses) == (1, 2)
    # Without an encoder the same bytes come back, just not memoised.
    assert prepare_image(img, OPENAI, "high") == (data, mime, size)


def test_the_size_sent_is_the_size_priced() -> None:
    # 3000 * (1568 / 3000) must not floor to 1567: the token estimate and the
    # resize share one rule.
    img = ImageData.of(np.zeros((1000, 3000, 3), np.uint8))
    _, _, size = prepare_image(img, parse_model("anthropic:m"), encoder=Encoder())
    assert size == target_size(img.size, image_policy(parse_model("anthropic:m"))) == (1568, 522)


def test_jpeg_option_and_bad_format() -> None:
    img = ImageData.of(np.zeros((10, 10, 3), np.uint8))
    data, mime, _ = prepare_image(img, parse_model("gemini:g:image_format=png"))
    assert mime == "image/png" and data.startswith(b"\x89PNG")
    with pytest.raises(UsageError, match="image_format='gif'"):
        prepare_image(img, parse_model("gemini:g:image_format=gif"))


def test_memo_is_bounded() -> None:
    encoder = Encoder(max_entries=2)
    for v in range(4):
        prepare_image(ImageData.of(np.full((4, 4, 3), v, np.uint8)), GEMINI, encoder=encoder)
    assert len(encoder) == 2
