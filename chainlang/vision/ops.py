"""Every standard-library operation, by the name a chain calls it.

The compiler's registry binds operation ``NAME`` to ``chainlang.vision.ops.NAME``.
"""

from __future__ import annotations

from chainlang.vision.geometry import (
    bbox,
    cell_box,
    cell_position,
    cells,
    center_crop,
    crop,
    degenerate,
    full_box,
    grid,
    grid_uniform,
    hull,
    mask_bbox,
    pad_square,
    quadrants,
    touches_all_borders,
    unpad,
)
from chainlang.vision.globalize import (
    boxes_from,
    depth_from_order,
    globalize_order,
    instances_from_masks,
    normal_scores,
    normals_from_order,
    paint,
    semantic_from_labels,
)
from chainlang.vision.graph import adjacency, frontier, neighbours
from chainlang.vision.markers import mark, mark_box, mark_mask, mark_numbers, mark_point
from chainlang.vision.pairs import sample_pairs
from chainlang.vision.readback import (
    gray_depth,
    paint_instance,
    red_mask,
    render_depth,
    render_normals,
    rgb_normals,
)
from chainlang.vision.regionstats import (
    box_overlaps,
    instance_overlap,
    labels_in,
    majority,
    region_mean,
    region_std,
    union,
    vote,
)
from chainlang.vision.superpixels import count, region_at, regions_of, superpixels

__all__ = [
    "adjacency",
    "bbox",
    "box_overlaps",
    "boxes_from",
    "cell_box",
    "cell_position",
    "cells",
    "center_crop",
    "count",
    "crop",
    "degenerate",
    "depth_from_order",
    "frontier",
    "full_box",
    "globalize_order",
    "gray_depth",
    "grid",
    "grid_uniform",
    "hull",
    "instance_overlap",
    "instances_from_masks",
    "labels_in",
    "majority",
    "mark",
    "mark_box",
    "mark_mask",
    "mark_numbers",
    "mark_point",
    "mask_bbox",
    "neighbours",
    "normal_scores",
    "normals_from_order",
    "pad_square",
    "paint",
    "paint_instance",
    "quadrants",
    "red_mask",
    "region_at",
    "region_mean",
    "region_std",
    "regions_of",
    "render_depth",
    "render_normals",
    "rgb_normals",
    "sample_pairs",
    "semantic_from_labels",
    "superpixels",
    "touches_all_borders",
    "union",
    "unpad",
    "vote",
]
