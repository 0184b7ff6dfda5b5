"""Boxes, crops, grids and padding: the geometry that maps answers back to pixels.

Every box is in original-image pixels (half-open); a crop returns pixels only,
and the box it was cut from is what the chain keeps to map answers back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision.values import Box, Cell, Grid, Mask, Region, as_point


def full_box(image: ImageData) -> Box:
    """The whole image as a box."""
    width, height = image.size
    return Box(0, 0, width, height)


def bbox(region: Region) -> Box:
    """The bounding box of a region."""
    return region.box


def mask_bbox(mask: Mask) -> Box:
    """The bounding box of a mask's set pixels.

    Raises:
        OperationError: the mask is empty.
    """
    rows = np.flatnonzero(mask.pixels.any(axis=1))
    cols = np.flatnonzero(mask.pixels.any(axis=0))
    if rows.size == 0:
        raise OperationError("mask_bbox got an empty mask (no pixel set)")
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def clamp_box(box: Box, margin: int, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` and clamped to a ``width x height`` image.

    Raises:
        OperationError: negative margin, or nothing of the box lies inside the image.
    """
    if margin < 0:
        raise OperationError(f"a margin must be >= 0, got {margin}")
    x0, y0 = max(0, box.x0 - margin), max(0, box.y0 - margin)
    x1, y1 = min(width, box.x1 + margin), min(height, box.y1 + margin)
    if x1 <= x0 or y1 <= y0:
        raise OperationError(
            f"box ({box.x0}, {box.y0}, {box.x1}, {box.y1}) with margin {margin} does not "
            f"overlap the {width}x{height} image"
        )
    return Box(int(x0), int(y0), int(x1), int(y1))


def crop(image: ImageData, box: Box, margin: int = 0) -> ImageData:
    """The pixels of ``box`` grown by ``margin``, clamped to the image.

    Raises:
        OperationError: the box (with margin) lies outside the image, or the margin is negative.
    """
    width, height = image.size
    rows, cols = clamp_box(box, margin, width, height).slices()
    return ImageData.of(image.pixels[rows, cols])


def center_crop(image: ImageData, size: int = 224) -> ImageData:
    """ImageNet-style: resize the short side to ``size`` (bicubic), then centre-crop ``size²``.

    The long side is scaled with the same integer truncation as the reference,
    so the crop window is pixel-identical to it.

    Raises:
        OperationError: ``size`` is not positive.
    """
    if size < 1:
        raise OperationError(f"center_crop needs size >= 1, got {size}")
    width, height = image.size
    if width < height:
        target = (size, max(size, int(height * size / width)))
    else:
        target = (max(size, int(width * size / height)), size)
    resized = Image.fromarray(image.pixels).resize(target, Image.Resampling.BICUBIC)
    left, top = (target[0] - size) // 2, (target[1] - size) // 2
    return ImageData.of(np.asarray(resized)[top : top + size, left : left + size])


def quadrants(image: ImageData) -> list[Box]:
    """The four quadrants (row-major) and a centre box covering the middle half of each side."""
    width, height = image.size
    mx, my = width // 2, height // 2
    return [
        Box(0, 0, mx, my),
        Box(mx, 0, width, my),
        Box(0, my, mx, height),
        Box(mx, my, width, height),
        Box(width // 4, height // 4, (3 * width) // 4, (3 * height) // 4),
    ]


def grid(box: Box, border: float = 0.25) -> Grid:
    """A 3 x 3 grid cut at ``border`` and ``1 - border`` of each side, cells 1..9 row-major.

    ``border = 0.25`` is the reference's coarse grid, ``0.125`` its fine one and
    ``1/3`` a uniform grid. Cut positions are ``floor(w * border)`` and
    ``floor(w * (1 - border))``, so a side shorter than ``1 / border`` pixels has
    a 0-px border strip (see :func:`degenerate`).

    Raises:
        OperationError: ``border`` is outside (0, 0.5).
    """
    if not 0 < border < 0.5:
        raise OperationError(f"grid border must be between 0 and 0.5, got {border}")
    xs = _cuts(box.x0, box.width, (border, 1 - border))
    ys = _cuts(box.y0, box.height, (border, 1 - border))
    return _grid_from_cuts(box, xs, ys)


def grid_uniform(box: Box, rows: int, cols: int) -> Grid:
    """A ``rows x cols`` grid of (nearly) equal cells tiling ``box``, numbered row-major.

    Raises:
        OperationError: ``rows`` or ``cols`` is below 1.
    """
    if rows < 1 or cols < 1:
        raise OperationError(f"grid_uniform needs rows, cols >= 1, got {rows}x{cols}")
    xs = _cuts(box.x0, box.width, tuple(i / cols for i in range(1, cols)))
    ys = _cuts(box.y0, box.height, tuple(i / rows for i in range(1, rows)))
    return _grid_from_cuts(box, xs, ys)


def _cuts(start: int, length: int, fractions: Sequence[float]) -> list[int]:
    inner = [start + int(np.floor(length * f + 1e-9)) for f in fractions]
    return [start, *inner, start + length]


def _grid_from_cuts(box: Box, xs: list[int], ys: list[int]) -> Grid:
    rows, cols = len(ys) - 1, len(xs) - 1
    cells = tuple(
        Cell(r * cols + c + 1, r, c, Box(xs[c], ys[r], xs[c + 1], ys[r + 1]), rows, cols)
        for r in range(rows)
        for c in range(cols)
    )
    return Grid(box, rows, cols, cells)


def cells(grid: Grid) -> list[Cell]:
    """The grid's cells, numbered row-major from 1."""
    return list(grid.cells)


def cell_box(cell: Cell) -> Box:
    """The cell's box in original-image pixels."""
    return cell.box


_ROW_WORDS = ("top", "middle", "bottom")
_COL_WORDS = ("left", "center", "right")


def cell_at(grid: Grid, point: object) -> Cell:
    """The cell holding pixel ``point`` (rounded to whole pixels; cells are half-open).

    Raises:
        OperationError: the point lies outside the grid's box.
    """
    x, y = as_point(point)
    for cell in grid.cells:
        b = cell.box
        if b.x0 <= x < b.x1 and b.y0 <= y < b.y1:
            return cell
    g = grid.box
    raise OperationError(f"point ({x}, {y}) is outside the grid ({g.x0}, {g.y0}, {g.x1}, {g.y1})")


def cell_position(cell: Cell) -> str:
    """Where the cell sits, in words: "top left" … "center" … "bottom right" on a 3 x 3 grid.

    Other grid shapes get "row r of R, column c of C" (counting from 1).
    """
    if (cell.rows, cell.cols) != (3, 3):
        return f"row {cell.row + 1} of {cell.rows}, column {cell.col + 1} of {cell.cols}"
    if (cell.row, cell.col) == (1, 1):
        return "center"
    return f"{_ROW_WORDS[cell.row]} {_COL_WORDS[cell.col]}"


def degenerate(grid: Grid) -> bool:
    """True when some row or column of the grid is 0 px wide (no question can be asked)."""
    return any(cell.box.empty for cell in grid.cells)


def hull(grid: Grid, chosen: Sequence[bool | None]) -> Box:
    """Bounding box of the chosen cells; all cells when none is chosen.

    Missing answers (None) count as not chosen.

    Raises:
        OperationError: ``chosen`` does not have one entry per cell.
    """
    rows, cols = _chosen_rows_cols(grid, chosen)
    by_index = {(c.row, c.col): c.box for c in grid.cells}
    first, last = by_index[(min(rows), min(cols))], by_index[(max(rows), max(cols))]
    return Box(first.x0, first.y0, last.x1, last.y1)


def touches_all_borders(grid: Grid, chosen: Sequence[bool | None]) -> bool:
    """True when the chosen cells reach the first and last row and column.

    Then the hull is the whole grid box and zooming cannot shrink it. No cell
    chosen counts as all chosen (the same rule as :func:`hull`).

    Raises:
        OperationError: ``chosen`` does not have one entry per cell.
    """
    rows, cols = _chosen_rows_cols(grid, chosen)
    return (
        min(rows) == 0
        and max(rows) == grid.rows - 1
        and min(cols) == 0
        and max(cols) == grid.cols - 1
    )


def _chosen_rows_cols(grid: Grid, chosen: Sequence[bool | None]) -> tuple[list[int], list[int]]:
    if len(chosen) != len(grid.cells):
        raise OperationError(
            f"the grid has {len(grid.cells)} cells but {len(chosen)} answers were given"
        )
    picked = [c for c, flag in zip(grid.cells, chosen, strict=True) if flag]
    picked = picked or list(grid.cells)
    return [c.row for c in picked], [c.col for c in picked]


def pad_square(image: ImageData, size: int = 1024) -> ImageData:
    """Centre the image on a black square of side max(W, H), resized to ``size²`` (Lanczos).

    Raises:
        OperationError: ``size`` is not positive.
    """
    if size < 1:
        raise OperationError(f"pad_square needs size >= 1, got {size}")
    width, height = image.size
    side = max(width, height)
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    left, top = (side - width) // 2, (side - height) // 2
    canvas[top : top + height, left : left + width] = image.pixels
    if side != size:
        canvas = np.asarray(Image.fromarray(canvas).resize((size, size), Image.Resampling.LANCZOS))
    return ImageData.of(canvas)


def unpad(generated: ImageData, like: ImageData, size: int = 1024) -> ImageData:
    """Undo :func:`pad_square`: scale ``generated`` back to max(W, H) and cut out ``like``'s area.

    ``size`` is accepted for symmetry with :func:`pad_square`; the generated
    image is scaled from whatever size it came back at.

    Raises:
        OperationError: ``size`` is not positive.
    """
    if size < 1:
        raise OperationError(f"unpad needs size >= 1, got {size}")
    width, height = like.size
    side = max(width, height)
    pixels = generated.pixels
    if generated.size != (side, side):
        pixels = np.asarray(Image.fromarray(pixels).resize((side, side), Image.Resampling.LANCZOS))
    left, top = (side - width) // 2, (side - height) // 2
    return ImageData.of(pixels[top : top + height, left : left + width])
