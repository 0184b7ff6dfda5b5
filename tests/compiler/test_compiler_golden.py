"""Golden tests: diagnostics of broken files, and AST/IR dumps of the paper chains.

Run with UPDATE_GOLDEN=1 to rewrite the expected files, then review the diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from compiler_helpers import GOLDEN, PAPER_CHAINS, ROOT, update_golden

from chainlang.language.compiler import check_file
from chainlang.language.diagnostics import CODES
from chainlang.language.syntax import nodes

DIAG_FILES = sorted((GOLDEN / "diagnostics").glob("*.chain"))


def test_golden_files_were_found() -> None:
    assert len(DIAG_FILES) >= 40
    assert all((GOLDEN / "dumps" / f"{c}.ir.json").exists() for c in PAPER_CHAINS)


def test_every_code_has_a_golden_file() -> None:
    covered = {m.group(0) for f in DIAG_FILES if (m := re.match(r"[EW]\d{3}", f.name))}
    assert set(CODES) - covered <= {"E100"}  # E100 (unreadable file) is tested below


def _compare(actual: str, expected_path: Path) -> None:
    if update_golden():
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"missing {expected_path}; run with UPDATE_GOLDEN=1"
    assert actual == expected_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", DIAG_FILES, ids=lambda p: p.stem)
def test_diagnostics_golden(path: Path, at_root: Path) -> None:
    rel = path.relative_to(ROOT)
    result = check_file(rel)
    code = re.match(r"[EW]\d{3}", path.name)
    if code:
        assert code.group(0) in {d.code for d in result.diagnostics}
        # an error stops compilation; a warning does not
        assert (result.program is None) == code.group(0).startswith("E")
    _compare(result.render() + "\n", path.with_suffix(".expected"))


def test_unreadable_file_is_e100(tmp_path: Path) -> None:
    result = check_file(tmp_path / "absent.chain")
    assert [d.code for d in result.diagnostics] == ["E100"]


@pytest.mark.parametrize("name", PAPER_CHAINS)
@pytest.mark.parametrize("stage", ["ast", "ir"])
def test_dump_golden(name: str, stage: str, at_root: Path) -> None:
    result = check_file(Path("chains") / f"{name}.chain")
    assert result.program is not None, result.render()
    if stage == "ast":
        text = json.dumps(nodes.to_data(result.module), indent=1)
    else:
        text = result.program.model_dump_json(indent=1)
    _compare(text + "\n", GOLDEN / "dumps" / f"{name}.{stage}.json")
