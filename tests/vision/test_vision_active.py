"""closest_pairs and balance_colours: what the adaptive strategies ask next."""

from __future__ import annotations

import numpy as np
import pytest

from chainlang.errors import OperationError
from chainlang.vision.active import balance_colours, closest_pairs
from chainlang.vision.pairs import sample_pairs
from chainlang.vision.values import Pair, Region, Regions


@pytest.fixture
def regions() -> Regions:
    """Forty 4-pixel-wide vertical strips."""
    labels = np.repeat(np.arange(1, 41, dtype=np.int32), 4)[None, :].repeat(8, axis=0)
    return Regions.from_labels(labels)


def _key(p: Pair) -> tuple[int, int]:
    return min(p.a.id, p.b.id), max(p.a.id, p.b.id)


def test_new_pairs_are_close_in_the_fit_never_asked_and_spread(regions: Regions) -> None:
    scores = [float(i) for i in range(40)]  # region i + 1 has score i
    asked = sample_pairs(regions, n=30, seed=1, scheme="balanced")
    new = closest_pairs(regions, scores, asked, n=15, seed=0)
    assert len(new) == 15
    assert not {_key(p) for p in new} & {_key(p) for p in asked}
    assert len({_key(p) for p in new}) == 15
    ids = [r for p in new for r in (p.a.id, p.b.id)]
    assert len(ids) == len(set(ids)), "one pass uses each region once"
    assert all(abs(p.a.id - p.b.id) in (2, 4, 8, 16) for p in new)
    # the nearest places come first: 15 pairs fit at distance 2 alone
    assert all(abs(p.a.id - p.b.id) == 2 for p in new)


def test_closest_pairs_stops_when_every_candidate_was_asked(regions: Regions) -> None:
    scores = [float(i) for i in range(40)]
    everything = closest_pairs(regions, scores, [], n=10_000)
    assert len(everything) == sum(40 - d for d in (2, 4, 8, 16))
    assert closest_pairs(regions, scores, everything, n=5) == []


def test_closest_pairs_refuses_scores_of_another_length(regions: Regions) -> None:
    with pytest.raises(OperationError, match="2 scores for 40 regions"):
        closest_pairs(regions, [0.0, 1.0], [], n=3)


def test_balance_colours_marks_each_region_first_as_often_as_second(regions: Regions) -> None:
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(400):
        a, b = rng.choice(np.arange(1, 41), size=2, replace=False)
        first = min(a, b) if rng.random() < 0.9 else max(a, b)  # lower ids mostly red
        pairs.append(Pair(Region(regions, int(first)), Region(regions, int(a + b - first))))
    balanced = balance_colours(pairs)
    assert [_key(p) for p in balanced] == [_key(p) for p in pairs]

    def imbalance(ps: list[Pair]) -> int:
        lead = np.zeros(41, dtype=int)
        for p in ps:
            lead[p.a.id] += 1
            lead[p.b.id] -= 1
        return int(np.abs(lead).max())

    assert imbalance(pairs) > 10
    assert imbalance(balanced) <= 3  # greedy, in the given order
