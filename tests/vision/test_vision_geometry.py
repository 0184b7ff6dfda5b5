"""Crops, centre crop, grids, hull and padding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision import ops
from chainlang.vision.values import Box


@st.composite
def boxes(draw: st.DrawFn, max_side: int = 60) -> Box:
    x0 = draw(st.integers(0, max_side))
    y0 = draw(st.integers(0, max_side))
    return Box(x0, y0, x0 + draw(st.integers(0, max_side)), y0 + draw(st.integers(0, max_side)))


def image_of(width: int, height: int) -> ImageData:
    pixels = np.arange(width * height * 3, dtype=np.uint32).reshape(height, width, 3) % 251
    return ImageData.of(pixels.astype(np.uint8))


@settings(max_examples=60, deadline=None)
@given(box=boxes(), margin=st.integers(0, 10), width=st.integers(1, 50), height=st.integers(1, 50))
def test_crop_size_equals_clamped_box(box: Box, margin: int, width: int, height: int) -> None:
    image = image_of(width, height)
    x0, y0 = max(0, box.x0 - margin), max(0, box.y0 - margin)
    x1, y1 = min(width, box.x1 + margin), min(height, box.y1 + margin)
    if x1 <= x0 or y1 <= y0:
        with pytest.raises(OperationError, match="does not overlap"):
            ops.crop(image, box, margin)
        return
    out = ops.crop(image, box, margin)
    assert out.size == (x1 - x0, y1 - y0)
    assert np.array_equal(out.pixels, image.pixels[y0:y1, x0:x1])


@settings(max_examples=40, deadline=None)
@given(
    pixels=arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30), st.just(3))),
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
)
def test_crops_of_grid_cells_tile_the_image(pixels: np.ndarray, rows: int, cols: int) -> None:
    image = ImageData.of(pixels)
    grid = ops.grid_uniform(ops.full_box(image), rows, cols)
    rebuilt = np.zeros_like(pixels)
    for cell in ops.cells(grid):
        if not cell.box.empty:
            rebuilt[cell.box.slices()] = ops.crop(image, cell.box).pixels
    assert np.array_equal(rebuilt, pixels)


def coverage(grid) -> np.ndarray:
    box = grid.box
    hits = np.zeros((box.y1, box.x1), dtype=int)
    for cell in grid.cells:
        hits[cell.box.slices()] += 1
    return hits[box.slices()]


@settings(max_examples=60, deadline=None)
@given(box=boxes(), border=st.sampled_from([0.25, 0.125, 1 / 3, 0.2]))
def test_grid_cells_tile_the_box_exactly(box: Box, border: float) -> None:
    grid = ops.grid(box, border)
    assert (grid.rows, grid.cols) == (3, 3)
    assert [c.index for c in grid.cells] == list(range(1, 10))
    assert np.all(coverage(grid) == 1)
    assert ops.hull(grid, [True] * 9) == box
    assert ops.hull(grid, [False] * 9) == box  # nothing chosen = everything


@settings(max_examples=40, deadline=None)
@given(box=boxes(), rows=st.integers(1, 5), cols=st.integers(1, 5))
def test_uniform_grid_tiles_and_hull_of_all_is_parent(box: Box, rows: int, cols: int) -> None:
    grid = ops.grid_uniform(box, rows, cols)
    assert len(grid.cells) == rows * cols
    assert np.all(coverage(grid) == 1)
    assert ops.hull(grid, [True] * (rows * cols)) == box


def test_reference_grid_cut_positions() -> None:
    grid = ops.grid(Box(100, 0, 200, 40), 0.25)
    xs = sorted({c.box.x0 for c in grid.cells} | {c.box.x1 for c in grid.cells})
    ys = sorted({c.box.y0 for c in grid.cells} | {c.box.y1 for c in grid.cells})
    assert xs == [100, 125, 175, 200]
    assert ys == [0, 10, 30, 40]
    fine = ops.grid(Box(0, 0, 80, 80), 0.125)
    assert fine.cells[4].box == Box(10, 10, 70, 70)


@pytest.mark.parametrize(
    ("side", "border", "expected"),
    [(3, 0.25, True), (4, 0.25, False), (7, 0.125, True), (8, 0.125, False)],
)
def test_degenerate_below_one_over_border(side: int, border: float, expected: bool) -> None:
    assert ops.degenerate(ops.grid(Box(0, 0, side, 50), border)) is expected


def test_hull_and_touching_borders() -> None:
    grid = ops.grid(Box(0, 0, 40, 40), 0.25)
    chosen = [False] * 9
    chosen[4] = True  # centre
    assert ops.hull(grid, chosen) == Box(10, 10, 30, 30)
    assert not ops.touches_all_borders(grid, chosen)
    corners = [True, False, False, False, False, False, False, False, True]
    assert ops.hull(grid, corners) == Box(0, 0, 40, 40)
    assert ops.touches_all_borders(grid, corners)
    assert ops.touches_all_borders(grid, [None] * 9)
    with pytest.raises(OperationError, match="9 cells but 3 answers"):
        ops.hull(grid, [True] * 3)


def test_grid_rejects_bad_border() -> None:
    with pytest.raises(OperationError, match="border"):
        ops.grid(Box(0, 0, 10, 10), 0.5)
    with pytest.raises(OperationError, match="rows, cols"):
        ops.grid_uniform(Box(0, 0, 10, 10), 0, 3)


def test_box_rejects_inverted_corners() -> None:
    with pytest.raises(OperationError, match="far corner"):
        Box(5, 0, 4, 1)


@pytest.mark.parametrize(("width", "height"), [(300, 200), (200, 300), (224, 224), (451, 300)])
def test_center_crop_is_224_square_from_the_middle(width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    image = ImageData.of(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    out = ops.center_crop(image)
    assert out.size == (224, 224)
    flat = ImageData.of(np.full((height, width, 3), 77, dtype=np.uint8))
    assert np.all(ops.center_crop(flat).pixels == 77)


def test_quadrants() -> None:
    boxes_ = ops.quadrants(image_of(100, 60))
    assert boxes_ == [
        Box(0, 0, 50, 30),
        Box(50, 0, 100, 30),
        Box(0, 30, 50, 60),
        Box(50, 30, 100, 60),
        Box(25, 15, 75, 45),
    ]


@pytest.mark.parametrize(("width", "height"), [(64, 48), (48, 64), (50, 50)])
def test_pad_square_and_unpad_round_trip(width: int, height: int) -> None:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (200, 30, 30)
    pixels[:, width // 2 :] = (30, 30, 200)
    image = ImageData.of(pixels)
    padded = ops.pad_square(image, size=128)
    assert padded.size == (128, 128)
    back = ops.unpad(padded, image, size=128)
    assert back.size == image.size
    # Lanczos twice blurs only the seam between the two halves.
    assert np.mean(np.abs(back.pixels.astype(int) - pixels)) < 6


def test_mask_bbox_of_empty_mask_fails() -> None:
    with pytest.raises(OperationError, match="empty mask"):
        ops.mask_bbox(ops.red_mask(image_of(8, 8)))
