"""Boxes, the image label and grouping points derived from a rendered scene."""

# No `from __future__ import annotations` here: the module defines a function of that name.
from typing import Any

import numpy as np
from scipy import ndimage

from chainlang.data.synthetic.rendering import Render, Scene


def annotations(scene: Scene, r: Render) -> dict[str, Any]:
    """Boxes, the image label and grouping points derived from the rendered instance map."""
    boxes, points, areas = [], [], []
    for k, obj in enumerate(scene.objects, 1):
        mask = r.instances == k
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        boxes.append(
            {
                "label": obj.cls,
                "x0": int(cols[0]),
                "y0": int(rows[0]),
                "x1": int(cols[-1]) + 1,
                "y1": int(rows[-1]) + 1,
            }
        )
        # The most interior pixel (farthest from any other surface) is the safest query point.
        dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(dist.argmax()), dist.shape)
        points.append([int(x), int(y), k])
        areas.append(int(mask.sum()))
    label = scene.objects[int(np.argmax(areas))].cls
    return {"boxes": boxes, "points": points, "label": label, "areas": areas}
