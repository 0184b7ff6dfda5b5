"""FakeProviderServer: a threaded asyncio server that records, injects faults and answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from chainlang.errors import UsageError
from chainlang.testing.fake_provider.answers import (
    estimate_tokens,
    example_from_schema,
    png,
    prose_answer,
)
from chainlang.testing.fake_provider.batch_routes import batch_route_of
from chainlang.testing.fake_provider.batches import FakeBatches
from chainlang.testing.fake_provider.contracts import refusal
from chainlang.testing.fake_provider.faults import (
    ANSWER_FAULTS,
    STATUS_FAULTS,
    FakeCall,
    Faults,
    RecordedRequest,
    Reply,
)
from chainlang.testing.fake_provider.http import fmt_seconds, read_request, write, write_raw
from chainlang.testing.fake_provider.prompt_cache import FakePromptCaches
from chainlang.testing.fake_provider.wire import (
    BUILDERS,
    call_of,
    dialect_of,
    error_body,
    image_body,
    unauthenticated,
)


class FakeProviderServer:
    """A threaded local server speaking the OpenAI, Anthropic and Gemini wire formats.

    Args:
        latency: seconds to wait before every answer (benchmarks use 0.05).
        seed: seeds enum choices (with ``choice="seeded"``) and nothing else.
        answer: optional ``callable(FakeCall) -> value | Reply | None``; None falls through.
        choice: ``"first"`` enum value or a ``"seeded"`` random one in schema examples.
        cached_tokens: cached input tokens to report in every usage (to test cache
            accounting); 0 (the default): each provider's prompt cache is played instead
            (``prompt_cache.py``), so a request whose prefix repeats an earlier one's
            reports the cache reads (and Anthropic's writes) the real API would.
        contracts: refuse a request that breaks its provider's documented limits with the
            provider's status and error body (``contracts.py``); on by default.
        keys: refuse a request without its provider's credentials headers, as the real
            API does (401, or Gemini's 403); on by default. Any key is accepted.

    ``usage_scale`` (default 1) multiplies the input tokens the server reports, to play a
    provider whose count is far above a client's estimate.

    :attr:`billed` lists the usage ``(input, output, cached, written)`` of every answer the server
    wrote (error replies and dropped connections bill nothing), so a test can compare
    what a client says it spent with what the server charged.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        seed: int = 0,
        answer: Callable[[FakeCall], Any] | None = None,
        choice: str = "first",
        cached_tokens: int = 0,
        contracts: bool = True,
        keys: bool = True,
    ) -> None:
        if choice not in ("first", "seeded"):
            raise UsageError(f"choice must be 'first' or 'seeded', got {choice!r}")
        self.latency = latency
        self.answer = answer
        self.cached_tokens = cached_tokens
        self.contracts = contracts
        self.keys = keys
        self.usage_scale = 1.0
        self.faults = Faults()
        self._rng = random.Random(seed) if choice == "seeded" else None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._billed: list[tuple[int, int, int, int]] = []
        self.prompt_caches = FakePromptCaches()
        self._scripts: list[tuple[str, deque[Any]]] = []
        self._counter = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()
        self._ready = threading.Event()
        self._image = png()
        self.batches = FakeBatches(self.answer_line)
        self.port = 0

    # ------------------------------------------------------------------ public

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (Anthropic and Gemini SDK base URL)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (OpenAI SDK base URL)."""
        return self.base_url + "/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def billed(self) -> list[tuple[int, int, int, int]]:
        """The usage ``(input, output, cached, written)`` of every answer written so far
        (``written``: prompt-cache writes, reported by Anthropic only; a copy)."""
        with self._lock:
            return list(self._billed)

    def reset(self) -> None:
        """Forget recorded requests, billed usage, scripts, faults and batch jobs."""
        with self._lock:
            self._requests.clear()
            self._billed.clear()
            self._scripts.clear()
        self.faults.clear()
        self.prompt_caches.clear()
        self.batches = FakeBatches(self.answer_line)

    def script(self, marker: str, *replies: Any) -> None:
        """Answer the next requests whose prompt contains ``marker`` with ``replies`` in order."""
        with self._lock:
            self._scripts.append((marker, deque(replies)))

    def start(self) -> FakeProviderServer:
        """Start serving in a background thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="fake-provider", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake provider server did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (pending never-answering requests are dropped)."""
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ loop

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                req = await read_request(reader)
                if req is None or not await self._serve(req, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent garbage: drop the connection
        except asyncio.CancelledError:
            # Shutdown. Ending quietly matters: Python 3.11's stream protocol logs a
            # traceback for every cancelled connection handler.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # ------------------------------------------------------------------ serving

    async def _serve(
        self, req: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False closes the connection."""
        with self._lock:
            self._requests.append(req)
            self._counter += 1
            n = self._counter
        dialect = dialect_of(req.path)
        batch = None if dialect else batch_route_of(req.path)
        # A fault aimed at a synchronous endpoint is for a batch's lines, not its endpoints.
        aimed_at_lines = (lambda p: dialect_of(p) is not None) if batch else None
        routed = batch.dialect if batch else dialect
        denied = unauthenticated(routed, req) if self.keys and routed else None
        if denied is not None:
            write(writer, *denied)  # before any fault: an unauthenticated call is refused at once
            return True
        fault = self.faults.next_fault(req.path, passes_over=aimed_at_lines)
        delay = self.latency + (fault.latency if fault else 0.0)
        if delay:
            await asyncio.sleep(delay)
        if dialect is None and batch is None:
            write(writer, 404, {"error": {"message": f"no route {req.path}"}})
            return True
        errors_in = dialect or (batch.dialect if batch else "openai-chat")
        if fault and fault.kind == "drop":
            return False
        if fault and fault.kind == "timeout":
            await reader.read()  # hold the request until the client gives up
            return False
        if fault and fault.kind == "garbage":
            write_raw(writer, 200, b'{"choices": [ this is not json', {})
            return True
        if fault and fault.kind in STATUS_FAULTS:
            status = STATUS_FAULTS[fault.kind]
            headers = (
                {"retry-after": fmt_seconds(fault.retry_after)}
                if fault.retry_after is not None
                else {}
            )
            write(writer, status, error_body(errors_in, status), headers)
            return True
        if batch is not None:
            status, reply, headers = batch.handle(self, req)
            data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            write_raw(writer, status, data, headers)
            return True
        assert dialect is not None
        call = call_of(dialect, req)
        refused = refusal(call) if self.contracts else None
        if refused is not None:  # what the real provider answers a request over its limits
            write(writer, refused[0], refused[1])
            return True
        kind = fault.kind if fault and fault.kind in ANSWER_FAULTS else None
        body = self._answer_body(call, kind, n)
        if fault and fault.kind == "cut":
            data = json.dumps(body).encode()  # announced in full, half of it sent
            head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(data)}\r\n\r\n"
            writer.write(head.encode() + data[: len(data) // 2])
            await writer.drain()
            return False
        write(writer, 200, body)
        return req.headers.get("connection", "").lower() != "close"

    def answer_line(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one batch line as the synchronous endpoint at ``path`` would.

        A status fault queued for ``path`` fails the line; an answer fault shapes
        its answer; connection-level faults make no sense inside a batch and fail
        the line as a 500.
        """
        dialect = dialect_of(path) or "openai-chat"
        with self._lock:
            self._counter += 1
            n = self._counter
        fault = self.faults.next_fault(path)
        if fault and fault.kind in STATUS_FAULTS:
            status = STATUS_FAULTS[fault.kind]
            return status, error_body(dialect, status)
        if fault and fault.kind not in ANSWER_FAULTS and fault.kind != "slow":
            return 500, error_body(dialect, 500)
        kind = fault.kind if fault and fault.kind in ANSWER_FAULTS else None
        req = RecordedRequest("POST", path, {}, json.dumps(body).encode())
        call = call_of(dialect, req)
        refused = refusal(call) if self.contracts else None
        if refused is not None:  # a batch line over a limit fails as the sync call would
            return refused
        return 200, self._answer_body(call, kind, n)

    def _answer_text(self, call: FakeCall, kind: str | None) -> str:
        if kind == "malformed":
            return "I think the answer is red, probably."
        value = self._scripted(call)
        if isinstance(value, Reply):
            return value.text
        if value is None and self.answer is not None:
            value = self.answer(call)
            if isinstance(value, Reply):
                return value.text
        if value is None and call.schema is not None:
            value = example_from_schema(call.schema, self._rng)
        if kind == "invalid":
            value = {"unexpected_key": "zebraa"}
        if value is None:
            return prose_answer(call.prompt)
        return json.dumps(value)

    def _scripted(self, call: FakeCall) -> Any:
        with self._lock:
            for marker, queue in self._scripts:
                if queue and marker in call.prompt:
                    return queue.popleft()
        return None

    def _answer_body(self, call: FakeCall, kind: str | None, n: int) -> dict[str, Any]:
        if call.dialect in ("openai-image", "gemini-image"):
            return image_body(call, self._image, n)
        text = self._answer_text(call, kind)
        if kind == "truncated":
            text = text[: max(1, len(text) // 2)]
        body = call.request.json
        tokens_in = round(estimate_tokens(body) * self.usage_scale)
        if self.cached_tokens:
            read, written = self.cached_tokens, 0
        else:
            read, written = self.prompt_caches.send(call.dialect, call.model, body or {})
        read = min(read, tokens_in)
        usage = (tokens_in, max(1, len(text) // 4), read, min(written, tokens_in - read))
        with self._lock:
            self._billed.append(usage)
        builder = BUILDERS[call.dialect]
        return builder(call, text, kind, usage, n)
