"""The typed signatures of the built-in operations.

Each line is ``name(param: Type = default, ...) -> Type`` in the chain
language's type syntax, plus ``A | B`` for parameters that accept several
types and single capital letters (``T``) for type variables. Vision
operations are implemented in :mod:`chainlang.vision.ops` under the same
name; the small list and number helpers at the end live in
:mod:`chainlang.stdlib.core`.

An operation whose result the static evaluator can measure declares that fact
here, beside its signature, with :func:`sig` (``size=``, ``count=``,
``value=``, ``labels=``; see :mod:`chainlang.stdlib.facts`). No other module
keeps a table of operation names: the call bounds, the checker and the
interpreter read these facts from the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

VISION_IMPL = "chainlang.vision.ops"
CORE_IMPL = "chainlang.stdlib.core"


@dataclass(frozen=True, slots=True)
class Sig:
    """A signature with the static facts declared for it (formulas unparsed)."""

    signature: str
    size: str | None = None
    count: str | None = None
    value: str | None = None
    labels: str | None = None


def sig(
    signature: str,
    *,
    size: str | None = None,
    count: str | None = None,
    value: str | None = None,
    labels: str | None = None,
) -> Sig:
    """A built-in signature with its facts (the same keywords as ``@operation``)."""
    return Sig(signature, size, count, value, labels)


#: Operations implemented by ``chainlang.vision.ops.<name>`` (see docs/stdlib.md).
VISION: tuple[str | Sig, ...] = (
    sig(
        "superpixels(image: Image, n: Int = 100, sigma: Float = 5.0, compactness: Float = 10.0)"
        " -> Regions",
        count='symbol("K", "number of superpixels actually produced", n)',
    ),
    sig(
        "count(regions: Regions) -> Int",
        value="count(regions)",
    ),
    sig(
        "regions_of(regions: Regions) -> [Region]",
        size="count(regions)",
    ),
    sig(
        "adjacency(regions: Regions, connectivity: Int = 4) -> Graph",
        count="count(regions)",
    ),
    sig(
        "neighbours(graph: Graph, region: Region) -> [Region]",
        size="at_most(count(graph))",
    ),
    sig(
        "frontier(graph: Graph, accepted: [Region], seen: [Region]) -> [Region]",
        size="at_most(count(graph))",
    ),
    "region_at(regions: Regions, point: Point) -> Region",
    sig(
        'sample_pairs(regions: Regions, n: Int = 200, seed: Int = 25, scheme: Text = "reference")'
        " -> [Pair]",
        size=('max(n, ceil(count(regions) / 2)) if scheme == "reference" else at_most(n)'),
    ),
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
    sig(
        "quadrants(image: Image) -> [Box]",
        size="5",
    ),
    sig(
        "grid(box: Box, border: Float = 0.25) -> Grid",
        count="9",
    ),
    sig(
        "grid_uniform(box: Box, rows: Int, cols: Int) -> Grid",
        count="rows * cols",
    ),
    sig(
        "cells(grid: Grid) -> [Cell]",
        size="count(grid)",
    ),
    "cell_at(grid: Grid, point: Point) -> Cell",
    "degenerate(grid: Grid) -> Bool",
    "hull(grid: Grid, chosen: [Bool]) -> Box",
    "touches_all_borders(grid: Grid, chosen: [Bool]) -> Bool",
    "union(regions: [Region]) -> Mask",
    "region_mean(map: DepthMap | NormalMap, region: Region, channel: Int? = none) -> Float",
    "region_std(map: DepthMap | NormalMap, region: Region, channel: Int? = none) -> Float",
    sig(
        "majority(mask: SemanticMask, region: Region) -> Label",
        labels="dataset",
    ),
    "box_overlaps(boxes: Boxes, label: Label, box: Box) -> Bool",
    "labels_in(boxes: Boxes, box: Box) -> [Label]",
    "instance_overlap(instances: InstanceMask, point: Point, region: Region) -> Float",
    # Adaptive strategies (issue 14; chainlang/vision/active.py):
    sig(
        "closest_pairs(regions: Regions, scores: [Float], asked: [Pair], n: Int, seed: Int = 0)"
        " -> [Pair]",
        size="at_most(n)",
    ),
    sig(
        "balance_colours(pairs: [Pair], asked: [Pair]? = none) -> [Pair]",
        size="len(pairs)",
    ),
    "vote(answers: [Text?], first: Text, second: Text) -> [Int?]",
    "globalize_order(regions: Regions, pairs: [Pair], order: [Int?], smoothness: Float = 10.0,"
    " connectivity: Int = 4) -> [Float]",
    "paint(regions: Regions, values: [Float]) -> DepthMap",
    "depth_from_order(regions: Regions, nearness: [Float]) -> DepthMap",
    "normals_from_order(regions: Regions, right: [Float], up: [Float], out: [Float]) -> NormalMap",
    sig(
        "semantic_from_labels(regions: Regions, labels: [Label?]) -> SemanticMask",
        labels="argument",
    ),
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
    sig(
        "shuffle(xs: [T], seed: Int = 0) -> [T]",
        size="len(xs)",
    ),
    sig(
        "unshuffle(xs: [T], seed: Int = 0) -> [T]",
        size="len(xs)",
    ),
    sig(
        "first_each(lists: [[T]?]) -> [T?]",
        size="len(lists)",
    ),
    # Pairs, measures and truth as lists (issue 12, docs/stdlib.md):
    "pair(a: Region, b: Region) -> Pair",
    sig(
        "pairs_of(regions: [Region]) -> [Pair]",
        size="len(regions) * (len(regions) - 1) / 2",
    ),
    sig(
        "order_pairs(order: [Region]) -> [Pair]",
        size="len(order) * (len(order) - 1) / 2",
    ),
    "numbered_order_pairs(groups: [[Region]], orders: [[Int]?]) -> [Pair]",
    "area(region: Region | Mask | Box) -> Int",
    "centroid(region: Region | Mask) -> Point",
    "centre(box: Box) -> Point",
    "box_area(box: Box) -> Int",
    "iou(a: Box, b: Box) -> Float",
    "boxes_of(boxes: Boxes, label: Label? = none) -> [Box]",
    "box_labels(boxes: Boxes) -> [Label]",
    "instance_masks(instances: InstanceMask) -> [Mask]",
    # Drawing numbered views (issue 12, docs/stdlib.md):
    'number_regions(image: Image, regions: [Region], colour: Text = "red", size: Int? = none,'
    " outline: Bool = true) -> Image",
    'grid_numbered(image: Image, grid: Grid, colour: Text = "red", size: Int? = none) -> Image',
    'outline_instances(image: Image, instances: InstanceMask, colour: Text = "red",'
    " width: Int? = none, numbered: Bool = false) -> Image",
)

#: Generic list and number helpers implemented in ``chainlang.stdlib.core``.
CORE: tuple[str | Sig, ...] = (
    sig(
        "len(xs: [T]) -> Int",
        value="len(xs)",
    ),
    sig(
        "take(xs: [T], n: Int) -> [T]",
        size="prefix(xs, n)",
    ),
    sig(
        "drop(xs: [T], n: Int) -> [T]",
        size="at_most(len(xs))",
    ),
    sig(
        "last(xs: [T], n: Int) -> [T]",
        size="prefix(xs, n)",
    ),
    "first(xs: [T]) -> T",
    "at(xs: [T], index: Int) -> T",
    sig(
        "chunk(xs: [T], size: Int) -> [[T]]",
        size="ceil(len(xs) / size)",
    ),
    "flatten(xss: [[T]]) -> [T]",
    sig(
        "unique(xs: [T]) -> [T]",
        size="at_most(len(xs))",
    ),
    "contains(xs: [T], x: T) -> Bool",
    "or_else(x: T?, fallback: T) -> T",
    sig(
        "present(xs: [T?]) -> [T]",
        size="at_most(len(xs))",
    ),
    sig(
        "select(xs: [T], keep: [Bool]) -> [T]",
        size="at_most(len(xs))",
    ),
    sig(
        "abs(x: T) -> T",
        value="abs(x)",
    ),
    sig(
        "min(a: T, b: T) -> T",
        value="min(a, b)",
    ),
    sig(
        "max(a: T, b: T) -> T",
        value="max(a, b)",
    ),
    sig(
        "ceil(x: Float) -> Int",
        value="ceil(x)",
    ),
    sig(
        "floor(x: Float) -> Int",
        value="floor(x)",
    ),
    # Numbers over lists, ordering, building lists and text (issue 12, docs/stdlib.md):
    "sum(xs: [T]) -> T",
    "mean(xs: [Float]) -> Float",
    "min_of(xs: [T]) -> T",
    "max_of(xs: [T]) -> T",
    sig(
        "sort(xs: [T], descending: Bool = false) -> [T]",
        size="len(xs)",
    ),
    sig(
        "sort_by(xs: [T], keys: [K], descending: Bool = false) -> [T]",
        size="len(xs)",
    ),
    sig(
        "rank(xs: [T], descending: Bool = false) -> [Int]",
        size="len(xs)",
    ),
    sig(
        "argsort(xs: [T], descending: Bool = false) -> [Int]",
        size="len(xs)",
    ),
    sig(
        "reverse(xs: [T]) -> [T]",
        size="len(xs)",
    ),
    sig(
        "range(n: Int, start: Int = 0) -> [Int]",
        size="max(n, 0)",
    ),
    sig(
        "enumerate(xs: [T], start: Int = 0) -> [{index: Int, item: T}]",
        size="len(xs)",
    ),
    sig(
        "zip(a: [A], b: [B]) -> [{a: A, b: B}]",
        size="min(len(a), len(b))",
    ),
    "index_of(xs: [T], x: T) -> Int",
    "str(x: T) -> Text",
    'concat(parts: [Text], sep: Text = "") -> Text',
    "format(template: Text, a: A, b: B? = none, c: C? = none, d: D? = none) -> Text",
    "log(x: Float) -> Float",
    # Graded oracle answers for the noisy simulated answerers (docs/scoring.md):
    "highest(options: [T], values: [Float], heights: [Float]? = none, tie: Float = 0.0,"
    " equal: Text? = none) -> T",
    sig(
        "ranked(options: [T], values: [Float], heights: [Float]? = none) -> [T]",
        size="len(options)",
    ),
)
