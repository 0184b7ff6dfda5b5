"""The run folder's lock (one process at a time, released by a killed process) and its
atomic JSON writes (concurrent writers never rename each other's temporary file away)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chainlang.runtime.runfolder import FolderInUse, RunFolder, RunIdentity

IDENTITY = RunIdentity(
    chain="c.chain",
    chain_sha256="0" * 64,
    params={},
    variants={},
    model="oracle",
    samples=1,
    dataset="d.jsonl",
    dataset_sha256="1" * 64,
    ir_version=1,
)

# A child that opens the folder, says so, and waits to be killed.
HOLDER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_runtime_runfolder import IDENTITY
from chainlang.runtime.runfolder import RunFolder
folder = RunFolder.open(Path({out!r}), IDENTITY)  # kept: the lock lives with it
print("locked", flush=True)
time.sleep(120)
"""


def test_second_open_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = RunFolder.open(tmp_path / "run", IDENTITY)
    with pytest.raises(FolderInUse, match=r"in use by another chainlang run .pid \d+ on "):
        RunFolder.open(tmp_path / "run", IDENTITY)
    first.close()
    RunFolder.open(tmp_path / "run", IDENTITY).close()


def test_refused_open_changes_nothing(tmp_path: Path) -> None:
    """``--force-new`` into a folder in use must not clear the other run's files."""
    first = RunFolder.open(tmp_path / "run", IDENTITY)
    first.append_result({"id": "a", "key": "a#0", "status": "ok"})
    with pytest.raises(FolderInUse):
        RunFolder.open(tmp_path / "run", IDENTITY, force_new=True)
    assert (tmp_path / "run" / "results.jsonl").read_text(encoding="utf-8").count("a#0") == 1
    first.close()


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = HOLDER.format(tests=str(Path(__file__).parent), out=str(out))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(FolderInUse, match=f"pid {child.pid} "):
            RunFolder.open(out, IDENTITY)
    finally:
        child.kill()
        child.wait(timeout=30)
    RunFolder.open(out, IDENTITY).close()  # no stale lock after kill -9


def test_concurrent_summary_writes_never_lose_their_temporary_file(tmp_path: Path) -> None:
    folder = RunFolder.open(tmp_path / "run", IDENTITY)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(300):
                folder.write_summary({"writer": n, "i": i})
        except BaseException as e:  # reported below; a thread's exception is lost otherwise
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    folder.close()
    assert errors == []
    assert not list((tmp_path / "run").glob("*.tmp"))
