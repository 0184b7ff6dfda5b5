"""Markers: which pixels they touch, sizes, margins, numbers and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vision_strategies import blocky_maps

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision import ops
from chainlang.vision.markers import marker_size
from chainlang.vision.values import Mask, Regions


def grey_like(labels: np.ndarray) -> ImageData:
    return ImageData.of(np.full((*labels.shape, 3), 128, dtype=np.uint8))


def changed(before: ImageData, after: ImageData) -> np.ndarray:
    return np.any(before.pixels != after.pixels, axis=2)


@settings(max_examples=40, deadline=None)
@given(labels=blocky_maps(), shape=st.sampled_from(["curve", "point"]), size=st.integers(1, 6))
def test_curve_and_point_touch_only_their_region(labels: np.ndarray, shape: str, size: int) -> None:
    regions = Regions.from_labels(labels)
    image = grey_like(labels)
    for region in ops.regions_of(regions):
        marked = ops.mark(image, [region], ["red"], shape, size=size)
        touched = changed(image, marked)
        assert touched.any()
        assert np.all(labels[touched] == region.id)
        assert np.all(marked.pixels[touched] == (255, 0, 0))


@settings(max_examples=40, deadline=None)
@given(labels=blocky_maps(), size=st.integers(1, 4))
def test_rectangle_touches_only_its_bbox_outline(labels: np.ndarray, size: int) -> None:
    regions = Regions.from_labels(labels)
    image = grey_like(labels)
    for region in ops.regions_of(regions):
        box = region.box
        touched = changed(image, ops.mark(image, [region], ["blue"], "rectangle", size=size))
        ys, xs = np.nonzero(touched)
        inside = (xs >= box.x0) & (xs < box.x1) & (ys >= box.y0) & (ys < box.y1)
        ring = (
            (xs < box.x0 + size)
            | (xs >= box.x1 - size)
            | (ys < box.y0 + size)
            | (ys >= box.y1 - size)
        )
        assert inside.all() and ring.all()
        assert touched[box.y0, box.x0] and touched[box.y1 - 1, box.x1 - 1]


def test_curve_is_the_region_outline(quads: Regions) -> None:
    image = grey_like(np.asarray(quads.labels))
    touched = changed(image, ops.mark(image, [quads.region(1)], ["green"], "curve", size=1))
    expected = np.zeros_like(touched)
    expected[0:8, 0:10] = True
    expected[1:7, 1:9] = False
    assert np.array_equal(touched, expected)


def test_point_is_a_disc_at_the_inner_point() -> None:
    labels = np.ones((41, 41), dtype=np.int32)
    labels[:, 30:] = 2
    regions = Regions.from_labels(labels)
    image = grey_like(labels)
    touched = changed(image, ops.mark(image, [regions.region(1)], ["red"], "point", size=5))
    ys, xs = np.nonzero(touched)
    cx, cy = regions.region(1).inner_point
    assert touched[cy, cx]
    assert np.all((xs - cx) ** 2 + (ys - cy) ** 2 <= 25)
    assert touched.sum() == 81  # the full radius-5 disc fits inside the region


def test_two_regions_two_colours_and_margin_crop(quads: Regions) -> None:
    image = grey_like(np.asarray(quads.labels))
    a, d = quads.region(1), quads.region(4)
    full = ops.mark(image, [a, d], ["red", "blue"], "curve")
    assert np.all(full.pixels[0, 0] == (255, 0, 0)) and np.all(full.pixels[15, 19] == (0, 0, 255))
    cropped = ops.mark(image, [quads.region(2)], ["red"], "curve", margin=3)
    assert cropped.size == (13, 11)  # bbox (10, 0, 20, 8) + 3 px, clamped
    assert np.array_equal(
        cropped.pixels, ops.crop(full_marked(image, quads), ops.bbox(quads.region(2)), 3).pixels
    )


def full_marked(image: ImageData, quads: Regions) -> ImageData:
    return ops.mark(image, [quads.region(2)], ["red"], "curve")


def test_mark_mask_touches_only_the_mask(quads: Regions) -> None:
    image = grey_like(np.asarray(quads.labels))
    mask = ops.union([quads.region(1), quads.region(2)])
    for shape in ("curve", "point"):
        touched = changed(image, ops.mark_mask(image, mask, "yellow", shape, size=2))
        assert touched.any() and np.all(mask.pixels[touched])
    rect = changed(image, ops.mark_mask(image, mask, "cyan", "rectangle", size=1))
    assert rect[0, 0] and rect[7, 19] and not rect[3, 5] and not rect[8:].any()


def test_mark_mask_number_sits_at_the_masks_inner_point() -> None:
    pixels = np.zeros((60, 100), dtype=bool)
    pixels[10:50, 30:70] = True  # a square: one innermost point, at its middle
    mask = Mask(pixels)
    image = ImageData.of(np.full((60, 100, 3), 128, dtype=np.uint8))
    touched = changed(image, ops.mark_mask(image, mask, "red", "number", size=10))
    ys, xs = np.nonzero(touched)
    # Centred on the middle of the mask, not on its first (top-left) pixel.
    assert abs(xs.mean() - 49.5) <= 3 and abs(ys.mean() - 29.5) <= 3
    assert not touched[10:15, 30:35].any()


def test_mark_numbers_labels_each_region(coffee_medium: ImageData) -> None:
    from chainlang.vision.superpixels import SuperpixelCache

    regions = ops.superpixels(coffee_medium, n=30, cache=SuperpixelCache(1))
    chosen = ops.regions_of(regions)[:5]
    marked = ops.mark_numbers(coffee_medium, chosen)
    touched = changed(coffee_medium, marked)
    for region in chosen:
        x, y = region.inner_point
        window = touched[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4]
        assert window.any()
    assert ops.mark(coffee_medium, chosen[:2], ["red", "blue"], "number").size == coffee_medium.size


def test_marker_sizes_scale_with_width() -> None:
    assert marker_size("point", 1024) == 16
    assert marker_size("rectangle", 1024) == 4
    assert marker_size("point", 512) == 8
    assert marker_size("rectangle", 64) == 1
    assert marker_size("point", 1024, size=4) == 4


def test_mark_errors(quads: Regions) -> None:
    image = grey_like(np.asarray(quads.labels))
    with pytest.raises(OperationError, match="2 regions but 1 colours"):
        ops.mark(image, [quads.region(1), quads.region(2)], ["red"])
    with pytest.raises(OperationError, match="unknown marker colour 'pink'"):
        ops.mark(image, [quads.region(1)], ["pink"])
    with pytest.raises(OperationError, match="unknown marker shape"):
        ops.mark(image, [quads.region(1)], ["red"], "star")
    with pytest.raises(OperationError, match="empty list"):
        ops.mark(image, [], [])
    small = ImageData.of(np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(OperationError, match="regions are 20x16 but the image is 4x4"):
        ops.mark(small, [quads.region(1)], ["red"])
    with pytest.raises(OperationError, match="margin must be >= 0"):
        ops.mark(image, [quads.region(1)], ["red"], margin=-1)
