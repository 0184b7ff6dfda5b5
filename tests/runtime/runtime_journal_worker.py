"""Subprocess of the kill test: asks questions and prints each answer's key once it has it.

Usage: python runtime_journal_worker.py CACHE N
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from runtime_helpers import GPT4O, ScriptedProvider, make_request, reply

from chainlang.runtime.cache import Journal
from chainlang.runtime.limits import LimitsConfig
from chainlang.runtime.scheduler import Scheduler


async def main(cache: Path, n: int) -> None:
    provider = ScriptedProvider([reply('"red"')], latency=0.01)
    journal = Journal(cache)
    scheduler = Scheduler(
        {GPT4O: provider},
        cache=journal,
        limits=LimitsConfig.from_mapping({"default": {"concurrency": 8}}),
    )

    async def one(i: int) -> None:
        outcome = await scheduler.ask(make_request(f"q{i}"))
        # "Using" the answer: the parent treats every printed key as seen.
        print(outcome.request_key, flush=True)

    await asyncio.gather(*(one(i) for i in range(n)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
