"""Every ```chain example in docs/language.md checks clean; every code is in docs/diagnostics.md."""

from __future__ import annotations

import re

import pytest
from compiler_helpers import ROOT

from chainlang.language.compiler import check_source
from chainlang.language.diagnostics import CODES

DOC = ROOT / "docs" / "language.md"
EXAMPLES = re.findall(r"```chain\n(.*?)```", DOC.read_text(), re.S)


def test_examples_were_found() -> None:
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("text", EXAMPLES, ids=lambda t: t.split('"')[0][-30:].strip())
def test_language_example_checks(text: str) -> None:
    # Checked as if it sat among the examples: label files are read next to the chain.
    result = check_source(text, str(ROOT / "chains" / "examples" / "doc.chain"))
    assert result.diagnostics == [], result.render()


def test_every_code_is_documented() -> None:
    doc = (ROOT / "docs" / "diagnostics.md").read_text()
    missing = [c for c in CODES if f"`{c}`" not in doc]
    assert missing == []
