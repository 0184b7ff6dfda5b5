"""Pairs built in a chain, region and box measures, truth boxes and instances as lists."""

from __future__ import annotations

import numpy as np
import pytest

from chainlang.data.truth import TruthBox
from chainlang.errors import OperationError
from chainlang.language.compiler import compile_source
from chainlang.vision import ops
from chainlang.vision.values import Box, Mask, Regions


def test_pairs_of_gives_every_unordered_pair_once(quads: Regions) -> None:
    regions = ops.regions_of(quads)
    pairs = ops.pairs_of(regions)
    assert [(p.a.id, p.b.id) for p in pairs] == [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]
    assert ops.pairs_of(regions[:1]) == [] and ops.pairs_of([]) == []


def test_order_pairs_puts_the_earlier_region_first(quads: Regions) -> None:
    r = ops.regions_of(quads)
    pairs = ops.order_pairs([r[2], r[0], r[3]])
    assert [(p.a.id, p.b.id) for p in pairs] == [(3, 1), (3, 4), (1, 4)]
    with pytest.raises(OperationError, match="region twice"):
        ops.order_pairs([r[0], r[1], r[0]])


def test_numbered_order_pairs_reads_each_groups_answer(quads: Regions) -> None:
    """Numbers index the group from 1; out-of-range numbers and repeats are dropped, a
    skipped answer implies nothing, and each group's pairs follow the group's order."""
    r = ops.regions_of(quads)
    groups = [[r[0], r[1], r[2]], [r[3], r[0]], [r[1], r[2]]]
    pairs = ops.numbered_order_pairs(groups, [[3, 1, 3, 9], [2, 1], None])
    assert [(p.a.id, p.b.id) for p in pairs] == [(3, 1), (1, 4)]
    with pytest.raises(OperationError, match="2 groups but 1 orders"):
        ops.numbered_order_pairs(groups[:2], [[1, 2]])


def test_an_order_expanded_to_pairs_globalizes_to_that_order(quads: Regions) -> None:
    r = ops.regions_of(quads)
    nearest_first = [r[1], r[3], r[0], r[2]]
    pairs = ops.order_pairs(nearest_first)
    nearness = ops.globalize_order(quads, pairs, [1] * len(pairs))
    by_nearness = sorted(range(4), key=lambda i: -nearness[i])
    assert [i + 1 for i in by_nearness] == [2, 4, 1, 3]


def test_pair_builds_a_pair_and_refuses_other_values(quads: Regions) -> None:
    a, b = ops.regions_of(quads)[:2]
    assert ops.pair(a, b).a == a and ops.pair(a, b).b == b
    with pytest.raises(OperationError, match="two regions"):
        ops.pair(a, 3)  # type: ignore[arg-type]  # a wrong value, as a chain cannot send it


def test_region_mask_and_box_measures(quads: Regions) -> None:
    region = ops.regions_of(quads)[3]  # the bottom-right 10 x 8 quadrant: x 10..19, y 8..15
    assert ops.area(region) == 80 and ops.area(ops.bbox(region)) == 80
    assert ops.centroid(region) == (15.0, 12.0)  # pixel centres at i + 0.5
    mask = Mask(np.zeros((4, 4), dtype=bool))
    with pytest.raises(OperationError, match="empty mask"):
        ops.centroid(mask)
    pixels = np.zeros((4, 4), dtype=bool)
    pixels[1, 2] = True
    assert ops.area(Mask(pixels)) == 1 and ops.centroid(Mask(pixels)) == (2.5, 1.5)
    box = Box(0, 0, 10, 4)
    assert ops.centre(box) == (5.0, 2.0) and ops.box_area(box) == 40
    assert ops.iou(box, box) == 1.0
    assert ops.iou(box, Box(5, 0, 15, 4)) == pytest.approx(20 / 60)
    assert ops.iou(box, Box(20, 20, 30, 30)) == 0.0


def test_truth_boxes_and_instances_as_lists() -> None:
    truth = [TruthBox("dog", 1.5, 2.0, 10.0, 12.2), TruthBox("cat", 0, 0, 4, 4)]
    assert ops.boxes_of(truth) == [Box(1, 2, 10, 13), Box(0, 0, 4, 4)]
    assert ops.boxes_of(truth, label="cat") == [Box(0, 0, 4, 4)]
    assert ops.box_labels(truth) == ["dog", "cat"]
    instances = np.array([[0, 2, 2], [0, 0, 5]])
    masks = ops.instance_masks(instances)
    assert [ops.area(m) for m in masks] == [2, 1]
    assert masks[1].pixels[1, 2]


LISTWISE = """
chain listwise {
  input image: Image
  truth depth: DepthMap
  output DepthMap

  answer Order { order: [Text] }
  prompt rank_five(view: Image) -> Order {
    user [view] "List the numbered regions from nearest to farthest."
  }

  let regions = superpixels(image, n = 20)
  let groups = chunk(regions_of(regions), 5)
  let numbers = [str(i + 1) for i in range(5)]
  let orders = for g in groups {
    ask rank_five(view = mark_numbers(image, g))
      oracle {
        order = [at(numbers, i) for i in argsort([region_mean(truth.depth, r) for r in g])]
      }
  }
  let ranked = [[at(z.a, index_of(numbers, t)) for t in z.b.order] for z in zip(groups, orders)]
  let pairs = flatten([order_pairs(o) for o in ranked])
  let all = regions_of(regions)
  let largest = take(sort_by(all, [area(r) for r in all], descending = true), 3)
  let _at = [centroid(r) for r in largest] + [centre(bbox(r)) for r in pairs_of(largest).a]
  let extra = [pair(at(largest, 0), at(largest, 1))]
  let nearness = globalize_order(regions, pairs + extra, [1 for p in pairs] + [1])
  return depth_from_order(regions, nearness)
}
"""


def test_a_listwise_depth_chain_needs_no_python() -> None:
    program = compile_source(LISTWISE)
    assert program.bounds is not None
    assert program.bounds.show() == "calls = ceil(K / 5)"
