"""Grouping's sans-context form: one candidate per request, seed and candidate outlined."""

from __future__ import annotations

from chainforms_helpers import Runner

from chainlang.data.manifest import Dataset, Item
from chainlang.vision import ops

SEGMENTS = 60


def _examined(item: Item) -> int:
    """Candidates a truthful answerer is asked about (a BFS written apart from the chain)."""
    regions = ops.superpixels(item.image(), n=SEGMENTS, sigma=5.0)
    graph = ops.adjacency(regions, connectivity=8)
    instances = item.truth("instances")
    total = 0
    for point in item.input("points"):
        seed = ops.region_at(regions, point)
        seen = {seed.id}
        queue = list(ops.neighbours(graph, seed))
        seen |= {r.id for r in queue}
        while queue:
            candidate = queue.pop(0)
            total += 1
            if ops.instance_overlap(instances, point, candidate) >= 0.5:
                fresh = [r for r in ops.neighbours(graph, candidate) if r.id not in seen]
                seen |= {r.id for r in fresh}
                queue += fresh
    return total


def test_sans_context_asks_once_per_examined_candidate(run_form: Runner, dataset: Dataset) -> None:
    params = {"context": False, "per_call": 1, "segments": SEGMENTS}
    oracle = run_form("group", "oracle", **params)
    random = run_form("group", "random", **params)
    for item in dataset:
        asked = oracle.questions(item.id)
        assert len(asked) == _examined(item) > 0
        assert {q["batch"] for q in asked} == {1}
    assert oracle.prompts() == random.prompts() == {"alone"}
    assert oracle.metrics["miou"] > random.metrics["miou"] + 0.3


def test_sans_context_grows_the_same_objects_as_the_pyramid_form(
    run_form: Runner, dataset: Dataset
) -> None:
    # The truth answers "same object?" alike in both forms, so the masks must match.
    alone = run_form("group", "oracle", context=False, segments=SEGMENTS)
    grown = run_form("group", "oracle", context=True, segments=SEGMENTS)
    for item in dataset:
        assert (alone.array(item.id) == grown.array(item.id)).all()
    assert grown.prompts() == {"grow"}
