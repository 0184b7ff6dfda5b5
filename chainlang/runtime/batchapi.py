"""Dispatching questions through a provider's batch API (half the price, hours of latency).

To the scheduler a :class:`BatchDispatcher` is one more provider: ``send``
returns the answer or raises :class:`ProviderError`, so the cache, the journal,
validation, re-asks, retries and the budget work exactly as for synchronous
calls. Behind ``send``:

1. the request is translated into a batch line keyed by a custom id (a hash of
   the request, so the same question always gets the same id);
2. lines that arrive close together are collected; the collection is submitted
   when no line arrived for ``flush_s`` seconds or the provider's limits (lines,
   bytes) would be passed. A chain's stage (all depth pairs of the items in
   flight, say) therefore goes out as one batch, and the next stage as the next;
3. the batch id is committed to the :class:`BatchStore` right after submission,
   then polled every ``poll_s`` seconds;
4. when it ends, its answers are committed to the store and handed to the
   waiting questions; a failed line or a failed batch raises the provider's
   error in the waiting question, and the scheduler's retry policy decides.

A killed run loses nothing paid for: on resume a question whose line sits in a
submitted batch waits for that batch instead of being sent again, and an answer
that came back before the kill is served from the store. Only a batch whose
submission was in flight at the moment of the kill can be paid twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from chainlang.providers.base import (
    BatchLine,
    BatchProvider,
    ModelRequest,
    ModelResponse,
    ProviderError,
)
from chainlang.providers.common import estimate_image_tokens, no_result_line
from chainlang.runtime.batchstore import BatchStore
from chainlang.runtime.cache import request_key
from chainlang.runtime.clock import Clock, LoopClock
from chainlang.runtime.retry import RetryPolicy

Result = ModelResponse | ProviderError
T = TypeVar("T")

# Transient errors while polling are retried this many times in a row.
MAX_POLL_ERRORS = 8


class BatchDispatcher:
    """One provider's requests sent through its batch API.

    Args:
        provider: the adapter, with the batch methods of
            :class:`~chainlang.providers.base.BatchProvider`.
        store: where submitted batches and their answers are committed.
        flush_s: submit once no new request arrived for this long.
        poll_s: seconds between two state requests of a running batch.
        clock: the clock all waiting goes through (tests inject a virtual one).
        on_event: called with one line per submission and collection.
    """

    def __init__(
        self,
        provider: BatchProvider,
        store: BatchStore,
        *,
        flush_s: float = 2.0,
        poll_s: float = 60.0,
        clock: Clock | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self._store = store
        self._flush_s = flush_s
        self._poll_s = poll_s
        # Polling and collecting retry transient errors after 2, 4, 8 ... seconds, never
        # longer than the poll interval unless the provider asks for longer. (A failed
        # submission is not retried here: it fails its questions, the scheduler retries.)
        self._sdk_retry = RetryPolicy(
            max_attempts=MAX_POLL_ERRORS + 1, base=min(2.0, poll_s), cap=poll_s, jitter=0.0
        )
        self._clock = clock or LoopClock()
        self._on_event = on_event
        # A custom id is a key here from when its line is placed (queued, being
        # submitted, or in a submitted batch) until its result is handed out, even
        # if every question waiting on it was cancelled meanwhile: a question asked
        # again then waits for that line instead of placing it a second time.
        self._waiters: dict[str, list[asyncio.Future[ModelResponse]]] = {}
        self._queue: list[BatchLine] = []
        self._queued_bytes = 0
        self._last_line = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._watched: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """The answer to ``request`` once its batch has ended (``timeout`` is the caller's)."""
        custom_id = request_key(request, salt="batch")
        stored = self._store.answer(self.name, custom_id)
        if stored is not None:
            return _with_image_tokens(stored, request)
        future: asyncio.Future[ModelResponse] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.get(custom_id)
        try:
            if waiting is None:
                self._place(custom_id, request)  # ProviderError: the request is not batchable
                waiting = self._waiters[custom_id] = []
            waiting.append(future)
            return _with_image_tokens(await future, request)
        except ProviderError as err:
            raise _own_error(err, request) from err
        finally:
            if waiting is not None and future in waiting:
                waiting.remove(future)

    async def aclose(self) -> None:
        """Stop waiting (submitted batches stay recorded); close the provider and the store."""
        tasks = [*self._tasks, *([self._flusher] if self._flusher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.provider.aclose()
        self._store.close()

    # ------------------------------------------------------------------ collecting

    def _place(self, custom_id: str, request: ModelRequest) -> None:
        """Wait on the open batch that already holds the line, or queue a new line."""
        batch_id = self._store.open_batch_of(self.name, custom_id)
        if batch_id is not None:
            self._watch(batch_id)
            return
        line = self.provider.batch_line(custom_id, request)  # ProviderError: not batchable
        limits = self.provider.batch_limits
        if self._queue and self._queued_bytes + line.size > limits.max_bytes:
            self._submit_queued()
        self._queue.append(line)
        self._queued_bytes += line.size
        self._last_line = self._clock.now()
        if len(self._queue) >= limits.max_lines:
            self._submit_queued()
        elif self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_when_quiet())

    async def _flush_when_quiet(self) -> None:
        try:
            while self._queue:
                quiet_at = self._last_line + self._flush_s
                if self._clock.now() >= quiet_at:
                    self._submit_queued()
                else:
                    await self._clock.sleep(quiet_at - self._clock.now())
        finally:
            self._flusher = None

    def _submit_queued(self) -> None:
        lines, self._queue, self._queued_bytes = self._queue, [], 0
        self._spawn(self._submit(lines))

    async def _submit(self, lines: list[BatchLine]) -> None:
        ids = [line.custom_id for line in lines]
        try:
            batch_id = await self.provider.submit_batch(lines)
            self._store.record(self.name, batch_id, ids)
        except Exception as err:  # a ProviderError, or a bug: the waiters must hear of it
            self._fail(ids, err)
            return
        self._event(f"submitted batch {batch_id} ({len(ids)} requests)")
        self._watch(batch_id)

    # ------------------------------------------------------------------ waiting

    def _watch(self, batch_id: str) -> None:
        if batch_id not in self._watched:
            self._watched[batch_id] = self._spawn(self._follow(batch_id))

    async def _follow(self, batch_id: str) -> None:
        """Poll until the batch ends, then hand out its answers."""
        ids = self._store.custom_ids(self.name, batch_id)
        try:
            state = await self._retrying(lambda: self.provider.batch_state(batch_id))
            while state.status == "running":
                await self._clock.sleep(self._poll_s)
                state = await self._retrying(lambda: self.provider.batch_state(batch_id))
            if state.status == "failed":
                results = await self._salvage(batch_id, ids, state.message)
            else:
                results = await self._retrying(lambda: self.provider.batch_results(batch_id, ids))
            self._collect(batch_id, ids, results)
        except Exception as err:  # as in _submit: nobody else would wake the waiters
            self._fail(ids, err)
        finally:
            self._watched.pop(batch_id, None)

    async def _salvage(self, batch_id: str, ids: list[str], why: str) -> dict[str, Result]:
        """A failed batch's finished lines (an expired batch may hold some); the rest fail."""
        why = why or "no reason given"
        self._event(f"batch {batch_id} failed: {why}")
        failure = ProviderError("server", f"{self.name}: batch {batch_id}: {why}")
        try:
            partial = await self.provider.batch_results(batch_id, ids)
        except ProviderError:
            partial = {}
        return {
            cid: r if isinstance(r := partial.get(cid), ModelResponse) else failure for cid in ids
        }

    def _collect(self, batch_id: str, ids: list[str], results: dict[str, Result]) -> None:
        answers = {cid: r for cid, r in results.items() if isinstance(r, ModelResponse)}
        self._store.collected(self.name, batch_id, answers)  # before anyone sees them
        self._event(f"collected batch {batch_id}: {len(answers)}/{len(ids)} answered")
        for cid in ids:
            result = results.get(cid)
            if result is None:
                result = no_result_line(self.name, batch_id, cid)
            self._resolve(cid, result)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """One SDK call, retried while it fails transiently."""
        rng = self._sdk_retry.rng()
        tries = 0
        while True:
            tries += 1
            try:
                return await call()
            except ProviderError as err:
                if not self._sdk_retry.should_retry(err.kind, tries):
                    raise
                await self._clock.sleep(self._sdk_retry.delay(tries, rng, err.retry_after))

    # ------------------------------------------------------------------ handing out

    def _resolve(self, custom_id: str, result: ModelResponse | Exception) -> None:
        for future in self._waiters.pop(custom_id, []):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _fail(self, ids: list[str], err: Exception) -> None:
        for cid in ids:
            self._resolve(cid, err)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _event(self, text: str) -> None:
        if self._on_event is not None:
            with contextlib.suppress(Exception):  # a display must never break a run
                self._on_event(f"{self.name}: {text}")


def _own_error(err: ProviderError, request: ModelRequest) -> ProviderError:
    """``err`` as one waiting question's own error, with its request's image-token estimate.

    One error may fail every line of a batch, so the shared instance is copied, never
    altered.
    """
    usage = dataclasses.replace(err.usage, image_tokens=estimate_image_tokens(request))
    return ProviderError(
        err.kind, err.message, status=err.status, retry_after=err.retry_after, usage=usage
    )


def _with_image_tokens(response: ModelResponse, request: ModelRequest) -> ModelResponse:
    """The image-token estimate of ``request``, as a synchronous answer carries it.

    A batch's answers may come back to a resumed run that never translated their
    requests, so the estimate is made here, from the request being answered.
    """
    usage = dataclasses.replace(response.usage, image_tokens=estimate_image_tokens(request))
    return dataclasses.replace(response, usage=usage)
