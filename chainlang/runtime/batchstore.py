"""What a run remembers about its provider batches, in the cache's sqlite file.

A batch is paid for when it is submitted, and it may take hours. So the moment
a provider hands back a batch id, the id and the custom ids of its lines are
committed here; a run killed while it waits finds the batch on resume and polls
it instead of submitting the same lines again. The answers a finished batch
brings back are committed here too (before any question sees them), so an
answer that arrived for a question the resumed run no longer waits for, or
that arrived just before a kill, is never bought twice.

Tables (next to the journal's, in the same file):

* ``batches``: one row per submitted batch: provider key, batch id, custom ids
  in submit order, when it was submitted and when its results were collected;
* ``batch_lines``: custom id → batch id, for the lookup on resume;
* ``batch_answers``: the successful answers by (provider key, custom id).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from chainlang.errors import RunError
from chainlang.providers.base import ModelResponse, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    custom_ids TEXT NOT NULL,
    submitted REAL NOT NULL,
    collected REAL,
    PRIMARY KEY (provider, batch_id)
);
CREATE TABLE IF NOT EXISTS batch_lines (
    provider TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    PRIMARY KEY (provider, custom_id, batch_id)
);
CREATE TABLE IF NOT EXISTS batch_answers (
    provider TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (provider, custom_id)
);
"""


class BatchStore:
    """Submitted batches and their answers, committed as they happen."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise RunError(f"cannot open the batch records in {self.path}: {e}") from e

    def record(self, provider: str, batch_id: str, custom_ids: list[str]) -> None:
        """Commit a just-submitted batch: after this returns, a resumed run will find it."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, NULL)",
                (batch_id, provider, json.dumps(custom_ids), time.time()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO batch_lines VALUES (?, ?, ?)",
                [(provider, cid, batch_id) for cid in custom_ids],
            )

    def open_batch_of(self, provider: str, custom_id: str) -> str | None:
        """The newest uncollected batch holding ``custom_id``, if any."""
        row = self._db.execute(
            "SELECT b.batch_id FROM batch_lines l JOIN batches b"
            " ON b.provider = l.provider AND b.batch_id = l.batch_id"
            " WHERE l.provider = ? AND l.custom_id = ? AND b.collected IS NULL"
            " ORDER BY b.submitted DESC LIMIT 1",
            (provider, custom_id),
        ).fetchone()
        return row[0] if row else None

    def custom_ids(self, provider: str, batch_id: str) -> list[str]:
        """The custom ids of a batch, in submit order."""
        row = self._db.execute(
            "SELECT custom_ids FROM batches WHERE provider = ? AND batch_id = ?",
            (provider, batch_id),
        ).fetchone()
        return json.loads(row[0]) if row else []

    def collected(self, provider: str, batch_id: str, answers: dict[str, ModelResponse]) -> None:
        """Commit a batch's successful answers and mark it collected, in one transaction."""
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO batch_answers VALUES (?, ?, ?, ?)",
                [(provider, cid, _dump(r), now) for cid, r in answers.items()],
            )
            self._db.execute(
                "UPDATE batches SET collected = ? WHERE provider = ? AND batch_id = ?",
                (now, provider, batch_id),
            )

    def answer(self, provider: str, custom_id: str) -> ModelResponse | None:
        """A successful answer a batch already brought back for ``custom_id``."""
        row = self._db.execute(
            "SELECT response FROM batch_answers WHERE provider = ? AND custom_id = ?",
            (provider, custom_id),
        ).fetchone()
        return _load(row[0]) if row else None

    def open_batches(self, provider: str) -> list[str]:
        """Ids of the batches submitted but not yet collected (oldest first)."""
        rows = self._db.execute(
            "SELECT batch_id FROM batches WHERE provider = ? AND collected IS NULL"
            " ORDER BY submitted",
            (provider,),
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def _dump(r: ModelResponse) -> str:
    u = r.usage
    usage = [
        u.input_tokens, u.output_tokens, u.cached_input_tokens, u.image_tokens,
        u.cache_write_tokens,
    ]  # fmt: skip
    return json.dumps(
        {"text": r.text, "parsed": r.parsed, "usage": usage, "finish": r.finish,
         "provider_id": r.provider_id}
    )  # fmt: skip


def _load(blob: str) -> ModelResponse:
    d = json.loads(blob)
    return ModelResponse(
        d["text"], d["parsed"], Usage(*d["usage"]), d["finish"], provider_id=d["provider_id"]
    )
