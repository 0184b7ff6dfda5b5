"""Per-region reductions of truth maps and answer helpers (oracles and aggregation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainlang.errors import OperationError
from chainlang.vision.values import Box, Mask, Region, as_point, same_owner


def union(regions: Sequence[Region]) -> Mask:
    """The union of regions (of one map) as a mask.

    Raises:
        OperationError: the list is empty or mixes maps.
    """
    owner = same_owner(regions, "union")
    chosen = np.zeros(owner.count + 1, dtype=bool)
    chosen[[r.id for r in regions]] = True
    return Mask(chosen[owner.labels])


def _valid_values(map_: np.ndarray, region: Region, channel: int | None, what: str) -> np.ndarray:
    """The region's valid values of ``map_``: finite and non-zero (0 marks "no data").

    A pixel of a multi-channel map is valid when its whole vector is finite and
    not all zero, so another channel's NaN also drops the pixel.
    """
    values = np.asarray(map_)
    if values.shape[:2] != region.owner.labels.shape:
        raise OperationError(
            f"{what}: the map is {values.shape[:2]} but the regions are {region.owner.labels.shape}"
        )
    if values.ndim == 2:
        if channel not in (None, 0):
            raise OperationError(f"{what}: a single-channel map has no channel {channel}")
        values, channel = values[..., None], 0
    elif values.ndim != 3:
        raise OperationError(f"{what}: expected an H x W or H x W x C map, got {values.shape}")
    elif channel is None or not 0 <= channel < values.shape[2]:
        raise OperationError(
            f"{what}: a {values.shape[2]}-channel map needs channel in 0..{values.shape[2] - 1}, "
            f"got {channel}"
        )
    rows, cols = region.box.slices()
    window = values[rows, cols]
    # Tested plane by plane on the region's bbox: reductions along a 3-wide last
    # axis cost several times more, and the oracles call this for every question.
    ok = region.window()
    nonzero = np.zeros_like(ok)
    for c in range(window.shape[2]):
        plane = window[..., c]
        ok &= np.isfinite(plane)
        nonzero |= plane != 0
    return window[..., channel][ok & nonzero].astype(np.float64)


def region_mean(map: np.ndarray, region: Region, channel: int | None = None) -> float | None:
    """Mean of the valid pixels of ``map`` over ``region``; None when no pixel is valid.

    Invalid pixels are NaN/inf and 0 (depth 0 and the zero normal mean "no data").

    Raises:
        OperationError: the map's size differs from the regions', or a bad ``channel``.
    """
    values = _valid_values(map, region, channel, "region_mean")
    return float(values.mean()) if values.size else None


def region_std(map: np.ndarray, region: Region, channel: int | None = None) -> float | None:
    """Population standard deviation of the valid pixels; None when none is valid.

    Raises:
        OperationError: the map's size differs from the regions', or a bad ``channel``.
    """
    values = _valid_values(map, region, channel, "region_std")
    return float(values.std()) if values.size else None


def majority(
    mask: np.ndarray,
    region: Region,
    *,
    ignore: int = 255,
    label_set: Sequence[str] | None = None,
) -> str | int | None:
    """The most frequent non-ignored class index in the region (smallest index on ties).

    Returns the label name when ``label_set`` is given, the index otherwise, and
    None when every pixel of the region is ignored.

    Raises:
        OperationError: size mismatch, or an index outside ``label_set``.
    """
    values = np.asarray(mask)
    if values.shape != region.owner.labels.shape:
        raise OperationError(
            f"majority: the mask is {values.shape} but the regions are {region.owner.labels.shape}"
        )
    picked = values[region.box.slices()][region.window()].astype(np.int64)
    picked = picked[picked != ignore]
    if picked.size == 0:
        return None
    index = int(np.argmax(np.bincount(picked)))
    if label_set is None:
        return index
    if index >= len(label_set):
        raise OperationError(f"majority: class index {index} is outside the label set")
    return label_set[index]


def _box_fields(item: Any) -> tuple[str, Box]:
    """(label, box) of a truth or predicted box given as an object or a 5-tuple."""
    if hasattr(item, "label"):
        fields = (item.label, item.x0, item.y0, item.x1, item.y1)
    else:
        fields = tuple(item)
        if len(fields) != 5:
            raise OperationError(f"a labelled box needs (label, x0, y0, x1, y1), got {item!r}")
    label, x0, y0, x1, y1 = fields
    # Truth boxes may carry fractional pixels; widen to the pixels they touch.
    box = Box(int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))
    return str(label), box


def box_overlaps(boxes: Sequence[Any], label: str, box: Box) -> bool:
    """True when some box of class ``label`` shares a pixel with ``box``."""
    return any(lab == label and b.intersects(box) for lab, b in map(_box_fields, boxes))


def labels_in(boxes: Sequence[Any], box: Box) -> list[str]:
    """Labels of the boxes that share a pixel with ``box``, each once, in first-seen order."""
    seen: dict[str, None] = {}
    for lab, b in map(_box_fields, boxes):
        if b.intersects(box):
            seen.setdefault(lab, None)
    return list(seen)


def instance_overlap(instances: np.ndarray, point: Any, region: Region) -> float:
    """Fraction of ``region``'s pixels that belong to the instance under ``point``.

    A point on background (id 0) has no instance, so the fraction is 0.

    Raises:
        OperationError: size mismatch or a point outside the map.
    """
    values = np.asarray(instances)
    if values.shape != region.owner.labels.shape:
        raise OperationError(
            f"instance_overlap: the map is {values.shape} but the regions are "
            f"{region.owner.labels.shape}"
        )
    x, y = as_point(point)
    if not (0 <= y < values.shape[0] and 0 <= x < values.shape[1]):
        raise OperationError(f"instance_overlap: point ({x}, {y}) is outside the map")
    target = values[y, x]
    if target == 0:
        return 0.0
    inside = region.window()
    hits = np.count_nonzero(values[region.box.slices()][inside] == target)
    return hits / region.area


def vote(answers: Sequence[str | None], first: str, second: str) -> list[int | None]:
    """Answers as order votes: ``first`` → +1, ``second`` → −1, other text → 0, None stays None."""
    if first == second:
        raise OperationError(f"vote needs two different answers, got {first!r} twice")
    table = {first: 1, second: -1}
    return [None if a is None else table.get(a, 0) for a in answers]


def first_each(lists: Sequence[Sequence[Any] | None]) -> list[Any]:
    """The first element of every list; None where a list is missing or empty.

    Turns ordered answers into single choices: a depth answer
    ``{"depth_order": ["blue", "red"]}`` (nearest first) becomes ``"blue"``,
    the colour of the nearer region, which :func:`vote` then reads. An empty
    order carries no choice, so it becomes missing rather than a guess.
    """
    return [xs[0] if xs else None for xs in lists]
