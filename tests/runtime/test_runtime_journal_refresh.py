"""Recording an answer refreshes the journal's claims now and then, not with every answer.

Each claim is a row; rewriting every claim in flight with every answer made an
answer's commit cost grow with the questions in flight (the scheduler benchmark's
largest overhead at concurrency 64).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from chainlang.providers.base import Usage
from chainlang.runtime import cache
from chainlang.runtime.cache import CLAIM_REFRESHES_PER_LEASE, Entry, Journal

ENTRY = Entry("k", True, "openai:gpt-4o", "red", None, '"red"', Usage(15, 4), 1, 0, 0.05,
              0.0001, None, None)  # fmt: skip


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The journal's wall clock, moved by hand."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(cache, "time", SimpleNamespace(time=lambda: fake.now))
    return fake


def _refreshed(journal: Journal) -> dict[str, float]:
    rows = journal._db.execute("SELECT key, refreshed FROM claims").fetchall()
    return dict(rows)


def test_answers_do_not_rewrite_every_claim_in_flight(
    tmp_path: Path, clock: SimpleNamespace
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    for i in range(64):
        assert journal.claim(f"q{i}") == "mine"
    before = journal._db.total_changes
    for i in range(10):
        clock.now += 0.01
        journal.record(replace(ENTRY, key=f"q{i}"))
    # each answer: its row and its own claim released; the 54 other claims once at most
    assert journal._db.total_changes - before <= 10 * 2 + 64
    journal.close()


def test_claims_are_still_refreshed_within_the_lease(
    tmp_path: Path, clock: SimpleNamespace
) -> None:
    journal = Journal(tmp_path / "j.sqlite", claim_lease_s=100.0)
    journal.claim("waiting")
    journal.claim("a")
    journal.record(replace(ENTRY, key="a"))
    first = _refreshed(journal)["waiting"]
    clock.now += 100.0 / CLAIM_REFRESHES_PER_LEASE  # a refresh is due
    journal.claim("b")
    journal.record(replace(ENTRY, key="b"))
    assert _refreshed(journal)["waiting"] == clock.now > first
    other = Journal(tmp_path / "j.sqlite", claim_lease_s=100.0)
    clock.now += 99.0  # within the lease of the last refresh: still live
    assert other.claim("waiting") == "taken"
    journal.close()
    other.close()
