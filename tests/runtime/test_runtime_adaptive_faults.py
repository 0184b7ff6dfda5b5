"""The adaptive limiter under faults that do not depend on the send rate, and long Retry-After.

All on a virtual clock: the provider answers after one (virtual) second, so the
throughput ratios below are measured in one test each, never against wall time.
"""

from __future__ import annotations

import asyncio
import io
import random
from collections import deque
from dataclasses import dataclass, field

from runtime_helpers import GPT4O, ScriptedProvider, make_request, reply

from chainlang.providers.base import ModelRequest, ModelResponse, ProviderError, Usage
from chainlang.providers.common import kind_for_status
from chainlang.runtime.clock import LoopClock, run_virtual
from chainlang.runtime.limits import LimitsConfig, ModelLimiter, ModelLimits
from chainlang.runtime.progress import PlainProgress
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import Scheduler


@dataclass
class Faulty:
    """Answers after 1 s, or a random 529 / header-less 429, or a sliding-window 429."""

    overload_p: float = 0.0
    random_429_p: float = 0.0
    per_10s: int | None = None
    name: str = "faulty"
    sent: int = 0
    rejected: int = 0
    stamps: deque[float] = field(default_factory=deque)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        clock = LoopClock()
        now = clock.now()
        self.sent += 1
        await clock.sleep(1.0)
        if self.rng.random() < self.overload_p:
            raise ProviderError(kind_for_status(529), "HTTP 529: Overloaded", status=529)
        if self.rng.random() < self.random_429_p:
            self.rejected += 1
            raise ProviderError("rate_limit", "HTTP 429", status=429)
        if self.per_10s is not None:
            while self.stamps and self.stamps[0] <= now - 10.0:
                self.stamps.popleft()
            if len(self.stamps) >= self.per_10s:
                self.rejected += 1
                wait = round(self.stamps[0] + 10.0 - now, 3)
                raise ProviderError("rate_limit", "HTTP 429", status=429, retry_after=wait)
            self.stamps.append(now)
        return ModelResponse('"red"', "red", Usage(10, 2))

    async def aclose(self) -> None:
        pass


def _per_minute(provider: Faulty, n: int) -> tuple[float, int]:
    """Questions per virtual minute through an adaptive scheduler, and failures."""

    async def main() -> tuple[float, int]:
        sched = Scheduler(
            {GPT4O: provider}, limits=LimitsConfig.from_mapping({"default": {"concurrency": 64}})
        )
        clock = LoopClock()
        start = clock.now()
        outs = await asyncio.gather(*(sched.ask(make_request(f"q{i}")) for i in range(n)))
        return n / (clock.now() - start) * 60.0, sum(not o.ok for o in outs)

    return run_virtual(main())


def test_a_529_is_an_overload_not_a_rate_limit():
    assert kind_for_status(529) == "server"
    assert kind_for_status(503) == "server"


def test_random_overloads_keep_most_of_the_throughput():
    clean, _ = _per_minute(Faulty(), 1200)
    overloaded, failed = _per_minute(Faulty(overload_p=0.15), 1200)
    assert failed == 0
    assert overloaded >= 0.7 * clean, (overloaded, clean)


def test_scattered_429s_without_evidence_do_not_collapse_the_rate():
    clean, _ = _per_minute(Faulty(), 1200)
    scattered, failed = _per_minute(Faulty(random_429_p=1 / 7), 1200)
    assert failed == 0
    assert scattered >= 0.7 * clean, (scattered, clean)


def test_a_true_rate_limit_is_kept_with_few_429s():
    provider = Faulty(per_10s=100)  # 600/min
    rate, failed = _per_minute(provider, 1500)
    assert failed == 0
    assert rate >= 0.9 * 600, rate
    assert provider.rejected <= 0.05 * provider.sent, (provider.rejected, provider.sent)


def test_scattered_429_does_not_gate_or_decrease_but_a_cluster_does():
    async def main():
        clock = LoopClock()
        limiter = ModelLimiter(ModelLimits(concurrency=32), clock)
        for _ in range(20):
            async with limiter.slot(1):
                await clock.sleep(0.1)
            limiter.on_success()
        window = limiter._sem.limit
        limiter.on_rate_limited(clock.now(), None)  # one 429 among successes, no header
        lone = (limiter._sem.limit, limiter._not_before > clock.now())
        for _ in range(4):  # now five of the latest eight are 429s
            limiter.on_rate_limited(clock.now(), None)
        return window, lone, limiter._sem.limit

    window, (after_lone, gated), after_cluster = run_virtual(main())
    assert after_lone == window and not gated
    assert after_cluster < window


def test_rate_recovers_once_the_429s_stop():
    async def main():
        clock = LoopClock()
        limiter = ModelLimiter(ModelLimits(concurrency=32), clock)
        for _ in range(200):  # 10 calls/s accepted
            async with limiter.slot(1):
                await clock.sleep(0.1)
            limiter.on_success()
        for _ in range(3):  # three congestion events, 5 s apart, with no traffic between
            limiter.on_rate_limited(clock.now(), retry_after=1.0)
            await clock.sleep(5.0)
        low = limiter.request_rate
        await clock.sleep(20.0)  # quiet for longer than recover_s
        for _ in range(40):
            limiter.on_success()
            await clock.sleep(0.1)
        return low, limiter.request_rate

    low, recovered = run_virtual(main())
    assert low is not None and recovered is not None
    assert recovered > 1.5 * low  # the slow additive growth alone gives ~1.13x in 40


def test_a_retry_after_beyond_the_cap_fails_the_question_with_the_providers_message():
    too_long = ProviderError(
        "rate_limit", "HTTP 429: daily quota exhausted", status=429, retry_after=3600.0
    )
    provider = ScriptedProvider([too_long, reply('"red"')])

    async def main():
        sched = Scheduler({GPT4O: provider}, retry=RetryPolicy(max_wait=30.0))
        clock = LoopClock()
        first = await sched.ask(make_request("a"))
        second = await sched.ask(make_request("b"))  # paused at most the cap, not an hour
        return first, second, clock.now()

    first, second, elapsed = run_virtual(main())
    assert not first.ok and first.failure_kind == "rate_limit"
    assert "daily quota exhausted" in first.failure_message
    assert "3600" in first.failure_message and "--max-retry-wait 30" in first.failure_message
    assert first.attempts == 1
    assert second.ok and elapsed <= 31.0


def test_a_wait_within_the_cap_is_honoured():
    wait = ProviderError("rate_limit", "HTTP 429", status=429, retry_after=20.0)
    provider = ScriptedProvider([wait, reply('"red"')])

    async def main():
        sched = Scheduler({GPT4O: provider}, retry=RetryPolicy(max_wait=30.0))
        out = await sched.ask(make_request())
        return out, LoopClock().now()

    out, elapsed = run_virtual(main())
    assert out.ok and elapsed >= 20.0


def test_progress_line_shows_a_long_wait():
    stream = io.StringIO()
    progress = PlainProgress(10, stream)
    progress.on_retry("rate_limit", 90.0)
    assert "waiting 90s (rate_limit)" in stream.getvalue()
    progress.on_retry("rate_limit", 0.5)  # short waits are not news
    assert stream.getvalue().count("\n") == 1
