"""Boxes, the image label, grouping points and the object-level truth derived from a render."""

# No `from __future__ import annotations` here: the module defines a function of that name.
from typing import Any

import numpy as np
from scipy import ndimage

from chainlang.data.synthetic.rendering import Render, Scene

# Centres are written to 1/100 pixel: finer digits are float noise that could differ across CPUs.
_CENTRE_DIGITS = 2


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


def object_truth(scene: Scene, r: Render) -> dict[str, Any]:
    """Counting, centre and ranking truth of the objects (instance ids ``1..N``).

    * ``count``: the number of objects (every object is visible: the layout checks ensure it).
    * ``centres``: per instance id in order, ``[x, y]`` the centroid of its visible mask in the
      boxes' pixel coordinates (pixel ``i`` spans ``[i, i + 1)``, so its centre is ``i + 0.5``).
    * ``size_rank``: instance ids from the largest solid to the smallest, by 3D volume.
    * ``depth_rank``: instance ids nearest first, by mean true depth over the visible mask.

    Ties (never met with continuous draws) keep the lower id first.
    """
    ids = list(range(1, len(scene.objects) + 1))
    centres, mean_depth = [], []
    for k in ids:
        ys, xs = np.nonzero(r.instances == k)
        centres.append(
            [
                round(float(xs.mean()) + 0.5, _CENTRE_DIGITS),
                round(float(ys.mean()) + 0.5, _CENTRE_DIGITS),
            ]
        )
        mean_depth.append(float(r.depth[ys, xs].astype(np.float64).mean()))
    volumes = [obj.volume for obj in scene.objects]
    return {
        "count": len(ids),
        "centres": centres,
        # sorted() is stable, so equal keys keep id order.
        "size_rank": sorted(ids, key=lambda k: -volumes[k - 1]),
        "depth_rank": sorted(ids, key=lambda k: mean_depth[k - 1]),
    }
