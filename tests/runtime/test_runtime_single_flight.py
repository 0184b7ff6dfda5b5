"""A question is paid once: identical asks in flight share one call, and processes (or
journals) sharing one cache file claim a question before sending it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from runtime_helpers import GPT4O, ScriptedProvider, make_request, reply

from chainlang.providers.base import Usage
from chainlang.runtime.cache import Entry, Journal, request_key
from chainlang.runtime.clock import run_virtual
from chainlang.runtime.scheduler import Scheduler


def _entry(key: str) -> Entry:
    return Entry(key, True, "openai:gpt-4o", "red", None, '"red"', Usage(10, 5), 1, 0, 0.1,
                 0.001, None, None)  # fmt: skip


def test_identical_asks_in_flight_are_sent_once():
    provider = ScriptedProvider([reply('"red"')], latency=1.0)

    async def main():
        scheduler = Scheduler({GPT4O: provider})
        return await asyncio.gather(*(scheduler.ask(make_request()) for _ in range(5)))

    outcomes = run_virtual(main())
    assert len(provider.calls) == 1
    assert [o.value for o in outcomes] == ["red"] * 5
    paid = [o for o in outcomes if not o.cached]
    assert len(paid) == 1 and paid[0].attempts == 1
    assert all(o.cost_usd == 0.0 and o.attempts == 0 for o in outcomes if o.cached)


def test_a_cancelled_first_ask_leaves_the_question_to_the_next():
    provider = ScriptedProvider([reply('"red"')], latency=1.0)

    async def main():
        scheduler = Scheduler({GPT4O: provider})
        first = asyncio.ensure_future(scheduler.ask(make_request()))
        second = asyncio.ensure_future(scheduler.ask(make_request()))
        await asyncio.sleep(0.5)
        first.cancel()
        return await second

    outcome = run_virtual(main())
    assert outcome.ok and outcome.value == "red" and not outcome.cached
    assert len(provider.calls) == 2  # the first call was cancelled: the second asker paid


def test_claims_between_journals_on_one_file(journal_path):
    a, b = Journal(journal_path), Journal(journal_path)
    assert a.claim("k") == "mine"
    assert b.claim("k") == "taken"
    assert a.claim("k") == "mine"  # its own claim
    a.record(_entry("k"))  # recording releases the claim
    assert b.claim("k") == "answered"
    assert b.claim("other") == "mine"
    b.release("other")
    assert a.claim("other") == "mine"


def test_claim_of_a_dead_process_or_past_its_lease_is_taken_over(journal_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    a = Journal(journal_path)
    with a._db:
        a._db.execute(
            "INSERT INTO claims VALUES ('k', 'gone', ?, ?, 'x', strftime('%s','now'))",
            (__import__("socket").gethostname(), int(dead.stdout)),
        )
    assert a.claim("k") == "mine"
    expiring = Journal(journal_path, claim_lease_s=0.0)
    assert expiring.claim("k") == "mine"  # a's claim was never refreshed within 0 s


def test_two_schedulers_sharing_a_cache_pay_once(journal_path):
    providers = [ScriptedProvider([reply('"red"')], latency=0.2) for _ in range(2)]

    async def main():
        schedulers = [Scheduler({GPT4O: p}, cache=Journal(journal_path)) for p in providers]
        requests = [make_request(f"question {i}") for i in range(6)]
        asks = [s.ask(r) for r in requests for s in schedulers]
        outcomes = await asyncio.gather(*asks)
        for s in schedulers:
            await s.aclose()
        return requests, outcomes

    requests, outcomes = asyncio.run(main())
    assert sum(len(p.calls) for p in providers) == len(requests)
    assert all(o.ok and o.value == "red" for o in outcomes)
    keys = {request_key(r, "") for r in requests}
    assert {o.request_key for o in outcomes if not o.cached} == keys
