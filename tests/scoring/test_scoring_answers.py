"""``answer_acc``: agreement of recorded answers with the truth's, and its interval."""

from __future__ import annotations

import math

import pytest

from chainlang.scoring.metrics import BootstrapSpec
from chainlang.scoring.score import answer_accuracy


def _question(answer: object, expected: object, ok: bool = True) -> dict[str, object]:
    return {"answer": answer, "expected": expected, "ok": ok}


RECORDS = [
    {
        "id": "a",
        "questions": [
            # leaves are compared after lower-casing and "_" → " "; reasoning is ignored
            _question({"near": "Red", "reasoning": "x"}, {"near": "red", "reasoning": "y"}),
            _question({"near": "red"}, {"near": "blue"}),
            _question({"near": "blue"}, {"near": "blue"}, ok=False),  # failed: not counted
            _question({"near": "blue"}, None),  # no truth answer: not counted
        ],
    },
    {"id": "b", "questions": [_question(["Tabby_cat", "dog"], ["dog", "tabby cat"])]},
    {"id": "c", "questions": [_question("yes", None)]},  # nothing to compare: no value
]


def test_agreement_per_item_and_mean_over_items() -> None:
    metric, per_item = answer_accuracy(RECORDS)
    assert per_item == {"a": 0.5, "b": 1.0}
    assert metric is not None
    assert metric.value == pytest.approx(0.75) and metric.n_items == 2
    assert metric.ci_low <= metric.value <= metric.ci_high


def test_interval_follows_the_bootstrap_setting() -> None:
    metric, _ = answer_accuracy(RECORDS, bootstrap=None)
    assert metric is not None and math.isnan(metric.ci_low) and math.isnan(metric.ci_high)
    a, _ = answer_accuracy(RECORDS, bootstrap=BootstrapSpec(200, seed=1))
    b, _ = answer_accuracy(RECORDS, bootstrap=BootstrapSpec(200, seed=1))
    assert a is not None and b is not None and (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)


def test_no_truth_answers_gives_no_metric() -> None:
    assert answer_accuracy([{"id": "c", "questions": [_question("yes", None)]}]) == (None, {})


def test_lists_of_records_compare_as_sets_without_failing() -> None:
    # An answer listing objects as records ({label, cell}) has no natural order to sort by.
    found = [{"label": "cone", "cell": 6}, {"label": "Cube", "cell": 2}]
    truth = [{"label": "cube", "cell": 2}, {"label": "cone", "cell": 6}]
    other = [{"label": "cube", "cell": 3}, {"label": "cone", "cell": 6}]
    records = [
        {"id": "a", "questions": [_question({"objects": found}, {"objects": truth})]},
        {"id": "b", "questions": [_question({"objects": other}, {"objects": truth})]},
        {"id": "c", "questions": [_question([[2, 1], "x", 3], [3, "x", [2, 1]])]},
    ]
    _, per_item = answer_accuracy(records)
    assert per_item == {"a": 1.0, "b": 0.0, "c": 1.0}


def test_orders_compare_in_order_and_picks_as_sets() -> None:
    """A ranking reversed disagrees with the truth's ranking; a set of picks in another
    order still agrees. Which is which comes from the answer type (``ordered``)."""
    truth = {"order": ["3", "1", "2"], "cells": [4, 7]}
    reverse = {"order": ["2", "1", "3"], "cells": [7, 4]}
    q = {**_question(reverse, truth), "ordered": ["order"]}
    _, per_item = answer_accuracy([{"id": "a", "questions": [q]}])
    assert per_item == {"a": 0.5}  # cells agree, the order does not
    legacy = _question(reverse, truth)  # a record from before 'ordered': every list a set
    assert answer_accuracy([{"id": "a", "questions": [legacy]}])[1] == {"a": 1.0}


def test_batched_orders_match_every_key() -> None:
    truth = {"1": ["a", "b"], "2": ["c", "d"]}
    answer = {"1": ["a", "b"], "2": ["d", "c"]}
    q = {**_question(answer, truth), "ordered": ["*"]}
    assert answer_accuracy([{"id": "x", "questions": [q]}])[1] == {"x": 0.5}


def test_ordered_paths_follow_the_answer_type() -> None:
    from chainlang.language import types as t

    rec = t.RecordT(
        fields=(
            t.FieldT(name="rank", type=t.RANKING),
            t.FieldT(name="picks", type=t.ListT(item=t.TextT())),
            t.FieldT(name="normal", type=t.FixedListT(item=t.FloatRangeT(lo=-1, hi=1), length=3)),
        )
    )
    assert t.ordered_paths(rec) == ("rank", "normal")
    assert t.ordered_paths(t.KeyedT(item=rec)) == ("*.rank", "*.normal")
    assert t.ordered_paths(t.ListT(item=t.TextT())) == ()
