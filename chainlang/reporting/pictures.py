"""Pictures of inputs, predictions and truth, for reports and traces.

Every function is pure: it takes arrays (or images) and returns a new RGB
``PIL.Image``; nothing is shown or written. Only Pillow and numpy are used,
so the core install can draw reports. Colours are deterministic: a class id
or label always gets the same colour, in every picture and every run, which
is what lets a reader compare a prediction with its truth side by side.

Conventions follow the truth types of ``docs/architecture.md``: depth in
metres with 0/NaN invalid, normals in the camera frame (+x right, +y up,
+z towards the camera), semantic masks with 255 = ignore, instance masks with
0 = background, boxes half-open in pixels.
"""

from __future__ import annotations

import colorsys
import functools
import io
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from chainlang.errors import UsageError
from chainlang.image import ImageData

RGB = tuple[int, int, int]
ImageLike = ImageData | Image.Image | np.ndarray
Names = Sequence[str] | Mapping[int, str]

GREY: RGB = (128, 128, 128)  # invalid depth / normals
BLACK: RGB = (0, 0, 0)  # ignored semantic pixels
IGNORE = 255

# Anchor colours of the depth colormap (close to viridis: dark purple, blue,
# teal, green, yellow). Interpolating them in CIELAB with lightness rising
# linearly gives a map that stays ordered when printed in grey.
_ANCHORS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
_GOLDEN = 0.618033988749895


class BoxLike(Protocol):
    """Anything with a label and half-open pixel corners (``data.Box`` fits)."""

    label: str
    x0: int
    y0: int
    x1: int
    y1: int


# ---------------------------------------------------------------- colours


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] → CIELAB (D65)."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def _lab_to_linear(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) → linear sRGB, unclipped (may leave [0, 1])."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    white = np.array([0.95047, 1.0, 1.08883])
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * white
    m_inv = np.array(
        [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]
    )
    return xyz @ m_inv.T


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) → sRGB in [0, 1].

    Colours outside the sRGB gamut lose chroma (not lightness) until they fit,
    which keeps the lightness ramp of the colormap intact.
    """
    scales = np.linspace(1.0, 0.0, 41)
    lab_s = np.concatenate(
        [
            np.broadcast_to(lab[..., :1], (len(scales), *lab.shape[:-1], 1)),
            scales[:, None, None] * lab[None, ..., 1:],
        ],
        axis=-1,
    )
    lin = _lab_to_linear(lab_s)
    fits = np.all((lin >= -1e-9) & (lin <= 1 + 1e-9), axis=-1)
    first = np.argmax(fits, axis=0)  # largest chroma that fits (scale 0 is grey: always fits)
    lin = np.clip(np.take_along_axis(lin, first[None, :, None], axis=0)[0], 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


@functools.cache
def depth_lut() -> np.ndarray:
    """The depth colormap as a ``(256, 3)`` uint8 table, dark (low) to bright (high).

    Lightness rises along the table in equal steps, strictly, also after
    rounding to 8 bits, so the map reads correctly in grey and no two entries
    are the same colour.

    >>> lut = depth_lut()
    >>> lut.shape, lut.dtype.name, lut[0].tolist(), lut[-1].tolist()
    ((256, 3), 'uint8', [68, 1, 84], [253, 231, 37])
    """
    anchors = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _ANCHORS]) / 255
    lab = _srgb_to_lab(anchors)
    # Place each anchor where its lightness falls, so L is linear in the index.
    where = (lab[:, 0] - lab[0, 0]) / (lab[-1, 0] - lab[0, 0])
    t = np.linspace(0, 1, 256)
    target = np.stack([np.interp(t, where, lab[:, k]) for k in range(3)], -1)
    lut = _round_monotone(target, _lab_to_srgb(target) * 255)
    lut.setflags(write=False)  # cached and shared: nobody may change it
    return lut


def _round_monotone(target_lab: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Round colours to uint8 keeping lightness strictly increasing.

    Plain rounding can move L* by about as much as one step of the ramp, so
    each entry takes, among the integer colours next to its exact colour, the
    one nearest its target (lightness errors weighted up) that is lighter than
    the previous entry.
    """
    steps = [-1, 0, 1, 2]
    corners = np.array(np.meshgrid(steps, steps, steps, indexing="ij")).reshape(3, -1).T
    out = np.empty(rgb.shape, dtype=np.uint8)
    last = -np.inf
    for k, colour in enumerate(rgb):
        cands = np.clip(np.floor(colour) + corners, 0, 255)
        lab = _srgb_to_lab(cands / 255)
        dist = np.linalg.norm((lab - target_lab[k]) * (4.0, 1.0, 1.0), axis=1)
        dist[lab[:, 0] <= last] = np.inf
        best = int(np.argmin(dist))
        out[k], last = cands[best], lab[best, 0]
    return out


def class_color(class_id: int) -> RGB:
    """The palette colour of a class (or instance) id; 255 (ignore) is black.

    Hues step by the golden ratio so neighbouring ids look different;
    saturation and value alternate so that no colour is black or grey.

    >>> class_color(255), class_color(3) == class_color(3), class_color(1) != class_color(2)
    ((0, 0, 0), True, True)
    """
    if class_id == IGNORE:
        return BLACK
    hue = (class_id * _GOLDEN) % 1.0
    sat = (0.85, 0.6)[class_id % 2]
    val = (0.95, 0.75)[(class_id // 2) % 2]
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


def label_color(label: str) -> RGB:
    """A stable colour for a text label (same label, same colour, every run)."""
    return class_color(zlib.crc32(label.encode()) % 250)


def _colour_ids(ids: np.ndarray) -> np.ndarray:
    """H×W ids → H×W×3 palette colours."""
    unique, inverse = np.unique(ids, return_inverse=True)
    table = np.array([class_color(int(u)) for u in unique], dtype=np.uint8)
    return table[inverse.reshape(ids.shape)]


# ---------------------------------------------------------------- inputs


def _rgb(image: ImageLike) -> np.ndarray:
    """Any supported image → H×W×3 uint8 array (a copy)."""
    if isinstance(image, ImageData):
        return np.array(image.pixels)
    if isinstance(image, Image.Image):
        return np.array(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise UsageError(f"expected an H×W×3 uint8 image, got {arr.dtype} of shape {arr.shape}")
    return arr.copy()


def _int_map(mask: np.ndarray, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Check an integer H×W map (and its size against the image's)."""
    arr = np.asarray(mask)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise UsageError(f"{what} must be an H×W integer array, got {arr.dtype} {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise UsageError(
            f"{what} is {arr.shape[1]}×{arr.shape[0]} but the image is {shape[1]}×{shape[0]}"
        )
    return arr


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font: no system fonts, so output is the same everywhere."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # the bitmap fallback has no sizes
        raise UsageError("drawing text needs Pillow built with FreeType")
    return font


def to_png(image: Image.Image) -> bytes:
    """Encode an image as PNG bytes (for HTML reports and run folders)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- maps


def depth_image(
    depth: np.ndarray,
    *,
    value_range: tuple[float, float] | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    near_bright: bool = True,
) -> Image.Image:
    """Colour a depth map; invalid pixels (0, negative, NaN, inf) are grey.

    Args:
        depth: H×W depths in metres.
        value_range: fixed (near, far) limits, e.g. the truth's, so a prediction
            and its truth share one scale. Default: robust limits from
            ``percentiles`` of the valid depths.
        percentiles: the percentiles used when ``value_range`` is None.
        near_bright: near pixels bright (yellow), far ones dark; else reversed.

    Returns:
        An RGB image of the same size.
    """
    arr = np.asarray(depth, dtype=np.float64)
    if arr.ndim != 2:
        raise UsageError(f"a depth map must be H×W, got shape {arr.shape}")
    valid = np.isfinite(arr) & (arr > 0)
    lo, hi = value_range if value_range is not None else _robust_range(arr[valid], percentiles)
    if not hi >= lo:
        raise UsageError(f"depth range must have near <= far, got {lo}, {hi}")
    span = hi - lo
    t = (
        np.clip((np.where(valid, arr, lo) - lo) / span, 0, 1)
        if span > 0
        else np.full(arr.shape, 0.5)
    )
    if near_bright:
        t = 1 - t
    lut = depth_lut()
    out = lut[np.round(t * (len(lut) - 1)).astype(int)]
    out[~valid] = GREY
    return Image.fromarray(out, "RGB")


def _robust_range(values: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    """Percentile limits of the valid depths ((1, 1) when there are none)."""
    if values.size == 0:
        return 1.0, 1.0
    lo, hi = np.percentile(values, percentiles)
    return float(lo), float(hi)


def normal_image(normals: np.ndarray) -> Image.Image:
    """Colour a normal map as RGB = (n + 1) / 2: +x red, +y (up) green, +z (to camera) blue.

    Vectors are normalised first; non-finite or zero-length ones are grey.

    >>> n = np.zeros((1, 2, 3), np.float32); n[0, 0] = (0, 0, 1)
    >>> normal_image(n).getpixel((0, 0)), normal_image(n).getpixel((1, 0))
    ((128, 128, 255), (128, 128, 128))
    """
    arr = np.asarray(normals, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise UsageError(f"a normal map must be H×W×3, got shape {arr.shape}")
    length = np.linalg.norm(np.nan_to_num(arr), axis=2)
    valid = np.all(np.isfinite(arr), axis=2) & (length > 1e-6)
    unit = np.where(valid[..., None], arr, 0) / np.where(valid, length, 1)[..., None]
    out = np.round((unit + 1) / 2 * 255).astype(np.uint8)
    out[~valid] = GREY
    return Image.fromarray(out, "RGB")


# ---------------------------------------------------------------- masks


def class_name(class_id: int, names: Names | None) -> str:
    """The display name of a class id (``class 17`` when unnamed)."""
    if names is not None:
        if isinstance(names, Mapping):
            if class_id in names:
                return names[class_id]
        elif 0 <= class_id < len(names):
            return names[class_id]
    return f"class {class_id}"


def legend_strip(
    entries: Sequence[tuple[str, RGB]], width: int, *, font_size: int = 12
) -> Image.Image:
    """A white strip of colour swatches with their names, wrapped to ``width``.

    Args:
        entries: (name, colour) pairs, drawn in order.
        width: strip width in pixels (usually the picture's width).
        font_size: text size in pixels.

    Returns:
        The strip (height grows with the number of rows).
    """
    font = _font(font_size)
    pad, swatch = 4, font_size
    line = font_size + 2 * pad
    placed: list[tuple[int, int, str, RGB]] = []
    x, row = pad, 0
    for name, colour in entries:
        item = swatch + pad + int(np.ceil(font.getlength(name))) + 2 * pad
        if x > pad and x + item > width:
            x, row = pad, row + 1
        placed.append((x, row, name, colour))
        x += item
    strip = Image.new("RGB", (max(width, 1), line * (row + 1)), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for x, r, name, colour in placed:
        top = r * line + pad
        draw.rectangle([x, top, x + swatch - 1, top + swatch - 1], fill=colour, outline=(0, 0, 0))
        draw.text((x + swatch + pad, top), name, fill=(0, 0, 0), font=font)
    return strip


def semantic_image(
    mask: np.ndarray,
    names: Names | None = None,
    *,
    image: ImageLike | None = None,
    alpha: float = 0.6,
    legend: bool = True,
    font_size: int = 12,
) -> Image.Image:
    """Colour a semantic mask by class, with a legend of the classes present.

    Args:
        mask: H×W class ids; 255 is ignore (black, or the bare image under an overlay).
        names: class names by id (a label set list or an id → name mapping).
        image: if given, the colours are blended over it with ``alpha``.
        alpha: opacity of the class colours over ``image``.
        legend: add a strip under the map naming each class present, in id order.
        font_size: legend text size.

    Returns:
        The map (H×W) with the legend strip below it.
    """
    ids = _int_map(mask, "a semantic mask")
    colours = _colour_ids(ids)
    if image is not None:
        base = _rgb(image)
        _int_map(ids, "the semantic mask", base.shape[:2])
        blended = np.round((1 - alpha) * base + alpha * colours).astype(np.uint8)
        colours = np.where((ids == IGNORE)[..., None], base, blended)
    picture = Image.fromarray(colours, "RGB")
    if not legend:
        return picture
    present = [int(c) for c in np.unique(ids) if c != IGNORE]
    entries = [(class_name(c, names), class_color(c)) for c in present]
    return _stack_vertical(picture, legend_strip(entries, picture.width, font_size=font_size))


def _boundary(ids: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another id."""
    edge = np.zeros(ids.shape, dtype=bool)
    vertical = ids[1:, :] != ids[:-1, :]
    horizontal = ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    return edge


def _thicken(mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow a boolean mask by ``steps`` pixels (4-connected)."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def instance_image(image: ImageLike, instances: np.ndarray, *, alpha: float = 0.45) -> Image.Image:
    """Overlay instances in per-instance colours, each with a solid outline.

    Args:
        image: the input image.
        instances: H×W ids, 0 = background (left untouched).
        alpha: fill opacity; outlines are opaque.

    Returns:
        The overlaid image.
    """
    base = _rgb(image)
    ids = _int_map(instances, "an instance mask", base.shape[:2])
    colours = _colour_ids(ids)
    inside = (ids != 0)[..., None]
    out = np.where(inside, np.round((1 - alpha) * base + alpha * colours), base).astype(np.uint8)
    outline = _boundary(ids) & (ids != 0)
    out[outline] = colours[outline]
    return Image.fromarray(out, "RGB")


def regions_image(
    image: ImageLike,
    regions: np.ndarray,
    *,
    highlight: Iterable[int] = (),
    colour: RGB = (255, 255, 0),
    alpha: float = 0.35,
) -> Image.Image:
    """Draw region outlines (e.g. superpixels) over an image, some highlighted.

    Args:
        image: the input image.
        regions: H×W region ids.
        highlight: ids to fill with ``colour`` (at ``alpha``) and outline thickly.
        colour: the highlight colour.
        alpha: fill opacity of highlighted regions.

    Returns:
        The image with thin white outlines of every region and the highlighted
        ones marked.
    """
    out = _rgb(image).astype(np.float64)
    ids = _int_map(regions, "a region map", out.shape[:2])
    out[_boundary(ids)] = (255, 255, 255)
    marked = np.isin(ids, list(highlight))
    out[marked] = (1 - alpha) * out[marked] + alpha * np.array(colour)
    ring = _thicken(_boundary(np.where(marked, 1, 0)), 1) & marked
    out[ring] = colour
    return Image.fromarray(np.round(out).astype(np.uint8), "RGB")


# ---------------------------------------------------------------- boxes


def _box_fields(box: BoxLike | tuple[str, int, int, int, int]) -> tuple[str, int, int, int, int]:
    """(label, x0, y0, x1, y1) from a Box-like object or a tuple."""
    if isinstance(box, tuple):
        if len(box) != 5:
            raise UsageError(f"a box tuple is (label, x0, y0, x1, y1), got {box!r}")
        label, x0, y0, x1, y1 = box
    else:
        label, x0, y0, x1, y1 = box.label, box.x0, box.y0, box.x1, box.y1
    if not (x1 > x0 and y1 > y0):
        raise UsageError(f"box {label!r} is empty: ({x0}, {y0}, {x1}, {y1})")
    return str(label), int(x0), int(y0), int(x1), int(y1)


def label_rect(
    text: str, x0: int, y0: int, size: tuple[int, int], *, font_size: int = 12
) -> tuple[int, int, int, int]:
    """Where :func:`boxes_image` puts a box's label: ``[x0, y0, x1, y1)`` in pixels.

    Above the box's top-left corner when it fits, inside the top edge otherwise;
    shifted left to stay in the image.
    """
    font = _font(font_size)
    ascent, descent = font.getmetrics()
    w = int(np.ceil(font.getlength(text))) + 4
    h = ascent + descent + 4  # room for descenders: the text sits 2 px in
    top = y0 - h if y0 - h >= 0 else y0
    left = max(0, min(x0, size[0] - w))
    return left, max(0, top), min(size[0], left + w), min(size[1], top + h)


def boxes_image(
    image: ImageLike,
    boxes: Iterable[BoxLike | tuple[str, int, int, int, int]],
    *,
    width: int = 2,
    font_size: int = 12,
) -> Image.Image:
    """Draw labelled boxes: an outline inside each half-open box plus a label tag.

    Args:
        image: the input image.
        boxes: objects with ``label, x0, y0, x1, y1`` or such tuples.
        width: outline width in pixels (drawn inside the box).
        font_size: label text size.

    Returns:
        The image with the boxes; each label keeps one colour everywhere.
    """
    picture = Image.fromarray(_rgb(image), "RGB")
    draw = ImageDraw.Draw(picture)
    font = _font(font_size)
    for box in boxes:
        label, x0, y0, x1, y1 = _box_fields(box)
        colour = label_color(label)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
        tag = label_rect(label, x0, y0, picture.size, font_size=font_size)
        draw.rectangle([tag[0], tag[1], tag[2] - 1, tag[3] - 1], fill=colour)
        draw.text((tag[0] + 2, tag[1] + 2), label, fill=_ink(colour), font=font)
    return picture


def _ink(background: RGB) -> RGB:
    """Black or white text, whichever reads better on ``background``."""
    r, g, b = background
    return (0, 0, 0) if 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 else (255, 255, 255)


# ---------------------------------------------------------------- layout


def _stack_vertical(top: Image.Image, bottom: Image.Image) -> Image.Image:
    """Two images, one under the other, left-aligned on white."""
    out = Image.new(
        "RGB", (max(top.width, bottom.width), top.height + bottom.height), (255, 255, 255)
    )
    out.paste(top, (0, 0))
    out.paste(bottom, (0, top.height))
    return out


def _fit_text(text: str, width: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def side_by_side(
    panels: Sequence[tuple[str, Image.Image]], *, pad: int = 6, font_size: int = 14
) -> Image.Image:
    """Lay panels out in a row with a title over each ("input | prediction | truth").

    Panels of different heights are scaled (nearest neighbour, so class colours
    stay exact) to the tallest one, keeping their aspect ratio.

    Args:
        panels: (title, image) pairs, left to right.
        pad: gap between and around panels, in pixels.
        font_size: title text size.

    Returns:
        One RGB image on a white background.
    """
    if not panels:
        raise UsageError("side_by_side needs at least one panel")
    height = max(img.height for _, img in panels)
    scaled = [
        (title, img.convert("RGB") if img.height == height else _scale(img, height))
        for title, img in panels
    ]
    font = _font(font_size)
    title_h = font_size + 2 * pad
    width = sum(img.width for _, img in scaled) + pad * (len(scaled) + 1)
    out = Image.new("RGB", (width, title_h + height + pad), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    x = pad
    for title, img in scaled:
        text = _fit_text(title, img.width, font)
        draw.text(
            (x + (img.width - font.getlength(text)) / 2, pad), text, fill=(0, 0, 0), font=font
        )
        out.paste(img, (x, title_h))
        x += img.width + pad
    return out


def _scale(img: Image.Image, height: int) -> Image.Image:
    """Resize to ``height`` keeping the aspect ratio, nearest neighbour."""
    width = max(1, round(img.width * height / img.height))
    return img.convert("RGB").resize((width, height), Image.Resampling.NEAREST)


# ---------------------------------------------------------------- outputs


def output_image(
    kind: str,
    value: Any,
    image: ImageLike,
    *,
    names: Names | None = None,
    prediction: bool = False,
) -> Image.Image:
    """The picture of one value of a chain output type: a prediction or its truth.

    Args:
        kind: the output type name (``DepthMap``, ``NormalMap``, ``SemanticMask``,
            ``InstanceMask``, ``Boxes``; anything else is shown as a label).
        value: the value in the truth's in-memory form (boxes: Box-like objects
            or ``(label, x0, y0, x1, y1)`` tuples).
        image: the item's input image, drawn under masks, boxes and labels.
        names: class names of a semantic mask's legend.
        prediction: a chain's prediction, whose depth is relative: every value is
            valid, so none is painted grey (in truth, 0 marks an invalid pixel).

    Returns:
        An RGB image.
    """
    if kind == "DepthMap":
        depth = np.asarray(value, dtype=np.float32)
        # Negative values mean relative depth (a chain's −nearness): shift it positive.
        # In truth a 0 minimum marks invalid pixels, which must stay grey.
        if np.nanmin(depth) < 0 or (prediction and np.nanmin(depth) <= 0):
            depth = depth - np.nanmin(depth) + 1.0
        return depth_image(depth)
    if kind == "NormalMap":
        return normal_image(np.asarray(value, dtype=np.float32))
    if kind == "SemanticMask":
        return semantic_image(np.asarray(value), names, image=image)
    if kind == "InstanceMask":
        return instance_image(image, np.asarray(value))
    if kind == "Boxes":
        return boxes_image(image, value)
    return side_by_side([(str(value), Image.fromarray(_rgb(image), "RGB"))])
