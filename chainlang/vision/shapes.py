"""Measures of regions, masks and boxes, and truth boxes and instances as lists.

Coordinates follow :mod:`chainlang.vision.values`: pixel ``i`` spans
``[i, i + 1)``, so a pixel's centre is ``i + 0.5`` and a point computed here
(``centroid``, ``centre``) is in the same continuous coordinates as the
synthetic scenes' ``centres`` truth. Such points may be fractional; an
operation that draws at a point rounds it (``as_point``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainlang.errors import OperationError
from chainlang.vision.regionstats import _box_fields
from chainlang.vision.values import Box, Mask, Region

FloatPoint = tuple[float, float]


def area(region: Region | Mask | Box) -> int:
    """The number of pixels of a region, a mask or a box."""
    if isinstance(region, Region | Mask | Box):
        return int(region.area)
    raise OperationError(f"area() takes a Region, Mask or Box, got {type(region).__name__}")


def box_area(box: Box) -> int:
    """The number of pixels of a box (0 for an empty box)."""
    return int(box.area)


def centroid(region: Region | Mask) -> FloatPoint:
    """The mean position of the pixels, ``(x, y)`` with pixel centres at ``i + 0.5``.

    Raises:
        OperationError: An empty mask has no centroid.
    """
    if isinstance(region, Region):
        box = region.box
        ys, xs = np.nonzero(region.window(box))
        ys, xs = ys + box.y0, xs + box.x0
    elif isinstance(region, Mask):
        ys, xs = np.nonzero(region.pixels)
    else:
        raise OperationError(f"centroid() takes a Region or Mask, got {type(region).__name__}")
    if xs.size == 0:
        raise OperationError("centroid() of an empty mask (no pixel set)")
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


def centre(box: Box) -> FloatPoint:
    """The centre of a box, ``((x0 + x1) / 2, (y0 + y1) / 2)``."""
    return (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when both are empty)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    inter = max(0, w) * max(0, h)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def boxes_of(boxes: Sequence[Any], label: str | None = None) -> list[Box]:
    """The boxes of a ``Boxes`` value (all, or those of ``label``), in their order.

    Truth boxes with fractional pixels widen to the pixels they touch.
    """
    return [b for lab, b in map(_box_fields, boxes) if label is None or lab == label]


def box_labels(boxes: Sequence[Any]) -> list[str]:
    """The label of every box, aligned with ``boxes_of(boxes)``."""
    return [lab for lab, _ in map(_box_fields, boxes)]


def instance_masks(instances: Any) -> list[Mask]:
    """One mask per instance of an instance map, in increasing id order (0 is background)."""
    ids = np.asarray(instances)
    if ids.ndim != 2:
        raise OperationError(f"instance_masks() takes a 2-D instance map, got shape {ids.shape}")
    return [Mask(ids == i) for i in np.unique(ids) if i != 0]
