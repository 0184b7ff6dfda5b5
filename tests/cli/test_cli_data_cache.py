"""The `data` and `cache` commands from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlang.cli.app import main


def test_data_samples_then_folder_and_synthetic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "samples", "--out", str(tmp_path / "s")]) == 0
    lines = (tmp_path / "s" / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(x)["truth"]["label"] for x in lines)
    assert (
        main(["data", "folder", str(tmp_path / "s" / "images"), "--out", str(tmp_path / "f")]) == 0
    )
    assert len((tmp_path / "f" / "manifest.jsonl").read_text().splitlines()) == 3
    syn = ["data", "synthetic", "--n", "1", "--size", "96x72", "--out", str(tmp_path / "y")]
    assert main(syn) == 0
    assert "1 scenes" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "synthetic", "--n", "1", "--size", "big", "--out", "x"], "WIDTHxHEIGHT"),
        (["data", "coco", "/no/such.json", "/no/images", "--out", "x"], "/no/such.json"),
        (["cache", "stats", "--cache", "/no/such.sqlite"], "no journal"),
    ],
)
def test_mistakes_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cache_stats_and_clear_after_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, cache = tmp_path / "s", tmp_path / "c.sqlite"
    assert main(["data", "samples", "--out", str(data)]) == 0
    chain = Path(__file__).resolve().parents[2] / "chains" / "examples" / "label.chain"
    run = ["run", str(chain), "--data", str(data), "--model", "oracle", "--out",
           str(tmp_path / "r"), "--cache", str(cache), "--progress", "none"]  # fmt: skip
    assert main(run) == 0
    capsys.readouterr()
    assert main(["cache", "stats", "--cache", str(cache)]) == 0
    assert "3 answers" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache", str(cache), "--model", "oracle*"]) == 0
    assert "removed 3" in capsys.readouterr().out
    assert main(run) == 0  # the run folder still has every item: nothing is asked again
    assert "this time: 0 questions" in capsys.readouterr().out


def test_a_bad_model_option_stops_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "s"
    assert main(["data", "samples", "--out", str(data)]) == 0
    chain = Path(__file__).resolve().parents[2] / "chains" / "examples" / "label.chain"
    out = tmp_path / "r"
    argv = ["run", str(chain), "--data", str(data), "--model", "oracle:flip=2", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "flip must be a probability" in err and "Traceback" not in err
    assert not out.exists()
