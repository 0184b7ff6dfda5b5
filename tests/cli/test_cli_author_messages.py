"""What a chain author reads on the command line (issue 12, point 7): words, not Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlang.cli.app import main

ROOT = Path(__file__).parents[2]
DEPTH = str(ROOT / "chains" / "depth.chain")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes") / "syn"
    assert main(["data", "synthetic", "--n", "1", "--size", "96x72", "--out", str(out)]) == 0
    return out


def _err(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Error" not in err  # no exception class names
    return err


def test_a_variant_typo_gets_did_you_mean_and_no_list_syntax(
    scenes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", DEPTH, "--data", str(scenes), "--model", "random"]
    err = _err(capsys, [*argv, "-p", "variant.compare=carefull"])
    assert err == (
        "error: prompt 'compare' has no variant 'carefull' (its variants: stepwise, "
        "stepwise_long, brief_near, brief_order, careful); did you mean 'careful'?\n"
    )
    err = _err(capsys, [*argv, "-p", "variant.comprae=careful"])
    assert "no prompt 'comprae'" in err and "did you mean 'compare'?" in err
    err = _err(capsys, [*argv, "-p", "pairz=3"])
    assert "did you mean 'pairs'?" in err


def test_a_word_for_an_int_parameter_names_the_type(
    scenes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", DEPTH, "--data", str(scenes), "--model", "random", "-p", "pairs=ten"]
    err = _err(capsys, argv)
    assert err == "error: parameter 'pairs' must be Int (a whole number): got 'ten'\n"


@pytest.mark.parametrize("command", ["check", "dump", "plan"])
def test_a_missing_chain_file_is_said_in_words(
    command: str, scenes: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.chain"
    argv = [command, str(missing)]
    if command == "plan":
        argv += ["--data", str(scenes), "--model", "random"]
    err = _err(capsys, argv, code=1)
    assert f"cannot read {missing}: no such file or folder" in err


def test_fmt_of_a_missing_file_is_said_in_words(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = _err(capsys, ["fmt", str(tmp_path / "nope.chain")], code=1)
    assert err == f"{tmp_path / 'nope.chain'}: cannot read: no such file or folder\n"


def test_missing_data_labels_and_an_out_under_a_file(
    scenes: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = ["run", DEPTH, "--model", "random"]
    err = _err(capsys, [*run, "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert "dataset not found" in err
    labels = ["--labels", f"coco80={tmp_path / 'none.txt'}"]
    err = _err(capsys, [*run, "--data", str(scenes), *labels, "--out", str(tmp_path / "o")])
    assert f"cannot read label file {tmp_path / 'none.txt'}: no such file or folder" in err
    under_a_file = scenes / "manifest.jsonl" / "out"
    err = _err(capsys, [*run, "--data", str(scenes), "--out", str(under_a_file)])
    assert err == f"error: cannot use {under_a_file}: a part of the path is a file, not a folder\n"


def test_a_clean_check_says_ok_and_json_stays_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", DEPTH, str(ROOT / "chains" / "classify.chain")]) == 0
    assert capsys.readouterr().out == "ok (2 files, 2 chains checked)\n"
    assert main(["check", "--json", DEPTH]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_missing_labels_file_for_a_dataset_is_said_in_words(
    scenes: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    labels = tmp_path / "labels.txt"
    images = str(scenes / "images")
    argv = ["data", "imagenet-val", images, str(labels), "--out", str(tmp_path / "x")]
    err = _err(capsys, argv)
    assert err == f"error: cannot read {labels}: no such file or folder\n"
