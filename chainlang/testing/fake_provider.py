"""A local HTTP server that speaks the providers' wire formats, for tests and benchmarks.

The real SDKs talk to it over real sockets, so tests exercise the same code
paths (serialisation, headers, error classes) as production::

    with FakeProviderServer() as srv:
        client = openai.AsyncOpenAI(base_url=srv.openai_base_url, api_key="k", max_retries=0)
        ...
        srv.faults.push("429", retry_after=1)     # the next request gets a 429
        srv.script("[depth]", {"nearer": "red"})  # the next prompt containing "[depth]"
        srv.requests[-1].json                      # what the SDK actually sent

Endpoints: OpenAI ``/v1/chat/completions``, ``/v1/responses`` and
``/v1/images/edits`` (multipart); Anthropic ``/v1/messages``; Gemini
``/v1/models/{m}:generateContent`` and ``/v1beta/...``.

Answers come from, in order: a scripted reply whose marker occurs in the
prompt, the ``answer`` callable, an example built from the requested schema,
or (for text-instruction requests without a schema) the JSON example found
in the prompt, wrapped in prose.

Faults (:class:`Faults`): ``429`` (with ``Retry-After``), ``400``, ``401``,
``403``, ``404``, ``500``, ``503``, ``529``, ``timeout`` (never answer),
``drop`` (close the connection), ``garbage`` (a body that is not JSON),
``malformed`` (the answer text is not JSON), ``invalid`` (JSON that violates
the schema), ``truncated``, ``refusal`` and ``slow`` (extra latency); queued
per count and optionally per path, or drawn with a seeded probability; plus a
sliding-window rate limiter that answers 429 above R requests per window.

The server is a minimal HTTP/1.1 implementation on ``asyncio.start_server``
with keep-alive, running its own event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chainlang.errors import UsageError

STATUS_FAULTS = {
    "400": 400,
    "401": 401,
    "403": 403,
    "404": 404,
    "429": 429,
    "500": 500,
    "503": 503,
    "529": 529,
}
ANSWER_FAULTS = frozenset({"malformed", "invalid", "truncated", "refusal"})
WIRE_FAULTS = frozenset({"timeout", "drop", "garbage", "slow"})
FAULT_KINDS = frozenset(STATUS_FAULTS) | ANSWER_FAULTS | WIRE_FAULTS
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: method, path, lower-cased headers and raw body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body decoded as JSON (None if it is not JSON, e.g. multipart)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, bytes]:
        """Fields of a multipart/form-data body, by name (raw bytes)."""
        match = re.search(r"boundary=\"?([^\";]+)", self.headers.get("content-type", ""))
        if not match:
            return {}
        out = {}
        for chunk in self.body.split(b"--" + match.group(1).encode()):
            head, sep, value = chunk.partition(b"\r\n\r\n")
            name = re.search(rb'name="([^"]+)"', head)
            if sep and name:
                out[name.group(1).decode()] = value.removesuffix(b"\r\n")
        return out


@dataclass(frozen=True)
class FakeCall:
    """What an ``answer`` callable sees: the dialect, model, prompt text and schema."""

    dialect: (
        str  # openai-chat | openai-responses | anthropic | gemini | openai-image | gemini-image
    )
    model: str
    prompt: str
    schema: dict[str, Any] | None
    request: RecordedRequest


@dataclass(frozen=True)
class Reply:
    """A scripted raw reply text (sent verbatim instead of JSON-encoding a value)."""

    text: str


@dataclass(frozen=True)
class Fault:
    """One injected fault."""

    kind: str
    retry_after: float | None = None
    latency: float = 0.0
    path: str | None = None  # only requests whose path contains this


class Faults:
    """The programmable fault policy of a :class:`FakeProviderServer` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[list[Any]] = []  # [fault, remaining count]
        self._random: list[tuple[Fault, float, random.Random]] = []
        self._rate: tuple[int, float] | None = None
        self._stamps: deque[float] = deque()

    def push(
        self,
        kind: str,
        *,
        retry_after: float | None = None,
        latency: float = 0.0,
        path: str | None = None,
        count: int = 1,
    ) -> None:
        """Inject ``kind`` into the next ``count`` requests (matching ``path`` if given)."""
        fault = _fault(kind, retry_after, latency, path)
        with self._lock:
            self._queue.append([fault, count])

    def random(
        self,
        kind: str,
        p: float,
        *,
        seed: int = 0,
        retry_after: float | None = None,
        latency: float = 0.0,
        path: str | None = None,
    ) -> None:
        """Inject ``kind`` into each request with probability ``p`` (seeded, reproducible)."""
        if not 0.0 <= p <= 1.0:
            raise UsageError(f"fault probability must be in [0, 1], got {p}")
        with self._lock:
            self._random.append((_fault(kind, retry_after, latency, path), p, random.Random(seed)))

    def rate_limit(self, per_window: int, *, window: float = 60.0) -> None:
        """Answer 429 (with Retry-After) to requests beyond ``per_window`` in any ``window`` s."""
        if per_window < 1 or window <= 0:
            raise UsageError("rate limit needs per_window >= 1 and window > 0")
        with self._lock:
            self._rate = (per_window, window)
            self._stamps.clear()

    def clear(self) -> None:
        """Remove every queued and random fault and the rate limit."""
        with self._lock:
            self._queue.clear()
            self._random.clear()
            self._rate = None
            self._stamps.clear()

    def next_fault(self, path: str) -> Fault | None:
        """The fault for a request to ``path`` (consumes one queued use)."""
        with self._lock:
            for entry in self._queue:
                fault, _ = entry
                if fault.path is None or fault.path in path:
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._queue.remove(entry)
                    return fault
            for fault, p, rng in self._random:
                if (fault.path is None or fault.path in path) and rng.random() < p:
                    return fault
            return self._rate_fault()

    def _rate_fault(self) -> Fault | None:
        if self._rate is None:
            return None
        limit, window = self._rate
        now = time.monotonic()
        while self._stamps and self._stamps[0] <= now - window:
            self._stamps.popleft()
        if len(self._stamps) >= limit:
            return Fault("429", retry_after=round(self._stamps[0] + window - now, 3))
        self._stamps.append(now)
        return None


def _fault(kind: str, retry_after: float | None, latency: float, path: str | None) -> Fault:
    if kind not in FAULT_KINDS:
        raise UsageError(f"unknown fault {kind!r}; choose one of {', '.join(sorted(FAULT_KINDS))}")
    return Fault(kind, retry_after, latency, path)


# --------------------------------------------------------------------------- answers


def example_from_schema(schema: dict[str, Any], rng: random.Random | None = None) -> Any:
    """A value that satisfies ``schema`` (enums: first value, or a seeded choice with ``rng``)."""
    if "enum" in schema:
        values = schema["enum"]
        return rng.choice(values) if rng else values[0]
    kind = schema.get("type")
    if kind == "object":
        return {k: example_from_schema(v, rng) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_from_schema(schema.get("items", {}), rng)]
    return {"string": "…", "integer": 1, "number": 0.5, "boolean": True}.get(kind, "…")


def _texts(value: Any, out: list[str]) -> list[str]:
    """Every ``text`` string (or plain string content) in a request, in order."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in ("text", "instructions", "content", "system") and isinstance(v, str):
                out.append(v)
            elif key not in ("data", "image_url", "source", "inlineData", "inline_data"):
                _texts(v, out)
    elif isinstance(value, list):
        for v in value:
            _texts(v, out)
    return out


def _estimate_tokens(value: Any) -> int:
    """Input-token estimate: text chars / 4 plus 100 per long (image) string."""
    if isinstance(value, dict):
        return sum(_estimate_tokens(v) for v in value.values())
    if isinstance(value, list):
        return sum(_estimate_tokens(v) for v in value)
    if isinstance(value, str):
        return 100 if len(value) > 4000 else max(1, len(value) // 4)
    return 1


def _png(size: int = 64) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (128, 128, 128)).save(buf, "PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- dialects


def _dialect(path: str) -> str | None:
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/responses"):
        return "openai-responses"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/images/edits"):
        return "openai-image"
    if ":generateContent" in path:
        return "gemini"
    return None


def _call_of(dialect: str, req: RecordedRequest) -> FakeCall:
    body = req.json if dialect != "openai-image" else None
    body = body if isinstance(body, dict) else {}
    schema = None
    if dialect == "openai-chat":
        schema = body.get("response_format", {}).get("json_schema", {}).get("schema")
    elif dialect == "openai-responses":
        schema = body.get("text", {}).get("format", {}).get("schema")
    elif dialect == "anthropic":
        tools = body.get("tools") or []
        schema = tools[0].get("input_schema") if tools else None
        schema = schema or body.get("output_config", {}).get("format", {}).get("schema")
    elif dialect == "gemini":
        gen = body.get("generationConfig", {})
        schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
        if "IMAGE" in gen.get("responseModalities", []):
            dialect = "gemini-image"
    if dialect == "openai-image":
        prompt = req.form.get("prompt", b"").decode(errors="replace")
        model = req.form.get("model", b"").decode(errors="replace")
    else:
        prompt = "\n".join(_texts(body, []))
        model = str(body.get("model") or req.path.rsplit("/", 1)[-1].split(":")[0])
    return FakeCall(dialect, model, prompt, schema, req)


class FakeProviderServer:
    """A threaded local server speaking the OpenAI, Anthropic and Gemini wire formats.

    Args:
        latency: seconds to wait before every answer (benchmarks use 0.05).
        seed: seeds enum choices (with ``choice="seeded"``) and nothing else.
        answer: optional ``callable(FakeCall) -> value | Reply | None``; None falls through.
        choice: ``"first"`` enum value or a ``"seeded"`` random one in schema examples.
        cached_tokens: cached input tokens to report in usage (to test cache accounting).
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        seed: int = 0,
        answer: Callable[[FakeCall], Any] | None = None,
        choice: str = "first",
        cached_tokens: int = 0,
    ) -> None:
        if choice not in ("first", "seeded"):
            raise UsageError(f"choice must be 'first' or 'seeded', got {choice!r}")
        self.latency = latency
        self.answer = answer
        self.cached_tokens = cached_tokens
        self.faults = Faults()
        self._rng = random.Random(seed) if choice == "seeded" else None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._scripts: list[tuple[str, deque[Any]]] = []
        self._counter = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()
        self._ready = threading.Event()
        self._image = _png()
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

    def reset(self) -> None:
        """Forget recorded requests, scripts and faults."""
        with self._lock:
            self._requests.clear()
            self._scripts.clear()
        self.faults.clear()

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
                req = await _read_request(reader)
                if req is None or not await self._serve(req, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent garbage: drop the connection
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
        dialect = _dialect(req.path)
        fault = self.faults.next_fault(req.path)
        delay = self.latency + (fault.latency if fault else 0.0)
        if delay:
            await asyncio.sleep(delay)
        if dialect is None:
            _write(writer, 404, {"error": {"message": f"no route {req.path}"}})
            return True
        if fault and fault.kind == "drop":
            return False
        if fault and fault.kind == "timeout":
            await reader.read()  # hold the request until the client gives up
            return False
        if fault and fault.kind == "garbage":
            _write_raw(writer, 200, b'{"choices": [ this is not json', {})
            return True
        if fault and fault.kind in STATUS_FAULTS:
            status = STATUS_FAULTS[fault.kind]
            headers = (
                {"retry-after": _fmt(fault.retry_after)} if fault.retry_after is not None else {}
            )
            _write(writer, status, _error_body(dialect, status), headers)
            return True
        call = _call_of(dialect, req)
        kind = fault.kind if fault and fault.kind in ANSWER_FAULTS else None
        body = self._answer_body(call, kind, n)
        _write(writer, 200, body)
        return req.headers.get("connection", "").lower() != "close"

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
            return _prose_answer(call.prompt)
        return json.dumps(value)

    def _scripted(self, call: FakeCall) -> Any:
        with self._lock:
            for marker, queue in self._scripts:
                if queue and marker in call.prompt:
                    return queue.popleft()
        return None

    def _answer_body(self, call: FakeCall, kind: str | None, n: int) -> dict[str, Any]:
        if call.dialect in ("openai-image", "gemini-image"):
            return _image_body(call, self._image, n)
        text = self._answer_text(call, kind)
        if kind == "truncated":
            text = text[: max(1, len(text) // 2)]
        body = call.request.json
        usage = (_estimate_tokens(body), max(1, len(text) // 4), self.cached_tokens)
        builder = _BUILDERS[call.dialect]
        return builder(call, text, kind, usage, n)


def _prose_answer(prompt: str) -> str:
    """Echo the JSON example of a text-instruction prompt, wrapped in chatty prose."""
    from chainlang.answers import AnswerError, extract_json

    tail = prompt.rsplit("Example", 1)[-1]
    try:
        example = extract_json(tail)
    except AnswerError:
        example = {}
    return (
        f"Sure! Here is my answer:\n```json\n{json.dumps(example, indent=1)},\n```\nHope it helps."
    )


# --------------------------------------------------------------------------- response bodies


def _chat_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int], n: int
) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    finish = {"truncated": "length"}.get(kind or "", "stop")
    if kind == "refusal":
        message.update(content=None, refusal="I can't help with that.")
    inp, out, cached = usage
    return {
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": 0,
        "model": call.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": inp,
            "completion_tokens": out,
            "total_tokens": inp + out,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def _responses_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int], n: int
) -> dict:
    content: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
    if kind == "refusal":
        content = {"type": "refusal", "refusal": "I can't help with that."}
    inp, out, cached = usage
    return {
        "id": f"resp_fake_{n}",
        "object": "response",
        "created_at": 0,
        "model": call.model,
        "status": "incomplete" if kind == "truncated" else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if kind == "truncated" else None,
        "output": [
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [content],
            }
        ],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": inp,
            "output_tokens": out,
            "total_tokens": inp + out,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _anthropic_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int], n: int
) -> dict:
    body = call.request.json or {}
    tools = body.get("tools") or []
    stop = {"truncated": "max_tokens", "refusal": "refusal"}.get(kind or "", "end_turn")
    block: dict[str, Any] = {"type": "text", "text": text}
    tool_input = _json_or_none(text) if tools and kind not in ("truncated", "refusal") else None
    if isinstance(tool_input, dict):
        block = {
            "type": "tool_use",
            "id": f"toolu_{n}",
            "name": tools[0]["name"],
            "input": tool_input,
        }
        stop = "tool_use"
    if kind == "refusal":
        block = {"type": "text", "text": "I can't help with that."}
    inp, out, cached = usage
    return {
        "id": f"msg_fake_{n}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": inp - cached,  # Anthropic counts cache reads separately
            "output_tokens": out,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        },
    }


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _gemini_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int], n: int
) -> dict:
    finish = {"truncated": "MAX_TOKENS", "refusal": "SAFETY"}.get(kind or "", "STOP")
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "finishReason": finish,
        "index": 0,
    }
    if kind == "refusal":
        candidate.pop("content")
    inp, out, cached = usage
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": inp,
            "candidatesTokenCount": out,
            "totalTokenCount": inp + out,
            "cachedContentTokenCount": cached,
        },
        "modelVersion": call.model,
        "responseId": f"fake-{n}",
    }


def _image_body(call: FakeCall, png: bytes, n: int) -> dict:
    data = base64.b64encode(png).decode()
    inp = max(1, len(call.prompt) // 4) + 100
    if call.dialect == "openai-image":
        return {
            "created": 0,
            "data": [{"b64_json": data}],
            "usage": {"input_tokens": inp, "output_tokens": 1056, "total_tokens": inp + 1056},
        }
    part = {"inlineData": {"mimeType": "image/png", "data": data}}
    return {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": inp, "candidatesTokenCount": 1290},
        "responseId": f"fake-{n}",
    }


_BUILDERS = {
    "openai-chat": _chat_body,
    "openai-responses": _responses_body,
    "anthropic": _anthropic_body,
    "gemini": _gemini_body,
}


def _error_body(dialect: str, status: int) -> dict[str, Any]:
    message = f"injected fault: HTTP {status}"
    if dialect == "anthropic":
        kind = {
            429: "rate_limit_error",
            529: "overloaded_error",
            401: "authentication_error",
            404: "not_found_error",
            400: "invalid_request_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if dialect.startswith("gemini"):
        state = {
            429: "RESOURCE_EXHAUSTED",
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            503: "UNAVAILABLE",
        }.get(status, "INTERNAL")
        return {"error": {"code": status, "message": message, "status": state}}
    return {"error": {"message": message, "type": "fake_error", "code": str(status)}}


# --------------------------------------------------------------------------- HTTP/1.1


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    line = await reader.readline()
    if not line.strip():
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RecordedRequest(method, path, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


def _write(
    writer: asyncio.StreamWriter, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    _write_raw(writer, status, json.dumps(body).encode(), headers or {})


def _write_raw(
    writer: asyncio.StreamWriter, status: int, data: bytes, headers: dict[str, str]
) -> None:
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "content-type: application/json",
        f"content-length: {len(data)}",
    ]
    head += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"
