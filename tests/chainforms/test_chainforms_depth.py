"""Depth's depth_order answer form: both colours nearest first, read as the nearer colour."""

from __future__ import annotations

import numpy as np
from chainforms_helpers import Runner

from chainlang.data.manifest import Dataset

PARAMS = {"pairs": 40, "segments": 40}


def test_depth_order_form_asks_one_question_per_pair(run_form: Runner, dataset: Dataset) -> None:
    oracle = run_form("depth", "oracle", form="depth_order", **PARAMS)
    random = run_form("depth", "random", form="depth_order", **PARAMS)
    for item in dataset:
        asked = oracle.questions(item.id)
        assert len(asked) == len(random.questions(item.id)) == PARAMS["pairs"]
        orders = [q["answer"]["depth_order"] for q in asked]
        assert all(sorted(o) == ["blue", "red"] for o in orders)
    assert oracle.prompts() == random.prompts() == {"compare_order"}
    assert oracle.metrics["delta1"] > random.metrics["delta1"] + 0.2
    assert oracle.metrics["spearman"] > random.metrics["spearman"] + 0.2


def test_depth_order_and_near_give_the_same_depth(run_form: Runner, dataset: Dataset) -> None:
    # Truthful answers in either form must globalize to the same map: the order's
    # first colour is the nearer region.
    ordered = run_form("depth", "oracle", form="depth_order", **PARAMS)
    near = run_form("depth", "oracle", form="near", **PARAMS)
    assert near.prompts() == {"compare"}
    for item in dataset:
        firsts = [q["answer"]["depth_order"][0] for q in ordered.questions(item.id)]
        nearer = [q["answer"]["near"] for q in near.questions(item.id)]
        assert sorted(firsts) == sorted(nearer) and {"red", "blue"} <= set(firsts)
        np.testing.assert_allclose(ordered.array(item.id), near.array(item.id))
