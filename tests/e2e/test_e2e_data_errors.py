"""Broken data fails only its own item, with a message naming the item and the file;
the other items finish and ``score`` reports the coverage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import CHAINS, results, run_chain

from chainlang.cli.app import main
from chainlang.scoring.score import score_run
from chainlang.testing.fake_provider import FakeProviderServer

PARAMS = {"pairs": "16", "segments": "30"}
GOOD = ("scene_00000", "scene_00001")


def _broken_dataset(syn_manifest: Path, root: Path) -> tuple[Path, dict[str, Path]]:
    """Two good scenes plus a corrupt image, a zero-byte image and a missing depth file."""
    base = syn_manifest.parent
    records = [json.loads(line) for line in syn_manifest.read_text(encoding="utf-8").splitlines()]
    for r in records:  # absolute paths, so the manifest can live elsewhere
        r["image"] = str(base / r["image"])
        r["truth"] = {k: (str(base / v) if isinstance(v, str) and "/" in v else v)
                      for k, v in r["truth"].items()}  # fmt: skip
    bad = {
        "corrupt": root / "corrupt.png",
        "empty": root / "empty.png",
        "no_depth": root / "depth" / "missing.npy",
    }
    bad["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short by a failed copy")
    bad["empty"].write_bytes(b"")
    template = records[0]
    no_depth = {**template["truth"], "depth": str(bad["no_depth"])}
    extra = [
        {**template, "id": "corrupt", "image": str(bad["corrupt"])},
        {**template, "id": "empty", "image": str(bad["empty"])},
        {**template, "id": "no_depth", "truth": no_depth},
    ]
    manifest = root / "manifest.jsonl"
    # the scenes' typed truth fields (count, centres, ...) are declared in their dataset.json
    (root / "dataset.json").write_bytes((base / "dataset.json").read_bytes())
    lines = [json.dumps(r) for r in [*records, *extra]]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, bad


def _error(records: dict[str, Any], item: str) -> dict[str, str]:
    assert records[item]["status"] == "failed", records[item]
    assert "output" not in records[item]
    return records[item]["error"]


# score_run stops with ScoringError at the first item whose truth cannot be read, even one
# that already failed in the run (chainlang/scoring/score.py, _samples), so a dataset with
# one broken file cannot be scored at all; the broken items should count in the coverage.


def _oracle_run(syn_manifest: Path, tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    manifest, bad = _broken_dataset(syn_manifest, tmp_path)
    out = tmp_path / "run"
    # The oracle reads the truth during the run, so the missing depth file shows up here.
    run_chain(CHAINS / "depth.chain", manifest, "oracle", out, PARAMS)
    return out, bad


def test_bad_items_fail_alone_with_named_files(syn_manifest: Path, tmp_path: Path) -> None:
    out, bad = _oracle_run(syn_manifest, tmp_path)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))

    assert (summary["items"], summary["items_ok"], summary["items_failed"]) == (5, 2, 3)
    records = results(out)
    assert all(records[g]["status"] == "ok" for g in GOOD)

    corrupt = _error(records, "corrupt")
    assert corrupt["kind"] == "data"
    assert "'corrupt'" in corrupt["message"] and str(bad["corrupt"]) in corrupt["message"]
    empty = _error(records, "empty")
    assert empty["kind"] == "data"
    assert "'empty'" in empty["message"] and str(bad["empty"]) in empty["message"]
    assert "0 bytes" in empty["message"]
    missing = _error(records, "no_depth")
    assert "'no_depth'" in missing["message"] and str(bad["no_depth"]) in missing["message"]
    assert "not found" in missing["message"]
    # The failure comes from the ask's oracle clause, so it points into the chain too.
    assert missing["origin"].startswith(f"{CHAINS / 'depth.chain'}:")


def test_score_counts_broken_items_in_coverage(syn_manifest: Path, tmp_path: Path) -> None:
    out, _ = _oracle_run(syn_manifest, tmp_path)
    coverage = score_run(out, n_boot=0).coverage
    assert (coverage.items, coverage.items_failed, coverage.items_scored) == (5, 3, 2)


def _model_run(syn_manifest: Path, tmp_path: Path, fake: FakeProviderServer) -> Path:
    """A real model never reads truth: only the two broken images fail during the run."""
    manifest, _ = _broken_dataset(syn_manifest, tmp_path)
    out = tmp_path / "run"
    summary = run_chain(CHAINS / "depth.chain", manifest, "openai:gpt-4o", out, PARAMS).summary
    assert (summary.items, summary.items_ok) == (5, 3)
    assert summary.item_failures == {"data": 2}
    # "no_depth" shows scene_00000's picture, so its questions are scene_00000's: each is
    # paid once (shared while in flight, or served from the journal).
    assert len(fake.requests) == 2 * 16, "broken images never reach the provider"
    return out


def test_broken_images_never_reach_the_model(
    syn_manifest: Path, tmp_path: Path, fake_env: FakeProviderServer
) -> None:
    out = _model_run(syn_manifest, tmp_path, fake_env)
    assert results(out)["no_depth"]["status"] == "ok", "truth is not read for a real model"


def test_score_reports_coverage_after_model_run(
    syn_manifest: Path, tmp_path: Path, fake_env: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = _model_run(syn_manifest, tmp_path, fake_env)
    code = main(["score", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    [doc] = json.loads(captured.out)
    assert doc["coverage"]["items"] == 5
    assert doc["coverage"]["items_failed"] >= 2
