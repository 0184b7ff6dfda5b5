"""The order globalizer and painting values into maps."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from chainlang.errors import OperationError
from chainlang.vision import ops
from chainlang.vision.globalize import solve_order
from chainlang.vision.values import Mask, Pair, Regions


def strip(k: int) -> Regions:
    return Regions.from_labels(np.arange(1, k + 1, dtype=np.int32).reshape(1, k))


def scattered(k: int, seed: int) -> Regions:
    """K regions in a row, in random left-to-right order (so adjacency says nothing of rank)."""
    order = np.random.default_rng(seed).permutation(k) + 1
    return Regions.from_labels(order.astype(np.int32).reshape(1, k))


@settings(max_examples=25, deadline=None)
@given(k=st.integers(3, 40), seed=st.integers(0, 1000))
def test_recovers_a_chain_order_from_noiseless_answers(k: int, seed: int) -> None:
    # Regions laid out in random order, so only the answers carry the order.
    regions = scattered(k, seed)
    rank = np.random.default_rng(seed + 1).permutation(k)  # hidden order: larger = nearer
    chain = np.argsort(rank) + 1  # ids from least to most near
    pairs = [Pair(regions.region(int(hi)), regions.region(int(lo))) for lo, hi in pairwise(chain)]
    x = ops.globalize_order(regions, pairs, [1] * len(pairs), smoothness=0)
    assert spearmanr(x, rank).statistic == pytest.approx(1.0)


@settings(max_examples=15, deadline=None)
@given(k=st.integers(3, 40), smoothness=st.sampled_from([1.0, 10.0, 40.0]))
def test_smoothness_along_the_chain_keeps_the_order(k: int, smoothness: float) -> None:
    # Neighbours in the image are neighbours in the order: the prior agrees.
    regions = strip(k)
    r = ops.regions_of(regions)
    pairs = [Pair(hi, lo) for lo, hi in pairwise(r)]
    x = ops.globalize_order(regions, pairs, [1] * len(pairs), smoothness=smoothness)
    assert spearmanr(x, range(k)).statistic == pytest.approx(1.0)
    assert x[1] - x[0] == pytest.approx(1 / (1 + smoothness), rel=1e-4)


def test_unit_margin_without_smoothness() -> None:
    regions = strip(2)
    a, b = regions.region(1), regions.region(2)
    x = ops.globalize_order(regions, [Pair(a, b)], [1], smoothness=0)
    assert x[0] - x[1] == pytest.approx(1.0, abs=1e-6)
    assert sum(x) == pytest.approx(0.0, abs=1e-12)
    equal = ops.globalize_order(regions, [Pair(a, b)], [0], smoothness=0)
    assert equal == pytest.approx([0.0, 0.0], abs=1e-12)


def test_last_answer_wins_for_the_same_ordered_pair_and_none_is_ignored() -> None:
    regions = strip(2)
    a, b = regions.region(1), regions.region(2)
    x = ops.globalize_order(regions, [Pair(a, b), Pair(a, b), Pair(a, b)], [1, -1, None], 0)
    assert x[1] - x[0] == pytest.approx(1.0, abs=1e-6)
    # The reverse ordered pair is a different question and both are kept.
    y = ops.globalize_order(regions, [Pair(a, b), Pair(b, a)], [1, 1], 0)
    assert y[0] == pytest.approx(y[1], abs=1e-6)


def test_bools_mean_first_or_second() -> None:
    regions = strip(2)
    a, b = regions.region(1), regions.region(2)
    x = ops.globalize_order(regions, [Pair(a, b)], [False], 0)
    assert x[1] > x[0]


def test_smoothness_pulls_neighbours_together() -> None:
    regions = strip(3)
    r = ops.regions_of(regions)
    loose = ops.globalize_order(regions, [Pair(r[0], r[2])], [1], smoothness=0)
    tight = ops.globalize_order(regions, [Pair(r[0], r[2])], [1], smoothness=100)
    assert abs(tight[0] - tight[2]) < abs(loose[0] - loose[2])


def test_solution_matches_dense_least_squares() -> None:
    rng = np.random.default_rng(3)
    k, m = 30, 200
    first = rng.integers(0, k, m)
    second = (first + rng.integers(1, k, m)) % k
    signs = rng.choice([-1.0, 0.0, 1.0], m)
    edges = np.array([(i, i + 1) for i in range(k - 1)])
    x = solve_order(k, first, second, signs, edges, 5.0)
    rows = np.zeros((m + len(edges) + k, k))
    rows[np.arange(m), first] += 1
    rows[np.arange(m), second] -= 1
    rows[m + np.arange(len(edges)), edges[:, 0]] = np.sqrt(5.0)
    rows[m + np.arange(len(edges)), edges[:, 1]] = -np.sqrt(5.0)
    rows[m + len(edges) + np.arange(k), np.arange(k)] = 1e-4
    target = np.concatenate([signs, np.zeros(len(edges) + k)])
    dense, *_ = np.linalg.lstsq(rows, target, rcond=None)
    assert np.max(np.abs(x - dense)) < 1e-6


def test_globalize_errors() -> None:
    regions = strip(3)
    pair = Pair(regions.region(1), regions.region(2))
    with pytest.raises(OperationError, match="1 pairs but 2 answers"):
        ops.globalize_order(regions, [pair], [1, 1])
    with pytest.raises(OperationError, match="must be"):
        ops.globalize_order(regions, [pair], [2])
    with pytest.raises(OperationError, match="another superpixel map"):
        ops.globalize_order(strip(4), [pair], [1])
    with pytest.raises(OperationError, match="smoothness"):
        ops.globalize_order(regions, [pair], [1], smoothness=-1)


def test_paint_and_depth_from_order(quads: Regions) -> None:
    painted = ops.paint(quads, [1.0, 2.0, None, 4.0])
    assert painted.dtype == np.float32 and painted.shape == (16, 20)
    assert painted[0, 0] == 1.0 and painted[0, 19] == 2.0 and np.isnan(painted[15, 0])
    depth = ops.depth_from_order(quads, [1.0, 2.0, 3.0, 4.0])
    assert depth[15, 19] == -4.0
    with pytest.raises(OperationError, match="one value per region"):
        ops.paint(quads, [1.0])


def test_normals_from_order_keep_each_axis_order(quads: Regions) -> None:
    right, up, out = [0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 1, 5]
    normals = ops.normals_from_order(quads, right, up, out)
    assert normals.shape == (16, 20, 3)
    assert np.allclose(normals[0, 0], [-1, 1, -1], atol=1e-6)  # per-axis min-max to [-1, 1]
    raw = ops.normal_scores(quads, right, up, out)
    assert raw[15, 19].tolist() == [3, 0, 5]
    for axis in range(3):  # an affine map per axis: the paper's per-axis ρ is unchanged
        a, b = normals[..., axis].ravel(), raw[..., axis].ravel()
        assert np.array_equal(np.argsort(a, kind="stable"), np.argsort(b, kind="stable"))


def test_semantic_instances_and_boxes(quads: Regions) -> None:
    semantic = ops.semantic_from_labels(
        quads, ["cat", "dog", None, "unicorn"], label_set=["cat", "dog"]
    )
    assert semantic.dtype == np.uint8
    assert [semantic[0, 0], semantic[0, 19], semantic[15, 0], semantic[15, 19]] == [0, 1, 255, 255]
    first = ops.union([quads.region(1), quads.region(2)])
    second = ops.union([quads.region(2), quads.region(4)])
    instances = ops.instances_from_masks([first, None, second])
    assert [instances[0, 0], instances[0, 19], instances[15, 19], instances[15, 0]] == [1, 1, 3, 0]
    with pytest.raises(OperationError, match="at least one mask"):
        ops.instances_from_masks([None])
    with pytest.raises(OperationError, match="sizes"):
        ops.instances_from_masks([first, Mask(np.zeros((2, 2), dtype=bool))])
    boxes = ops.boxes_from(["cat"], [ops.bbox(quads.region(4))])
    assert (boxes[0].label, boxes[0].x0, boxes[0].y1, boxes[0].score) == ("cat", 10, 16, 1.0)
    with pytest.raises(OperationError, match="1 labels but 0 boxes"):
        ops.boxes_from(["cat"], [])


def test_semantic_from_labels_needs_a_label_set(quads: Regions) -> None:
    with pytest.raises(OperationError, match="label set"):
        ops.semantic_from_labels(quads, ["cat"] * 4)
