"""Request preparation for one depth question: ours versus the reference's way.

One depth question needs the full image with two superpixels marked (red and
blue), encoded for the request. The reference copies the PIL image, converts
it to floats, builds full-size masks, draws with PIL or
``skimage.segmentation.mark_boundaries``, writes a PNG and base64-encodes it.
chainlang draws with numpy on precomputed per-region geometry and writes a
quality-90 JPEG.

Both sides run on the same 1024 x 768 photo (scikit-image's ``coffee``,
resized), the same SLIC map (computed once, outside the timings, as both
would) and the same pairs. Targets: at least 25x faster and 5x smaller per
question, for every marker shape. Exits 1 when a target is missed.

Run: ``python benchmarks/prep.py [--questions N]``
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from _reference import reference_question_payload
from PIL import Image

from chainlang.image import ImageData
from chainlang.vision.encode import EncodePolicy, encode
from chainlang.vision.markers import mark
from chainlang.vision.pairs import sample_pairs
from chainlang.vision.superpixels import superpixels
from chainlang.vision.values import Pair

SPEED_TARGET = 25.0
SIZE_TARGET = 5.0
SHAPES = ("curve", "point", "rectangle")


def photo() -> ImageData:
    """scikit-image's coffee photo resized to 1024 x 768 (Hypersim's frame size)."""
    from skimage import data

    picture = Image.fromarray(data.coffee()).resize((1024, 768), Image.Resampling.LANCZOS)
    return ImageData.of(np.asarray(picture))


def ours(image: ImageData, pair: Pair, shape: str, policy: EncodePolicy) -> str:
    """chainlang's request image for one question, as the base64 text a request carries."""
    marked = mark(image, [pair.a, pair.b], ["red", "blue"], shape)
    return base64.b64encode(encode(marked, policy)).decode("ascii")


def per_question(run: Callable[[Pair], str], pairs: list[Pair]) -> tuple[float, float]:
    """Median seconds and mean payload characters per question."""
    run(pairs[0])  # warm caches (imports, font, allocator) outside the timing
    seconds, sizes = [], []
    for pair in pairs:
        start = time.perf_counter()
        payload = run(pair)
        seconds.append(time.perf_counter() - start)
        sizes.append(len(payload))
    return statistics.median(seconds), statistics.fmean(sizes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=12, help="questions per side and shape")
    args = parser.parse_args()

    image = photo()
    regions = superpixels(image, n=100)
    pairs = sample_pairs(regions, n=200)[: args.questions]
    picture = Image.fromarray(np.array(image.pixels))
    segments = np.array(regions.labels)
    policy = EncodePolicy()
    print(f"1024x768 coffee photo, {regions.count} superpixels, {len(pairs)} questions per shape")
    print(
        f"{'shape':<10}{'reference':>12}{'ours':>10}{'speed':>9}{'ref size':>11}"
        f"{'our size':>10}{'smaller':>9}"
    )
    missed = []
    for shape in SHAPES:
        ref_s, ref_size = per_question(
            lambda p, s=shape: reference_question_payload(picture, segments, p.a.id, p.b.id, s),
            pairs,
        )
        our_s, our_size = per_question(lambda p, s=shape: ours(image, p, s, policy), pairs)
        speed, smaller = ref_s / our_s, ref_size / our_size
        print(
            f"{shape:<10}{ref_s * 1e3:>10.1f}ms{our_s * 1e3:>8.2f}ms{speed:>8.1f}x"
            f"{ref_size / 1e3:>9.0f}KB{our_size / 1e3:>8.0f}KB{smaller:>8.1f}x"
        )
        if speed < SPEED_TARGET or smaller < SIZE_TARGET:
            missed.append(shape)
    if missed:
        print(f"FAILED: {SPEED_TARGET}x faster / {SIZE_TARGET}x smaller missed for {missed}")
        return 1
    print(f"ok: every shape is >= {SPEED_TARGET}x faster and >= {SIZE_TARGET}x smaller")
    return 0


if __name__ == "__main__":
    sys.exit(main())
