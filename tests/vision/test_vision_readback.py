"""Reading generated images back: red masks, grayscale depth, RGB normals."""

from __future__ import annotations

import numpy as np
import pytest

from chainlang.image import ImageData
from chainlang.vision import ops
from chainlang.vision.readback import _opencv_ellipse, _opencv_hsv


def disc(shape: tuple[int, int], cx: int, cy: int, r: int) -> np.ndarray:
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


def test_red_mask_finds_the_largest_red_blob() -> None:
    pixels = np.full((80, 100, 3), (40, 120, 40), dtype=np.uint8)
    big, small = disc((80, 100), 30, 40, 15), disc((80, 100), 80, 15, 6)
    pixels[big] = (230, 20, 25)
    pixels[small] = (250, 5, 10)
    pixels[70:72, 5:7] = (255, 0, 0)  # 2x2 speck, removed by the opening
    pixels[disc((80, 100), 80, 60, 8)] = (240, 130, 20)  # orange: hue out of range
    mask = ops.red_mask(ImageData.of(pixels)).pixels
    # The opening only trims the disc's one-pixel tips; the rest is dropped.
    assert np.all(big[mask])
    assert mask.sum() >= big.sum() - 4


def test_red_mask_of_an_image_without_red_is_empty() -> None:
    pixels = np.full((20, 20, 3), (10, 10, 200), dtype=np.uint8)
    assert ops.red_mask(ImageData.of(pixels)).area == 0


def test_opencv_conventions() -> None:
    kernel = _opencv_ellipse(7).astype(int)
    assert kernel[0].tolist() == [0, 0, 0, 1, 0, 0, 0]
    assert kernel[1].tolist() == [0, 1, 1, 1, 1, 1, 0]
    assert kernel[3].tolist() == [1] * 7
    hue, sat, val = _opencv_hsv(
        np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 8]]], dtype=np.uint8)
    )
    assert hue[0].tolist() == [0, 60, 120, 179]
    assert sat[0, 0] == 255 and val[0, 1] == 255


def test_gray_depth_orders_white_as_near() -> None:
    pixels = np.zeros((1, 3, 3), dtype=np.uint8)
    pixels[0, 0] = 255
    pixels[0, 1] = 128
    depth = ops.gray_depth(ImageData.of(pixels))
    assert depth[0, 0] < depth[0, 1] < depth[0, 2]
    assert depth.min() >= 1.0  # 0 would read as "no depth"
    far = ops.gray_depth(ImageData.of(pixels), white_is_near=False)
    assert far[0, 0] > far[0, 2]


def test_rgb_normals_decode_standard_normal_maps() -> None:
    pixels = np.array([[[128, 128, 255], [255, 128, 128], [128, 255, 128]]], dtype=np.uint8)
    normals = ops.rgb_normals(ImageData.of(pixels))
    assert normals[0, 0] == pytest.approx([0, 0, 1], abs=0.01)
    assert normals[0, 1] == pytest.approx([1, 0, 0], abs=0.01)
    assert normals[0, 2] == pytest.approx([0, 1, 0], abs=0.01)
