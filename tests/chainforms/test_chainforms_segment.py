"""Segmentation's other forms: sans-context (one marked full image per region) and numbered."""

from __future__ import annotations

import math

import numpy as np
from chainforms_helpers import Runner

from chainlang.data.manifest import Dataset
from chainlang.vision import ops

SEGMENTS = 60


def _k(dataset: Dataset) -> dict[str, int]:
    """Superpixels actually produced per item, computed the way the chain does."""
    return {item.id: ops.superpixels(item.image(), n=SEGMENTS, sigma=5.0).count for item in dataset}


def test_sans_context_asks_one_question_per_superpixel(run_form: Runner, dataset: Dataset) -> None:
    params = {"mode": "sans_context", "per_call": 1, "segments": SEGMENTS}
    oracle = run_form("segment", "oracle", **params)
    random = run_form("segment", "random", **params)
    for item, k in _k(dataset).items():
        for form in (oracle, random):
            asked = form.questions(item)
            assert len(asked) == k
            assert {q["batch"] for q in asked} == {1}, "one region per request"
    assert oracle.prompts() == random.prompts() == {"name_one"}
    assert oracle.metrics["miou"] > random.metrics["miou"] + 0.3


def test_sans_context_batches_marked_images_when_asked_to(
    run_form: Runner, dataset: Dataset
) -> None:
    form = run_form("segment", "oracle", mode="sans_context", per_call=16, segments=SEGMENTS)
    for item, k in _k(dataset).items():
        asked = form.questions(item)
        assert len(asked) == math.ceil(k / 16)
        assert sum(q["batch"] for q in asked) == k


def test_numbered_form_labels_sixteen_per_request(run_form: Runner, dataset: Dataset) -> None:
    params = {"mode": "numbered", "segments": SEGMENTS}
    oracle = run_form("segment", "oracle", **params)
    random = run_form("segment", "random", **params)
    for item, k in _k(dataset).items():
        assert len(oracle.questions(item)) == len(random.questions(item)) == math.ceil(k / 16)
        assert sum(q["batch"] for q in oracle.questions(item)) == k
    assert oracle.prompts() == {"name_numbered"}
    assert oracle.metrics["miou"] > random.metrics["miou"] + 0.3


def test_numbered_labels_return_to_their_regions(run_form: Runner, dataset: Dataset) -> None:
    # The regions are asked in a shuffled order; with the truth answering, the mask
    # must equal the pyramid form's, whatever the seed, or labels went astray.
    pyramid = run_form("segment", "oracle", segments=SEGMENTS)
    first = run_form("segment", "oracle", mode="numbered", seed=0, segments=SEGMENTS)
    other = run_form("segment", "oracle", mode="numbered", seed=3, segments=SEGMENTS)
    for item in _k(dataset):
        np.testing.assert_array_equal(first.array(item), pyramid.array(item))
        np.testing.assert_array_equal(other.array(item), pyramid.array(item))
        keys = [q["key"] for q in first.questions(item)]
        assert keys != [q["key"] for q in other.questions(item)], "the seed changes the batches"
