"""Operation facts live on the operation: declared with its signature, read from the registry.

What the static evaluator knows about a call (the length of its list result,
its number of parts, its static value, the label set it needs) is declared
with ``size=``, ``count=``, ``value=`` and ``labels=`` on the signature
(``chainlang/stdlib/signatures.py`` for the built-ins, ``@operation`` for
third parties). These tests keep it that way: no other module names
operations in a table, and an operation declared outside chainlang gets the
same treatment as a built-in one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from chainlang.language.compiler import check_source, compile_source
from chainlang.stdlib import SignatureError, default_registry, operation

PACKAGE = Path(__file__).resolve().parents[2] / "chainlang"

#: Where operations are declared and implemented (names are expected there).
HOMES = {"stdlib", "vision"}

#: Names that are also the static evaluator's own formula operators (``BOp.op``),
#: which the core helpers of the same name delegate to.
FORMULA_OPERATORS = {"ceil", "floor", "min", "max", "abs"}


def _op_names() -> set[str]:
    return set(default_registry().names()) - FORMULA_OPERATORS


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _tables(tree: ast.Module, names: set[str]) -> list[str]:
    """Module-level assignments of a literal holding two or more operation names."""
    found = []
    for stmt in tree.body:
        value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Dict | ast.Set | ast.List | ast.Tuple | ast.Call):
            held = sorted(set(_strings(value)) & names)
            if len(held) >= 2:
                found.append(f"line {stmt.lineno}: a table of {', '.join(held)}")
    return found


def _comparisons(tree: ast.Module, names: set[str]) -> list[str]:
    """``x.op == "name"`` or ``x.op in {...names...}``: a fact kept away from its operation."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
            if node.left.attr != "op":
                continue
            held = sorted(set(_strings(ast.Tuple(elts=node.comparators))) & names)
            if held:
                found.append(f"line {node.lineno}: compares a call with {', '.join(held)}")
    return found


def test_no_module_outside_the_operations_names_operations_in_a_table() -> None:
    names = _op_names()
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if HOMES & set(path.relative_to(PACKAGE).parts[:1]):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for found in _tables(tree, names) + _comparisons(tree, names):
            offences.append(f"{path.relative_to(PACKAGE.parent)} {found}")
    assert not offences, "declare these facts on the operation instead:\n" + "\n".join(offences)


def test_every_operation_with_a_static_fact_declares_it_on_the_operation() -> None:
    reg = default_registry()
    sized = {n for n in reg.names() if (op := reg.get(n)) and op.size is not None}
    counted = {n for n in reg.names() if (op := reg.get(n)) and op.count is not None}
    static = {n for n in reg.names() if (op := reg.get(n)) and op.static}
    labelled = {n for n in reg.names() if (op := reg.get(n)) and op.labels is not None}
    # The operations the call bounds and the checker measure, as the docs list them.
    assert {"regions_of", "cells", "take", "last", "sample_pairs", "chunk", "quadrants"} <= sized
    assert {"superpixels", "adjacency", "grid", "grid_uniform"} <= counted
    assert {"len", "count", "min", "max", "abs", "ceil", "floor"} == static
    assert {"majority", "semantic_from_labels"} == labelled


# ---- a third-party operation ----

TILES_CHAIN = """
chain t {
  input image: Image
  output Label
  param k: Int = 3
  prompt busy(view: Image) -> Bool {
    user [view] "Is this part busy?"
  }
  let _busy = for b in tiles(image, k = k) { ask busy(view = crop(image, box = b)) }
  return "cat"
}
"""


@operation("tiles(image: Image, k: Int) -> [Box]", size="k * k")
def tiles(image: Any, k: int) -> list[Any]:
    """A k x k grid of boxes (never called here: the bound is static)."""
    raise AssertionError("not run")


@operation("steps(n: Int) -> Int", value="n * 2")
def steps(n: int) -> int:
    """Twice n, and static when n is."""
    return n * 2


@operation("steps(n: Int) -> Int")
def steps_unknown(n: int) -> int:
    """The same operation without a value fact."""
    return n * 2


def test_a_third_party_operation_with_a_size_gets_a_bound() -> None:
    registry = default_registry().with_operations([tiles])
    program = compile_source(TILES_CHAIN, registry=registry)
    assert program.bounds is not None
    assert program.bounds.show() == "calls = k * k"
    assert program.bounds.evaluate({"k": 4}) == 16


def test_a_third_party_operation_with_a_value_may_bound_a_loop() -> None:
    text = """
chain t {
  input image: Image
  output Label
  param n: Int = 2
  prompt more(view: Image) -> Bool {
    user [view] "More?"
  }
  let run = repeat with { i = 0 } up to steps(n = n) until i >= 3 {
    let again = ask more(view = image)
    next { i = i + 1 }
  }
  return if run.i > 1 then "cat" else "dog"
}
"""
    plain = check_source(text, registry=default_registry().with_operations([steps_unknown]))
    assert any(d.code == "E601" for d in plain.diagnostics), "no value fact: not static"
    result = check_source(text, registry=default_registry().with_operations([steps]))
    assert not [d for d in result.diagnostics if d.severity.value == "error"]
    assert result.program is not None and result.program.bounds is not None
    assert result.program.bounds.show() == "calls <= max(n * 2, 0)"  # n may be negative


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"size": "len(ys)"}, "names 'ys', which is not a parameter"),
        ({"size": "sum(xs)"}, "calls sum(), which is not one of"),
        ({"value": "xs["}, "cannot read formula"),
        ({"labels": "mine"}, "labels must be one of argument, dataset"),
    ],
)
def test_a_malformed_fact_is_refused_where_it_is_declared(
    facts: dict[str, str], message: str
) -> None:
    with pytest.raises(SignatureError, match=re.escape(message)):
        operation("odd(xs: [Int]) -> [Int]", **facts)
