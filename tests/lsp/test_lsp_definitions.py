"""Go to definition and references for each kind of name, on depth.chain (in process)."""

from __future__ import annotations

import pytest
from lsp_helpers import ROOT

from chainlang.lsp.analysis import analyze
from chainlang.lsp.definition import definition, references
from chainlang.lsp.positions import Codec

PATH = ROOT / "chains" / "depth.chain"
TEXT = PATH.read_text(encoding="utf-8")
ANALYSIS = analyze(TEXT, str(PATH))
CODEC = Codec()


def _line_of_definition(needle: str, into: int) -> str:
    found = definition(ANALYSIS, TEXT.index(needle) + into, CODEC)
    assert found is not None, needle
    return TEXT.splitlines()[found.range.start.line].strip()


@pytest.mark.parametrize(
    ("needle", "into", "declared"),
    [
        ("variant compare_order = brief_order", 10, "prompt compare_order("),  # prompt in defaults
        ("variant compare_order = brief_order", 26, "variant brief_order"),  # its variant
        ("ask compare_order(", 6, "prompt compare_order("),  # the prompt an ask names
        ("compare_order(view =", 15, "prompt compare_order(view"),  # the ask's argument
        ("[view high]", 2, "prompt compare(view"),  # an image slot's parameter
        ("truth.depth, p.a", 7, "truth depth:"),  # a truth field
        ("orders.depth_order", 9, "depth_order:"),  # an answer field, through its type
        ("vote(nearer", 6, "let nearer ="),  # a let
        ("shape = marker", 9, "param marker:"),  # a parameter
        ("-> Nearer", 4, "answer Nearer"),  # an answer type
        ("p.a, p.b]", 0, "for p in sampled"),  # a loop variable
    ],
)
def test_definition_of_each_kind_of_name(needle: str, into: int, declared: str) -> None:
    assert declared in _line_of_definition(needle, into)


def test_references_of_a_parameter_include_defaults_blocks() -> None:
    at = TEXT.index("param marker") + 7
    found = references(ANALYSIS, at, CODEC, True)
    lines = sorted(TEXT.splitlines()[x.range.start.line].strip() for x in found)
    assert any(line.startswith("param marker") for line in lines)
    assert any(line.startswith("defaults for") for line in lines)
    assert any("shape = marker" in line for line in lines)
