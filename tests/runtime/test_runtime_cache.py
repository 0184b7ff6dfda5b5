"""Cache keys, the journal, commit-before-use under SIGKILL, stats and clearing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_helpers import GPT4O, ScriptedProvider, make_request, reply

from chainlang.errors import RunError
from chainlang.image import ImageData
from chainlang.language.types import BoolT, EnumT
from chainlang.providers.base import ImagePart, Message, ModelRef, Params, TextPart, Usage
from chainlang.runtime.cache import (
    Entry,
    Journal,
    cache_clear,
    cache_stats,
    request_key,
)
from chainlang.runtime.clock import run_virtual
from chainlang.runtime.scheduler import Scheduler

HERE = Path(__file__).parent
ROOT = HERE.parent.parent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-100, 100) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def _permuted(d):
    """The same mapping with its keys inserted in reverse order, recursively."""
    if isinstance(d, dict):
        return {k: _permuted(d[k]) for k in reversed(list(d))}
    if isinstance(d, list):
        return [_permuted(v) for v in d]
    return d


@settings(max_examples=60, deadline=None)
@given(schema=st.dictionaries(st.text(max_size=6), json_values, max_size=6), oracle=json_values)
def test_key_is_stable_under_dict_key_order(schema, oracle):
    base = make_request(model=ModelRef("oracle", ""), oracle=oracle)
    a = replace(base, schema=schema, oracle=oracle)
    b = replace(base, schema=_permuted(schema), oracle=_permuted(oracle))
    assert request_key(a, "v1") == request_key(b, "v1")


IMAGE_A = ImageData.of(np.zeros((4, 4, 3), np.uint8))
IMAGE_B = ImageData.of(np.ones((4, 4, 3), np.uint8))
BASE = replace(
    make_request(),
    messages=(Message("user", (TextPart("which is nearer?"), ImagePart(IMAGE_A))),),
)

CHANGES = {
    "salt": lambda r: (r, "v2"),
    "provider": lambda r: (replace(r, model=ModelRef("anthropic", "gpt-4o")), "v1"),
    "model": lambda r: (replace(r, model=ModelRef("openai", "gpt-4.1")), "v1"),
    "base_url": lambda r: (replace(r, model=replace(r.model, base_url="http://x")), "v1"),
    "api": lambda r: (replace(r, model=replace(r.model, api="responses")), "v1"),
    "text": lambda r: (
        replace(
            r, messages=(Message("user", (TextPart("which is farther?"), ImagePart(IMAGE_A))),)
        ),
        "v1",
    ),
    "image": lambda r: (
        replace(r, messages=(Message("user", (TextPart("which is nearer?"), ImagePart(IMAGE_B))),)),
        "v1",
    ),
    "detail": lambda r: (
        replace(
            r,
            messages=(Message("user", (TextPart("which is nearer?"), ImagePart(IMAGE_A, "low"))),),
        ),
        "v1",
    ),
    "role": lambda r: (replace(r, messages=(Message("system", r.messages[0].parts),)), "v1"),
    "schema": lambda r: (replace(r, schema={"type": "string"}), "v1"),
    "answer_type": lambda r: (replace(r, answer_type=BoolT()), "v1"),
    "enum_values": lambda r: (replace(r, answer_type=EnumT(values=("red", "green"))), "v1"),
    "temperature": lambda r: (replace(r, params=replace(r.params, temperature=1.0)), "v1"),
    "max_tokens": lambda r: (replace(r, params=replace(r.params, max_tokens=7)), "v1"),
    "seed": lambda r: (replace(r, params=replace(r.params, seed=3)), "v1"),
    "effort": lambda r: (replace(r, params=replace(r.params, reasoning_effort="low")), "v1"),
    "extra": lambda r: (replace(r, params=replace(r.params, extra=(("top_p", 0.5),))), "v1"),
    "sample_index": lambda r: (replace(r, sample_index=1), "v1"),
}


@settings(max_examples=60, deadline=None)
@given(changes=st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=4, unique=True))
def test_key_changes_when_any_semantic_field_changes(changes):
    request, salt = BASE, "v1"
    for name in changes:
        request, new_salt = CHANGES[name](request)
        salt = new_salt if new_salt != "v1" else salt
    assert request_key(request, salt) != request_key(BASE, "v1")


def test_oracle_value_is_in_the_key_only_for_the_oracle():
    real = make_request()
    assert request_key(replace(real, oracle="red")) == request_key(replace(real, oracle="blue"))
    sim = make_request(model=ModelRef("oracle", ""))
    assert request_key(replace(sim, oracle="red")) != request_key(replace(sim, oracle="blue"))
    flip = make_request(model=ModelRef("oracle", "", options=(("flip", "0.3"),)))
    assert request_key(replace(flip, oracle="red")) != request_key(replace(sim, oracle="red"))


def test_sample_index_gives_distinct_entries(journal_path):
    provider = ScriptedProvider([lambda r: reply('"red"' if len(provider.calls) % 2 else '"blue"')])

    async def main():
        journal = Journal(journal_path)
        sched = Scheduler({GPT4O: provider}, cache=journal)
        outs = [await sched.ask(make_request(sample_index=k)) for k in range(4)]
        again = [await sched.ask(make_request(sample_index=k)) for k in range(4)]
        return outs, again, journal.entries()

    outs, again, rows = run_virtual(main())
    assert len({o.request_key for o in outs}) == 4 and len(rows) == 4
    assert len(provider.calls) == 4 and all(o.cached for o in again)
    assert [o.value for o in outs] == [o.value for o in again]
    assert {o.value for o in outs} == {"red", "blue"}  # variance is not hidden


def test_journal_round_trip_and_failures_not_served(journal_path):
    journal = Journal(journal_path)
    fail = Entry(
        "k",
        False,
        "openai:gpt-4o",
        None,
        None,
        None,
        Usage(5, 0),
        1,
        0,
        0.1,
        0.0,
        "server",
        "HTTP 500",
    )
    journal.record(fail)
    assert journal.lookup("k") is None
    good = replace(fail, ok=True, value={"a": [1, 2]}, failure_kind=None, failure_message=None)
    journal.record(good)
    assert journal.lookup("k").value == {"a": [1, 2]}
    assert [e.ok for e in journal.entries()] == [False, True]
    journal.close()


def test_kill_mid_run_loses_nothing_that_was_used(tmp_path):
    cache = tmp_path / "cache.sqlite"
    n = 400
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "runtime_journal_worker.py"), str(cache), str(n)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line.strip())
        if len(seen) == 60:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    journal = Journal(cache)
    journaled = {e.key for e in journal.entries() if e.ok}
    assert set(seen) <= journaled  # every answer that was used had been committed
    assert len(journaled) < n  # the kill really happened mid-run

    provider = ScriptedProvider([reply('"red"')])

    async def rerun():
        sched = Scheduler({GPT4O: provider}, cache=journal)
        return await asyncio.gather(*(sched.ask(make_request(f"q{i}")) for i in range(n)))

    outs = run_virtual(rerun())
    assert all(o.ok for o in outs)
    assert len(provider.calls) == n - len(journaled)  # pays only for what was not journaled
    journal.close()


def test_stats_and_clear(journal_path):
    journal = Journal(journal_path)
    base = Entry(
        "k1", True, "openai:gpt-4o", "red", None, '"red"', Usage(1, 1), 1, 0, 0.1, 0.5, None, None
    )
    journal.record(base)
    journal.record(replace(base, key="k2", model="anthropic:claude-sonnet-4-5", cost_usd=0.25))
    journal.record(replace(base, key="k3", ok=False, failure_kind="server", cost_usd=0.0))
    journal.close()
    stats = cache_stats(journal_path)
    assert (stats.answers, stats.failures) == (2, 1)
    assert stats.by_model["openai:gpt-4o"].cost_usd == pytest.approx(0.5)
    assert stats.size_bytes > 0
    assert cache_clear(journal_path, model="claude-*") == 1
    assert cache_clear(journal_path, older_than=3600) == 0
    assert cache_clear(journal_path) == 2
    assert cache_stats(journal_path).answers == 0


def test_missing_cache_is_a_clear_error(tmp_path):
    with pytest.raises(RunError, match="no cache at"):
        cache_stats(tmp_path / "nope.sqlite")


def test_corrupt_cache_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunError, match="cannot open the cache"):
        Journal(bad)


def test_params_default_is_in_key():
    assert request_key(replace(make_request(), params=Params())) != request_key(make_request())
