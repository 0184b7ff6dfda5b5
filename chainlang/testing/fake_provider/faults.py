"""What the fake server records and the faults it injects.

Records: :class:`RecordedRequest` (a request as received), :class:`FakeCall`
(what an ``answer`` callable sees) and :class:`Reply` (a scripted raw reply).
Faults: the fault kinds, :class:`Fault` and the thread-safe policy :class:`Faults`.
"""

from __future__ import annotations

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
# "cut": the reply starts (status, headers, half the body) and the connection closes.
WIRE_FAULTS = frozenset({"timeout", "drop", "garbage", "slow", "cut"})
FAULT_KINDS = frozenset(STATUS_FAULTS) | ANSWER_FAULTS | WIRE_FAULTS


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

    def next_fault(
        self, path: str, *, passes_over: Callable[[str], bool] | None = None
    ) -> Fault | None:
        """The fault for a request to ``path`` (consumes one queued use).

        ``passes_over(fault_path)`` true means a fault aimed at that path is not for
        this request even if the paths overlap (a batch endpoint under
        ``/v1/messages`` is not the synchronous ``/v1/messages``).
        """
        with self._lock:
            for entry in self._queue:
                fault, _ = entry
                if fault.path is not None and passes_over and passes_over(fault.path):
                    continue
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
