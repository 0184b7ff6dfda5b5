"""Pair sampling: the reference scheme bit for bit, and the better schemes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlang.errors import OperationError
from chainlang.vision import ops
from chainlang.vision.pairs import reference_pair_ids
from chainlang.vision.values import Regions


def strip(k: int) -> Regions:
    return Regions.from_labels(np.arange(1, k + 1, dtype=np.int32).reshape(1, k))


def ids(pairs: list) -> list[tuple[int, int]]:
    return [(p.a.id, p.b.id) for p in pairs]


def test_reference_matches_hand_computed_case() -> None:
    # Legacy NumPy stream with seed 25 shuffles [1..5] in place to
    # [1 2 4 3 5], then (continuing from that order) to [3 1 2 4 5].
    # Pass 1: (1,2) (4,3) + odd tail (5,1). Pass 2: (3,1) (2,4) + (5,3).
    # Six pairs from two passes > n = 4, so the list is cut to four.
    assert ids(ops.sample_pairs(strip(5), n=4)) == [(1, 2), (4, 3), (5, 1), (3, 1)]
    # One pass already gives >= n pairs: it is NOT cut (3 pairs for n = 2).
    assert ids(ops.sample_pairs(strip(5), n=2)) == [(1, 2), (4, 3), (5, 1)]
    # Even K, seed 25: [2 4 3 1] then [3 2 4 1].
    assert ids(ops.sample_pairs(strip(4), n=3)) == [(2, 4), (3, 1), (3, 2)]


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 500), n=st.integers(0, 300))
def test_reference_pair_count_rule(k: int, n: int) -> None:
    pairs = reference_pair_ids(k, n)
    per_pass = math.ceil(k / 2)
    assert len(pairs) == (n if per_pass < n else per_pass)
    first_pass = {i for pair in pairs[:per_pass] for i in pair}
    assert first_pass == set(range(1, k + 1))  # a pass covers every region


def test_reference_leaves_global_numpy_state_alone() -> None:
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    ops.sample_pairs(strip(9), n=20)
    assert np.random.random() == expected


@settings(max_examples=20, deadline=None)
@given(
    k=st.integers(2, 60),
    n=st.integers(1, 120),
    seed=st.integers(0, 2**16),
    scheme=st.sampled_from(["reference", "balanced", "adjacent"]),
)
def test_same_labels_and_seed_same_pairs(k: int, n: int, seed: int, scheme: str) -> None:
    first = ids(ops.sample_pairs(strip(k), n=n, seed=seed, scheme=scheme))
    second = ids(ops.sample_pairs(strip(k), n=n, seed=seed, scheme=scheme))
    assert first == second
    assert all(a != b for a, b in first)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 60), n=st.integers(1, 200), seed=st.integers(0, 1000))
def test_balanced_has_no_duplicates_and_even_coverage(k: int, n: int, seed: int) -> None:
    pairs = ids(ops.sample_pairs(strip(k), n=n, seed=seed, scheme="balanced"))
    unordered = {(min(a, b), max(a, b)) for a, b in pairs}
    assert len(unordered) == len(pairs) == min(n, k * (k - 1) // 2)
    counts = np.bincount(np.array(pairs).ravel(), minlength=k + 1)[1:]
    # Rounds are perfect matchings, so coverage differs by at most one round.
    assert counts.max() - counts.min() <= 2


def test_adjacent_scheme_starts_with_neighbours() -> None:
    regions = Regions.from_labels(np.kron(np.arange(1, 10).reshape(3, 3), np.ones((2, 2), int)))
    edges = {(i + 1, j + 1) for i, j in ops.adjacency(regions).edges().tolist()}
    pairs = ids(ops.sample_pairs(regions, n=20, seed=3, scheme="adjacent"))
    head = {(min(a, b), max(a, b)) for a, b in pairs[: len(edges)]}
    assert head == edges  # the 12 neighbouring pairs come first
    assert len({(min(a, b), max(a, b)) for a, b in pairs}) == 20


def test_sample_pairs_errors() -> None:
    with pytest.raises(OperationError, match="at least 2 regions"):
        ops.sample_pairs(strip(1))
    with pytest.raises(OperationError, match="unknown pair scheme"):
        ops.sample_pairs(strip(3), scheme="nearest")
    with pytest.raises(OperationError, match="n >= 0"):
        ops.sample_pairs(strip(3), n=-1)
