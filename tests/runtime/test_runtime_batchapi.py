"""Batch dispatch behind the scheduler: grouping, limits, failures, pricing, resume.

The provider here is an in-test implementation of the ``BatchProvider`` protocol
that keeps its batches in memory (the real adapters are tested against the fake
server in ``tests/providers/test_providers_batch_*.py``). Everything else is real:
the scheduler, the journal, the batch store in sqlite, and a virtual clock, so an
hour of polling takes milliseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import GPT4O, make_request

from chainlang.image import ImageData
from chainlang.providers.base import (
    BatchLimits,
    BatchLine,
    BatchState,
    ImagePart,
    Message,
    ModelRequest,
    ModelResponse,
    ProviderError,
    TextPart,
    Usage,
)
from chainlang.providers.common import estimate_image_tokens
from chainlang.runtime.batchapi import BatchDispatcher
from chainlang.runtime.batchstore import BatchStore
from chainlang.runtime.cache import Journal
from chainlang.runtime.clock import run_virtual
from chainlang.runtime.cost import PriceTable
from chainlang.runtime.retry import RetryPolicy
from chainlang.runtime.scheduler import Scheduler

USAGE = Usage(1000, 10)


@dataclass
class Batch:
    lines: list[BatchLine]
    polls_left: int
    failure: str | None = None


@dataclass
class LedgerProvider:
    """A batch API kept in memory: batches survive the dispatcher, as at a provider."""

    name: str = "openai:gpt-4o"
    batch_limits: BatchLimits = field(default_factory=lambda: BatchLimits(1000, 10**9))
    polls: int = 3  # state requests a batch stays running for
    batches: dict[str, Batch] = field(default_factory=dict)
    line_errors: dict[str, list[ProviderError]] = field(default_factory=dict)  # by prompt
    fail_batches: list[str] = field(default_factory=list)
    submit_errors: list[ProviderError] = field(default_factory=list)
    state_errors: list[Exception] = field(default_factory=list)
    state_calls: int = 0
    closed: bool = False

    def batch_line(self, custom_id: str, request: ModelRequest) -> BatchLine:
        text = request.messages[0].parts[0].text  # type: ignore[union-attr]
        if "unbatchable" in text:
            raise ProviderError("bad_request", f"{self.name}: this request cannot be batched")
        return BatchLine(custom_id, text, size=len(text) + 100)

    async def submit_batch(self, lines: list[BatchLine]) -> str:
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        batch_id = f"b{len(self.batches) + 1}"
        failure = self.fail_batches.pop(0) if self.fail_batches else None
        self.batches[batch_id] = Batch(list(lines), self.polls, failure)
        return batch_id

    async def batch_state(self, batch_id: str) -> BatchState:
        self.state_calls += 1
        if self.state_errors:
            raise self.state_errors.pop(0)
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ProviderError("not_found", f"no batch {batch_id}", status=404)
        if batch.polls_left > 1:
            batch.polls_left -= 1
            return BatchState(batch_id, "running")
        if batch.failure:
            return BatchState(batch_id, "failed", batch.failure)
        return BatchState(batch_id, "ended")

    async def batch_results(
        self, batch_id: str, custom_ids: list[str]
    ) -> dict[str, ModelResponse | ProviderError]:
        out: dict[str, ModelResponse | ProviderError] = {}
        batch = self.batches[batch_id]
        # A failed (expired) batch still holds the lines it finished: the first half here.
        lines = batch.lines[: len(batch.lines) // 2] if batch.failure else batch.lines
        for line in lines:
            errors = self.line_errors.get(line.payload)
            if errors:
                out[line.custom_id] = errors.pop(0)
            else:
                out[line.custom_id] = ModelResponse('"red"', "red", USAGE)
        return out

    async def aclose(self) -> None:
        self.closed = True


def _scheduler(
    provider: LedgerProvider, tmp_path: Path, **kwargs: float
) -> tuple[Scheduler, BatchDispatcher]:
    dispatcher = BatchDispatcher(
        provider, BatchStore(tmp_path / "cache.sqlite"), flush_s=2.0, poll_s=60.0, **kwargs
    )
    scheduler = Scheduler(
        {GPT4O: dispatcher},
        cache=Journal(tmp_path / "cache.sqlite"),
        retry=RetryPolicy(max_attempts=3, base=1.0, cap=5.0),
        batch_models=frozenset({GPT4O}),
    )
    return scheduler, dispatcher


def _ask_all(scheduler: Scheduler, texts: list[str]) -> list:
    async def main() -> list:
        try:
            return list(await asyncio.gather(*(scheduler.ask(make_request(t)) for t in texts)))
        finally:
            await scheduler.aclose()

    return run_virtual(main())


def test_questions_arriving_together_go_out_as_one_batch(tmp_path: Path) -> None:
    provider = LedgerProvider()
    scheduler, _ = _scheduler(provider, tmp_path)
    texts = [f"q{i}" for i in range(300)]  # far above the default concurrency of 16
    outs = _ask_all(scheduler, texts)
    assert all(o.ok and o.value == "red" for o in outs)
    assert len(provider.batches) == 1 and len(provider.batches["b1"].lines) == 300
    # Priced at the batch discount: half of what the same usage costs synchronously.
    sync = PriceTable.load().price(GPT4O, USAGE)
    assert sync is not None
    assert outs[0].cost_usd == pytest.approx(sync * 0.5)


def test_limits_split_the_lines_into_several_batches(tmp_path: Path) -> None:
    provider = LedgerProvider(batch_limits=BatchLimits(max_lines=40, max_bytes=10 * 105))
    scheduler, _ = _scheduler(provider, tmp_path)
    outs = _ask_all(scheduler, [f"q{i:03d}" for i in range(95)])  # 104-byte lines
    assert all(o.ok for o in outs)
    sizes = [len(b.lines) for b in provider.batches.values()]
    assert sum(sizes) == 95 and max(sizes) <= 10  # the byte limit binds first


def test_a_failed_line_is_retried_in_the_next_batch(tmp_path: Path) -> None:
    provider = LedgerProvider(
        line_errors={
            "q1": [ProviderError("server", "line 500")],
            "q2": [ProviderError("bad_request", "line 400: bad image")],
        }
    )
    scheduler, _ = _scheduler(provider, tmp_path)
    outs = _ask_all(scheduler, ["q0", "q1", "q2"])
    assert outs[0].ok and outs[1].ok and outs[1].attempts == 2
    assert not outs[2].ok and outs[2].failure_kind == "bad_request"  # never retried
    assert "bad image" in (outs[2].failure_message or "")
    assert [len(b.lines) for b in provider.batches.values()] == [3, 1]


def test_a_failed_batch_keeps_its_finished_lines_and_resubmits_the_rest(tmp_path: Path) -> None:
    provider = LedgerProvider(fail_batches=["expired after 24h"])
    scheduler, _ = _scheduler(provider, tmp_path)
    outs = _ask_all(scheduler, ["a", "b"])
    assert all(o.ok for o in outs)
    assert [o.attempts for o in outs] == [1, 2]  # "a" finished before the batch expired
    assert [len(b.lines) for b in provider.batches.values()] == [2, 1]


def test_transient_errors_while_submitting_or_polling_are_retried(tmp_path: Path) -> None:
    provider = LedgerProvider(
        submit_errors=[ProviderError("server", "HTTP 500")],
        state_errors=[ProviderError("connection", "reset"), ProviderError("rate_limit", "429")],
    )
    scheduler, _ = _scheduler(provider, tmp_path)
    outs = _ask_all(scheduler, ["a", "b"])
    assert all(o.ok for o in outs) and len(provider.batches) == 1


def test_an_unbatchable_request_fails_with_the_providers_reason(tmp_path: Path) -> None:
    scheduler, _ = _scheduler(LedgerProvider(), tmp_path)
    (out,) = _ask_all(scheduler, ["unbatchable image answer"])
    assert not out.ok and out.failure_kind == "bad_request"
    assert "cannot be batched" in (out.failure_message or "")


def test_a_killed_run_waits_for_its_batch_instead_of_resubmitting(tmp_path: Path) -> None:
    provider = LedgerProvider(polls=1000)  # still running when the first run stops

    async def first_run() -> None:
        scheduler, _ = _scheduler(provider, tmp_path)
        asks = [asyncio.ensure_future(scheduler.ask(make_request(f"q{i}"))) for i in range(5)]
        await asyncio.sleep(600)  # submitted and polled for ten minutes
        for task in asks:
            task.cancel()
        await asyncio.gather(*asks, return_exceptions=True)
        await scheduler.aclose()

    run_virtual(first_run())
    assert len(provider.batches) == 1
    provider.batches["b1"].polls_left = 2  # it ends while nobody watches
    scheduler, _ = _scheduler(provider, tmp_path)
    outs = _ask_all(scheduler, [f"q{i}" for i in range(5)])
    assert all(o.ok for o in outs)
    assert len(provider.batches) == 1, "the resumed run found its batch and submitted none"


def test_answers_collected_before_a_kill_are_never_bought_again(tmp_path: Path) -> None:
    provider = LedgerProvider(polls=1)

    async def answered_but_not_journaled() -> None:
        # The batch came back and was collected, but the run died before the
        # scheduler journaled the answers: only the batch store holds them.
        dispatcher = BatchDispatcher(provider, BatchStore(tmp_path / "cache.sqlite"))
        await asyncio.gather(*(dispatcher.send(make_request(f"q{i}"), 1.0) for i in range(3)))
        await dispatcher.aclose()

    run_virtual(answered_but_not_journaled())
    assert len(provider.batches) == 1
    scheduler, _ = _scheduler(provider, tmp_path)
    outs = _ask_all(scheduler, ["q0", "q1", "q2"])
    assert all(o.ok and o.value == "red" for o in outs)
    assert len(provider.batches) == 1, "served from the batch store, not bought again"
    assert outs[0].usage == USAGE  # the tokens it cost are still accounted


def test_answers_carry_the_image_token_estimate_of_their_request(tmp_path: Path) -> None:
    # As a synchronous answer does: the estimate prices the image part of the input.
    picture = ImageData.of(np.zeros((600, 800, 3), np.uint8))
    parts = (TextPart("what is this?"), ImagePart(picture))
    request = dataclasses.replace(make_request(), messages=(Message("user", parts),))
    scheduler, _ = _scheduler(LedgerProvider(), tmp_path)

    async def main() -> object:
        try:
            return await scheduler.ask(request)
        finally:
            await scheduler.aclose()

    out = run_virtual(main())
    assert out.ok and out.usage.image_tokens == estimate_image_tokens(request) > 0


def test_clearing_the_cache_forgets_batch_answers_too(tmp_path: Path) -> None:
    from chainlang.runtime.cache import cache_clear, request_key

    provider = LedgerProvider(polls=1)
    scheduler, _ = _scheduler(provider, tmp_path)
    assert all(o.ok for o in _ask_all(scheduler, ["q0", "q1"]))
    store = BatchStore(tmp_path / "cache.sqlite")
    ids = [request_key(make_request(t), salt="batch") for t in ("q0", "q1")]
    assert all(store.answer(provider.name, i) for i in ids)
    cache_clear(tmp_path / "cache.sqlite", model="claude*")  # another model: kept
    assert all(store.answer(provider.name, i) for i in ids)
    cache_clear(tmp_path / "cache.sqlite", model="gpt-4o")
    assert not any(store.answer(provider.name, i) for i in ids)
    # Asked again, the questions go out in a new batch instead of being served.
    scheduler, _ = _scheduler(provider, tmp_path)
    assert all(o.ok for o in _ask_all(scheduler, ["q0", "q1"]))
    assert len(provider.batches) == 2


def test_clearing_the_cache_drops_a_batch_the_provider_lost(tmp_path: Path) -> None:
    from chainlang.runtime.cache import cache_clear

    provider = LedgerProvider(polls=1000)

    async def killed_while_waiting() -> None:
        scheduler, _ = _scheduler(provider, tmp_path)
        ask = asyncio.ensure_future(scheduler.ask(make_request("q0")))
        await asyncio.sleep(600)
        ask.cancel()
        await asyncio.gather(ask, return_exceptions=True)
        await scheduler.aclose()

    run_virtual(killed_while_waiting())
    del provider.batches["b1"]  # gone at the provider (deleted, or past its retention)
    scheduler, _ = _scheduler(provider, tmp_path)
    (out,) = _ask_all(scheduler, ["q0"])
    assert not out.ok and out.failure_kind == "not_found"  # followed the recorded batch
    cache_clear(tmp_path / "cache.sqlite", model="openai:gpt-4o")
    scheduler, _ = _scheduler(provider, tmp_path)
    (out,) = _ask_all(scheduler, ["q0"])
    assert out.ok and len(provider.batches) == 1  # answered by a fresh batch


def _image_request(text: str, width: int) -> ModelRequest:
    picture = ImageData.of(np.zeros((width * 3 // 4, width, 3), np.uint8))
    parts = (TextPart(text), ImagePart(picture))
    return dataclasses.replace(make_request(), messages=(Message("user", parts),))


def test_each_question_of_a_failed_batch_gets_its_own_error(tmp_path: Path) -> None:
    # One submission error fails every line; each question's error carries the image
    # tokens of its own request, so the shared error must not be altered in place.
    provider = LedgerProvider(submit_errors=[ProviderError("bad_request", "HTTP 400")])
    requests = [_image_request("small", 200), _image_request("large", 1600)]

    async def main() -> list:
        dispatcher = BatchDispatcher(provider, BatchStore(tmp_path / "cache.sqlite"))
        try:
            return await asyncio.gather(
                *(dispatcher.send(r, 1.0) for r in requests), return_exceptions=True
            )
        finally:
            await dispatcher.aclose()

    errors = run_virtual(main())
    assert all(isinstance(e, ProviderError) and e.kind == "bad_request" for e in errors)
    assert [e.usage.image_tokens for e in errors] == [estimate_image_tokens(r) for r in requests]
    assert errors[0].usage.image_tokens != errors[1].usage.image_tokens


def test_a_question_cancelled_and_asked_again_waits_for_its_queued_line(tmp_path: Path) -> None:
    provider = LedgerProvider(polls=1)

    async def main() -> ModelResponse:
        dispatcher = BatchDispatcher(provider, BatchStore(tmp_path / "cache.sqlite"), flush_s=2.0)
        try:
            first = asyncio.ensure_future(dispatcher.send(make_request("q0"), 1.0))
            await asyncio.sleep(1.0)  # its line is queued, not yet submitted
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            return await dispatcher.send(make_request("q0"), 1.0)
        finally:
            await dispatcher.aclose()

    answer = run_virtual(main())
    assert answer.parsed == "red"
    assert [len(b.lines) for b in provider.batches.values()] == [1], "the line went out once"


def test_an_unexpected_error_while_polling_reaches_the_question(tmp_path: Path) -> None:
    # Not a ProviderError (a bug in an adapter, say): the question must fail with it
    # instead of waiting out the batch timeout for a poller that is gone.
    provider = LedgerProvider(state_errors=[RuntimeError("adapter bug")])
    scheduler, _ = _scheduler(provider, tmp_path)
    with pytest.raises(RuntimeError, match="adapter bug"):
        _ask_all(scheduler, ["q0"])


def test_closing_the_scheduler_closes_the_dispatcher_its_provider_and_store(
    tmp_path: Path,
) -> None:
    provider = LedgerProvider(polls=1000)
    store = BatchStore(tmp_path / "cache.sqlite")
    scheduler = Scheduler(
        {GPT4O: BatchDispatcher(provider, store)}, batch_models=frozenset({GPT4O})
    )

    async def main() -> None:
        ask = asyncio.ensure_future(scheduler.ask(make_request("q0")))
        await asyncio.sleep(600)  # submitted, still being polled
        ask.cancel()
        await asyncio.gather(ask, return_exceptions=True)
        await scheduler.aclose()
        polls = provider.state_calls
        await asyncio.sleep(3600)
        assert provider.state_calls == polls, "nobody polls after the close"

    run_virtual(main())
    assert provider.closed
    with pytest.raises(sqlite3.ProgrammingError):
        store.open_batches(provider.name)
