"""Limiter properties on a virtual clock: concurrency, request rate, token rate, AIMD."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlang.errors import UsageError
from chainlang.providers.base import ModelRef
from chainlang.runtime.clock import LoopClock, run_virtual
from chainlang.runtime.limits import (
    AdaptiveSettings,
    AdjustableSemaphore,
    LimitsConfig,
    ModelLimiter,
    ModelLimits,
    TokenBucket,
)

FAST = settings(max_examples=30, deadline=None)


async def _run_calls(limiter: ModelLimiter, n: int, latency: float, tokens: float = 1.0):
    clock = LoopClock()
    starts: list[float] = []
    in_flight = 0
    peak = 0

    async def one() -> None:
        nonlocal in_flight, peak
        async with limiter.slot(tokens) as started:
            starts.append(started)
            in_flight += 1
            peak = max(peak, in_flight)
            await clock.sleep(latency)
            in_flight -= 1

    await asyncio.gather(*(one() for _ in range(n)))
    return starts, peak


def _max_in_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    best, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] <= t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


@FAST
@given(
    concurrency=st.integers(1, 12),
    n=st.integers(1, 80),
    latency=st.floats(0.0, 2.0),
)
def test_never_more_than_concurrency_in_flight(concurrency, n, latency):
    async def main():
        limiter = ModelLimiter(ModelLimits(concurrency=concurrency, rpm=10_000), LoopClock())
        return await _run_calls(limiter, n, latency)

    _, peak = run_virtual(main())
    assert peak <= concurrency


@FAST
@given(
    rpm=st.floats(6, 6000),
    n=st.integers(2, 120),
    latency=st.floats(0.0, 1.0),
    window=st.floats(0.5, 90.0),
)
def test_never_more_than_rpm_starts_per_window(rpm, n, latency, window):
    async def main():
        limiter = ModelLimiter(ModelLimits(concurrency=64, rpm=rpm), LoopClock())
        return await _run_calls(limiter, n, latency)

    starts, _ = run_virtual(main())
    # A burst of one request: starts are spaced 60/rpm apart, so a window of W
    # seconds holds at most ceil(W * rpm / 60) of them.
    assert _max_in_window(starts, window) <= math.ceil(window * rpm / 60.0 + 1e-6)


@FAST
@given(
    tpm=st.floats(6_000, 600_000),
    sizes=st.lists(st.integers(1, 2_000), min_size=1, max_size=40),
)
def test_token_rate_is_respected(tpm, sizes):
    async def main():
        clock = LoopClock()
        bucket = TokenBucket(tpm / 60.0, tpm / 10.0, clock)
        stamps = []
        for size in sizes:
            await bucket.acquire(size)
            stamps.append((clock.now(), size))
        return stamps

    stamps = run_virtual(main())
    t_end = stamps[-1][0]
    total = sum(size for _, size in stamps)
    # Everything taken by t_end fits the initial burst plus what refilled since.
    cap = tpm / 10.0
    assert total <= cap + t_end * tpm / 60.0 + max(sizes) + 1e-6


def test_oversized_request_waits_for_a_full_bucket_and_goes():
    async def main():
        clock = LoopClock()
        bucket = TokenBucket(10.0, 100.0, clock)
        await bucket.acquire(60)
        await bucket.acquire(500)  # more than the capacity: needs a full bucket first
        return clock.now()

    assert run_virtual(main()) == pytest.approx(6.0)


def test_token_correction_slows_later_calls():
    async def main():
        clock = LoopClock()
        limiter = ModelLimiter(ModelLimits(concurrency=4, rpm=6000, tpm=6000), clock)
        async with limiter.slot(100):
            pass
        limiter.correct_tokens(100, 700)  # the provider reported 600 more than estimated
        t0 = clock.now()
        async with limiter.slot(100):
            pass
        return clock.now() - t0

    # Bucket: 600 capacity, 100 tokens/s. After the debit it holds 600-700 = -100, so
    # the next 100-token call waits 2 s.
    assert run_virtual(main()) == pytest.approx(2.0, abs=0.02)


def test_adjustable_semaphore_lowering_lets_holders_finish():
    async def main():
        sem = AdjustableSemaphore(3)
        for _ in range(3):
            await sem.acquire()
        sem.set_limit(1)
        waiter = asyncio.ensure_future(sem.acquire())
        sem.release()
        sem.release()
        await asyncio.sleep(0)
        assert not waiter.done()  # 1 held = limit 1
        sem.release()
        await waiter
        return sem.held

    assert run_virtual(main()) == 1


def test_cancelled_waiter_does_not_leak_a_slot():
    async def main():
        sem = AdjustableSemaphore(1)
        await sem.acquire()
        waiter = asyncio.ensure_future(sem.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        sem.release()
        await asyncio.gather(waiter, return_exceptions=True)
        return sem.held

    assert run_virtual(main()) == 0


def test_waiters_cancelled_while_slots_free_up_end_cancelled():
    """A waiter cancelled just before a release (Ctrl-C while calls finish) ends with
    CancelledError: the release already dropped its cancelled future from the line."""

    async def main():
        sem = AdjustableSemaphore(1)
        await sem.acquire()
        waiters = [asyncio.ensure_future(sem.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        for w in waiters[:2]:
            w.cancel()
        sem.release()  # the slot goes past the two cancelled futures to the third
        results = await asyncio.gather(*waiters, return_exceptions=True)
        return [type(r).__name__ for r in results], sem.held

    kinds, held = run_virtual(main())
    assert kinds == ["CancelledError", "CancelledError", "NoneType"]
    assert held == 1


def test_rate_limit_gate_makes_everyone_wait_retry_after():
    async def main():
        clock = LoopClock()
        limiter = ModelLimiter(ModelLimits(concurrency=8, rpm=6000), clock)
        limiter.on_rate_limited(clock.now(), retry_after=7.0)
        async with limiter.slot(1) as started:
            return started

    assert run_virtual(main()) >= 7.0


def test_adaptive_halves_rate_and_window_once_per_event():
    async def main():
        clock = LoopClock()
        limiter = ModelLimiter(ModelLimits(concurrency=32), clock)
        assert limiter.is_adaptive and limiter.request_rate is None  # no rate until a 429
        for _ in range(20):
            async with limiter.slot(1):
                await clock.sleep(0.05)
            limiter.on_success()
        started = clock.now() - 0.01
        limiter.on_rate_limited(started, retry_after=1.0)
        first = limiter.request_rate
        limiter.on_rate_limited(started, retry_after=1.0)  # same congestion event
        second = limiter.request_rate
        for _ in range(100):
            limiter.on_success()
        return first, second, limiter.request_rate

    first, second, grown = run_virtual(main())
    assert first is not None and first == second
    assert grown > first  # grows back slowly after the decrease


def test_limits_config_patterns_and_errors():
    config = LimitsConfig.from_mapping(
        {"models": {"gpt-4o*": {"rpm": 100}, "openai:gpt-4o-mini": {"concurrency": 2}}}
    )
    mini = config.for_model(ModelRef("openai", "gpt-4o-mini"), ModelLimits(concurrency=32))
    assert mini.concurrency == 2 and mini.rpm is None  # longest pattern wins
    big = config.for_model(ModelRef("openai", "gpt-4o"), ModelLimits(concurrency=32))
    assert big.rpm == 100 and big.concurrency == 32
    with pytest.raises(UsageError, match="unknown keys"):
        LimitsConfig.from_mapping({"models": {"x": {"rpn": 1}}})
    with pytest.raises(UsageError, match="rpm must be positive"):
        LimitsConfig.from_mapping({"default": {"rpm": 0}})


def test_429_before_any_success_only_shrinks_the_window():
    async def main():
        clock = LoopClock()
        limiter = ModelLimiter(ModelLimits(concurrency=32), clock)
        limiter.on_rate_limited(clock.now(), retry_after=0.5)
        return limiter.request_rate, limiter._sem.limit

    rate, window = run_virtual(main())
    assert rate is None and window == 2  # no guess of the rate yet; window 4 halved


def test_calls_resume_spaced_after_a_pause():
    async def main():
        clock = LoopClock()
        limiter = ModelLimiter(ModelLimits(concurrency=64, rpm=600), clock)
        limiter.on_rate_limited(clock.now(), retry_after=5.0)
        starts = []

        async def one():
            async with limiter.slot(1) as started:
                starts.append(started)

        await asyncio.gather(*(one() for _ in range(20)))
        return sorted(starts)

    starts = run_virtual(main())
    assert starts[0] >= 5.0
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.1 - 1e-6  # no burst when the gate opens


def test_slow_start_rate_stays_near_the_traffic():
    async def main():
        clock = LoopClock()
        settings = AdaptiveSettings(start_rate=10.0)
        limiter = ModelLimiter(ModelLimits(concurrency=4), clock, settings)
        for _ in range(500):  # concurrency-bound: 4 calls per second
            async with limiter.slot(1):
                await clock.sleep(0.25)
            limiter.on_success()
        return limiter.request_rate

    assert run_virtual(main()) <= 20.0  # not 10 * 1.1**500
