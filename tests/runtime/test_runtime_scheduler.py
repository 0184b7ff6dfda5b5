"""The scheduler on a virtual clock with scripted in-test providers."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque

import numpy as np
import pytest
from runtime_helpers import GPT4O, ScriptedProvider, make_request, reply

from chainlang.errors import RunError, UsageError
from chainlang.image import ImageData
from chainlang.language.types import ImageT
from chainlang.providers.base import ModelRef, ModelRequest, ModelResponse, ProviderError, Usage
from chainlang.providers.capabilities import encode_png
from chainlang.runtime.cache import Journal
from chainlang.runtime.clock import LoopClock, run_virtual
from chainlang.runtime.cost import Budget, PriceTable
from chainlang.runtime.limits import LimitsConfig
from chainlang.runtime.progress import Tally
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import TRUNCATED_NOTE, ErrorBudget, Scheduler


def _scheduler(provider, **kwargs) -> Scheduler:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=4, base=1.0, cap=8.0, seed=1))
    return Scheduler({GPT4O: provider}, **kwargs)


def _ask(provider, request=None, **kwargs):
    async def main():
        return await _scheduler(provider, **kwargs).ask(request or make_request())

    return run_virtual(main())


@pytest.mark.parametrize(
    ("kind", "status"),
    [("bad_request", 400), ("auth", 401), ("auth", 403), ("not_found", 404)],
)
def test_no_retry_for_errors_that_cannot_succeed(kind, status):
    provider = ScriptedProvider([ProviderError(kind, f"HTTP {status}", status=status)])
    outcome = _ask(provider)
    assert not outcome.ok and outcome.failure_kind == kind
    assert outcome.attempts == 1 and len(provider.calls) == 1
    assert f"HTTP {status}" in outcome.failure_message


def test_transient_errors_are_retried_and_all_attempts_counted():
    provider = ScriptedProvider(
        [
            ProviderError("server", "HTTP 500", usage=Usage(7, 0)),
            ProviderError("connection", "reset"),
            reply('"red"', Usage(10, 5)),
        ]
    )
    outcome = _ask(provider)
    assert outcome.ok and outcome.value == "red"
    assert outcome.attempts == 3
    assert outcome.usage == Usage(17, 5)


def test_retry_after_is_honoured():
    provider = ScriptedProvider(
        [ProviderError("rate_limit", "HTTP 429", retry_after=30.0), reply('"blue"')]
    )
    outcome = _ask(provider)
    assert outcome.ok
    assert provider.starts[1] - provider.starts[0] >= 30.0


def test_attempts_never_exceed_max_attempts():
    provider = ScriptedProvider([ProviderError("server", "HTTP 503")])
    outcome = _ask(provider, retry=RetryPolicy(max_attempts=5, base=0.1, cap=1.0))
    assert outcome.failure_kind == "server" and len(provider.calls) == 5
    assert "after 5 tries" in outcome.failure_message


def test_timeout_is_a_retryable_failure():
    provider = ScriptedProvider([reply('"red"')], latency=500.0)
    outcome = _ask(provider, timeout_s=10.0, retry=RetryPolicy(max_attempts=2, base=1.0))
    assert outcome.failure_kind == "timeout" and len(provider.calls) == 2
    assert "10s" in outcome.failure_message


def test_invalid_answer_is_reasked_with_the_error_and_tokens_summed():
    provider = ScriptedProvider([reply('"green"', Usage(100, 3)), reply('"red"', Usage(120, 3))])
    outcome = _ask(provider)
    assert outcome.ok and outcome.value == "red"
    assert outcome.reasks == 1 and outcome.attempts == 2
    assert outcome.usage == Usage(220, 6)  # the failed attempt is paid for and counted
    second = provider.calls[1].messages
    assert second[-2].role == "assistant" and second[-2].parts[0].text == '"green"'
    note = second[-1].parts[0].text
    assert second[-1].role == "user" and "green" in note and "could not be used" in note


def test_reask_limit_bounds_the_reasks():
    provider = ScriptedProvider([reply("no idea", Usage(10, 2))])
    outcome = _ask(provider, reask_limit=2)
    assert outcome.failure_kind == "invalid_answer"
    assert outcome.reasks == 2 and len(provider.calls) == 3
    assert outcome.usage == Usage(30, 6)


def test_truncated_answer_is_reasked_once_then_fails():
    provider = ScriptedProvider([reply('"re', finish="length")])
    outcome = _ask(provider)
    assert outcome.failure_kind == "truncated" and len(provider.calls) == 2
    assert provider.calls[1].messages[-1].parts[0].text == TRUNCATED_NOTE


def test_truncated_then_fine():
    provider = ScriptedProvider([reply('"re', finish="length"), reply('"red"')])
    assert _ask(provider).value == "red"


def test_refusal_fails_at_once():
    provider = ScriptedProvider([reply("I cannot help", finish="refusal")])
    outcome = _ask(provider)
    assert outcome.failure_kind == "refused" and len(provider.calls) == 1


def test_image_answers_are_decoded_images():
    image_request = make_request(answer_type=ImageT())
    drawn = ImageData.of(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    png = encode_png(drawn)
    ok = _ask(ScriptedProvider([ModelResponse("", None, Usage(), image=png)]), image_request)
    # the validated value of an image answer is the image a chain computes with
    assert ok.ok and isinstance(ok.value, ImageData) and ok.value == drawn
    bad = _ask(ScriptedProvider([reply("here is your image")]), image_request)
    assert bad.failure_kind == "invalid_answer" and "no image" in bad.failure_message
    broken = ModelResponse("", None, Usage(), image=b"\x89PNG fake")
    damaged = _ask(ScriptedProvider([broken, broken]), image_request)
    assert damaged.failure_kind == "invalid_answer" and "not a readable image" in (
        damaged.failure_message or ""
    )


def test_a_damaged_journaled_image_is_asked_again(journal_path):
    """A journaled image answer that no longer decodes is not served, and the question is
    claimed and asked again (the claim loop once waited forever on such a row)."""
    from chainlang.providers.keys import request_key
    from chainlang.runtime.cache import Entry

    image_request = make_request(answer_type=ImageT())
    drawn = ImageData.of(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    journal = Journal(journal_path)
    key = request_key(image_request, "")
    journal.record(Entry(key, True, "openai:gpt-4o", None, b"\x89PNG torn", None, Usage(), 1, 0,
                         0.1, 0.01, None, None))  # fmt: skip
    provider = ScriptedProvider([ModelResponse("", None, Usage(), image=encode_png(drawn))])
    outcome = _ask(provider, image_request, cache=journal, salt="")
    assert outcome.ok and outcome.value == drawn and len(provider.calls) == 1


def test_unknown_model_is_a_usage_error():
    async def main():
        await _scheduler(ScriptedProvider([reply('"red"')])).ask(
            make_request(model=ModelRef("openai", "gpt-4.1"))
        )

    with pytest.raises(UsageError, match=r"no provider configured for model openai:gpt-4\.1"):
        run_virtual(main())


def test_budget_is_never_exceeded_under_concurrency():
    prices = PriceTable.load()
    request = make_request(max_tokens=1000)
    worst = prices.estimate(request).worst_case_usd
    budget = Budget(worst * 10.5)
    seen: list[float] = []

    def answer(_request: ModelRequest) -> ModelResponse:
        seen.append(budget.spent + budget.reserved)
        return reply('"red"', Usage(40, 900))

    provider = ScriptedProvider([answer], latency=1.0)

    async def main():
        sched = _scheduler(
            provider,
            budget=budget,
            limits=LimitsConfig.from_mapping({"default": {"concurrency": 50}}),
        )
        return await asyncio.gather(
            *(sched.ask(make_request(f"q{i}", max_tokens=1000)) for i in range(60))
        )

    outcomes = run_virtual(main())
    assert max(seen) <= budget.max_usd + 1e-12
    assert budget.spent <= budget.max_usd and budget.reserved == pytest.approx(0.0)
    answered = [o for o in outcomes if o.ok]
    refused = [o for o in outcomes if o.failure_kind == "budget"]
    assert len(answered) + len(refused) == 60 and len(refused) > 0
    assert sum(o.cost_usd for o in answered) == pytest.approx(budget.spent)
    assert "budget" in refused[0].failure_message


def test_unknown_price_with_a_budget_is_refused_clearly():
    ref = ModelRef("openai", "my-finetune")
    provider = ScriptedProvider([reply('"red"')])

    async def main():
        sched = Scheduler({ref: provider}, budget=Budget(5.0))
        return await sched.ask(make_request(model=ref))

    outcome = run_virtual(main())
    assert outcome.failure_kind == "budget" and "price of openai:my-finetune is unknown" in (
        outcome.failure_message
    )
    assert "[prices] section of a --config file" in (outcome.failure_message or "")
    assert provider.calls == []


def test_unknown_price_without_budget_reports_cost_unknown():
    ref = ModelRef("openai", "my-finetune")

    async def main():
        return await Scheduler({ref: ScriptedProvider([reply('"red"')])}).ask(
            make_request(model=ref)
        )

    outcome = run_virtual(main())
    assert outcome.ok and outcome.cost_usd is None


def test_error_budget_stops_the_run():
    provider = ScriptedProvider([ProviderError("bad_request", "HTTP 400")])

    async def main():
        sched = _scheduler(provider, error_budget=ErrorBudget(max_failures=2))
        for i in range(3):
            assert not (await sched.ask(make_request(f"q{i}"))).ok
        await sched.ask(make_request("q3"))

    with pytest.raises(RunError, match="more than the error budget of 2"):
        run_virtual(main())


def test_error_budget_fraction():
    def answer(request: ModelRequest):
        text = request.messages[0].parts[0].text
        return ProviderError("auth", "HTTP 401") if text.endswith("7") else reply('"red"')

    async def main():
        sched = _scheduler(
            ScriptedProvider([answer]),
            error_budget=ErrorBudget(max_fraction=0.05, min_questions=20),
        )
        for i in range(100):
            await sched.ask(make_request(f"q{i}"))

    with pytest.raises(RunError, match="more than the error budget of 5%"):
        run_virtual(main())


def test_closing_closes_the_providers_it_was_given_and_the_journal(journal_path):
    # A run's providers are built before its scheduler and handed over in a mapping;
    # the scheduler's close is the only one they get.
    shared, other = ScriptedProvider([reply('"red"')]), ScriptedProvider([reply('"red"')])
    journal = Journal(journal_path)
    sched = Scheduler(
        {GPT4O: shared, ModelRef("openai", "gpt-4o-mini"): shared, ModelRef("x", "y"): other},
        cache=journal,
    )
    run_virtual(sched.aclose())
    assert shared.closed and other.closed
    with pytest.raises(sqlite3.ProgrammingError):
        journal.entries()


def test_cancellation_leaves_only_whole_rows(journal_path):
    provider = ScriptedProvider([reply('"red"')], latency=10.0)
    budget = Budget(100.0)

    async def main():
        journal = Journal(journal_path)
        sched = _scheduler(
            provider,
            cache=journal,
            budget=budget,
            limits=LimitsConfig.from_mapping({"default": {"concurrency": 2}}),
        )
        tasks = [asyncio.ensure_future(sched.ask(make_request(f"q{i}"))) for i in range(6)]
        # 3 done (under a budget a model's first call goes alone until its usage proves
        # the estimate; then two rounds of two), 2 in flight
        await LoopClock().sleep(25.0)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        done = [r for r in results if not isinstance(r, BaseException)]
        rows = journal.entries()
        journal.close()
        return done, rows

    done, rows = run_virtual(main())
    assert len(done) == 3
    assert sorted(r.key for r in rows) == sorted(o.request_key for o in done)
    assert budget.reserved == pytest.approx(0.0)


def test_rerun_is_served_from_the_journal_but_failures_are_retried(journal_path):
    calls = {"n": 0}

    def answer(request: ModelRequest):
        calls["n"] += 1
        if request.messages[0].parts[0].text == "q3" and calls["n"] < 10:
            return ProviderError("bad_request", "HTTP 400")
        return reply('"blue"')

    async def run(tally):
        journal = Journal(journal_path)
        sched = _scheduler(ScriptedProvider([answer]), cache=journal, observer=tally)
        outs = await asyncio.gather(*(sched.ask(make_request(f"q{i}")) for i in range(5)))
        journal.close()
        return outs

    first = run_virtual(run(Tally(total=5)))
    assert [o.ok for o in first] == [True, True, True, False, True]
    n_first = calls["n"]
    calls["n"] = 100  # from now on q3 succeeds
    tally = Tally(total=5)
    second = run_virtual(run(tally))
    assert calls["n"] - 100 == 1  # only the failed question was asked again
    assert [o.cached for o in second] == [True, True, True, False, True]
    assert all(o.ok for o in second) and tally.cached == 4 and n_first == 5
    rows = Journal(journal_path).entries()
    assert [r.ok for r in rows].count(False) == 1  # the failure stays journaled


def test_cached_answer_keeps_the_cost_it_was_paid_and_is_not_paid_again(journal_path):
    async def main():
        journal = Journal(journal_path)
        provider = ScriptedProvider([reply('"red"', Usage(1000, 10))])
        sched = _scheduler(provider, cache=journal, observer=tally)
        first = await sched.ask(make_request())
        again = await sched.ask(make_request())
        return first, again, len(provider.calls)

    tally = Tally(total=2)
    first, again, calls = run_virtual(main())
    assert first.cost_usd == pytest.approx((1000 * 2.5 + 10 * 10.0) / 1e6)
    assert again.cached and calls == 1 and again.attempts == 0
    assert again.cost_usd == first.cost_usd and again.usage == Usage(1000, 10)
    assert again.value == first.value and again.request_key == first.request_key
    # The progress tally counts what this invocation paid: the journal hit is not paid again.
    assert tally.cost_usd == pytest.approx(first.cost_usd) and tally.input_tokens == 1000


class SlidingWindowServer:
    """An in-test provider answering 429 above ``limit`` requests per ``window`` seconds."""

    name = "window"

    def __init__(self, limit: int, window: float, latency: float) -> None:
        self.limit, self.window, self.latency = limit, window, latency
        self.stamps: deque[float] = deque()
        self.ok = 0
        self.rejected = 0

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        clock = LoopClock()
        now = clock.now()
        while self.stamps and self.stamps[0] <= now - self.window:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            self.rejected += 1
            retry_after = self.stamps[0] + self.window - now
            await clock.sleep(self.latency)  # a 429 takes a round trip too
            raise ProviderError("rate_limit", "HTTP 429", retry_after=retry_after)
        self.stamps.append(now)
        await clock.sleep(self.latency)
        self.ok += 1
        return reply('"red"')


def _flood(server, n: int, limits: LimitsConfig):
    async def main():
        sched = Scheduler(
            {GPT4O: server}, limits=limits, retry=RetryPolicy(max_attempts=10, base=0.5, cap=10)
        )
        start = LoopClock().now()
        outs = await asyncio.gather(*(sched.ask(make_request(f"q{i}")) for i in range(n)))
        return outs, LoopClock().now() - start

    return run_virtual(main())


def test_configured_rpm_gets_no_429():
    server = SlidingWindowServer(limit=600, window=60.0, latency=0.05)
    outs, elapsed = _flood(
        server, 1500, LimitsConfig.from_mapping({"default": {"concurrency": 64, "rpm": 600}})
    )
    assert all(o.ok for o in outs) and server.rejected == 0
    assert 1500 / elapsed >= 0.9 * 10.0


@pytest.mark.parametrize("window", [1.0, 10.0])
def test_adaptive_mode_finishes_with_few_429s(window):
    # 600 requests per minute enforced over `window` seconds.
    server = SlidingWindowServer(limit=int(10 * window), window=window, latency=0.05)
    outs, _ = _flood(server, 1500, LimitsConfig.from_mapping({"default": {"concurrency": 64}}))
    assert all(o.ok for o in outs)
    assert server.rejected / (server.rejected + server.ok) <= 0.05
