"""Grouping's sans-context form: one candidate per request, seed and candidate outlined."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from chainforms_helpers import CHAINS, LABELS, Runner

from chainlang.api import RunOptions, run
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


@pytest.fixture
def whole_image_object(dataset: Dataset, tmp_path: Path) -> Path:
    """One scene whose only object is the whole image, queried at its top-left corner."""
    item = next(iter(dataset))
    h, w = item.image().pixels.shape[:2]
    np.save(tmp_path / "whole.npy", np.ones((h, w), np.int32))
    entry = {
        "id": "whole",
        "image": str(item.image_path),
        "truth": {"instances": "whole.npy"},
        "inputs": {"points": [[2, 2, 1]]},
    }
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    return manifest


def test_region_growing_covers_an_object_as_large_as_the_image(
    whole_image_object: Path, tmp_path: Path
) -> None:
    # The BFS may need up to K - 1 rounds (a round can hold a single candidate); a bound
    # of ceil(K / per_call) rounds stopped it short, and the item was still "ok".
    out = tmp_path / "whole"
    options = RunOptions(labels=LABELS, cache=tmp_path / "c.sqlite", progress="none")
    result = run(CHAINS / "group.chain", whole_image_object, "oracle", out=out, options=options)
    assert result.summary.items_ok == 1 and result.summary.loops_at_bound == {}
    (record,) = map(json.loads, (out / "results.jsonl").read_text().splitlines())
    assert record["loops_at_bound"] == []
    with np.load(out / record["output"]["arrays"]) as z:
        grown = np.asarray(z["output"]) == 1
    assert grown.mean() == 1.0, f"{(~grown).sum()} pixels missing: IoU {grown.mean():.4f}"
