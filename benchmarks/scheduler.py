"""Scheduler overhead: chainlang's scheduler versus a bare semaphore loop over the SDK.

Both sides send the same N questions (default 2,000) through the official OpenAI
SDK to the fake provider server (50 ms latency, in a separate process so it does
not share our GIL) at concurrency 64:

* baseline: ``asyncio.Semaphore(64)`` around ``client.chat.completions.create``;
* same-route baseline: the semaphore around the SDK's generic ``client.post`` with the
  body already in wire form, the route the adapter takes (it skips ``create``'s
  re-walk of the body against the SDK's TypedDicts, ~330 us a call): against it the
  ratio is the scheduler's own overhead, with the adapter's saving taken out;
* chainlang: ``Scheduler.ask`` with the real OpenAI adapter, a fresh sqlite
  journal (cache on, every answer committed before use), answer validation,
  limits (concurrency 64 and a request rate far above what is sent, so the limiter
  runs on every call but never holds one back) and accounting.

Why a rate and not the adaptive mode: without ``rpm`` the limiter starts slowly and
keeps at most 24 calls in flight until a first 429 (docs/running.md, *Limits*), so
the scheduler would be compared at 24 calls in flight against a loop at 64, and at
50 ms per answer 24 in flight alone take 4.2 s for 2,000 questions, about what the
whole baseline takes. That is the adaptive policy, not the scheduler's overhead.

The two sides alternate for ``--rounds`` rounds and the best wall time of each is
compared. Target: chainlang <= 1.15x the baseline (the SDK's ``create``, as a user's
own loop would call it); the ratio to the same-route baseline is reported beside it.
The client process's CPU time per side is printed too: on a machine whose cores
other processes share, wall times wander with their load, CPU time much less. Also
reports the journal's cost per committed row. Exits 1 when the target is missed.

Run: ``python benchmarks/scheduler.py [--questions N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx2
import openai

from chainlang.language import answers
from chainlang.language.types import EnumT
from chainlang.providers.base import Message, ModelRef, ModelRequest, Params, TextPart, Usage
from chainlang.providers.openai import OpenAIProvider
from chainlang.providers.registry import ProviderSettings
from chainlang.runtime.cache import Entry, Journal
from chainlang.runtime.limits import LimitsConfig
from chainlang.runtime.scheduler import Scheduler

TARGET = 1.15
CONCURRENCY = 64
RPM = 1_000_000  # about 16,700 requests/s: the limiter's bucket runs, never waits
LATENCY = 0.05
MODEL = ModelRef("openai", "gpt-4o")
COLOUR = EnumT(values=("red", "blue"))

SERVER = """
import sys, time
from chainlang.testing.fake_provider import FakeProviderServer
srv = FakeProviderServer(latency=float(sys.argv[1])).start()
{extra}
print(srv.port, flush=True)
sys.stdin.read()
srv.stop()
"""


class ServerProcess:
    """The fake provider server in a child process (stopped when stdin closes)."""

    def __init__(self, latency: float, extra: str = "") -> None:
        code = SERVER.format(extra=extra)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def requests(n: int) -> list[ModelRequest]:
    """N distinct one-line questions with the enum schema."""
    schema = answers.schema_for(COLOUR)
    return [
        ModelRequest(
            model=MODEL,
            messages=(Message("user", (TextPart(f"Question {i}: which is nearer?"),)),),
            answer_type=COLOUR,
            schema=schema,
            params=Params(max_tokens=50),
        )
        for i in range(n)
    ]


async def baseline(base_url: str, reqs: list[ModelRequest]) -> tuple[float, float]:
    """A semaphore and the SDK, nothing else: the floor any scheduler is measured against."""
    client = openai.AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0)
    sem = asyncio.Semaphore(CONCURRENCY)
    schema = reqs[0].schema

    async def one(r: ModelRequest) -> str | None:
        async with sem:
            resp = await client.chat.completions.create(
                model=r.model.model,
                messages=[{"role": "user", "content": r.messages[0].parts[0].text}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": schema, "strict": True},
                },
                max_tokens=50,
                temperature=0.0,
            )
            return resp.choices[0].message.content

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(r) for r in reqs))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.close()
    return elapsed, cpu


async def baseline_post(base_url: str, reqs: list[ModelRequest]) -> tuple[float, float]:
    """The semaphore and the SDK's ``post`` with wire-form bodies: the adapter's route."""
    client = openai.AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0)
    sem = asyncio.Semaphore(CONCURRENCY)
    schema = reqs[0].schema
    options: openai.RequestOptions = {"security": {"bearer_auth": True}}

    async def one(r: ModelRequest) -> str | None:
        body = {
            "model": r.model.model,
            "messages": [{"role": "user", "content": r.messages[0].parts[0].text}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            },
            "max_tokens": 50,
            "temperature": 0.0,
        }
        async with sem:
            reply = await client.post(
                "/chat/completions", cast_to=httpx2.Response, body=body, options=options
            )
            content: str | None = json.loads(reply.content)["choices"][0]["message"]["content"]
            return content

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(r) for r in reqs))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.close()
    return elapsed, cpu


async def chainlang_run(
    base_url: str, reqs: list[ModelRequest], cache: Path
) -> tuple[float, float]:
    """The same questions through the scheduler with the real adapter and a fresh journal."""
    provider = OpenAIProvider(MODEL, ProviderSettings(api_key="k", base_url=base_url))
    journal = Journal(cache)
    sched = Scheduler(
        {MODEL: provider},
        cache=journal,
        limits=LimitsConfig.from_mapping({"default": {"concurrency": CONCURRENCY, "rpm": RPM}}),
    )
    start, cpu = time.perf_counter(), time.process_time()
    outs = await asyncio.gather(*(sched.ask(r) for r in reqs))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await provider.aclose()
    journal.close()
    bad = [o for o in outs if not o.ok]
    if bad:
        raise SystemExit(f"{len(bad)} questions failed, e.g. {bad[0].failure_message}")
    return elapsed, cpu


def journal_cost_us(n: int = 2000) -> float:
    """Microseconds per committed journal row (WAL, synchronous=NORMAL)."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "j.sqlite")
        entry = Entry(
            "k",
            True,
            "openai:gpt-4o",
            "red",
            None,
            '"red"',
            Usage(15, 4),
            1,
            0,
            0.05,
            0.0001,
            None,
            None,
        )
        start = time.perf_counter()
        for i in range(n):
            journal.record(replace(entry, key=f"k{i}"))
        elapsed = time.perf_counter() - start
        journal.close()
    return elapsed / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reqs = requests(args.questions)
    server = ServerProcess(LATENCY)
    base_times, ours, base_cpu, our_cpu = [], [], [], []
    post_times, post_cpu = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                wall, cpu = asyncio.run(baseline(server.base_url, reqs))
                base_times.append(wall)
                base_cpu.append(cpu)
                wall, cpu = asyncio.run(baseline_post(server.base_url, reqs))
                post_times.append(wall)
                post_cpu.append(cpu)
                wall, cpu = asyncio.run(chainlang_run(server.base_url, reqs, Path(tmp) / f"{r}.db"))
                ours.append(wall)
                our_cpu.append(cpu)
    finally:
        server.close()
    best_base, best_ours = min(base_times), min(ours)
    ratio = best_ours / best_base
    print(
        f"questions {args.questions}, concurrency {CONCURRENCY}, "
        f"server latency {LATENCY * 1000:.0f} ms"
    )
    print(f"baseline (semaphore + SDK): {', '.join(f'{t:.2f}s' for t in base_times)}")
    print(f"same route (SDK post):      {', '.join(f'{t:.2f}s' for t in post_times)}")
    print(f"chainlang scheduler:        {', '.join(f'{t:.2f}s' for t in ours)}")
    print(f"journal commit: {journal_cost_us():.0f} us per row")
    # The client's CPU per side: what the wall ratio measures when the machine is free,
    # and still readable when other processes share the cores.
    cpu_ratio = min(our_cpu) / min(base_cpu)
    print(
        f"client CPU: baseline {min(base_cpu):.2f}s, chainlang {min(our_cpu):.2f}s, "
        f"ratio {cpu_ratio:.3f} (load {os.getloadavg()[0]:.1f})"
    )
    own = best_ours / min(post_times)
    print(
        f"scheduler's own overhead (chainlang / same route): {own:.3f} wall, "
        f"{min(our_cpu) / min(post_cpu):.3f} client CPU"
    )
    print(f"ratio chainlang / baseline: {ratio:.3f} (target <= {TARGET})")
    if ratio > TARGET:
        print("TARGET MISSED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
