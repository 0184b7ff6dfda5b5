"""The simulated answerers: oracle, oracle with flips, random."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from runtime_helpers import make_request

from chainlang.errors import UsageError
from chainlang.language import answers
from chainlang.language.types import EnumT, FieldT, IntT, KeyedT, ListT, RecordT, TextT
from chainlang.providers.base import ModelRef, ModelRequest, ProviderError, Usage
from chainlang.providers.simulated import OracleProvider, RandomProvider, simulated_provider
from chainlang.runtime.clock import run_virtual
from chainlang.runtime.scheduler import Scheduler

COLOUR = EnumT(values=("red", "blue", "green"))


def _oracle(**options: str) -> ModelRef:
    return ModelRef("oracle", "", options=tuple(sorted(options.items())))


def _ask_all(ref: ModelRef, n: int, answer_type=COLOUR, oracle="red"):
    async def main():
        sched = Scheduler(simulated_provider)
        return await asyncio.gather(
            *(
                sched.ask(make_request(f"q{i}", model=ref, answer_type=answer_type, oracle=oracle))
                for i in range(n)
            )
        )

    return run_virtual(main())


def test_oracle_returns_the_oracle_value_for_free():
    outs = _ask_all(_oracle(), 20)
    assert all(o.ok and o.value == "red" for o in outs)
    assert all(o.usage == Usage() and o.cost_usd == 0.0 for o in outs)


def test_missing_oracle_is_a_bad_request_naming_the_ask():
    provider = OracleProvider(_oracle())
    request = make_request(model=_oracle())
    with pytest.raises(ProviderError, match="no answer for the ask") as info:
        run_virtual(provider.send(request, 1.0))
    assert info.value.kind == "bad_request"
    outcome = _ask_all(_oracle(), 1, oracle=None)[0]
    assert outcome.failure_kind == "bad_request" and outcome.attempts == 1


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_flip_rate_is_close_to_p(p):
    n = 2000
    outs = _ask_all(_oracle(flip=str(p)), n)
    flipped = sum(o.value != "red" for o in outs) / n
    assert abs(flipped - p) < 4 * (p * (1 - p) / n) ** 0.5  # within 4 standard errors
    assert all(o.value in COLOUR.values for o in outs)


def test_flips_are_deterministic_and_depend_on_the_seed():
    a = [o.value for o in _ask_all(_oracle(flip="0.5"), 200)]
    b = [o.value for o in _ask_all(_oracle(flip="0.5"), 200)]
    c = [o.value for o in _ask_all(_oracle(flip="0.5", seed="9"), 200)]
    assert a == b and a != c


def test_keyed_answers_flip_per_key():
    t = KeyedT(item=COLOUR, keys=tuple(str(i) for i in range(1, 9)))
    oracle = {str(i): "red" for i in range(1, 9)}
    outs = _ask_all(_oracle(flip="0.5"), 50, answer_type=t, oracle=oracle)
    per_answer = [sum(v != "red" for v in o.value.values()) for o in outs]
    assert any(0 < k < 8 for k in per_answer)  # some but not all keys of one answer flip


def test_each_field_of_a_record_is_an_answer():
    t = RecordT(fields=(FieldT(name="count", type=IntT()), FieldT(name="colour", type=COLOUR)))
    oracle = {"count": 3, "colour": "red"}
    outs = _ask_all(_oracle(flip="1"), 20, answer_type=t, oracle=oracle)
    assert all(o.ok and o.value["count"] != 3 and o.value["colour"] != "red" for o in outs)
    assert all(answers.validate(t, o.value) == o.value for o in outs)
    half = _ask_all(_oracle(flip="0.5"), 400, answer_type=t, oracle=oracle)
    count = sum(o.value["count"] != 3 for o in half)
    colour = sum(o.value["colour"] != "red" for o in half)
    both = sum(o.value["count"] != 3 and o.value["colour"] != "red" for o in half)
    assert 160 <= count <= 240 and 160 <= colour <= 240 and 60 <= both <= 140  # independent


# A chain's batched ask: keys 1..n of one answer type, a shared reasoning field, and
# one question digest per key (what the interpreter sets).
SAME = RecordT(fields=(FieldT(name="same", type=EnumT(values=("yes", "no"))),))


def _batched(questions: list[str], truth: list[str], ref: ModelRef) -> ModelRequest:
    keys = [str(k) for k in range(1, len(questions) + 1)]
    reasoning = FieldT(name="reasoning", type=ListT(item=TextT()))
    t = RecordT(fields=(reasoning, *(FieldT(name=k, type=SAME) for k in keys)))
    oracle = {"reasoning": ["kept"], **{k: {"same": v} for k, v in zip(keys, truth, strict=True)}}
    text = " ".join(questions)  # the request's text changes with the packing
    return replace(
        make_request(text, model=ref, answer_type=t, oracle=oracle), questions=tuple(questions)
    )


def _send(ref: ModelRef, request: ModelRequest) -> dict:
    return run_virtual(simulated_provider(ref).send(request, 1.0)).parsed


def test_a_keyed_answer_flips_each_key_with_probability_p():
    questions = [f"region {i}" for i in range(400)]
    got = _send(_oracle(flip="0.3"), _batched(questions, ["yes"] * 400, _oracle(flip="0.3")))
    assert got["reasoning"] == ["kept"]  # shared reasoning is no answer: never flipped
    flipped = sum(got[str(k)]["same"] == "no" for k in range(1, 401))
    assert 95 <= flipped <= 146  # binomial(400, 0.3) 99.9% interval


@pytest.mark.parametrize("ref", [_oracle(flip="0.3"), ModelRef("random", "")])
def test_a_question_gets_the_same_answer_however_it_is_packed(ref):
    questions = [f"region {i}" for i in range(64)]
    truth = ["yes" if i % 3 else "no" for i in range(64)]
    whole = _send(ref, _batched(questions, truth, ref))
    alone = [
        _send(ref, _batched([q], [v], ref))["1"] for q, v in zip(questions, truth, strict=True)
    ]
    reordered = _send(ref, _batched(questions[::-1], truth[::-1], ref))
    assert [whole[str(k)] for k in range(1, 65)] == alone
    assert [reordered[str(k)] for k in range(64, 0, -1)] == alone
    assert len({a["same"] for a in alone}) == 2  # answers do vary


def test_an_order_flips_to_another_order():
    colours = ListT(item=EnumT(values=("red", "blue")))
    order = RecordT(fields=(FieldT(name="depth_order", type=colours),))
    truth = {"depth_order": ["red", "blue"]}
    outs = _ask_all(_oracle(flip="1"), 20, answer_type=order, oracle=truth)
    # one element changed would give ["blue", "blue"], whose first colour is still a guess
    assert all(o.value == {"depth_order": ["blue", "red"]} for o in outs)


def test_random_is_valid_and_reproducible():
    ref = ModelRef("random", "")
    a = _ask_all(ref, 300)
    b = _ask_all(ref, 300)
    assert [o.value for o in a] == [o.value for o in b]
    counts = {v: sum(o.value == v for o in a) for v in COLOUR.values}
    assert all(60 <= c <= 140 for c in counts.values())  # roughly uniform over 3 values


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (_oracle(flip="1.5"), "probability"),
        (_oracle(flip="lots"), "not a number"),
        (_oracle(temperature="1"), "unknown options"),
        (ModelRef("random", "", options=(("flip", "0.1"),)), "unknown options"),
        (ModelRef("openai", "gpt-4o"), "not a simulated answerer"),
    ],
)
def test_bad_options_are_usage_errors(ref, message):
    with pytest.raises(UsageError, match=message):
        simulated_provider(ref)


def test_registry_style_construction():
    assert isinstance(RandomProvider(ModelRef("random", ""), None), RandomProvider)
