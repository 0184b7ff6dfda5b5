"""One constructor per diagnostic code, each code documented, no code spelt elsewhere."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from compiler_helpers import ROOT

from chainlang.language import codes
from chainlang.language.compiler import check_source
from chainlang.language.diagnostics import CODES, to_json

LANGUAGE = ROOT / "chainlang" / "language"
CODE = re.compile(r"^[EW]\d{3}$")


def _code_literals(tree: ast.AST) -> list[str]:
    return [
        x.value
        for x in ast.walk(tree)
        if isinstance(x, ast.Constant) and isinstance(x.value, str) and CODE.match(x.value)
    ]


def test_every_code_has_exactly_one_constructor() -> None:
    assert set(codes.CONSTRUCTORS) == set(CODES)
    tree = ast.parse((LANGUAGE / "codes.py").read_text())
    used: dict[str, list[str]] = {}
    for fn in (x for x in tree.body if isinstance(x, ast.FunctionDef)):
        if fn.name.startswith("_"):
            continue
        for code in set(_code_literals(fn)):
            used.setdefault(code, []).append(fn.name)
    assert {c: fns for c, fns in used.items() if len(fns) != 1} == {}
    assert set(used) == set(CODES)


def test_no_pass_spells_a_code() -> None:
    # A code written outside the table and its constructors would be a second wording.
    allowed = {LANGUAGE / "codes.py", LANGUAGE / "diagnostics.py"}
    spelt = {
        str(p.relative_to(ROOT)): found
        for p in sorted(LANGUAGE.rglob("*.py"))
        if p not in allowed and (found := _code_literals(ast.parse(p.read_text())))
    }
    assert spelt == {}


def test_every_code_has_a_row_in_the_docs() -> None:
    doc = (ROOT / "docs" / "diagnostics.md").read_text()
    rows = set(re.findall(r"^\| `([EW]\d{3})` \|", doc, re.M))
    assert rows == set(CODES)


def test_a_duplicate_points_at_the_first_definition() -> None:
    text = "chain t {\n  input image: Image\n  output DepthMap\n  param n: Int = 1\n"
    text += "  param n: Int = 2\n  return paint(superpixels(image), [])\n}\n"
    result = check_source(text, str(Path("dup.chain")))
    [diag] = json.loads(to_json(result.diagnostics))
    assert (diag["code"], diag["line"]) == ("E202", 5)
    assert [(r["line"], r["col"]) for r in diag["related"]] == [(4, 3)]


def test_a_duplicate_prompt_parameter_points_into_its_own_prompt() -> None:
    text = """chain t {
  input image: Image
  output DepthMap
  prompt a(view: Image) -> "yes" | "no" { user [view high] "Is it?" }
  prompt b(obj: Text, view: Image, view: Image) -> "yes" | "no" { user [view high] "{obj}?" }
  return paint(superpixels(image), [])
}
"""
    result = check_source(text, "dup.chain")
    [diag] = [d for d in result.diagnostics if d.code == "E202"]
    assert [(r.span.line, r.span.col) for r in diag.related] == [(5, 23)]
