"""``check --model``, ``plan`` and ``run`` refuse a chain whose requests break a provider's
documented limits, name the limit at ``file:line:col``, and pay nothing (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlang.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
SEGMENT = str(ROOT / "chains" / "segment.chain")
# a vLLM server started with --limit-mm-per-prompt image=2: one region (full image, tight
# crop and context crop) is already 3 images, so no split can make the request fit
TWO_IMAGES = "openai-compat:qwen-vl:max_images=2@http://127.0.0.1:9/v1"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    assert main(["data", "synthetic", "--n", "1", "--size", "160x120", "--out", str(out)]) == 0
    return out


def test_check_model_says_what_was_adapted(scenes: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["check", SEGMENT, "--model", "openai:gpt-4o", "--data", str(scenes)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "adapted: " in out and "segment.chain:39:3" in out and "enum values" in out
    assert "every request within the provider's limits" in out


def test_check_model_refuses_a_request_over_the_limit(
    scenes: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["check", SEGMENT, "--model", TWO_IMAGES, "--data", str(scenes)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err  # reported once, however many requests break it
    assert "segment.chain:" in lines[0]
    assert "the request has 3 images; openai-compat accepts 2" in lines[0]


def test_plan_and_run_refuse_and_pay_nothing(
    scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    plan = ["plan", SEGMENT, "--data", str(scenes), "--model", TWO_IMAGES, "--sample-items", "1"]
    assert main(plan) == 1
    assert "refused: 1 request limit(s)" in capsys.readouterr().err
    out = tmp_path / "run"
    run = ["run", SEGMENT, "--data", str(scenes), "--model", TWO_IMAGES, "--out", str(out),
           "--labels", "coco_stuff133=synthetic"]  # fmt: skip
    assert main(run) == 2  # a usage error: nothing was sent (no server listens on port 9)
    err = capsys.readouterr().err
    assert "broken; nothing was sent" in err and "accepts 2" in err
    assert not out.exists()


def test_unknown_model_is_a_warning(scenes: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", SEGMENT, "--model", "openai:gpt-9", "--data", str(scenes)]) == 0
    assert "no contract known for model 'gpt-9'" in capsys.readouterr().err


def test_sweep_refuses_before_any_cell_runs(
    scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", SEGMENT, "--data", str(scenes), "-m", "oracle", "-m", TWO_IMAGES,
            "--labels", "coco_stuff133=synthetic", "--out", str(out)]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "accepts 2" in err and "no cell was run" in err
    assert not (out / "cells").exists() or not any((out / "cells").iterdir())
