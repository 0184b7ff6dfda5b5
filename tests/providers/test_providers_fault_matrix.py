"""The fault-injection matrix: every fault class of the fake server, through real SDKs and
the real scheduler. Per fault: the question survives (an outcome, never an exception),
retries are bounded, the cause is recorded, and the cost is what the server billed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from providers_helpers import provider

from chainlang.language import answers
from chainlang.language.types import EnumT
from chainlang.providers.base import Message, ModelRequest, Params, TextPart, Usage
from chainlang.providers.registry import parse_model
from chainlang.runtime.cost import PriceTable
from chainlang.runtime.outcome import Outcome
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import Scheduler
from chainlang.testing import FakeProviderServer
from chainlang.testing.fake_provider.faults import FAULT_KINDS

SPECS = ["openai:gpt-4o", "anthropic:claude-3-5-sonnet-20241022"]
ATTEMPTS = 3
COLOUR = EnumT(values=("red", "blue"))
# Faults after which the scheduler charges the call's worst case: the provider may have
# processed it without the reply (and its usage) arriving.
MAYBE_BILLED = {"timeout", "drop", "cut"}


@dataclass(frozen=True)
class Expect:
    """What one fault, injected once, leads to."""

    ok: bool
    kind: str | None = None  # failure kind when not ok
    cause: str = ""  # words the failure message must hold
    retryable: bool = False  # a transient failure: retried, so a persistent one exhausts tries


ONCE: dict[str, Expect] = {
    "429": Expect(True, retryable=True, kind="rate_limit", cause="429"),
    "500": Expect(True, retryable=True, kind="server", cause="500"),
    "503": Expect(True, retryable=True, kind="server", cause="503"),
    "529": Expect(True, retryable=True, kind="server", cause="529"),
    "timeout": Expect(True, retryable=True, kind="timeout", cause="no answer"),
    "drop": Expect(True, retryable=True, kind="connection", cause="connection failed: "),
    "cut": Expect(True, retryable=True, kind="connection", cause="connection failed: "),
    "garbage": Expect(True, retryable=True, kind="server", cause="not JSON"),
    "400": Expect(False, "bad_request", "400"),
    "401": Expect(False, "auth", "401"),
    "403": Expect(False, "auth", "403"),
    "404": Expect(False, "not_found", "404"),
    "refusal": Expect(False, "refused", "declined"),
    "malformed": Expect(True),  # re-asked
    "invalid": Expect(True),  # re-asked
    "truncated": Expect(True),  # re-asked with the shorter-answer note
    "slow": Expect(True),  # answers late, within the timeout
}


def test_the_matrix_covers_every_fault_of_the_server() -> None:
    assert set(ONCE) == set(FAULT_KINDS)


def _request(spec: str) -> ModelRequest:
    return ModelRequest(
        model=parse_model(spec),
        messages=(Message("user", (TextPart("Which marker is nearer?"),)),),
        answer_type=COLOUR,
        schema=answers.schema_for(COLOUR),
        params=Params(max_tokens=50),
    )


def _ask(fake: FakeProviderServer, spec: str, timeout_s: float = 10.0) -> Outcome:
    """One question through the scheduler with short backoff.

    The timeout is short only where the fault is a timeout: on a loaded machine a short
    one would time out answers the server is slow to send, which is not the fault tested.
    """
    prov = provider(spec, fake)

    async def main() -> Outcome:
        sched = Scheduler(
            {parse_model(spec): prov},
            retry=RetryPolicy(max_attempts=ATTEMPTS, base=0.01, cap=0.05),
            timeout_s=timeout_s,
        )
        try:
            return await sched.ask(_request(spec))
        finally:
            await sched.aclose()

    return asyncio.run(main())


def _timeout(fault: str) -> float:
    return 1.0 if fault == "timeout" else 10.0


def _billed_usd(fake: FakeProviderServer, spec: str) -> float:
    """The price of every answer the server wrote."""
    prices, ref = PriceTable.load(), parse_model(spec)
    total = 0.0
    for inp, out, cached, written in fake.billed:
        price = prices.price(ref, Usage(inp, out, cached, 0, written))
        assert price is not None
        total += price
    return total


def _check_cost(out: Outcome, fake: FakeProviderServer, spec: str, fault: str) -> None:
    billed = _billed_usd(fake, spec)
    assert out.cost_usd is not None
    if fault in MAYBE_BILLED:
        assert out.cost_usd >= billed  # charged at worst case until proven otherwise
    else:
        assert out.cost_usd == pytest.approx(billed, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("fault", sorted(ONCE))
def test_a_fault_once(fake: FakeProviderServer, spec: str, fault: str) -> None:
    latency = 0.2 if fault == "slow" else 0.0
    fake.faults.push(fault, retry_after=0.05 if fault == "429" else None, latency=latency)
    expect = ONCE[fault]
    out = _ask(fake, spec, _timeout(fault))  # survived: an outcome, not an exception
    sent = len(fake.requests)
    assert out.attempts == sent <= ATTEMPTS + 2  # bounded: tries plus re-asks
    if expect.ok:
        assert out.ok, out.failure_message
        assert out.value in ("red", "blue")
    else:
        assert not out.ok and out.failure_kind == expect.kind
        assert expect.cause in (out.failure_message or ""), out.failure_message
        assert sent == 1  # never retried
    _check_cost(out, fake, spec, fault)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("fault", sorted(f for f, e in ONCE.items() if e.retryable))
def test_a_fault_that_persists_exhausts_a_bounded_number_of_tries(
    fake: FakeProviderServer, spec: str, fault: str
) -> None:
    fake.faults.push(fault, retry_after=0.05 if fault == "429" else None, count=100)
    expect = ONCE[fault]
    out = _ask(fake, spec, _timeout(fault))
    assert not out.ok and out.failure_kind == expect.kind
    assert len(fake.requests) == out.attempts == ATTEMPTS
    message = out.failure_message or ""
    assert expect.cause in message and f"after {ATTEMPTS} tries" in message, message
    assert message.split("connection failed:")[-1].split("(after")[0].strip()  # a real cause
    _check_cost(out, fake, spec, fault)
