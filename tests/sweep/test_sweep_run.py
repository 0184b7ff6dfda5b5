"""Running a sweep: folders, shared journal, resume after a kill, comparisons, variance."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainlang.api import RunOptions
from chainlang.errors import RunError, UsageError
from chainlang.experiments.sweep import (
    cells,
    compare_cells,
    format_comparisons,
    format_sweep_table,
    run_sweep,
    sweep_rows,
    variance_by_model,
)

CHAIN = Path(__file__).parent / "chains" / "spot.chain"
N_SCENES = 4  # as in conftest.py (checked by test_world_constants)
QUESTIONS_PER_ITEM = 6

_SCRIPT = """
import asyncio, sys
from pathlib import Path
from chainlang.api import RunOptions
from chainlang.experiments.sweep import experiment_from_args, run_sweep
chain, data, root = sys.argv[1:4]
exp = experiment_from_args(chain, data, ["oracle:flip=0.1", "oracle:flip=0.7"],
    options=RunOptions(cache=Path(root) / "cache.sqlite", rpm=600, concurrency=1, window=1))
asyncio.run(run_sweep(exp, Path(root) / "out"))
"""


def test_world_constants(world: dict[str, object]) -> None:
    assert world == {"chain": CHAIN, "scenes": N_SCENES, "questions": QUESTIONS_PER_ITEM}


def _journal(path: Path) -> list[tuple[str, int]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT key, ok FROM journal ORDER BY id").fetchall()
    finally:
        db.close()


def _wait_for_rows(cache: Path, n: int, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if cache.exists():
            try:
                rows = len(_journal(cache))
            except sqlite3.OperationalError:  # table not created yet
                rows = 0
            if rows >= n:
                return rows
        time.sleep(0.02)
    raise AssertionError(f"the sweep did not journal {n} questions while running")


@pytest.mark.slow
async def test_killed_sweep_resumes_without_asking_again(tmp_path: Path, scenes: Path) -> None:
    total = 2 * N_SCENES * QUESTIONS_PER_ITEM
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(CHAIN), str(scenes), str(tmp_path)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_rows(tmp_path / "cache.sqlite", 8, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = _journal(tmp_path / "cache.sqlite")
    assert 8 <= len(before) < total, "the kill must land mid-way"

    from chainlang.experiments.sweep import experiment_from_args

    exp = experiment_from_args(
        CHAIN,
        scenes,
        ["oracle:flip=0.1", "oracle:flip=0.7"],
        options=RunOptions(cache=tmp_path / "cache.sqlite"),
    )
    result = await run_sweep(exp, tmp_path / "out")
    after = _journal(tmp_path / "cache.sqlite")
    keys = [k for k, ok in after if ok]
    # Every question was asked exactly once over both runs: first + new == total.
    assert len(keys) == len(set(keys)) == total
    new = len(after) - len(before)
    assert len(before) + new == total
    answered = sum(r.summary.questions for r in result.cells)
    assert answered == total
    assert all(r.summary.items_ok == N_SCENES for r in result.cells)
    # A third run is served entirely from the cache and folders: nothing new journaled.
    await run_sweep(exp, tmp_path / "out")
    assert len(_journal(tmp_path / "cache.sqlite")) == total


async def test_sweep_folder_lists_cells_and_shares_the_journal(make_experiment, tmp_path) -> None:
    exp = make_experiment(variants=["name=terse,careful"])
    result = await run_sweep(exp, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [c["name"] for c in doc["cells"]] == [c.name for c in cells(exp)]
    for cell in result.cells:
        run = json.loads((cell.out / "run.json").read_text())
        assert run["model"] == cell.cell.model
        assert run["variants"]["name"] == cell.cell.variants["name"]
    keys = [k for k, ok in _journal(tmp_path / "cache.sqlite") if ok]
    assert len(keys) == 4 * N_SCENES * QUESTIONS_PER_ITEM == len(set(keys))


async def test_sweep_folder_of_another_chain_is_refused(make_experiment, tmp_path) -> None:
    await run_sweep(make_experiment(), tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    doc["chain"] = "other.chain"
    (tmp_path / "out" / "sweep.json").write_text(json.dumps(doc))
    with pytest.raises(RunError, match="another chain"):
        await run_sweep(make_experiment(), tmp_path / "out")


def test_comparisons_find_the_known_difference(finished_sweep: Path) -> None:
    comps = compare_cells(finished_sweep, baseline="oracle-flip=0.1__name-terse")
    assert len(comps) == 3 and all(c.result.q_value is not None for c in comps)
    by_b = {c.b: c.result for c in comps}
    # flip=0.7 answers wrong seven times in ten, flip=0.1 once in ten: B − A is negative
    # (z ≈ 3) whatever the machine-dependent image bytes seed the flips with.
    worse = by_b["oracle-flip=0.7__name-terse"]
    assert worse.diff < 0 and worse.n_images == N_SCENES
    assert worse.ci_low <= worse.diff <= worse.ci_high
    table = format_comparisons(comps)
    assert "oracle-flip=0.7__name-careful" in table and "top1" in table
    with pytest.raises(UsageError, match="not a cell"):
        compare_cells(finished_sweep, baseline="nope")


def test_all_pairs_and_table(finished_sweep: Path) -> None:
    assert len(compare_cells(finished_sweep)) == 6
    rows = sweep_rows(finished_sweep)
    assert [r.items_ok for r in rows] == [2 * N_SCENES] * 4
    assert all(r.metric == "top1" and r.value is not None for r in rows)
    text = format_sweep_table(rows)
    assert all(r.cell.name in text for r in rows)


def test_variance_decomposition_per_model(finished_sweep: Path) -> None:
    parts = variance_by_model(finished_sweep, n_boot=200)
    assert set(parts) == {"oracle:flip=0.1", "oracle:flip=0.7"}
    d = parts["oracle:flip=0.7"]
    assert (d.n_images, d.n_variants, d.n_repeats) == (N_SCENES, 2, 2)
    finite = [v for v in d.shares.values() if v == v]
    assert finite and abs(sum(finite) - 1.0) < 1e-9
