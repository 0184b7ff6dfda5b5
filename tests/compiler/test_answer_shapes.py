"""Answer shapes (issue 12, point 4): `Int(0..20)`, `Float(0.0..1.0)`, `[T; n]`,
`permutation of [...]` parse, print back, check, and reject shapes no answer fits (E211)."""

from __future__ import annotations

import pytest

from chainlang.language.compiler import check_source
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile
from chainlang.language.syntax.nodes import Module
from chainlang.language.syntax.parser import parse
from chainlang.language.syntax.unparse import unparse
from chainlang.language.types import (
    FixedListT,
    FloatRangeT,
    IntRangeT,
    IntT,
    ListT,
    TextT,
    assignable,
    permutation_of,
)

SHAPES = """\
answer Order = permutation of ["1", "2", "3", "4", "5"]

answer Reading {
  count: Int(0..20)
  confidence: Float(0.0..1.0)
  offset: Float(-1.5..2)
  five: [Int; 5]
  animals: permutation of Label(coco80)
}
"""


def _parse(text: str) -> Module:
    diags = Diagnostics()
    module = parse(SourceFile.of("shapes.chain", text), diags)
    assert module is not None, list(diags)
    return module


def test_shapes_round_trip_through_fmt() -> None:
    module = _parse(SHAPES)
    printed = unparse(module)
    assert printed == SHAPES
    assert _parse(printed) == module


def _chain(answer_type: str, use: str = "x") -> str:
    return f"""
chain c {{
  input image: Image
  output Label
  prompt p(view: Image) -> {answer_type} {{
    user [view] "?"
  }}
  let x = ask p(view = image)
  let _y = {use}
  return "cat"
}}
"""


@pytest.mark.parametrize(
    ("written", "use"),
    [
        ("Int(0..20)", "x + 1"),
        ("Int(0..20)", "-x"),
        ("[Float(0.0..1.0); 3]", "[v * 2.0 for v in x]"),
        ('permutation of ["a", "b", "c"]', '[v for v in x if v == "a"]'),
        ('permutation of ["a", "b", "c"]', "x + x"),
    ],
)
def test_shapes_check_and_compute(written: str, use: str) -> None:
    errors = [
        d
        for d in check_source(_chain(written, use), "c.chain").diagnostics
        if d.code.startswith("E")
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("Int(5..2)", "type Int(5..2) is empty"),
        ("Text(0..3)", "is not a number range"),
        ("Int(0.5..3)", "has a fractional bound"),
        ("[Int; 0]", "has no items"),
        ('permutation of ["a", "a"]', "names 'a' twice"),
        ('permutation of ["a"]', "has a single order"),
    ],
)
def test_empty_shapes_are_E211(written: str, words: str) -> None:
    diags = check_source(_chain(written), "c.chain").diagnostics
    assert [d.code for d in diags if d.code.startswith("E")] == ["E211"]
    assert words in next(d.message for d in diags if d.code == "E211")


def test_refinements_are_assignable_to_what_they_narrow() -> None:
    assert assignable(IntRangeT(lo=0, hi=20), IntT())
    assert not assignable(IntT(), IntRangeT(lo=0, hi=20))
    assert assignable(IntRangeT(lo=1, hi=2), IntRangeT(lo=0, hi=20))
    assert not assignable(FloatRangeT(lo=0.0, hi=2.0), FloatRangeT(lo=0.0, hi=1.0))
    order = permutation_of(("1", "2", "3"))
    assert assignable(order, ListT(item=TextT()))
    assert assignable(order, FixedListT(item=TextT(), length=3))
    assert not assignable(order, FixedListT(item=TextT(), length=4))
    assert not assignable(ListT(item=TextT()), order)


ORACLE_CHAIN = """
chain c {
  input image: Image
  truth n: Int
  output Label
  prompt p(view: Image) -> { count: Int(0..20), order: permutation of ["a", "b"] } {
    user [view] "?"
  }
  let _x = ask p(view = image)
    oracle {
      count = truth.n
      order = ORDER
    }
  return "cat"
}
"""


def test_oracle_gives_plain_values_for_shaped_answers() -> None:
    """A truth Int fills an Int(0..20), a list a permutation: the shape is checked at run time."""
    ok = check_source(ORACLE_CHAIN.replace("ORDER", '["b", "a"]'), "c.chain").diagnostics
    assert [d for d in ok if d.code.startswith("E")] == []
    bad = check_source(ORACLE_CHAIN.replace("ORDER", "3"), "c.chain").diagnostics
    assert [d.code for d in bad if d.code.startswith("E")] == ["E408"]
