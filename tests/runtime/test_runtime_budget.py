"""The ``--max-cost`` budget: questions wait for room instead of failing, the cap holds
under concurrency 64 whatever the provider reports, and spend that may have been billed
(timeouts, bodies cut off) is charged."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest
from runtime_helpers import GPT4O, ScriptedProvider, make_request, reply

from chainlang.language import answers
from chainlang.providers.base import ModelRequest, ModelResponse, Usage
from chainlang.providers.openai import OpenAIProvider
from chainlang.providers.registry import ProviderSettings
from chainlang.runtime.cache import Journal
from chainlang.runtime.clock import run_virtual
from chainlang.runtime.cost import Budget, PriceTable, estimate_input_tokens
from chainlang.runtime.limits import LimitsConfig
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import Scheduler
from chainlang.testing.fake_provider import FakeProviderServer

PRICES = PriceTable.load()
CONCURRENCY = 64


class RecordingBudget(Budget):
    """A budget that remembers, for every refusal, what was spent and what was asked."""

    def __init__(self, max_usd: float) -> None:
        super().__init__(max_usd)
        self.refusals: list[tuple[float, float]] = []

    async def reserve(self, amount, *, alone=lambda: False):
        held = await super().reserve(amount, alone=alone)
        if held is None:
            self.refusals.append((self.spent, amount()))
        return held


def _scheduler(provider, budget, **kwargs) -> Scheduler:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=1, seed=1))
    limits = LimitsConfig.from_mapping({"default": {"concurrency": CONCURRENCY}})
    return Scheduler({GPT4O: provider}, budget=budget, limits=limits, **kwargs)


def _gather(sched: Scheduler, n: int, max_tokens: int = 1000, words: int = 1):
    """``n`` distinct questions of ``words`` words each, asked at once."""

    async def main():
        return await asyncio.gather(
            *(
                sched.ask(make_request(f"question {i} " + "word " * words, max_tokens=max_tokens))
                for i in range(n)
            )
        )

    return run_virtual(main())


def test_queued_questions_wait_for_room_instead_of_failing():
    worst = PRICES.estimate(make_request(max_tokens=1000)).worst_case_usd
    # Each answer costs a tenth of its worst case: 200 answers fit in 30 worst cases,
    # though 64 reservations at once would not.
    budget = Budget(worst * 30)
    provider = ScriptedProvider([reply('"red"', Usage(10, 95))], latency=1.0)
    outcomes = _gather(_scheduler(provider, budget), 200)
    assert [o.failure_kind for o in outcomes if not o.ok] == []
    assert budget.spent <= budget.max_usd and budget.reserved == pytest.approx(0.0)
    assert provider.max_in_flight > 1  # waiting for room did not serialise the run


def _usage_for(rng: random.Random, factor: float):
    """Reported usage: ``factor`` × the estimated input (±10%), any output up to the cap."""

    def answer(request: ModelRequest) -> ModelResponse:
        estimated, _ = estimate_input_tokens(request)
        tokens = max(1, round(estimated * factor * rng.uniform(0.9, 1.1)))
        return reply('"red"', Usage(tokens, rng.randint(1, request.params.max_tokens or 1)))

    return answer


@pytest.mark.parametrize("seed", range(12))
def test_budget_property_under_concurrency_64(seed):
    rng = random.Random(seed)
    factor = rng.choice([0.3, 1.0, 4.0, 33.0])  # how far the provider's count is off
    max_tokens = rng.choice([20, 200, 1000])
    words = rng.choice([1, 500, 3000])  # long prompts: the input estimate matters
    request = make_request("question 0 " + "word " * words, max_tokens=max_tokens)
    request_worst = PRICES.estimate(request).worst_case_usd
    budget = RecordingBudget(request_worst * rng.uniform(0.5, 80.0))
    provider = ScriptedProvider([_usage_for(rng, factor)], latency=rng.uniform(0.1, 3.0))
    outcomes = _gather(_scheduler(provider, budget), 300, max_tokens, words)

    paid = [o.cost_usd for o in outcomes if o.attempts]
    assert sum(paid) == pytest.approx(budget.spent)
    # The cap is passed by at most one request's worst case (what one call really cost).
    assert budget.spent <= budget.max_usd + max(paid, default=0.0) + 1e-12
    # Nothing failed for budget while the cap still had room for it.
    refused = [o for o in outcomes if o.failure_kind == "budget"]
    assert len(refused) == len(budget.refusals)
    for spent, amount in budget.refusals:
        assert spent + amount > budget.max_usd
    assert all(o.ok or o.failure_kind == "budget" for o in outcomes)
    assert budget.reserved == pytest.approx(0.0)


def test_usage_above_the_estimate_corrects_later_reservations():
    rng = random.Random(3)
    request = make_request("question 0 " + "word " * 2000, max_tokens=20)
    budget = Budget(PRICES.estimate(request).worst_case_usd * 20)
    provider = ScriptedProvider([_usage_for(rng, 33.0)], latency=1.0)
    outcomes = _gather(_scheduler(provider, budget), 200, 20, 2000)
    one_call = max(o.cost_usd for o in outcomes if o.attempts)
    assert budget.spent <= budget.max_usd + one_call
    assert any(o.failure_kind == "budget" for o in outcomes)


# ---- spend that may have been billed, with the real OpenAI SDK against the fake server


@pytest.fixture
def server():
    with FakeProviderServer() as srv:
        yield srv


def _colour_request() -> ModelRequest:
    """A question the fake server answers with a valid colour (it follows the schema)."""
    base = make_request("is it red?", max_tokens=50)
    return replace(base, schema=answers.schema_for(base.answer_type))


def _openai(server) -> OpenAIProvider:
    return OpenAIProvider(
        GPT4O, ProviderSettings(api_key="test-key", base_url=server.openai_base_url)
    )


async def _ask_once(server, budget, journal=None, timeout_s=5.0):
    provider = _openai(server)
    sched = Scheduler(
        {GPT4O: provider},
        budget=budget,
        cache=journal,
        retry=RetryPolicy(max_attempts=1),
        timeout_s=timeout_s,
    )
    try:
        return await sched.ask(_colour_request())
    finally:
        await provider.aclose()


@pytest.mark.parametrize(("fault", "kind"), [("timeout", "timeout"), ("cut", "connection")])
async def test_a_call_that_may_have_been_billed_is_charged_its_worst_case(server, fault, kind):
    worst = PRICES.estimate(_colour_request()).worst_case_usd
    server.faults.push(fault)
    budget = Budget(1.0)
    outcome = await _ask_once(server, budget, timeout_s=0.5)
    assert outcome.failure_kind == kind
    assert outcome.cost_usd == pytest.approx(worst)
    assert budget.spent == pytest.approx(worst) and budget.reserved == pytest.approx(0.0)


async def test_a_timeout_is_charged_without_a_budget_too(server):
    server.faults.push("timeout")
    outcome = await _ask_once(server, None, timeout_s=0.5)
    assert outcome.failure_kind == "timeout" and outcome.cost_usd and outcome.cost_usd > 0


async def test_reported_usage_above_the_estimate_is_what_is_charged(server):
    server.usage_scale = 33.0
    budget = Budget(1.0)
    outcome = await _ask_once(server, budget)
    estimated, _ = estimate_input_tokens(_colour_request())
    assert outcome.ok and outcome.usage.input_tokens > 10 * estimated
    assert budget.spent == pytest.approx(outcome.cost_usd)


async def test_journal_answers_keep_the_cost_they_were_paid(server, journal_path):
    first = await _ask_once(server, None, Journal(journal_path))
    again = await _ask_once(server, None, Journal(journal_path))
    assert not first.cached and first.cost_usd and first.cost_usd > 0
    assert again.cached and again.cost_usd == pytest.approx(first.cost_usd)
    assert again.usage == first.usage and again.attempts == 0
    assert len(server.requests) == 1
