"""Detection's independent forms: the bare cell crop (no_context) and the marked rectangle."""

from __future__ import annotations

import pytest
from chainforms_helpers import Runner

from chainlang.data.manifest import Dataset

# Class finding on the whole image (1 call), as for Llama.
BASE = {"find": "whole", "n_iters": 8}


@pytest.mark.parametrize(
    ("flags", "prompt"),
    [
        ({"no_context": True}, "cell_crop"),
        ({"mark_rectangle": True}, "cell_marked"),
        ({"no_context": True, "mark_rectangle": True}, "cell_marked"),
    ],
    ids=["no_context", "mark_rectangle", "both"],
)
def test_independent_form_asks_nine_times_per_zoom_step(
    run_form: Runner, dataset: Dataset, flags: dict[str, bool], prompt: str
) -> None:
    batched = run_form("detect", "oracle", **BASE)
    oracle = run_form("detect", "oracle", independent=True, **flags, **BASE)
    random = run_form("detect", "random", independent=True, **flags, **BASE)
    for item in dataset:
        steps = len(batched.questions(item.id)) - 1  # one request per zoom step
        assert steps >= 2
        assert len(oracle.questions(item.id)) == 1 + 9 * steps
        assert oracle.records[item.id]["output"] == batched.records[item.id]["output"]
    assert oracle.prompts() == {"find_classes", prompt}
    assert random.prompts() <= {"find_classes", prompt}
    assert oracle.metrics["ap"] > random.metrics["ap"] + 0.2
