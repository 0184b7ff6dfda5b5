"""The run folder across invocations: later records supersede earlier ones, a line cut by a
kill is tolerated, and the summary always describes the latest record of each item."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import CHAINS, results, run_chain

from chainlang.runtime.runfolder import RESULTS_FILE, iter_results
from chainlang.testing.fake_provider import FakeProviderServer

LABEL = CHAINS / "examples" / "label.chain"
MODEL = "openai:gpt-4o"


def _summary(out: Path) -> dict[str, object]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_failed_item_is_rerun_and_superseded(
    sample_manifest: Path, fake_env: FakeProviderServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    fake_env.faults.push("400")  # the first question fails for good (not retryable)
    first = run_chain(LABEL, sample_manifest, MODEL, out, window=1, concurrency=1)
    assert (first.summary.items_ok, first.summary.items_failed) == (2, 1)
    failed = next(k for k, r in results(out).items() if r["status"] == "failed")

    again = run_chain(LABEL, sample_manifest, MODEL, out)
    lines = (out / RESULTS_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4, "the rerun appends one record for the failed item"
    assert len(fake_env.requests) == 4, "only the failed question is asked again"
    latest = list(iter_results(out))
    assert len(latest) == 3 and all(r["status"] == "ok" for r in latest)
    assert latest[-1]["id"] == failed, "records stream in the order they were written"
    assert (again.summary.items, again.summary.items_ok) == (3, 3)
    assert _summary(out)["failures"] == {}, "the superseded failure no longer counts"


def test_line_cut_by_a_kill_is_closed_on_resume(
    sample_manifest: Path, fake_env: FakeProviderServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run_chain(LABEL, sample_manifest, MODEL, out)
    file = out / RESULTS_FILE
    text = file.read_text(encoding="utf-8")
    last = text.splitlines()[-1]
    cut_id = json.loads(last)["id"]
    # What SIGKILL during a write leaves: the last record half written, no newline.
    file.write_text(text[: len(text) - len(last) // 2 - 1], encoding="utf-8")
    assert cut_id not in results(out)

    resumed = run_chain(LABEL, sample_manifest, MODEL, out)
    assert (resumed.summary.items, resumed.summary.items_ok) == (3, 3)
    assert results(out)[cut_id]["status"] == "ok"
    assert resumed.summary.cache_hits == 1, "the cut item's answer comes from the journal"
    assert len(fake_env.requests) == 3
