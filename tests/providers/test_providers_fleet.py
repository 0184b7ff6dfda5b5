"""Fleets of endpoints: one openai-compat model over several fake servers (replicas).

Real SDK, real local servers: requests spread over the replicas, a failing one is
taken out and tried again after its cooldown, per-endpoint concurrency holds, and
the journal key does not depend on the replica that answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from chainlang.errors import UsageError
from chainlang.language.types import EnumT
from chainlang.providers.base import Message, ModelRequest, Params, TextPart
from chainlang.providers.fleet import EndpointFleet
from chainlang.providers.registry import (
    ProviderSettings,
    make_provider,
    parse_model,
    resolve_credentials,
)
from chainlang.runtime.cache import Journal
from chainlang.runtime.scheduler import Scheduler
from chainlang.testing.fake_provider import FakeProviderServer

COLOUR = EnumT(values=("red", "blue"))


@pytest.fixture
def replicas() -> Iterator[tuple[FakeProviderServer, FakeProviderServer]]:
    with FakeProviderServer() as a, FakeProviderServer() as b:
        yield a, b


def fleet_spec(*servers: FakeProviderServer) -> str:
    return "openai-compat:fake@" + ",".join(s.openai_base_url for s in servers)


def ask(ref_spec: str, text: str) -> ModelRequest:
    return ModelRequest(
        model=parse_model(ref_spec),
        messages=(Message("user", (TextPart(text),)),),
        answer_type=COLOUR,
        schema={"type": "string", "enum": ["red", "blue"]},
        params=Params(max_tokens=50),
    )


def build(spec: str, **settings: object) -> EndpointFleet:
    ref = parse_model(spec)
    fleet = make_provider(ref, ProviderSettings(api_key="k", base_url=ref.base_url, **settings))
    assert isinstance(fleet, EndpointFleet)
    return fleet


async def test_requests_spread_over_the_replicas(replicas) -> None:
    a, b = replicas
    a.latency = b.latency = 0.02
    fleet = build(fleet_spec(a, b))
    await asyncio.gather(*(fleet.send(ask(fleet.name, f"q{i}"), 5) for i in range(20)))
    await fleet.aclose()
    assert len(a.requests) + len(b.requests) == 20
    assert abs(len(a.requests) - len(b.requests)) <= 2  # the least busy replica goes first


async def test_a_failing_replica_is_taken_out_and_tried_again_later(replicas) -> None:
    a, b = replicas
    a.faults.push("500", count=100)
    clock = [0.0]
    ref = parse_model(fleet_spec(a, b))
    settings = ProviderSettings(api_key="k", base_url=ref.base_url)
    fleet = make_provider(ref, settings)
    assert isinstance(fleet, EndpointFleet)
    fleet._now = lambda: clock[0]  # cooldowns on a clock the test moves
    failures = 0
    for i in range(10):
        try:
            await fleet.send(ask(fleet.name, f"q{i}"), 5)
        except Exception as err:  # the 500 goes back to the scheduler, naming the replica
            failures += 1
            assert a.openai_base_url in str(err)
    assert failures == 1 and len(a.requests) == 1 and len(b.requests) == 9
    down = next(e for e in fleet.endpoints if e.url == a.openai_base_url)
    assert not fleet.is_up(down)
    clock[0] += 6.0  # past the first cooldown: the replica is tried once more
    a.faults.clear()
    for i in range(4):
        await fleet.send(ask(fleet.name, f"later{i}"), 5)
    await fleet.aclose()
    assert len(a.requests) >= 2 and fleet.is_up(down) and down.failures == 0


async def test_a_refused_connection_goes_to_another_replica_at_once(replicas) -> None:
    a, b = replicas
    dead_url = a.openai_base_url
    a.stop()  # nothing listens there any more
    fleet = build("openai-compat:fake@" + dead_url + "," + b.openai_base_url)
    for i in range(5):
        response = await fleet.send(ask(fleet.name, f"q{i}"), 5)
        assert response.text
    await fleet.aclose()
    assert len(b.requests) == 5
    dead = next(e for e in fleet.endpoints if e.url == dead_url)
    assert dead.sent == 1 and not fleet.is_up(dead)


async def test_per_endpoint_concurrency_is_held(replicas) -> None:
    a, b = replicas
    a.latency = b.latency = 0.05
    fleet = build(fleet_spec(a, b), endpoint_concurrency=2)
    peak = {e.url: 0 for e in fleet.endpoints}

    async def watch() -> None:
        while True:
            for e in fleet.endpoints:
                peak[e.url] = max(peak[e.url], e.in_flight)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(fleet.send(ask(fleet.name, f"q{i}"), 5) for i in range(12)))
    watcher.cancel()
    await fleet.aclose()
    assert max(peak.values()) == 2 and len(a.requests) + len(b.requests) == 12


async def test_the_journal_key_does_not_depend_on_the_replica(replicas, tmp_path) -> None:
    a, b = replicas
    spec = fleet_spec(a, b)
    assert parse_model(spec) == parse_model(fleet_spec(b, a))  # the order written is not kept

    async def ask_once(down: FakeProviderServer) -> bool:
        down.faults.push("500", count=100)
        fleet = build(spec)
        scheduler = Scheduler({fleet_ref: fleet}, cache=Journal(tmp_path / "j.sqlite"))
        outcome = await scheduler.ask(ask(spec, "the same question"))
        await scheduler.aclose()
        down.faults.clear()
        assert outcome.ok
        return outcome.cached

    fleet_ref = parse_model(spec)
    assert not await ask_once(a)  # answered by b (a fails)
    asked = len(a.requests) + len(b.requests)
    assert await ask_once(b)  # b fails now: served from the journal, nobody asked
    assert len(a.requests) + len(b.requests) == asked


def test_a_config_list_names_a_fleet_and_bad_urls_are_refused() -> None:
    ref = parse_model("openai:gpt-4o")  # a provider whose base URL may come from the config
    config = {
        "openai": {
            "base_url": ["http://h2:8000/v1", "http://h1:8000/v1"],
            "endpoint_concurrency": 4,
        }
    }
    settings = resolve_credentials(ref, {"OPENAI_API_KEY": "k"}, config)
    assert settings.base_url == "http://h1:8000/v1,http://h2:8000/v1"
    assert settings.endpoint_concurrency == 4
    fleet = make_provider(ref, settings)
    assert isinstance(fleet, EndpointFleet) and fleet.per_endpoint == 4
    with pytest.raises(UsageError, match="must start with http"):
        parse_model("openai-compat:fake@http://h1:8000/v1,h2:8000/v1")
    with pytest.raises(UsageError, match="endpoint_concurrency"):
        resolve_credentials(ref, {"OPENAI_API_KEY": "k"}, {"openai": {"endpoint_concurrency": 0}})


async def test_through_the_scheduler_every_question_is_answered_by_the_healthy_replica(
    replicas, tmp_path
) -> None:
    """The scheduler's retry of a question a failing replica refused lands on the other."""
    from chainlang.runtime.retry import RetryPolicy

    a, b = replicas
    a.faults.push("503", count=1000)
    spec = fleet_spec(a, b)
    scheduler = Scheduler(
        {parse_model(spec): build(spec)},
        cache=Journal(tmp_path / "j.sqlite"),
        retry=RetryPolicy(base=0.01, cap=0.02),
    )
    outcomes = await asyncio.gather(*(scheduler.ask(ask(spec, f"q{i}")) for i in range(10)))
    await scheduler.aclose()
    assert all(o.ok for o in outcomes)
    assert len(b.requests) == 10 and len(a.requests) <= 4  # out after its first failures
