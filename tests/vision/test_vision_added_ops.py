"""Operations added for the paper chains: cell helpers, box/point marks, renderers."""

from __future__ import annotations

import numpy as np
import pytest

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision import ops
from chainlang.vision.values import Box


def grey(width: int, height: int) -> ImageData:
    return ImageData.of(np.full((height, width, 3), 90, dtype=np.uint8))


def test_cell_box_and_position() -> None:
    grid = ops.grid(Box(0, 0, 40, 40))
    words = [ops.cell_position(c) for c in ops.cells(grid)]
    assert words == [
        "top left", "top center", "top right",
        "middle left", "center", "middle right",
        "bottom left", "bottom center", "bottom right",
    ]  # fmt: skip
    assert ops.cell_box(grid.cells[4]) == Box(10, 10, 30, 30)
    two = ops.grid_uniform(Box(0, 0, 10, 10), 2, 2)
    assert ops.cell_position(two.cells[3]) == "row 2 of 2, column 2 of 2"


def test_mark_box_draws_only_the_outline() -> None:
    image = grey(30, 20)
    touched = np.any(ops.mark_box(image, Box(5, 5, 15, 12)).pixels != image.pixels, axis=2)
    expected = np.zeros((20, 30), dtype=bool)
    expected[5:12, 5:15] = True
    expected[6:11, 6:14] = False
    assert np.array_equal(touched, expected)
    clamped = ops.mark_box(image, Box(20, 10, 50, 50), "blue", width=2)
    assert np.all(clamped.pixels[19, 29] == (0, 0, 255))
    with pytest.raises(OperationError, match="does not overlap"):
        ops.mark_box(image, Box(40, 40, 50, 50))


def test_mark_point_draws_a_disc() -> None:
    image = grey(50, 40)
    touched = np.any(ops.mark_point(image, (10, 10), radius=4).pixels != image.pixels, axis=2)
    ys, xs = np.nonzero(touched)
    assert touched.sum() == 49 and np.all((xs - 10) ** 2 + (ys - 10) ** 2 <= 16)
    corner = np.any(ops.mark_point(image, (0, 0), radius=3).pixels != image.pixels, axis=2)
    assert corner[0, 0] and corner.sum() == 11  # the quarter of the disc inside the image
    with pytest.raises(OperationError, match="outside"):
        ops.mark_point(image, (50, 0))


def test_render_depth_round_trips_through_gray_depth() -> None:
    depth = np.array([[1.0, 2.0, 4.0], [0.0, np.nan, 3.0]], dtype=np.float32)
    image = ops.render_depth(depth)
    assert image.pixels[0, 0].tolist() == [255, 255, 255]  # nearest is white
    assert image.pixels[0, 2].tolist() == [0, 0, 0]
    back = ops.gray_depth(image)
    valid = np.isfinite(depth) & (depth != 0)
    order = np.argsort(depth[valid])
    assert np.all(np.diff(back[valid][order]) > 0)
    with pytest.raises(OperationError, match="H x W"):
        ops.render_depth(np.zeros((2, 2, 3)))


def test_render_normals_round_trips_through_rgb_normals() -> None:
    normals = np.array([[[0, 0, 1], [1, 0, 0], [0, -1, 0]]], dtype=np.float32)
    back = ops.rgb_normals(ops.render_normals(normals))
    assert np.allclose(back, normals, atol=0.01)
    with pytest.raises(OperationError, match="H x W x 3"):
        ops.render_normals(np.zeros((2, 2)))


def test_paint_instance_fills_the_instance_red() -> None:
    image = grey(6, 4)
    instances = np.zeros((4, 6), dtype=np.int32)
    instances[1:3, 1:4] = 2
    painted = ops.paint_instance(image, instances, (2, 2))
    red = np.all(painted.pixels == (255, 0, 0), axis=2)
    assert np.array_equal(red, instances == 2)
    assert ops.paint_instance(image, instances, (0, 0)) is image
    with pytest.raises(OperationError, match="instance map"):
        ops.paint_instance(image, instances[:2], (0, 0))


def test_cell_at_finds_the_half_open_cell_under_a_point() -> None:
    g = ops.grid_uniform(Box(0, 0, 40, 30), 3, 4)  # cells 10 x 10, numbered row by row
    assert ops.cell_at(g, (0, 0)).index == 1
    assert ops.cell_at(g, (10, 0)).index == 2  # x = 10 starts the second column
    assert ops.cell_at(g, (39, 29)).index == 12
    assert ops.cell_at(g, (25.4, 14.6)).index == 7  # rounded to whole pixels: (25, 15)
    with pytest.raises(OperationError, match=r"point \(40, 5\) is outside the grid"):
        ops.cell_at(g, (40, 5))
