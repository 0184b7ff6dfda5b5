"""The realistic simulated answerers: ``oracle:bt=G``, ``bias=B``, ``prior=S`` over graded
oracle answers (``highest``/``ranked``; docs/scoring.md, "Simulated answerers")."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import pytest
from runtime_helpers import make_request
from scipy.stats import binom

from chainlang.errors import UsageError
from chainlang.language.graded import Grading, split_graded
from chainlang.language.types import EnumT, FieldT, ListT, RecordT
from chainlang.providers.base import ModelRef, ProviderError
from chainlang.providers.simulated import simulated_provider
from chainlang.runtime.clock import run_virtual
from chainlang.runtime.scheduler import Scheduler
from chainlang.stdlib.core import highest, ranked

NEAR = RecordT(fields=(FieldT(name="near", type=EnumT(values=("red", "blue"))),))
ORDER = ListT(item=EnumT(values=("1", "2", "3")))


def _ref(**options: str) -> ModelRef:
    return ModelRef("oracle", "", options=tuple(sorted(options.items())))


def _pair(gap: float, heights: tuple[float, float] | None = None) -> dict[str, object]:
    """The grading of a pair whose red option is truly higher by ``gap``."""
    return Grading("one", ("red", "blue"), (0.0, -gap), heights).to_json()


def _answers(ref: ModelRef, n: int, graded: dict[str, object], oracle: object, t=NEAR) -> list:
    """``n`` distinct questions with the same oracle answer and grading."""

    async def main():
        sched = Scheduler(simulated_provider)
        requests = [
            replace(make_request(f"q{i}", model=ref), answer_type=t, oracle=oracle, graded=graded)
            for i in range(n)
        ]
        return await asyncio.gather(*(sched.ask(r) for r in requests))

    outs = run_virtual(main())
    assert all(o.ok for o in outs), [o.failure_message for o in outs if not o.ok][:1]
    return [o.value for o in outs]


def _within_99(k: int, n: int, p: float) -> bool:
    lo, hi = binom.interval(0.99, n, p)
    return lo <= k <= hi


@pytest.mark.parametrize("gap,expected", [(0.2, 0.75), (0.0, 0.5), (0.4, 0.9)])
def test_bt_is_right_75_percent_at_its_gap(gap: float, expected: float) -> None:
    # Bradley-Terry: P(right) = 1 / (1 + 3^(-gap / G)); 0.75 at gap G, 0.9 at 2G.
    n = 2000
    answers = _answers(_ref(bt="0.2"), n, {"near": _pair(gap)}, {"near": "red"})
    right = sum(a["near"] == "red" for a in answers)
    assert math.isclose(1 / (1 + 3 ** (-gap / 0.2)), expected)
    assert _within_99(right, n, expected), right / n


def test_a_noisy_ranking_has_the_pairwise_odds() -> None:
    # Plackett-Luce from the same noise: each pair of a ranking is ordered right with
    # the pairwise probability, so listwise and pairwise strategies face one answerer.
    n = 2000
    g = Grading("order", ("1", "2", "3"), (0.4, 0.2, 0.0)).to_json()
    answers = _answers(_ref(bt="0.2"), n, {"": g}, ["1", "2", "3"], t=ORDER)
    assert all(sorted(a) == ["1", "2", "3"] for a in answers)
    one_before_two = sum(a.index("1") < a.index("2") for a in answers)
    one_before_three = sum(a.index("1") < a.index("3") for a in answers)
    assert _within_99(one_before_two, n, 0.75)
    assert _within_99(one_before_three, n, 0.9)


def test_bias_prefers_the_first_listed_option() -> None:
    n = 2000
    answers = _answers(_ref(bias="0.3"), n, {"near": _pair(-1.0)}, {"near": "blue"})
    assert _within_99(sum(a["near"] == "red" for a in answers), n, 0.3)


def test_prior_prefers_the_lower_option() -> None:
    n = 2000
    # blue is truly nearer, red lower in the frame: the prior answers red 40% of the time
    graded = {"near": _pair(-1.0, heights=(200.0, 50.0))}
    answers = _answers(_ref(prior="0.4"), n, graded, {"near": "blue"})
    assert _within_99(sum(a["near"] == "red" for a in answers), n, 0.4)


def test_equal_is_answered_from_the_perceived_gap() -> None:
    g = Grading("one", ("red", "blue"), (0.5, 0.45), tie=0.1, equal="equal").to_json()
    t = RecordT(fields=(FieldT(name="right", type=EnumT(values=("red", "blue", "equal"))),))
    exact = _answers(_ref(bt="0.000001"), 50, {"right": g}, {"right": "equal"}, t=t)
    assert all(a["right"] == "equal" for a in exact)
    noisy = _answers(_ref(bt="0.3"), 400, {"right": g}, {"right": "equal"}, t=t)
    assert {a["right"] for a in noisy} == {"red", "blue", "equal"}


def test_answers_are_deterministic_per_question_and_seed() -> None:
    graded = {"near": _pair(0.1)}
    a = _answers(_ref(bt="0.2", bias="0.1"), 300, graded, {"near": "red"})
    b = _answers(_ref(bt="0.2", bias="0.1"), 300, graded, {"near": "red"})
    c = _answers(_ref(bt="0.2", bias="0.1", seed="7"), 300, graded, {"near": "red"})
    assert a == b and a != c


def test_an_ungraded_oracle_is_a_bad_request_that_says_what_to_do() -> None:
    provider = simulated_provider(_ref(bt="0.2"))
    request = make_request(model=_ref(bt="0.2"), answer_type=NEAR, oracle={"near": "red"})
    with pytest.raises(ProviderError, match=r"highest\(\.\.\.\) or ranked") as info:
        run_virtual(provider.send(request, 1.0))
    assert info.value.kind == "bad_request"


@pytest.mark.parametrize(
    "options,message",
    [
        ({"bias": "1.5"}, "bias must be a probability"),
        ({"bias": "0.6", "prior": "0.6"}, "bias \\+ prior"),
        ({"bt": "-1"}, "bt must be a gap"),
        ({"bt": "x"}, "not a number"),
    ],
)
def test_bad_options_are_usage_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        simulated_provider(_ref(**options))


def test_highest_and_ranked_are_the_oracle_answer_and_split_off() -> None:
    near = highest(["red", "blue"], [-2.0, -1.0], heights=[10.0, 20.0])
    order = ranked(["1", "2", "3"], [0.1, 0.3, 0.2])
    plain, found = split_graded({"near": near, "order": order, "n": 3})
    assert plain == {"near": "blue", "order": ["2", "3", "1"], "n": 3}
    assert type(plain["near"]) is str and type(plain["order"]) is list
    assert found["near"]["heights"] == [10.0, 20.0] and found["order"]["kind"] == "order"
    assert highest(["red", "blue"], [0.30, 0.35], tie=0.1, equal="equal") == "equal"


def test_the_depth_chain_under_bt_records_the_truths_answer(tmp_path) -> None:
    # End to end: the chain's oracle clause grades its answer (highest), the interpreter
    # splits it off, the answerer errs, and each question records the plain truth answer.
    from pathlib import Path

    from chainlang.api import RunOptions, run
    from chainlang.data.synthetic import generate
    from chainlang.runtime.runfolder import read_results

    data = generate(1, tmp_path / "syn", seed=3, size=(192, 144))
    chain = Path(__file__).resolve().parents[2] / "chains" / "depth.chain"
    seen = {}
    for model in ("oracle", "oracle:bt=0.3"):
        options = RunOptions(
            params={"segments": 30, "pairs": 60},
            progress="none",
            cache=tmp_path / f"{model}.sqlite",
        )
        run(chain, data, model, out=tmp_path / model, options=options)
        (record,) = read_results(tmp_path / model)
        qs = record["questions"]
        seen[model] = [(q["expected"], q["answer"]) for q in qs]
    assert all(e == a and isinstance(e, dict) for e, a in seen["oracle"])
    assert [e for e, _ in seen["oracle"]] == [e for e, _ in seen["oracle:bt=0.3"]]
    wrong = sum(e != a for e, a in seen["oracle:bt=0.3"])
    assert 0 < wrong < len(seen["oracle:bt=0.3"]) / 2
