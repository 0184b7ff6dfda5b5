"""The cache and journal: one sqlite table of every finished call.

Every call the scheduler finishes (answer or failure) becomes one row, committed
before the answer is handed to anyone. Answers are served back on a rerun, so a
finished run makes no provider calls and a killed run pays only for what it had
not yet journaled. Failures are journaled (so they are reported) but never served:
a rerun asks failed questions again.

Key: :func:`chainlang.providers.keys.request_key`, sha256 of the canonical JSON of
the request's fields (salt, provider, model, messages with images as digests, schema,
parameters, sample index, and the oracle value for answerers that reply with it).

Durability: WAL mode with ``synchronous=NORMAL``. In WAL mode NORMAL makes each
commit durable against the process being killed (the WAL write happens before
commit returns); only an OS crash or power loss can lose the last few commits,
which would cost re-asking those calls, never a corrupt database. FULL would add
an fsync per call for protection we do not need. Rows are small, so writes are
done inline on the event loop (tens of microseconds each; see
``benchmarks/scheduler.py``); WAL lets several processes share one cache.

Claims: processes sharing a cache file must not pay for one question twice. Before
sending, the scheduler claims the question's key (:meth:`Journal.claim`, one
``BEGIN IMMEDIATE`` transaction that also checks for an answer); a process that
finds a live claim of another waits for the answer instead. Recording the answer
releases the claim in the same transaction. A claim is dead, and taken over, when
its process is gone (same host: its pid no longer runs) or when it has not been
refreshed for ``claim_lease_s`` (a process refreshes all its claims when it records
an answer, at most ``CLAIM_REFRESHES_PER_LEASE`` times per lease) -- so a killed
process never blocks the others for long.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chainlang.errors import RunError
from chainlang.providers.base import Usage

# The request key lives with the providers (the simulated answerers seed from it);
# re-exported because the journal is where callers have always found it.
from chainlang.providers.keys import canonical as canonical
from chainlang.providers.keys import request_fields as request_fields
from chainlang.providers.keys import request_key as request_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    ok INTEGER NOT NULL,
    created REAL NOT NULL,
    model TEXT NOT NULL,
    value TEXT,
    image BLOB,
    raw_text TEXT,
    usage TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    reasks INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    cost_usd REAL,
    failure_kind TEXT,
    failure_message TEXT,
    origin TEXT
);
CREATE INDEX IF NOT EXISTS journal_key ON journal (key, ok);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    process TEXT NOT NULL,
    refreshed REAL NOT NULL
);
"""

# Who holds a claim: the host and pid, plus a token per process (a pid reused by a later
# process is not the claim's owner) and one per Journal (two journals of one process on
# one file are two askers).
_HOST = socket.gethostname()
_PROCESS = secrets.token_hex(8)
DEFAULT_CLAIM_LEASE_S = 600.0
CLAIM_REFRESHES_PER_LEASE = 20  # record() refreshes the claims at most this often per lease

ClaimState = Literal["mine", "answered", "taken"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal row as read back."""

    key: str
    ok: bool
    model: str
    value: Any
    image: bytes | None
    raw_text: str | None
    usage: Usage
    attempts: int
    reasks: int
    latency_s: float
    cost_usd: float | None
    failure_kind: str | None
    failure_message: str | None
    origin: str | None = None


class Journal:
    """The sqlite cache + journal of one run (or of many runs sharing a cache file)."""

    def __init__(self, path: Path | str, *, claim_lease_s: float = DEFAULT_CLAIM_LEASE_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(self.path)
        self.claim_lease_s = claim_lease_s
        self._refreshed = 0.0  # when record() last refreshed this journal's claims
        self._owner = f"{_HOST}:{os.getpid()}:{_PROCESS}:{secrets.token_hex(4)}"

    def lookup(self, key: str) -> Entry | None:
        """The newest *answer* journaled under ``key`` (failures are never served)."""
        row = self._db.execute(
            "SELECT key, ok, model, value, image, raw_text, usage, attempts, reasks, latency_s,"
            " cost_usd, failure_kind, failure_message, origin FROM journal"
            " WHERE key = ? AND ok = 1 ORDER BY id DESC LIMIT 1",
            (key,),
        ).fetchone()
        return _entry(row) if row else None

    def claim(self, key: str, *, serve_answered: bool = True) -> ClaimState:
        """Claim question ``key`` before sending it.

        Returns ``"answered"`` when an answer is journaled already (serve it),
        ``"taken"`` while another live asker holds the claim (wait and ask again),
        and ``"mine"`` when the claim is now this journal's (send, then
        :meth:`record`, which releases it; or :meth:`release`). With
        ``serve_answered=False`` a journaled answer does not count (it could not be
        served: a damaged image), so the question is claimed to be asked again.
        """
        now = time.time()
        with self._immediate():
            answered = (
                serve_answered
                and self._db.execute(
                    "SELECT 1 FROM journal WHERE key = ? AND ok = 1 LIMIT 1", (key,)
                ).fetchone()
            )
            if answered:
                return "answered"
            row = self._db.execute(
                "SELECT owner, host, pid, process, refreshed FROM claims WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and self._is_live(*row, now=now):
                return "taken"
            self._db.execute(
                "INSERT OR REPLACE INTO claims (key, owner, host, pid, process, refreshed)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, self._owner, _HOST, os.getpid(), _PROCESS, now),
            )
            return "mine"

    def release(self, key: str) -> None:
        """Give up this journal's claim of ``key`` (asked, but nothing to record)."""
        with self._db:
            self._db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self._owner))

    def release_all(self) -> None:
        """Give up every claim of this journal (the asker it served is gone)."""
        with self._db:
            self._db.execute("DELETE FROM claims WHERE owner = ?", (self._owner,))

    def _is_live(
        self, owner: str, host: str, pid: int, process: str, refreshed: float, *, now: float
    ) -> bool:
        """Whether a claim still stands: another asker's, refreshed within the lease, and
        (on this host) of a process that still runs."""
        if owner == self._owner or now - refreshed > self.claim_lease_s:
            return False
        if host != _HOST:
            return True  # its pid cannot be checked from here: the lease decides
        if pid == os.getpid():
            return process == _PROCESS  # else a dead process whose pid we now have
        return _pid_alive(pid)

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        """A write transaction taken at once: check-then-claim is atomic across processes."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def record(self, entry: Entry) -> None:
        """Append ``entry`` and commit: when this returns, the row survives a kill.

        The same transaction releases this journal's claim of the key and refreshes
        its other claims (a process that records answers is alive).
        """
        usage = entry.usage
        with self._db:  # one transaction: the row is either fully there or absent
            self._db.execute(
                "DELETE FROM claims WHERE key = ? AND owner = ?", (entry.key, self._owner)
            )
            now = time.time()
            # Refreshing rewrites every claim this journal holds (one per question in
            # flight): once per twentieth of the lease keeps them alive at a fraction of
            # the cost of doing it with every answer.
            if now - self._refreshed >= self.claim_lease_s / CLAIM_REFRESHES_PER_LEASE:
                self._db.execute(
                    "UPDATE claims SET refreshed = ? WHERE owner = ?", (now, self._owner)
                )
                self._refreshed = now
            self._db.execute(
                "INSERT INTO journal (key, ok, created, model, value, image, raw_text, usage,"
                " attempts, reasks, latency_s, cost_usd, failure_kind, failure_message, origin)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.key,
                    int(entry.ok),
                    time.time(),
                    entry.model,
                    None if entry.value is None else json.dumps(canonical(entry.value)),
                    entry.image,
                    entry.raw_text,
                    json.dumps(
                        [
                            usage.input_tokens,
                            usage.output_tokens,
                            usage.cached_input_tokens,
                            usage.image_tokens,
                            usage.cache_write_tokens,
                        ]
                    ),
                    entry.attempts,
                    entry.reasks,
                    entry.latency_s,
                    entry.cost_usd,
                    entry.failure_kind,
                    entry.failure_message,
                    entry.origin,
                ),
            )

    def entries(self) -> list[Entry]:
        """Every row, oldest first (for reports and tests)."""
        rows = self._db.execute(
            "SELECT key, ok, model, value, image, raw_text, usage, attempts, reasks, latency_s,"
            " cost_usd, failure_kind, failure_message, origin FROM journal ORDER BY id"
        ).fetchall()
        return [_entry(r) for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
    except sqlite3.DatabaseError as e:
        raise RunError(f"cannot open the cache {path}: {e}") from e
    # isolation_level=None + explicit transactions via the context manager's BEGIN.
    db.isolation_level = "DEFERRED"
    return db


def _entry(row: tuple[Any, ...]) -> Entry:
    usage = Usage(*json.loads(row[6]))
    return Entry(
        key=row[0],
        ok=bool(row[1]),
        model=row[2],
        value=None if row[3] is None else json.loads(row[3]),
        image=row[4],
        raw_text=row[5],
        usage=usage,
        attempts=row[7],
        reasks=row[8],
        latency_s=row[9],
        cost_usd=row[10],
        failure_kind=row[11],
        failure_message=row[12],
        origin=row[13],
    )


def _delete(
    db: sqlite3.Connection,
    table: str,
    time_col: str,
    model_col: str,
    cutoff: float | None,
    model: str | None,
) -> int:
    """Delete the rows of ``table`` no newer than ``cutoff`` whose model matches ``model``."""
    where: list[str] = []
    args: list[str | float] = []
    if cutoff is not None:
        where.append(f"{time_col} <= ?")
        args.append(cutoff)
    if model is not None:
        # a bare pattern names the model (``gpt-4o*``) or a simulated answerer (``oracle*``)
        where.append(f"({model_col} GLOB ? OR {model_col} GLOB ?)")
        args += [model, model if ":" in model else "*:" + model]
    sql = f"DELETE FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
    return db.execute(sql, args).rowcount


def _clear_batches(db: sqlite3.Connection, cutoff: float | None, model: str | None) -> None:
    """The batch records too (``runtime/batchstore.py``), with the same filters: a cleared
    question is asked again, and a batch the provider no longer has stops being followed."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "batches" not in tables:
        return
    _delete(db, "batch_answers", "created", "provider", cutoff, model)
    _delete(db, "batches", "submitted", "provider", cutoff, model)
    # Lines whose batch is gone would point a resumed question at nothing.
    db.execute(
        "DELETE FROM batch_lines WHERE NOT EXISTS (SELECT 1 FROM batches b"
        " WHERE b.provider = batch_lines.provider AND b.batch_id = batch_lines.batch_id)"
    )


@dataclass(frozen=True, slots=True)
class ModelStats:
    answers: int
    failures: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What ``chainlang cache stats`` prints."""

    path: str
    size_bytes: int
    answers: int
    failures: int
    by_model: Mapping[str, ModelStats]


def cache_stats(path: Path | str) -> CacheStats:
    """Counts of journaled answers and failures, overall and per model.

    Raises:
        RunError: the file does not exist or is not a chainlang cache.
    """
    path = Path(path)
    if not path.exists():
        raise RunError(f"no cache at {path}")
    db = _connect(path)
    try:
        rows = db.execute(
            "SELECT model, SUM(ok), SUM(1 - ok), COALESCE(SUM(cost_usd), 0) FROM journal"
            " GROUP BY model ORDER BY model"
        ).fetchall()
    finally:
        db.close()
    by_model = {m: ModelStats(int(a), int(f), float(c)) for m, a, f, c in rows}
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    return CacheStats(
        str(path),
        size,
        sum(s.answers for s in by_model.values()),
        sum(s.failures for s in by_model.values()),
        by_model,
    )


def cache_clear(path: Path | str, older_than: float | None = None, model: str | None = None) -> int:
    """Delete journal rows (and the batch records of the same models and age); returns
    how many journal rows.

    Args:
        path: the cache file.
        older_than: only rows at least this many seconds old.
        model: only rows whose model (``provider:model``) matches this glob, e.g.
            ``"openai:gpt-4o*"``; a pattern without ``:`` matches the model name alone.

    Raises:
        RunError: the file does not exist or is not a chainlang cache.
    """
    path = Path(path)
    if not path.exists():
        raise RunError(f"no cache at {path}")
    cutoff = None if older_than is None else time.time() - older_than
    db = _connect(path)
    try:
        with db:
            n = _delete(db, "journal", "created", "model", cutoff, model)
            _clear_batches(db, cutoff, model)
        db.execute("VACUUM")
    finally:
        db.close()
    return n
