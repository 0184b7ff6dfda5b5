"""The Python example of docs/running.md runs as written (offline: plan needs no key)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from e2e_helpers import CHAINS, REPO

from chainlang.data.samples import write_samples


def _python_example() -> str:
    text = (REPO / "docs" / "running.md").read_text(encoding="utf-8")
    section = text.split("## The Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/running.md lost its Python API example"
    return match.group(1)


def test_running_md_python_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chains").symlink_to(CHAINS, target_is_directory=True)
    write_samples(tmp_path / "data" / "samples")

    exec(compile(_python_example(), "docs/running.md", "exec"), {})  # the doc's own code

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "label calls = 1"
    assert printed[-1] == "3 0.0", "three oracle items, free"
    assert (tmp_path / "runs" / "label-oracle" / "summary.json").exists()
