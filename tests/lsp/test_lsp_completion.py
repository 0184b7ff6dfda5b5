"""Completion contexts on depth.chain, in process: holes in prompt text, comments, types."""

from __future__ import annotations

from lsp_helpers import ROOT

from chainlang.lsp.analysis import analyze
from chainlang.lsp.completion import completions

PATH = str(ROOT / "chains" / "depth.chain")
TEXT = (ROOT / "chains" / "depth.chain").read_text(encoding="utf-8")
WHOLE = analyze(TEXT, PATH)


def _labels_after_typing(at: int, typed: str) -> list[str]:
    text = TEXT[:at] + typed + TEXT[at:]
    return [c.label for c in completions(analyze(text, PATH, previous=WHOLE), at + len(typed))]


def test_a_hole_in_triple_quoted_prompt_text_offers_the_prompt_parameters() -> None:
    at = TEXT.index("You judge depth in photographs. First look") + 10
    assert _labels_after_typing(at, " {") == ["view"]


def test_a_hole_in_a_one_line_string_offers_the_prompt_parameters() -> None:
    at = TEXT.index('"Which of the two regions') + 1
    assert _labels_after_typing(at, "{") == ["view"]


def test_nothing_is_offered_in_a_comment() -> None:
    at = TEXT.index("# Relative depth") + 5
    assert completions(WHOLE, at) == []
    assert _labels_after_typing(at, " p.") == []


def test_types_after_a_colon_include_answers_and_label() -> None:
    at = TEXT.index("  param segments")
    labels = _labels_after_typing(at, "  param q: ")
    assert {"Int", "Image", "Nearer", "Order", "Label"} <= set(labels)
