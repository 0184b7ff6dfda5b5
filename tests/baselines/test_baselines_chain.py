"""Specialist + Chain: the oracle clauses evaluated on a specialist's prediction."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from baselines_helpers import (
    CLASSIFY,
    DEPTH,
    NORMALS,
    SCENES,
    Folders,
    answers,
    output_arrays,
    records,
    run_chain,
)

from chainlang.api import load_chain
from chainlang.errors import UsageError
from chainlang.runtime.truth import truth_fields
from chainlang.scoring.score import score_run


@pytest.fixture(scope="module")
def depth_runs(
    manifest: Path, folders: Folders, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The depth chain under each answerer, sharing one journal."""
    root = tmp_path_factory.mktemp("depth_runs")
    models = {
        "oracle": "oracle",
        "random": "random",
        "exact": f"specialist:folder:{folders.exact}",
        "noisy": f"specialist:folder:{folders.noisy}",
        "inverse": f"specialist:folder:{folders.inverse}",
    }
    for name, model in models.items():
        run_chain(DEPTH, manifest, model, root / name)
    return {name: root / name for name in models}


def test_noise_free_specialist_equals_oracle(depth_runs: dict[str, Path]) -> None:
    assert answers(depth_runs["exact"]) == answers(depth_runs["oracle"])
    for got, want in zip(
        output_arrays(depth_runs["exact"]), output_arrays(depth_runs["oracle"]), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_negated_inverse_depth_is_read_as_depth(depth_runs: dict[str, Path]) -> None:
    # a relative model's output (all values negative) must not read as "no data";
    # region means of 1/d and d may order a close pair differently, nothing more
    got, want = answers(depth_runs["inverse"]), answers(depth_runs["oracle"])
    assert len(got) == len(want) and None not in got
    assert np.mean([a == b for a, b in zip(got, want, strict=True)]) > 0.95


def test_noisy_specialist_scores_below_oracle_and_far_above_random(
    depth_runs: dict[str, Path],
) -> None:
    scores = {name: score_run(path, n_boot=0) for name, path in depth_runs.items()}
    rho = {name: s.metrics["spearman"].value for name, s in scores.items()}
    acc = {name: s.metrics["answer_acc"].value for name, s in scores.items()}
    assert rho["noisy"] < rho["oracle"]
    assert rho["noisy"] > rho["random"] + 0.5
    # answer_acc compares with the *real* truth's answers: the paper's pairwise Acc
    assert acc["oracle"] == 1.0 == acc["exact"]
    assert 0.6 < acc["noisy"] < 1.0
    assert acc["random"] < acc["noisy"]
    # n_boot=0 turns every interval off, answer_acc's included
    assert all(np.isnan(s.metrics["answer_acc"].ci_low) for s in scores.values())


def test_specialist_requests_answer_from_the_prediction_not_the_truth(
    depth_runs: dict[str, Path],
) -> None:
    questions = [q for r in records(depth_runs["noisy"]) for q in r["questions"]]
    disagree = [q for q in questions if q["answer"] != q["expected"]]
    assert disagree, "noise should flip some pairs"
    assert all(q["ok"] and q["expected"] is not None for q in questions)


def test_rewritten_predictions_are_not_replayed_from_the_journal(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    preds = tmp_path / "preds"
    shutil.copytree(folders.exact, preds)
    first = run_chain(DEPTH, manifest, f"specialist:folder:{preds}", tmp_path / "a")
    same = run_chain(DEPTH, manifest, f"specialist:folder:{preds}", tmp_path / "b")
    assert same.summary.cache_hits == same.summary.questions  # unchanged: all replayed
    shutil.rmtree(preds)
    shutil.copytree(folders.noisy, preds)
    changed = run_chain(DEPTH, manifest, f"specialist:folder:{preds}", tmp_path / "c")
    assert changed.summary.cache_hits < changed.summary.questions
    assert answers(tmp_path / "c") != answers(tmp_path / "a")
    assert first.summary.items_ok == changed.summary.items_ok == SCENES


def test_specialist_lacking_the_chains_truth_kind_stops_the_run(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    model = f"specialist:folder:{folders.exact}:task=depth"
    with pytest.raises(UsageError, match=r"predicts depth.*truth\.normals.*never falls back"):
        run_chain(NORMALS, manifest, model, tmp_path / "run", params={})


def test_prediction_of_the_wrong_form_fails_each_item(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    # the task is inferred from the chain (normals), but the files hold depth maps
    result = run_chain(
        NORMALS, manifest, f"specialist:folder:{folders.exact}", tmp_path / "run", params={}
    )
    assert result.summary.item_failures == {"specialist": SCENES}
    error = records(tmp_path / "run")[0]["error"]["message"]
    assert re.search(r"normals prediction for item '\w+' is \(120, 160\), not H×W×3", error)


def test_missing_prediction_fails_only_its_item(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    preds = tmp_path / "preds"
    shutil.copytree(folders.noisy, preds)
    gone = sorted(preds.glob("*.npy"))[0]
    gone.unlink()
    result = run_chain(DEPTH, manifest, f"specialist:folder:{preds}", tmp_path / "run")
    assert result.summary.items_ok == SCENES - 1
    failed = [r for r in records(tmp_path / "run") if r["status"] != "ok"]
    assert [r["id"] for r in failed] == [gone.stem]
    assert failed[0]["error"]["kind"] == "specialist"
    assert f"no depth prediction for item {gone.stem!r}" in failed[0]["error"]["message"]


def test_label_specialist_through_items_batched_classification(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    # one request answers all three scenes (batch items): each gets its own prediction
    labels = {"imagenet1k": "synthetic"}
    model = f"specialist:folder:{folders.labels}"
    result = run_chain(CLASSIFY, manifest, model, tmp_path / "run", params={}, labels=labels)
    assert result.summary.questions == 1
    s = score_run(tmp_path / "run", n_boot=0)
    assert s.metrics["top1"].value == pytest.approx((SCENES - 1) / SCENES)


def test_a_label_outside_the_set_fails_as_an_invalid_answer(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    preds = tmp_path / "preds"
    shutil.copytree(folders.labels, preds)
    (sorted(preds.glob("*.json"))[0]).write_text('"not-a-label"')
    labels = {"imagenet1k": "synthetic"}
    model = f"specialist:folder:{preds}"
    run_chain(CLASSIFY, manifest, model, tmp_path / "run", params={}, labels=labels)
    errors = [r["error"] for r in records(tmp_path / "run")]
    assert {e["kind"] for e in errors} == {"invalid_answer"}
    assert "'not-a-label' is not a label of synthetic" in errors[0]["message"].replace('"', "'")


def test_truth_fields_of_the_paper_chains() -> None:
    assert truth_fields(load_chain(DEPTH)) == {"depth"}
    assert truth_fields(load_chain(NORMALS)) == {"normals"}
    assert truth_fields(load_chain(CLASSIFY)) == {"label"}
