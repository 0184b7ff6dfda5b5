"""Numbered views: regions outlined and numbered, a numbered grid, instance outlines."""

from __future__ import annotations

import numpy as np
import pytest

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.language.compiler import compile_source
from chainlang.vision import ops
from chainlang.vision.values import Regions

RED = (255, 0, 0)


def grey(width: int, height: int) -> ImageData:
    return ImageData.of(np.full((height, width, 3), 128, dtype=np.uint8))


def changed(before: ImageData, after: ImageData) -> np.ndarray:
    return np.any(before.pixels != after.pixels, axis=2)


def quadrant_map(width: int = 200, height: int = 160) -> Regions:
    ids = np.array([[1, 2], [3, 4]], dtype=np.int32)
    return Regions.from_labels(np.kron(ids, np.ones((height // 2, width // 2), dtype=np.int32)))


def test_number_regions_outlines_in_colour_and_numbers_each_region() -> None:
    quad = quadrant_map()
    image = grey(200, 160)
    chosen = ops.regions_of(quad)[:2]
    plain = ops.number_regions(image, chosen, outline=False)
    outlined = ops.number_regions(image, chosen)
    # The outline adds red pixels along region borders, only inside the chosen regions.
    extra = changed(plain, outlined)
    assert extra.any() and np.all(np.isin(quad.labels[extra], [1, 2]))
    assert np.all(outlined.pixels[extra] == RED)
    # A larger size draws larger labels.
    small = changed(image, ops.number_regions(image, chosen, size=8, outline=False)).sum()
    large = changed(image, ops.number_regions(image, chosen, size=30, outline=False)).sum()
    assert large > 2 * small
    with pytest.raises(OperationError, match="unknown marker colour"):
        ops.number_regions(image, chosen, colour="mauve")


def test_grid_numbered_draws_every_cell_and_its_number() -> None:
    image = grey(120, 90)
    grid = ops.grid_uniform(ops.full_box(image), 3, 4)
    drawn = ops.grid_numbered(image, grid, colour="blue", size=12)
    touched = changed(image, drawn)
    for cell in grid.cells:
        b = cell.box
        assert touched[b.y0, b.x0], f"cell {cell.index} has no outline at its corner"
        middle = touched[b.y0 + b.height // 3 : b.y1 - b.height // 3, b.x0 + 4 : b.x1 - 4]
        assert middle.any(), f"cell {cell.index} has no number at its centre"
    assert not touched[45, 15 + 7], "the inside of a cell between border and number stays"


def test_outline_instances_outlines_each_instance_and_leaves_background() -> None:
    ids = np.zeros((60, 80), dtype=np.int32)
    ids[5:25, 5:35] = 3
    ids[30:55, 40:75] = 7
    image = grey(80, 60)
    drawn = ops.outline_instances(image, ids, width=2)
    touched = changed(image, drawn)
    assert not touched[ids == 0].any()
    assert touched[5, 10] and touched[30, 50] and not touched[15, 20]
    numbered = changed(image, ops.outline_instances(image, ids, width=2, numbered=True))
    assert numbered.sum() > touched.sum()
    with pytest.raises(OperationError, match="the map is"):
        ops.outline_instances(grey(10, 10), ids)


def test_the_drawing_operations_type_check_in_a_chain() -> None:
    text = """
chain views {
  input image: Image
  truth boxes: Boxes
  output Label

  prompt count_cells(view: Image) -> Int {
    user [view] "How many numbered cells hold an object?"
  }

  let g = grid_uniform(full_box(image), 3, 3)
  let regions = regions_of(superpixels(image, n = 9))
  let _a = number_regions(image, take(regions, 3), colour = "yellow", size = 24)
  let found = instances_from_masks([union(take(regions, 2))])
  let _b = outline_instances(image, found, numbered = true)
  let n = ask count_cells(view = grid_numbered(image, g)) oracle { len(boxes_of(truth.boxes)) }
  return if n > 2 then "many" else "few"
}
"""
    program = compile_source(text)
    assert program.bounds is not None and program.bounds.show() == "calls = 1"
