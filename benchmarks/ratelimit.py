"""Rate limits against a server that answers 429 above 600 requests per minute.

The fake provider server (separate process, 50 ms latency) enforces 600 requests
per minute with a sliding window. To keep the benchmark short the window is
scaled down, not the rate: the server allows 100 requests per 10-second sliding
window (600/min, enforced over 10 s; real providers also enforce per-minute
limits over sub-minute windows), and the scenarios send 600 and 1,000 questions
(~60 s and ~100 s of wall time).

Scenarios, both with the real OpenAI adapter at concurrency 64:

1. ``rpm=600`` configured: target >= 90% of 600/min sustained and no 429 at all;
2. nothing configured (adaptive AIMD): every question finishes and <= 5% of all
   requests are answered 429.

Exits 1 when a target is missed.

Run: ``python benchmarks/ratelimit.py [--questions N] [--adaptive-questions M]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from scheduler import MODEL, ServerProcess, requests

from chainlang.providers.openai import OpenAIProvider
from chainlang.providers.registry import ProviderSettings
from chainlang.runtime.limits import LimitsConfig
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import Scheduler

RPM = 600
WINDOW_S = 10.0
RATE_TARGET = 0.90
MAX_429_SHARE = 0.05
SERVER_SETUP = f"srv.faults.rate_limit({int(RPM * WINDOW_S / 60)}, window={WINDOW_S})"


async def run(base_url: str, n: int, limits: dict) -> tuple[float, int, int]:
    """(wall seconds, failures, attempts) for ``n`` questions under ``limits``."""
    provider = OpenAIProvider(MODEL, ProviderSettings(api_key="k", base_url=base_url))
    sched = Scheduler(
        {MODEL: provider},
        limits=LimitsConfig.from_mapping({"default": limits}),
        retry=RetryPolicy(max_attempts=12, base=0.5, cap=20.0),
    )
    start = time.perf_counter()
    outs = await asyncio.gather(*(sched.ask(r) for r in requests(n)))
    elapsed = time.perf_counter() - start
    await provider.aclose()
    return elapsed, sum(not o.ok for o in outs), sum(o.attempts for o in outs)


def scenario(name: str, n: int, limits: dict) -> tuple[float, int, int, float]:
    """Run one scenario on a fresh server; returns (rate/min, failures, 429s, 429 share)."""
    server = ServerProcess(0.05, SERVER_SETUP)
    try:
        elapsed, failed, attempts = asyncio.run(run(server.base_url, n, limits))
    finally:
        server.close()
    rejected = attempts - (n - failed)  # every attempt beyond one per answer was a 429 here
    rate = n / elapsed * 60.0
    share = rejected / attempts
    print(
        f"{name}: {n} questions in {elapsed:.1f}s = {rate:.0f}/min "
        f"({rate / RPM:.0%} of {RPM}), failed {failed}, 429s {rejected} ({share:.1%} of requests)"
    )
    return rate, failed, rejected, share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=600, help="rpm scenario")
    parser.add_argument(
        "--adaptive-questions",
        type=int,
        default=1000,
        help="adaptive scenario (longer: the first 429 costs about one window of calls)",
    )
    args = parser.parse_args()
    print(f"server: {RPM}/min enforced as {int(RPM * WINDOW_S / 60)} per {WINDOW_S:g}s window")
    ok = True
    rate, failed, rejected, _ = scenario(
        "rpm=600 configured", args.questions, {"concurrency": 64, "rpm": RPM}
    )
    if rate < RATE_TARGET * RPM or rejected or failed:
        print(f"TARGET MISSED: need >= {RATE_TARGET:.0%} of {RPM}/min and no 429", file=sys.stderr)
        ok = False
    _, failed, _, share = scenario(
        "adaptive (no rpm)", args.adaptive_questions, {"concurrency": 64}
    )
    if failed or share > MAX_429_SHARE:
        print(
            f"TARGET MISSED: need every question and <= {MAX_429_SHARE:.0%} 429s", file=sys.stderr
        )
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
