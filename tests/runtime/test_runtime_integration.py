"""The scheduler with the real OpenAI adapter against the local fake provider server."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from runtime_helpers import GPT4O, make_request

from chainlang.language import answers
from chainlang.language.types import EnumT
from chainlang.providers.openai import OpenAIProvider
from chainlang.providers.registry import ProviderSettings
from chainlang.runtime.cache import Journal
from chainlang.runtime.limits import LimitsConfig
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import Scheduler
from chainlang.testing.fake_provider import FakeProviderServer

COLOUR = EnumT(values=("red", "blue"))


@pytest.fixture
def server():
    with FakeProviderServer(latency=0.002) as srv:
        yield srv


def _requests(n: int):
    base = make_request(answer_type=COLOUR)
    return [
        replace(base, messages=make_request(f"q{i}").messages, schema=answers.schema_for(COLOUR))
        for i in range(n)
    ]


async def _run(server, journal, requests):
    provider = OpenAIProvider(
        GPT4O, ProviderSettings(api_key="test-key", base_url=server.openai_base_url)
    )
    sched = Scheduler(
        {GPT4O: provider},
        cache=journal,
        retry=RetryPolicy(max_attempts=4, base=0.01, cap=0.05),
        limits=LimitsConfig.from_mapping({"default": {"concurrency": 8}}),
        timeout_s=5.0,
    )
    try:
        return await asyncio.gather(*(sched.ask(r) for r in requests))
    finally:
        await provider.aclose()


async def test_faults_are_retried_reasked_and_journaled(server, journal_path):
    server.faults.push("429", retry_after=0.05)
    server.faults.push("500")
    server.faults.push("invalid")
    server.faults.push("401", path="nowhere")  # never matches: not consumed
    journal = Journal(journal_path)
    outs = await _run(server, journal, _requests(30))
    assert all(o.ok and o.value == "red" for o in outs)
    assert sum(o.attempts for o in outs) == len(server.requests) == 33
    assert sum(o.reasks for o in outs) == 1
    assert all(o.cost_usd and o.cost_usd > 0 for o in outs)

    before = len(server.requests)
    again = await _run(server, journal, _requests(30))
    assert all(o.cached for o in again) and len(server.requests) == before
    journal.close()


async def test_auth_failure_is_not_retried(server):
    server.faults.push("401")
    outs = await _run(server, None, _requests(1))
    assert outs[0].failure_kind == "auth" and len(server.requests) == 1
