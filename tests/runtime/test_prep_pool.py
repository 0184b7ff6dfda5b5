"""The preparation pool (``--workers N``): the same run, byte for byte, with the image
work in worker processes and none of it on the run's event loop."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainlang.api import RunOptions, run
from chainlang.data.synthetic import generate
from chainlang.testing.fake_provider import FakeCall, FakeProviderServer

CHAINS = Path(__file__).parents[2] / "chains"
# What differs between two runs of the same chain however they ran: clocks.
TIMING = {"wall_s", "latency_s"}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small synthetic scenes (two workers, one of them gets a second item)."""
    return generate(3, tmp_path_factory.mktemp("scenes"), seed=4, size=(160, 120))


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a fresh fake server per run (its prompt cache must not carry over from one
    run to the next), answering each question from the bytes of its images."""
    started: list[FakeProviderServer] = []

    def start() -> FakeProviderServer:
        srv = FakeProviderServer(answer=_by_images).start()
        started.append(srv)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
        return srv

    yield start
    for srv in started:
        srv.stop()


def _by_images(call: FakeCall) -> Any:
    """An answer picked by the hash of the request's image URLs: different questions get
    different answers, and only identical encodings get identical ones."""
    digest = hashlib.sha256(json.dumps(_urls(call.request.json)).encode()).digest()
    return _fill(call.schema or {}, digest[0])


def _urls(body: Any) -> list[str]:
    if isinstance(body, dict):
        own = [body["url"]] if isinstance(body.get("url"), str) else []
        return own + [u for v in body.values() for u in _urls(v)]
    if isinstance(body, list):
        return [u for v in body for u in _urls(v)]
    return []


def _fill(schema: dict[str, Any], pick: int) -> Any:
    if "enum" in schema:
        return schema["enum"][pick % len(schema["enum"])]
    if schema.get("type") == "object":
        return {k: _fill(v, pick + i) for i, (k, v) in enumerate(schema["properties"].items())}
    if schema.get("type") == "array":
        item = schema.get("items", {})
        enum = item.get("enum")
        if enum:  # an order: every colour once, starting at the picked one
            first = enum[pick % len(enum)]
            return [first, *(e for e in enum if e != first)]
        return [_fill(item, pick)]
    if schema.get("type") == "integer":
        return pick % 3
    if schema.get("type") == "number":
        return float(pick % 5)
    if schema.get("type") == "boolean":
        return pick % 2 == 0
    return "tabby"


def _run(chain: str, data: Path, model: str, out: Path, workers: int, **params: Any) -> Any:
    options = RunOptions(
        workers=workers,
        cache=out.with_suffix(".sqlite"),
        progress="none",
        params=params,
        labels={"coco_stuff133": "synthetic"} if chain == "segment.chain" else {},
    )
    return run(CHAINS / chain, data, model, out=out, options=options)


def _folder(out: Path) -> dict[str, Any]:
    """Everything a run folder holds, clocks left out: records by key, files by name.

    Records and an item's questions are written in the order they finish, which
    depends on answer latency in the serial path too; they are compared by key.
    """
    records = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        r.pop("wall_s")
        for q in r["questions"]:
            q.pop("latency_s")
        r["questions"].sort(key=lambda q: (q["origin"], q["key"]))
        records[r["key"]] = r
    files = {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.parent != out  # outputs/ and images/: arrays and pictures
    }
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("wall_s")
    return {"records": records, "files": files, "summary": summary}


@pytest.mark.parametrize(
    ("chain", "params"),
    [("depth.chain", {"segments": 24, "pairs": 12}), ("segment.chain", {"segments": 24})],
)
def test_pool_gives_the_serial_run_folder_with_the_oracle(
    chain: str, params: dict[str, Any], scenes: Path, tmp_path: Path
) -> None:
    serial = _run(chain, scenes, "oracle", tmp_path / "serial", 1, **params)
    pooled = _run(chain, scenes, "oracle", tmp_path / "pooled", 2, **params)
    assert serial.summary.items_ok == 3
    assert _folder(tmp_path / "pooled") == _folder(tmp_path / "serial")
    assert pooled.summary.questions == serial.summary.questions > 0


def test_pool_sends_the_serial_requests_through_a_real_adapter(
    scenes: Path, tmp_path: Path, servers: Any
) -> None:
    """Images drawn and JPEG-encoded in the workers reach the wire as the serial path
    sends them: the same request bodies, so the same answers and run folder."""
    serial_server = servers()
    _run("depth.chain", scenes, "openai:gpt-4o", tmp_path / "serial", 1, segments=24, pairs=12)
    pooled_server = servers()
    _run("depth.chain", scenes, "openai:gpt-4o", tmp_path / "pooled", 2, segments=24, pairs=12)
    sent_serial = sorted(r.body for r in serial_server.requests)
    assert sorted(r.body for r in pooled_server.requests) == sent_serial
    assert sent_serial
    assert _folder(tmp_path / "pooled") == _folder(tmp_path / "serial")


def test_pool_does_no_image_work_in_the_run_process(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With workers, the run's process (its event loop) never computes superpixels or
    draws markers: they are refused here, and the run still finishes every item."""
    from chainlang.vision import ops

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("image work on the run's event loop")

    monkeypatch.setattr(ops, "superpixels", refuse)  # what the chain's calls resolve to
    monkeypatch.setattr(ops, "mark", refuse)
    pooled = _run("depth.chain", scenes, "oracle", tmp_path / "pooled", 2, segments=24, pairs=12)
    assert pooled.summary.items_ok == 3


def test_pool_size_follows_the_request_and_the_work_left() -> None:
    from chainlang.runtime.prep_pool import AUTO_MIN_UNITS, default_workers, pool_size

    assert pool_size(None, AUTO_MIN_UNITS - 1) == 1  # a small run: no workers to start
    assert pool_size(None, AUTO_MIN_UNITS) == default_workers()
    assert pool_size(4, 2) == 2  # never more workers than units
    assert pool_size(4, 1) == 1
    assert pool_size(4, AUTO_MIN_UNITS) == 4


def test_runs_sharing_a_scheduler_share_one_pool(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep's cells run at once through one scheduler: they share one pool of workers
    instead of each starting its own on the same cores."""
    import asyncio

    from chainlang.api import arun
    from chainlang.runtime import prep_pool
    from chainlang.runtime.session import make_scheduler, parse_model

    started: list[int] = []
    spawn = prep_pool.PrepPool._spawn

    def counted(self: prep_pool.PrepPool) -> Any:
        started.append(self.size)
        return spawn(self)

    monkeypatch.setattr(prep_pool.PrepPool, "_spawn", counted)
    options = RunOptions(workers=2, cache=tmp_path / "c.sqlite", progress="none",
                         params={"segments": 24, "pairs": 12})  # fmt: skip

    async def both() -> list[Any]:
        scheduler = make_scheduler([parse_model("oracle"), parse_model("random")], options)
        try:
            return await asyncio.gather(
                *(
                    arun(
                        CHAINS / "depth.chain",
                        scenes,
                        model,
                        out=tmp_path / model,
                        options=options,
                        scheduler=scheduler,
                    )
                    for model in ("oracle", "random")
                )
            )
        finally:
            await scheduler.aclose()

    results = asyncio.run(both())
    assert [r.summary.items_ok for r in results] == [3, 3]
    assert started == [2]
    assert not prep_pool._SHARED  # closed with its last run


def test_a_worker_imports_no_provider_sdk() -> None:
    """Workers are forked from the launcher: it loads the interpreter and the vision
    stack, not the SDKs, the journal or the run folder (it starts faster, and every
    worker holds less)."""
    import subprocess
    import sys

    code = (
        "import sys, importlib, chainlang.runtime.prep_launch as L\n"
        "[importlib.import_module(m) for m in L.PRELOAD]\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('openai', 'anthropic', 'google', 'httpx', 'sqlite3', 'ray', 'torch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_messages_of_one_loop_turn_travel_as_one() -> None:
    """A worker's asks of one turn of its loop reach the run as one message, in order;
    a message sent directly goes after them (nothing posted is overtaken)."""
    import asyncio
    import socket
    from multiprocessing.connection import Connection

    from chainlang.runtime.prep_worker import _Worker

    ours, theirs = socket.socketpair()
    sent, received = Connection(ours.detach()), Connection(theirs.detach())

    async def turn() -> None:
        worker = _Worker(sent)
        worker._loop = asyncio.get_running_loop()
        worker._post(("ask", 0, "a"))
        worker._post(("ask", 1, "b"))
        await asyncio.sleep(0)  # the end of the turn: one message goes
        worker._post(("cancel", 0))
        worker._send(("item", 7, 0, None))  # flushes what was posted first

    asyncio.run(turn())
    assert received.recv() == ("batch", [("ask", 0, "a"), ("ask", 1, "b")])
    assert received.recv() == ("batch", [("cancel", 0)])
    assert received.recv() == ("item", 7, 0, None)
    sent.close()
    received.close()


# ------------------------------------------------------------------ launcher and wire


def _pool_processes() -> list[int]:
    """Live launcher and worker processes (the suite runs one test at a time, so any
    that exist are this test's)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"chainlang.runtime.prep_launch" in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def _canonical(value: Any) -> Any:
    """A value as comparable plain data: objects by class and attributes, sets sorted
    (their order after unpickling depends on insertion history), arrays by bytes."""
    import dataclasses

    import numpy as np

    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(repr(_canonical(v)) for v in value))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_canonical(v) for v in value])
    if isinstance(value, dict) or type(value).__name__ == "mappingproxy":
        return ("dict", {repr(k): _canonical(v) for k, v in value.items()})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value)]
        return (type(value).__qualname__, [_canonical(getattr(value, n)) for n in names])
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return (type(value).__qualname__, _canonical(vars(value)))
    return value


def test_wire_round_trips_every_message_of_a_run_without_dataclass_fields(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every message of a pooled run (requests with image stand-ins, outcomes, item
    results, jobs) comes back from the fast pickles as the standard pickles have it,
    and once a class is known no ``dataclasses.fields()`` call is made per object."""

    from chainlang.runtime import poolwire

    seen: list[Any] = []
    loads, dumps = poolwire.loads, poolwire.dumps

    def recording_loads(data: bytes) -> Any:
        seen.append(loads(data))
        return seen[-1]

    def recording_dumps(msg: Any) -> bytes:
        seen.append(msg)
        return dumps(msg)

    monkeypatch.setattr(poolwire, "loads", recording_loads)
    monkeypatch.setattr(poolwire, "dumps", recording_dumps)
    _run("segment.chain", scenes, "oracle", tmp_path / "pooled", 2, segments=24)
    kinds = {m[0] if m[0] != "batch" else m[1][0][0] for m in seen}
    assert {"ask", "outcome", "item", "job", "unit"} <= kinds
    for msg in seen:
        assert _canonical(loads(dumps(msg))) == _canonical(msg)
    import dataclasses

    calls = []
    real_fields = dataclasses.fields
    monkeypatch.setattr(dataclasses, "fields", lambda c: calls.append(c) or real_fields(c))
    for msg in seen:
        dumps(msg)
    assert calls == []


def test_a_killed_worker_stops_the_run_and_the_rerun_repays_only_what_was_in_flight(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import threading
    import time

    from chainlang.errors import RunError
    from chainlang.runtime import prep_pool

    srv = FakeProviderServer(answer=_by_images, latency=0.05).start()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    options = RunOptions(workers=2, cache=tmp_path / "c.sqlite", progress="none",
                         concurrency=4, params={"segments": 24, "pairs": 12})  # fmt: skip
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(srv.requests) < 6:
            time.sleep(0.01)
        for entry in list(prep_pool._SHARED.values()):
            pid = entry.pool._workers[0].process.pid
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    try:
        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        with pytest.raises(RunError, match=r"preparation worker 0 stopped \(exit code -9\)"):
            run(CHAINS / "depth.chain", scenes, "openai:gpt-4o", out=tmp_path / "run",
                options=options)  # fmt: skip
        killer.join()
        assert killed
        first = [r.body for r in srv.requests]
        resumed = run(CHAINS / "depth.chain", scenes, "openai:gpt-4o", out=tmp_path / "run",
                      options=options)  # fmt: skip
        again = [r.body for r in srv.requests[len(first) :]]
    finally:
        srv.stop()
    assert resumed.summary.items_ok == 3
    # answered before the kill: from the journal; asked again: at most those in flight
    assert len(set(first) & set(again)) <= options.concurrency
    assert len(set(first) | set(again)) == len(first) + len(again) - len(set(first) & set(again))
    assert not _pool_processes()


def test_no_pool_process_outlives_its_run_or_a_chain_that_does_not_compile(
    scenes: Path, tmp_path: Path
) -> None:
    from chainlang.errors import ChainlangError

    _run("depth.chain", scenes, "oracle", tmp_path / "ok", 2, segments=24, pairs=12)
    assert not _pool_processes()
    bad = tmp_path / "bad.chain"
    bad.write_text('chain bad "x" {\n  output nothing\n', encoding="utf-8")
    options = RunOptions(workers=2, cache=tmp_path / "c.sqlite", progress="none")
    # the launcher starts before the chain compiles: it must go with the error
    with pytest.raises(ChainlangError, match=r"bad\.chain:\d+:\d+"):
        run(bad, scenes, "oracle", out=tmp_path / "bad", options=options)
    assert not _pool_processes()


def test_a_run_too_small_for_workers_starts_no_launcher(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainlang.runtime import prep_pool

    def refuse(self: Any) -> None:
        raise AssertionError("a launcher for a run that stays in its process")

    monkeypatch.setattr(prep_pool.Launcher, "__init__", refuse)
    options = RunOptions(workers=None, cache=tmp_path / "c.sqlite", progress="none",
                         params={"segments": 24, "pairs": 12})  # fmt: skip
    result = run(CHAINS / "depth.chain", scenes, "oracle", out=tmp_path / "small",
                 options=options)  # fmt: skip
    assert result.summary.items_ok == 3
