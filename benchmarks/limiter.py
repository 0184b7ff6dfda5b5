"""The adaptive limiter under faults that do and do not depend on the send rate.

Runs the real :class:`~chainlang.runtime.scheduler.Scheduler` (no ``rpm``
configured, so the limiter adapts) against an in-process provider on a
:class:`~chainlang.runtime.clock.VirtualTimeLoop`: minutes of traffic take a
second or two of wall time and the figures are reproducible. The provider
answers after one second and can inject

* random overload answers (Anthropic's 529, with no ``Retry-After``), which do
  not depend on the send rate;
* random 429s without rate-limit headers (a 429 on about every 7th request);
* a true rate limit: at most ``L`` requests per sliding 10 s window, beyond
  which it answers 429 with the ``Retry-After`` that frees a slot.

Targets, each a ratio measured in this one run:

1. 15% random 529s: throughput >= 70% of the throughput with no faults;
2. a true limit of 600/min: throughput >= 90% of the limit, <= 5% of requests 429.

Exits 1 when a target is missed. Run: ``python benchmarks/limiter.py [--questions N]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections import deque
from dataclasses import dataclass, field

from chainlang.language.types import EnumT
from chainlang.providers.base import (
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    Params,
    ProviderError,
    TextPart,
    Usage,
)
from chainlang.providers.common import kind_for_status
from chainlang.runtime.clock import LoopClock, run_virtual
from chainlang.runtime.limits import LimitsConfig
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import Scheduler

MODEL = ModelRef("anthropic", "claude-sonnet-4-5")
COLOUR = EnumT(values=("red", "blue"))
LATENCY = 1.0  # a typical answer time of a vision model
OVERLOAD_TARGET = 0.70
LIMIT_RPM = 600
LIMIT_WINDOW_S = 10.0
LIMIT_TARGET = 0.90
MAX_429_SHARE = 0.05


@dataclass
class FaultyProvider:
    """Answers "red" after ``LATENCY`` virtual seconds, or one of the configured faults."""

    overload_p: float = 0.0
    random_429_p: float = 0.0
    per_window: int | None = None
    seed: int = 0
    name: str = "faulty"
    sent: int = 0
    rejected: int = 0
    overloaded: int = 0
    _stamps: deque[float] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        clock = LoopClock()
        self.sent += 1
        fault = self._fault(clock.now())
        await clock.sleep(LATENCY)
        if fault is not None:
            raise fault
        return ModelResponse('"red"', "red", Usage(20, 3))

    def _fault(self, now: float) -> ProviderError | None:
        if self._rng.random() < self.overload_p:
            self.overloaded += 1
            # Classified as the Anthropic adapter classifies a 529.
            return ProviderError(kind_for_status(529), "HTTP 529: Overloaded", status=529)
        if self._rng.random() < self.random_429_p:
            self.rejected += 1
            return ProviderError("rate_limit", "HTTP 429: busy", status=429)
        if self.per_window is None:
            return None
        while self._stamps and self._stamps[0] <= now - LIMIT_WINDOW_S:
            self._stamps.popleft()
        if len(self._stamps) >= self.per_window:
            self.rejected += 1
            wait = self._stamps[0] + LIMIT_WINDOW_S - now
            return ProviderError(
                "rate_limit", "HTTP 429: rate limit", status=429, retry_after=round(wait, 3)
            )
        self._stamps.append(now)
        return None

    async def aclose(self) -> None:
        pass


def requests(n: int) -> list[ModelRequest]:
    """N distinct one-line questions."""
    return [
        ModelRequest(
            model=MODEL,
            messages=(Message("user", (TextPart(f"Question {i}: which is nearer?"),)),),
            answer_type=COLOUR,
            schema=None,
            params=Params(max_tokens=20),
        )
        for i in range(n)
    ]


@dataclass(frozen=True)
class Result:
    """One scenario: virtual seconds, questions per minute, failures and provider counts."""

    seconds: float
    per_min: float
    failed: int
    sent: int
    rejected: int

    @property
    def share_429(self) -> float:
        return self.rejected / self.sent if self.sent else 0.0


def scenario(provider: FaultyProvider, n: int) -> Result:
    """Send ``n`` questions through a fresh scheduler (adaptive, concurrency 64)."""

    async def main() -> Result:
        sched = Scheduler(
            {MODEL: provider},
            limits=LimitsConfig.from_mapping({"default": {"concurrency": 64}}),
            retry=RetryPolicy(max_attempts=12, base=0.5, cap=20.0),
        )
        clock = LoopClock()
        start = clock.now()
        outs = await asyncio.gather(*(sched.ask(r) for r in requests(n)))
        seconds = clock.now() - start
        failed = sum(not o.ok for o in outs)
        return Result(seconds, n / seconds * 60.0, failed, provider.sent, provider.rejected)

    return run_virtual(main())


def show(name: str, r: Result) -> None:
    print(
        f"{name}: {r.seconds:.1f} virtual s, {r.per_min:.0f} questions/min, failed {r.failed}, "
        f"{r.sent} requests, 429s {r.rejected} ({r.share_429:.1%})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    args = parser.parse_args()
    n = args.questions
    clean = scenario(FaultyProvider(), n)
    show("no faults", clean)
    overload = scenario(FaultyProvider(overload_p=0.15, seed=1), n)
    show("15% random 529s", overload)
    random_429 = scenario(FaultyProvider(random_429_p=1 / 7, seed=2), n)
    show("random 429 on 1 in 7 requests", random_429)
    per_window = int(LIMIT_RPM * LIMIT_WINDOW_S / 60)
    limited = scenario(FaultyProvider(per_window=per_window, seed=3), n)
    show(f"true limit {LIMIT_RPM}/min", limited)
    ok = True
    ratio = overload.per_min / clean.per_min
    print(f"529s: {ratio:.0%} of the fault-free throughput (target >= {OVERLOAD_TARGET:.0%})")
    print(f"random 429s: {random_429.per_min / clean.per_min:.0%} of the fault-free throughput")
    if ratio < OVERLOAD_TARGET or overload.failed:
        print("TARGET MISSED: overload", file=sys.stderr)
        ok = False
    share = limited.per_min / LIMIT_RPM
    print(
        f"true limit: {share:.0%} of {LIMIT_RPM}/min, {limited.share_429:.1%} 429s "
        f"(targets >= {LIMIT_TARGET:.0%}, <= {MAX_429_SHARE:.0%})"
    )
    if share < LIMIT_TARGET or limited.share_429 > MAX_429_SHARE or limited.failed:
        print("TARGET MISSED: rate limit", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
