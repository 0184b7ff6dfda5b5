"""`chainlang fmt` keeps lines within WIDTH by breaking lists (issue 12, point 7)."""

from __future__ import annotations

from pathlib import Path

from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile
from chainlang.language.syntax import nodes
from chainlang.language.syntax.parser import parse
from chainlang.language.syntax.unparse import WIDTH, unparse

ROOT = Path(__file__).parents[2]

GOLDEN = Path(__file__).parent / "golden" / "fmt"
LONG = (GOLDEN / "long_lists.chain").read_text(encoding="utf-8")


def _parse(text: str) -> nodes.Module:
    module = parse(SourceFile.of("t.chain", text), Diagnostics())
    assert module is not None
    return module


def test_long_lists_are_wrapped_within_the_width_and_mean_the_same() -> None:
    module = _parse(LONG)
    text = unparse(module)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert _parse(text) == module
    assert unparse(_parse(text)) == text  # idempotent
    assert "  prompt grow(\n    tight: Image,\n" in text
    assert '\n    "red",\n    "blue",\n' in text
    assert "  } up to count(regions) until len(queue) == 0 {\n" in text
    assert "    next {\n      part = part + queue,\n" in text
    assert text == (GOLDEN / "long_lists.expected").read_text(encoding="utf-8")


def test_a_short_list_stays_on_one_line_and_a_long_string_stays_whole() -> None:
    line = "  let s = " + '"' + "word, " * 30 + '"'
    text = unparse(_parse(LONG.replace("  return", line + "\n  return")))
    assert line in text.splitlines()  # commas inside a string are not a list
    assert "  return paint(regions, [])" in text


def test_shipped_chains_have_no_breakable_long_line() -> None:
    # A line over the width is one the formatter cannot break: it holds text.
    for path in sorted((ROOT / "chains").rglob("*.chain")):
        in_text = False
        for line in path.read_text(encoding="utf-8").splitlines():
            assert in_text or len(line) <= WIDTH or '"' in line, f"{path.name}: {line}"
            in_text ^= line.count('"""') % 2 == 1
