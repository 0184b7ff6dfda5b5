"""Hostile or broken inputs give one clear message through the CLI, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from e2e_helpers import CHAINS

from chainlang.cli.app import main
from chainlang.language.labelsets import MAX_FILE_BYTES


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _label_chain(folder: Path) -> Path:
    """The label example and its label file, copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CHAINS / "examples" / "label.chain", folder / "label.chain")
    shutil.copy(CHAINS / "examples" / "animals.labels", folder / "animals.labels")
    return folder / "label.chain"


def _run(capsys, chain: Path, data: Path, out: Path, *extra: str) -> tuple[int, str]:
    return _cli(
        capsys,
        "run",
        str(chain),
        "--data",
        str(data),
        "--model",
        "oracle",
        "--out",
        str(out),
        "--cache",
        str(out.parent / "cache.sqlite"),
        "--progress",
        "none",
        *extra,
    )


def test_a_manifest_id_with_a_lone_surrogate_is_a_data_error(capsys, sample_manifest, tmp_path):
    lines = sample_manifest.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["image"] = str(sample_manifest.parent / first["image"])
    broken = json.dumps(first).replace(f'"id": "{first["id"]}"', '"id": "cat\\ud800"')
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(broken + "\n", encoding="utf-8")
    code, text = _run(capsys, _label_chain(tmp_path / "c"), manifest, tmp_path / "run")
    assert code != 0 and "Traceback" not in text
    assert "manifest.jsonl:1" in text and "\\ud800" in text


def test_a_truncated_run_json_is_a_clear_error(capsys, sample_manifest, tmp_path):
    chain = _label_chain(tmp_path / "c")
    out = tmp_path / "run"
    code, text = _run(capsys, chain, sample_manifest, out)
    assert code == 0, text
    run_json = out / "run.json"
    run_json.write_text(run_json.read_text(encoding="utf-8")[:40], encoding="utf-8")
    code, text = _run(capsys, chain, sample_manifest, out)
    assert code != 0 and "Traceback" not in text
    assert "run.json cannot be read" in text and "--force-new" in text
    code, text = _run(capsys, chain, sample_manifest, out, "--force-new")
    assert code == 0, text


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/passwd", "../../etc/shadow"])
def test_a_chain_cannot_name_a_label_file_outside_its_folder(capsys, tmp_path, target):
    chain = _label_chain(tmp_path / "c")
    chain.write_text(
        chain.read_text(encoding="utf-8").replace('"animals.labels"', json.dumps(target)),
        encoding="utf-8",
    )
    code, text = _cli(capsys, "check", str(chain))
    assert code != 0 and "Traceback" not in text
    assert "E204" in text and "outside the chain's folder" in text


def test_a_symlink_out_of_the_folder_is_outside_it(capsys, tmp_path):
    chain = _label_chain(tmp_path / "c")
    (tmp_path / "c" / "animals.labels").unlink()
    (tmp_path / "c" / "animals.labels").symlink_to("/dev/zero")
    code, text = _cli(capsys, "check", str(chain))
    assert code != 0 and "outside the chain's folder" in text


def test_label_files_must_be_regular_and_small(capsys, tmp_path):
    chain = _label_chain(tmp_path / "c")
    labels = tmp_path / "c" / "animals.labels"
    labels.unlink()
    labels.mkdir()  # a folder where the file should be
    code, text = _cli(capsys, "check", str(chain))
    assert code != 0 and "not a regular file" in text
    labels.rmdir()
    labels.write_text("cat\n" * (MAX_FILE_BYTES // 4 + 1), encoding="utf-8")
    code, text = _cli(capsys, "check", str(chain))
    assert code != 0 and "more than the" in text and "Traceback" not in text


def test_a_label_file_on_the_command_line_may_be_elsewhere_but_not_a_device(
    capsys, sample_manifest, tmp_path
):
    chain = _label_chain(tmp_path / "c")
    elsewhere = tmp_path / "shared" / "animals.labels"
    elsewhere.parent.mkdir()
    shutil.copy(tmp_path / "c" / "animals.labels", elsewhere)
    code, text = _run(
        capsys, chain, sample_manifest, tmp_path / "run", "--labels", f"animals={elsewhere}"
    )
    assert code == 0, text
    code, text = _run(
        capsys, chain, sample_manifest, tmp_path / "run2", "--labels", "animals=/dev/zero"
    )
    assert code != 0 and "not a regular file" in text and "Traceback" not in text
