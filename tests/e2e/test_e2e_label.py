"""The smallest example end to end: ``chains/examples/label.chain`` on the bundled photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import CHAINS, results, run_chain

from chainlang.data.samples import SAMPLES, write_samples
from chainlang.errors import DataError
from chainlang.scoring.score import score_run
from chainlang.testing.fake_provider import FakeProviderServer

LABEL = CHAINS / "examples" / "label.chain"


def test_samples_are_labelled_from_the_example_set(sample_manifest: Path) -> None:
    allowed = set((CHAINS / "examples" / "animals.labels").read_text(encoding="utf-8").split())
    records = [json.loads(x) for x in sample_manifest.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [s.id for s in SAMPLES]
    for r in records:
        assert r["truth"]["label"] in allowed
        assert (sample_manifest.parent / r["image"]).stat().st_size > 0


def test_samples_into_a_file_path_is_a_data_error(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(DataError, match="cannot write the sample photos"):
        write_samples(blocker)


def test_oracle_scores_perfectly(sample_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "oracle"
    result = run_chain(LABEL, sample_manifest, "oracle", out)
    assert result.summary.items_ok == result.summary.questions == len(SAMPLES)
    score = score_run(out, n_boot=0)
    assert score.metrics["top1"].value == 1.0


def test_model_answers_are_scored(
    sample_manifest: Path, tmp_path: Path, fake_env: FakeProviderServer
) -> None:
    out = tmp_path / "model"
    result = run_chain(LABEL, sample_manifest, "openai:gpt-4o", out)
    assert result.summary.items_ok == len(SAMPLES)
    assert len(fake_env.requests) == len(SAMPLES), "one question per image"
    # The fake server answers the first label of the set, "cat": right for the two cat photos.
    assert {r["output"]["value"] for r in results(out).values()} == {"cat"}
    assert score_run(out, n_boot=0).metrics["top1"].value == pytest.approx(2 / 3)
