"""The typed signatures of the built-in operations.

Each line is ``name(param: Type = default, ...) -> Type`` in the chain
language's type syntax, plus ``A | B`` for parameters that accept several
types and single capital letters (``T``) for type variables. Vision
operations are implemented in :mod:`chainlang.vision.ops` under the same
name; the small list and number helpers at the end live in
:mod:`chainlang.stdlib.core`.
"""

from __future__ import annotations

VISION_IMPL = "chainlang.vision.ops"
CORE_IMPL = "chainlang.stdlib.core"

#: Operations implemented by ``chainlang.vision.ops.<name>`` (see docs/stdlib.md).
VISION: tuple[str, ...] = (
    "superpixels(image: Image, n: Int = 100, sigma: Float = 5.0, compactness: Float = 10.0)"
    " -> Regions",
    "count(regions: Regions) -> Int",
    "regions_of(regions: Regions) -> [Region]",
    "adjacency(regions: Regions, connectivity: Int = 4) -> Graph",
    "neighbours(graph: Graph, region: Region) -> [Region]",
    "frontier(graph: Graph, accepted: [Region], seen: [Region]) -> [Region]",
    "region_at(regions: Regions, point: Point) -> Region",
    'sample_pairs(regions: Regions, n: Int = 200, seed: Int = 25, scheme: Text = "reference")'
    " -> [Pair]",
    'mark(image: Image, regions: [Region], colours: [Text], shape: Text = "curve",'
    " margin: Int? = none) -> Image",
    'mark_mask(image: Image, mask: Mask, colour: Text, shape: Text = "curve",'
    " margin: Int? = none) -> Image",
    "mark_numbers(image: Image, regions: [Region]) -> Image",
    "crop(image: Image, box: Box, margin: Int = 0) -> Image",
    "bbox(region: Region) -> Box",
    "mask_bbox(mask: Mask) -> Box",
    "center_crop(image: Image, size: Int = 224) -> Image",
    "full_box(image: Image) -> Box",
    "quadrants(image: Image) -> [Box]",
    "grid(box: Box, border: Float = 0.25) -> Grid",
    "grid_uniform(box: Box, rows: Int, cols: Int) -> Grid",
    "cells(grid: Grid) -> [Cell]",
    "degenerate(grid: Grid) -> Bool",
    "hull(grid: Grid, chosen: [Bool]) -> Box",
    "touches_all_borders(grid: Grid, chosen: [Bool]) -> Bool",
    "union(regions: [Region]) -> Mask",
    "region_mean(map: DepthMap | NormalMap, region: Region, channel: Int? = none) -> Float",
    "region_std(map: DepthMap | NormalMap, region: Region, channel: Int? = none) -> Float",
    "majority(mask: SemanticMask, region: Region) -> Label",
    "box_overlaps(boxes: Boxes, label: Label, box: Box) -> Bool",
    "labels_in(boxes: Boxes, box: Box) -> [Label]",
    "instance_overlap(instances: InstanceMask, point: Point, region: Region) -> Float",
    "vote(answers: [Text?], first: Text, second: Text) -> [Int?]",
    "globalize_order(regions: Regions, pairs: [Pair], order: [Int?], smoothness: Float = 10.0,"
    " connectivity: Int = 4) -> [Float]",
    "paint(regions: Regions, values: [Float]) -> DepthMap",
    "depth_from_order(regions: Regions, nearness: [Float]) -> DepthMap",
    "normals_from_order(regions: Regions, right: [Float], up: [Float], out: [Float]) -> NormalMap",
    "semantic_from_labels(regions: Regions, labels: [Label?]) -> SemanticMask",
    "instances_from_masks(masks: [Mask]) -> InstanceMask",
    "boxes_from(labels: [Label], boxes: [Box]) -> Boxes",
    "pad_square(image: Image, size: Int = 1024) -> Image",
    "unpad(generated: Image, like: Image, size: Int = 1024) -> Image",
    "gray_depth(image: Image, white_is_near: Bool = true) -> DepthMap",
    "rgb_normals(image: Image) -> NormalMap",
    "red_mask(image: Image) -> Mask",
    # Added for the paper chains (appended to docs/stdlib.md):
    "cell_box(cell: Cell) -> Box",
    "cell_position(cell: Cell) -> Text",
    'mark_box(image: Image, box: Box, colour: Text = "red", width: Int = 1) -> Image',
    'mark_point(image: Image, point: Point, colour: Text = "red", radius: Int = 15) -> Image',
    "render_depth(map: DepthMap, white_is_near: Bool = true) -> Image",
    "render_normals(map: NormalMap) -> Image",
    "paint_instance(image: Image, instances: InstanceMask, point: Point) -> Image",
    # Added for the reference's remaining chain forms (Set-of-Mark segmentation, depth_order):
    "shuffle(xs: [T], seed: Int = 0) -> [T]",
    "unshuffle(xs: [T], seed: Int = 0) -> [T]",
    "first_each(lists: [[T]?]) -> [T?]",
)

#: Generic list and number helpers implemented in ``chainlang.stdlib.core``.
CORE: tuple[str, ...] = (
    "len(xs: [T]) -> Int",
    "take(xs: [T], n: Int) -> [T]",
    "drop(xs: [T], n: Int) -> [T]",
    "last(xs: [T], n: Int) -> [T]",
    "first(xs: [T]) -> T",
    "at(xs: [T], index: Int) -> T",
    "chunk(xs: [T], size: Int) -> [[T]]",
    "flatten(xss: [[T]]) -> [T]",
    "unique(xs: [T]) -> [T]",
    "contains(xs: [T], x: T) -> Bool",
    "present(xs: [T?]) -> [T]",
    "select(xs: [T], keep: [Bool]) -> [T]",
    "abs(x: T) -> T",
    "min(a: T, b: T) -> T",
    "max(a: T, b: T) -> T",
    "ceil(x: Float) -> Int",
    "floor(x: Float) -> Int",
)
