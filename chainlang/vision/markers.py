"""Visual markers drawn on images: points, rectangles, outlines and numbers.

Speed matters here: a depth chain draws two markers on a full-resolution
image for each of 200 questions. Everything that can be shared between the
questions about one image is computed once per :class:`Regions` (bounding
boxes, inner points, the distance of every pixel to a region border), so a
marker only reads and writes the pixels inside its region's bounding box.

Marker sizes scale with the image width; the defaults are the reference's
values at 1024 px (a 16 px disc, a 4 px rectangle outline) and a 2 px outline
for ``curve``. A ``size`` argument overrides them in pixels (disc radius, or
line width).

The ``point`` disc and the ``curve`` outline are clipped to their region:
they never paint a neighbour, which would make "which region is marked"
ambiguous. The ``rectangle`` outline lies on the region's bounding box.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision.geometry import clamp_box, mask_bbox
from chainlang.vision.values import Box, Grid, Mask, Region, as_point, same_owner

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
}
SHAPES = ("point", "rectangle", "curve", "number")
_REFERENCE_WIDTH = 1024
_DEFAULT_SIZE = {"point": 16, "rectangle": 4, "curve": 2, "number": 18}


def marker_size(shape: str, width: int, size: int | None = None) -> int:
    """The marker size in pixels: ``size`` if given, else the default scaled to ``width``.

    Raises:
        OperationError: unknown shape or a non-positive size.
    """
    if shape not in _DEFAULT_SIZE:
        raise OperationError(f"unknown marker shape {shape!r}; expected one of {SHAPES}")
    if size is not None:
        if size < 1:
            raise OperationError(f"a marker size must be >= 1 px, got {size}")
        return int(size)
    return max(1, round(_DEFAULT_SIZE[shape] * width / _REFERENCE_WIDTH))


def colour_rgb(name: str) -> tuple[int, int, int]:
    """RGB of a marker colour name.

    Raises:
        OperationError: the colour is not one of :data:`COLOURS`.
    """
    try:
        return COLOURS[name]
    except KeyError:
        raise OperationError(
            f"unknown marker colour {name!r}; expected one of {sorted(COLOURS)}"
        ) from None


def mark(
    image: ImageData,
    regions: Sequence[Region],
    colours: Sequence[str],
    shape: str = "curve",
    margin: int | None = None,
    *,
    size: int | None = None,
) -> ImageData:
    """Draw each region's marker in its colour.

    Args:
        image: the picture the regions were computed on.
        regions: the regions to mark (one map).
        colours: one colour name per region.
        shape: ``point``, ``rectangle``, ``curve`` or ``number`` (labels 1..n).
        margin: if given, the result is cropped to the regions' union bbox ± margin.
        size: marker size in pixels; scaled to the image width if None.

    Raises:
        OperationError: mismatched lengths, unknown shape or colour, regions
            from another image size, or a negative margin.
    """
    owner = same_owner(regions, "mark")
    if len(colours) != len(regions):
        raise OperationError(f"mark got {len(regions)} regions but {len(colours)} colours")
    if owner.size != image.size:
        raise OperationError(
            f"mark: the regions are {owner.size[0]}x{owner.size[1]} but the image is "
            f"{image.size[0]}x{image.size[1]}"
        )
    rgbs = [colour_rgb(c) for c in colours]
    px = marker_size(shape, image.size[0], size)
    window = _window(image, [r.box for r in regions], margin)
    canvas = np.array(image.pixels[window.slices()])
    for index, (region, rgb) in enumerate(zip(regions, rgbs, strict=True)):
        _draw_region(canvas, window, region, shape, rgb, px, index + 1)
    return ImageData.of(canvas)


def mark_mask(
    image: ImageData,
    mask: Mask,
    colour: str,
    shape: str = "curve",
    margin: int | None = None,
    *,
    size: int | None = None,
) -> ImageData:
    """Draw one marker for a union of regions (a mask); arguments as in :func:`mark`.

    Raises:
        OperationError: empty mask, a mask of another size, unknown shape or colour.
    """
    if mask.size != image.size:
        raise OperationError(
            f"mark_mask: the mask is {mask.size[0]}x{mask.size[1]} but the image is "
            f"{image.size[0]}x{image.size[1]}"
        )
    rgb = colour_rgb(colour)
    px = marker_size(shape, image.size[0], size)
    box = mask_bbox(mask)
    window = _window(image, [box], margin)
    canvas = np.array(image.pixels[window.slices()])
    inside = mask.pixels[box.slices()]
    if shape == "rectangle":
        _paint(canvas, window, box, _outline_of_box(box, px), rgb)
    elif shape == "curve":
        _paint(canvas, window, box, _inner_band(inside, px), rgb)
    else:
        cx, cy = _innermost(inside)
        if shape == "point":
            _paint(canvas, window, box, _disc(inside.shape, cx, cy, px) & inside, rgb)
        else:
            _draw_number(canvas, window, box.x0 + cx, box.y0 + cy, "1", rgb, px)
    return ImageData.of(canvas)


def _innermost(inside: np.ndarray) -> tuple[int, int]:
    """``(x, y)`` of the set pixel farthest from the mask's border (as ``Region.inner_point``)."""
    depth = ndimage.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]
    cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return int(cx), int(cy)


def mark_numbers(
    image: ImageData, regions: Sequence[Region], *, size: int | None = None
) -> ImageData:
    """Set-of-Mark: a numbered label 1..n at each region's inner point (white on black)."""
    owner = same_owner(regions, "mark_numbers")
    if owner.size != image.size:
        raise OperationError("mark_numbers: the regions were computed on an image of another size")
    px = marker_size("number", image.size[0], size)
    window = _window(image, [], None)
    canvas = np.array(image.pixels)
    for index, region in enumerate(regions, start=1):
        x, y = region.inner_point
        _draw_number(canvas, window, x, y, str(index), (0, 0, 0), px)
    return ImageData.of(canvas)


def mark_box(image: ImageData, box: Box, colour: str = "red", width: int = 1) -> ImageData:
    """Draw the outline of ``box`` (clamped to the image), ``width`` px wide, inside the box.

    Raises:
        OperationError: unknown colour, width below 1, or a box outside the image.
    """
    rgb = colour_rgb(colour)
    if width < 1:
        raise OperationError(f"mark_box needs width >= 1, got {width}")
    full = Box(0, 0, *image.size)
    inside = clamp_box(box, 0, *image.size)
    canvas = np.array(image.pixels)
    _paint(canvas, full, inside, _outline_of_box(inside, width), rgb)
    return ImageData.of(canvas)


def mark_point(
    image: ImageData, point: tuple[int, int], colour: str = "red", radius: int = 15
) -> ImageData:
    """Draw a filled disc of ``radius`` px centred on pixel ``(x, y)``.

    Raises:
        OperationError: unknown colour, radius below 1, or a point outside the image.
    """
    rgb = colour_rgb(colour)
    if radius < 1:
        raise OperationError(f"mark_point needs radius >= 1, got {radius}")
    x, y = as_point(point)
    width, height = image.size
    if not (0 <= x < width and 0 <= y < height):
        raise OperationError(f"mark_point: ({x}, {y}) is outside the {width}x{height} image")
    full = Box(0, 0, width, height)
    around = clamp_box(Box(x, y, x + 1, y + 1), radius, width, height)
    disc = _disc((around.height, around.width), x - around.x0, y - around.y0, radius)
    canvas = np.array(image.pixels)
    _paint(canvas, full, around, disc, rgb)
    return ImageData.of(canvas)


def _window(image: ImageData, boxes: Sequence[Box], margin: int | None) -> Box:
    width, height = image.size
    if margin is None or not boxes:
        return Box(0, 0, width, height)
    union = Box(
        min(b.x0 for b in boxes),
        min(b.y0 for b in boxes),
        max(b.x1 for b in boxes),
        max(b.y1 for b in boxes),
    )
    return clamp_box(union, margin, width, height)


def _draw_region(
    canvas: np.ndarray,
    window: Box,
    region: Region,
    shape: str,
    rgb: tuple[int, int, int],
    px: int,
    number: int,
) -> None:
    box = region.box
    if shape == "rectangle":
        _paint(canvas, window, box, _outline_of_box(box, px), rgb)
        return
    if shape == "number":
        x, y = region.inner_point
        _draw_number(canvas, window, x, y, str(number), rgb, px)
        return
    inside = region.window()
    if shape == "curve":
        # Precomputed distance to the nearest region border: the outline of
        # width px is simply the region's pixels closer than px to a border.
        near = region.owner.edge_distance[box.slices()] < px
        _paint(canvas, window, box, inside & near, rgb)
    else:
        x, y = region.inner_point
        disc = _disc(inside.shape, x - box.x0, y - box.y0, px)
        _paint(canvas, window, box, disc & inside, rgb)


def _paint(
    canvas: np.ndarray, window: Box, box: Box, where: np.ndarray, rgb: tuple[int, int, int]
) -> None:
    """Set ``canvas`` (which shows ``window``) to ``rgb`` where ``where`` (laid over ``box``)."""
    cut = _overlap(window, box)
    if cut is not None:
        target, source = cut
        canvas[target][where[source]] = rgb


def _overlap(window: Box, box: Box) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Where ``box`` meets ``window``: slices of the canvas, then of an array over ``box``.

    None when the two share no pixel.
    """
    x0, y0 = max(box.x0, window.x0), max(box.y0, window.y0)
    x1, y1 = min(box.x1, window.x1), min(box.y1, window.y1)
    if x1 <= x0 or y1 <= y0:
        return None
    meet = Box(x0, y0, x1, y1)
    return meet.shifted(-window.x0, -window.y0).slices(), meet.shifted(-box.x0, -box.y0).slices()


def _outline_of_box(box: Box, px: int) -> np.ndarray:
    """A ``px``-wide frame along the inside of ``box``."""
    frame = np.ones((box.height, box.width), dtype=bool)
    frame[px:-px, px:-px] = False
    return frame


def _inner_band(inside: np.ndarray, px: int) -> np.ndarray:
    padded = np.pad(inside, 1)
    core = ndimage.binary_erosion(padded, iterations=px)[1:-1, 1:-1]
    return inside & ~core


def _disc(shape: tuple[int, ...], cx: int, cy: int, radius: int) -> np.ndarray:
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= radius * radius


def _draw_number(
    canvas: np.ndarray,
    window: Box,
    x: int,
    y: int,
    text: str,
    background: tuple[int, int, int],
    px: int,
) -> None:
    """A filled label box centred on (x, y) (kept inside the window) with the number on it."""
    glyphs = _text_mask(text, px)
    pad = max(1, px // 6)
    height, width = glyphs.shape[0] + 2 * pad, glyphs.shape[1] + 2 * pad
    left = min(max(x - width // 2, window.x0), max(window.x0, window.x1 - width))
    top = min(max(y - height // 2, window.y0), max(window.y0, window.y1 - height))
    label = np.empty((height, width, 3), dtype=np.uint8)
    label[:] = background
    ink = (0, 0, 0) if sum(background) > 382 else (255, 255, 255)
    label[pad : pad + glyphs.shape[0], pad : pad + glyphs.shape[1]][glyphs] = ink
    cut = _overlap(window, Box(left, top, left + width, top + height))
    if cut is not None:
        target, source = cut
        canvas[target] = label[source]


@functools.lru_cache(maxsize=256)
def _text_mask(text: str, px: int) -> np.ndarray:
    """Boolean glyph mask of ``text`` in PIL's bundled font at ``px`` pixels (memoised: pure)."""
    font = ImageFont.load_default(size=px)
    left, top, right, bottom = font.getbbox(text)
    tile = Image.new("L", (max(1, int(right - left)), max(1, int(bottom - top))), 0)
    ImageDraw.Draw(tile).text((-left, -top), text, fill=255, font=font)
    mask = np.asarray(tile) >= 128
    mask.setflags(write=False)
    return mask


def number_regions(
    image: ImageData,
    regions: Sequence[Region],
    colour: str = "red",
    size: int | None = None,
    outline: bool = True,
) -> ImageData:
    """Set-of-Mark with outlines: each region outlined and labelled 1..n in ``colour``.

    ``size`` is the label's text height in pixels (scaled to the image width if
    None); the outline is the ``curve`` marker, clipped to the region.

    Raises:
        OperationError: regions from an image of another size, an unknown colour
            or a size below 1.
    """
    owner = same_owner(regions, "number_regions")
    if owner.size != image.size:
        raise OperationError("number_regions: the regions come from an image of another size")
    rgb = colour_rgb(colour)
    px = marker_size("number", image.size[0], size)
    line = marker_size("curve", image.size[0])
    full = Box(0, 0, *image.size)
    canvas = np.array(image.pixels)
    if outline:  # outlines first, so no outline covers a number
        for region in regions:
            _draw_region(canvas, full, region, "curve", rgb, line, 0)
    for index, region in enumerate(regions, start=1):
        x, y = region.inner_point
        _draw_number(canvas, full, x, y, str(index), rgb, px)
    return ImageData.of(canvas)


def grid_numbered(
    image: ImageData, grid: Grid, colour: str = "red", size: int | None = None
) -> ImageData:
    """The grid's cell outlines drawn on ``image``, each cell's number at its centre.

    Numbers are the cells' ``index`` (1.. row-major, as ``cells(grid)`` gives
    them); ``size`` is the number's height in pixels (a quarter of the smallest
    cell side, at least 8 px, if None).
    Cells outside the image are clipped.

    Raises:
        OperationError: an unknown colour or a size below 1.
    """
    rgb = colour_rgb(colour)
    # By default a number a quarter of the smallest cell side, so it reads at any image size.
    side = min((min(c.box.width, c.box.height) for c in grid.cells), default=0)
    px = marker_size("number", image.size[0], size if size is not None else max(8, side // 4))
    line = marker_size("curve", image.size[0])
    full = Box(0, 0, *image.size)
    canvas = np.array(image.pixels)
    for cell in grid.cells:
        box = clamp_box(cell.box, 0, *image.size)
        if box.width > 0 and box.height > 0:
            _paint(canvas, full, box, _outline_of_box(box, min(line, box.width, box.height)), rgb)
    for cell in grid.cells:
        box = cell.box
        _draw_number(
            canvas, full, (box.x0 + box.x1) // 2, (box.y0 + box.y1) // 2, str(cell.index), rgb, px
        )
    return ImageData.of(canvas)


def outline_instances(
    image: ImageData,
    instances: np.ndarray,
    colour: str = "red",
    width: int | None = None,
    numbered: bool = False,
) -> ImageData:
    """Each instance of an instance map outlined in ``colour`` (``width`` px, inside it).

    With ``numbered`` each instance is also labelled 1..n in increasing id order
    (the order of ``instance_masks``), at its innermost pixel.

    Raises:
        OperationError: a map of another size than the image, an unknown colour
            or a width below 1.
    """
    ids = np.asarray(instances)
    if ids.shape != (image.size[1], image.size[0]):
        raise OperationError(
            f"outline_instances: the map is {ids.shape[1::-1]} but the image is {image.size}"
        )
    rgb = colour_rgb(colour)
    line = marker_size("curve", image.size[0], width)
    px = max(12, marker_size("number", image.size[0]))  # readable on small images too
    full = Box(0, 0, *image.size)
    canvas = np.array(image.pixels)
    labels: list[tuple[int, int]] = []
    for instance in (i for i in np.unique(ids) if i != 0):
        box = mask_bbox(Mask(ids == instance))
        inside = ids[box.slices()] == instance
        _paint(canvas, full, box, _inner_band(inside, line), rgb)
        cx, cy = _innermost(inside)
        labels.append((box.x0 + cx, box.y0 + cy))
    if numbered:
        for index, (x, y) in enumerate(labels, start=1):
            _draw_number(canvas, full, x, y, str(index), rgb, px)
    return ImageData.of(canvas)
