"""Batch jobs held by the fake server, shared by the three providers' batch routes.

A job keeps the lines it was given (custom id, the synchronous endpoint's path,
the request body). It stays ``running`` for ``polls_until_done`` state requests,
then every line is answered exactly as the synchronous endpoint would answer it
(scripts, the ``answer`` callable, schema examples, and faults queued for that
endpoint's path: a status fault makes that line fail). ``fail_next`` makes the
next submitted job fail as a whole (expired, cancelled) instead.

Each provider's per-batch limits (requests, and bytes of the input file or body)
come from its contract (:mod:`chainlang.providers.contracts`); the batch routes
refuse a batch over them as the provider does (``limits_of``). The real figures
are far beyond what a test sends (50,000 requests for OpenAI), so a test lowers
them per provider: ``server.batches.limits["openai"] = BatchCaps(lines=5)``.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chainlang.providers.contracts import contract_of

# (path, body) -> (HTTP status, response or error body) for one line.
LineAnswerer = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
# What a batch route answers: (HTTP status, JSON-able body or raw bytes, headers).
Routed = tuple[int, Any, dict[str, str]]


@dataclass
class LineResult:
    """One answered line: its custom id, the status the endpoint would give, the body."""

    custom_id: str
    status: int
    body: dict[str, Any]


@dataclass
class FakeBatch:
    """One submitted batch job."""

    id: str
    family: str  # openai | anthropic | gemini
    lines: list[tuple[str, str, dict[str, Any]]]  # (custom id, path, body)
    meta: dict[str, Any] = field(default_factory=dict)  # what the route wants to echo back
    polls_left: int = 1
    failure: str | None = None
    results: list[LineResult] | None = None

    @property
    def state(self) -> str:
        """``running``, ``ended`` or ``failed``."""
        if self.failure is not None:
            return "failed"
        return "ended" if self.results is not None else "running"


@dataclass(frozen=True, slots=True)
class BatchCaps:
    """What one batch may hold at the fake: requests and bytes (None: unlimited)."""

    lines: int | None = None
    bytes: int | None = None


class FakeBatches:
    """Every batch job the server holds, plus the uploaded files (OpenAI)."""

    def __init__(self, answer_line: LineAnswerer) -> None:
        self._answer_line = answer_line
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.jobs: dict[str, FakeBatch] = {}
        self.files: dict[str, bytes] = {}
        self.polls_until_done = 1
        self._failures: deque[str] = deque()
        # per-provider limits that replace the contract's (tests lower them; see above)
        self.limits: dict[str, BatchCaps] = {}

    def limits_of(self, family: str) -> BatchCaps:
        """The per-batch limits of ``family``: a test's override, else its contract's."""
        if family in self.limits:
            return self.limits[family]
        contract = contract_of(family)
        if contract is None:
            return BatchCaps()
        return BatchCaps(contract.batch_lines, contract.batch_bytes)

    @property
    def submitted(self) -> int:
        """How many batches were created (a resumed run must not add to it)."""
        return len(self.jobs)

    def fail_next(self, message: str = "expired") -> None:
        """Make the next submitted batch fail as a whole with ``message``."""
        self._failures.append(message)

    def new_id(self, prefix: str) -> str:
        """A fresh id such as ``batch_3`` or ``file-4``."""
        return f"{prefix}{next(self._ids)}"

    def submit(
        self,
        family: str,
        lines: list[tuple[str, str, dict[str, Any]]],
        prefix: str,
        meta: dict[str, Any] | None = None,
        failure: str | None = None,
    ) -> FakeBatch:
        """Create a job; it runs for ``polls_until_done`` state requests (``failure``:
        it fails as a whole with that message, as one refused at validation does)."""
        with self._lock:
            job = FakeBatch(self.new_id(prefix), family, lines, meta or {}, self.polls_until_done)
            if failure is not None:
                job.failure = failure
            elif self._failures:
                job.failure = self._failures.popleft()
            self.jobs[job.id] = job
        return job

    def poll(self, batch_id: str) -> FakeBatch | None:
        """The job after one more state request (answered once it is due)."""
        with self._lock:
            job = self.jobs.get(batch_id)
            if job is None or job.state != "running":
                return job
            job.polls_left -= 1
            if job.polls_left > 0:
                return job
        results = [LineResult(cid, *self._answer_line(path, body)) for cid, path, body in job.lines]
        with self._lock:
            job.results = results
        return job
