"""``--max-cost`` through the command line with the real OpenAI SDK against the fake server:
a cap too small for the run stops it for budget (exit 5, the rerun named, no item passed
off as ok), and the rerun with a higher cap finishes it with the run's true cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import CHAINS

from chainlang.cli.app import main
from chainlang.cli.support import EXIT_BUDGET, EXIT_OK
from chainlang.runtime.cache import Journal
from chainlang.runtime.runfolder import read_results


def _run(data: Path, out: Path, cache: Path, max_cost: float) -> int:
    args = ["run", str(CHAINS / "depth.chain"), "--data", str(data), "--model", "openai:gpt-4o"]
    args += ["--out", str(out), "--cache", str(cache), "--progress", "none"]
    args += ["-p", "pairs=6", "-p", "segments=12", "--concurrency", "64", "--max-tokens", "100"]
    return main([*args, "--max-cost", str(max_cost)])


def test_a_run_out_of_money_stops_for_budget_and_resumes_at_its_true_cost(
    syn_manifest: Path, tmp_path: Path, fake_env, capsys: pytest.CaptureFixture[str]
) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    assert _run(syn_manifest, out, cache, 0.004) == EXIT_BUDGET
    err = capsys.readouterr().err
    assert "stopped for budget" in err and "higher --max-cost" in err and str(out) in err
    first = json.loads((out / "summary.json").read_text())
    assert first["stopped"].startswith("budget")
    assert 0 < first["paid_now_usd"] <= 0.004 + 1e-9
    for record in read_results(out):  # an item the money did not reach is not ok
        budget_failed = any(q["failure"] == "budget" for q in record["questions"])
        assert not (budget_failed and record["status"] == "ok")

    assert _run(syn_manifest, out, cache, 5.0) == EXIT_OK
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] is None and summary["items_ok"] == summary["items"] == 2
    journal = Journal(cache)
    paid = {e.key: e.cost_usd for e in journal.entries() if e.ok}
    journal.close()
    questions = {q["key"] for r in read_results(out) for q in r["questions"]}
    # The run's cost is what its answers cost when paid, whichever invocation paid them.
    assert summary["cost_usd"] == pytest.approx(sum(paid[k] for k in questions), rel=1e-4)
    assert 0 < summary["paid_now_usd"] < summary["cost_usd"]
