"""The one static evaluator (``language.analysis.staticeval``) agrees with the interpreter.

Generated expressions over parameters and literals are compiled in a chain;
for every one the checker accepts and the evaluator calls static, the value
its formula gives for random parameter values is the interpreter's value, and
when the interpreter fails (division or modulo by zero) the formula fails too.
Targeted cases pin the examples of issue 9, defect 4.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chainlang.errors import OperationError
from chainlang.language import ir
from chainlang.language.analysis import staticeval
from chainlang.language.analysis.staticeval import BSym, Scope, Static
from chainlang.language.compiler import check_source
from chainlang.providers.base import ModelRef
from chainlang.runtime.interpreter import Interpreter, ItemContext, ItemFailed, Settings

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
PARAMS = ("a", "b", "c")


def _int(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(PARAMS), st.integers(-4, 9).map(str))
    if depth <= 0:
        return leaf
    sub = _int(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "%"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(st.sampled_from(["min", "max"]), sub, sub).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        sub.map(lambda x: f"abs({x})"),
        sub.map(lambda x: f"(-{x})"),
        st.tuples(st.sampled_from(["ceil", "floor"]), sub, sub).map(
            lambda t: f"{t[0]}({t[1]} / {t[2]})"
        ),
        st.tuples(_bool(depth - 1), sub, sub).map(lambda t: f"(if {t[0]} then {t[1]} else {t[2]})"),
    )


def _bool(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(["true", "false"])
    if depth <= 0:
        return leaf
    num = _int(depth - 1)
    sub = _bool(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(num, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), num).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        sub.map(lambda x: f"(not {x})"),
    )


def _compiled(expr: str) -> ir.Expr | None:
    params = "\n".join(f"  param {p}: Int = 1" for p in PARAMS)
    text = (
        'chain t "t" {\n  input image: Image\n  output DepthMap\n'
        f"{params}\n  let v = {expr}\n"
        "  let regions = superpixels(image, n = 4)\n"
        "  return paint(regions, [1.0])\n}\n"
    )
    result = check_source(text, "gen.chain")
    if result.program is None:
        return None
    return result.program.body[0].value


def _interpreted(e: ir.Expr, values: dict[str, int]) -> Any:
    settings_ = Settings(model=ModelRef("random", "random"), params=values)
    program: Any = None
    ctx = ItemContext("x", truth=lambda name: None)
    return asyncio.run(Interpreter(program, settings_, None).eval(e, dict(values), ctx))


def _static(e: ir.Expr, values: dict[str, int]) -> Any:
    scope = Scope()
    for p in PARAMS:
        scope.bind(p, Static(BSym(name=p)))
    found = staticeval.value_of(e, scope)
    assert found is not None and found.exact, "a parameter expression is static"
    return staticeval.evaluate(found.formula, values)


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        value = fn(*args)
    except (OperationError, ItemFailed):  # the interpreter reports an operation's failure
        return "error", None
    return type(value).__name__, value


@SETTINGS
@given(
    st.one_of(_int(3), _bool(3)),
    st.fixed_dictionaries({p: st.integers(-6, 12) for p in PARAMS}),
)
def test_the_static_evaluator_agrees_with_the_interpreter(
    expr: str, values: dict[str, int]
) -> None:
    e = _compiled(expr)
    assume(e is not None)
    assert e is not None
    run = _outcome(_interpreted, e, values)
    static = _outcome(_static, e, values)
    assert static == run, expr


@pytest.mark.parametrize(
    ("expr", "values", "expected"),
    [
        # `and` decides on its left side: the right side is never divided by zero.
        ("false and 1 / c > 0", {"c": 0}, ("bool", False)),
        ("true or 1 % c > 0", {"c": 0}, ("bool", True)),
        ("a % c", {"a": 5, "c": 0}, ("error", None)),
        ("a / c", {"a": 5, "c": 0}, ("error", None)),
        ("a % 7", {"a": 200}, ("int", 4)),
        ("-a % 7", {"a": 3}, ("int", 4)),
    ],
)
def test_operators_have_one_meaning(expr: str, values: dict[str, int], expected: Any) -> None:
    e = _compiled(expr)
    assert e is not None
    full = {"a": 1, "b": 1, "c": 1, **values}
    assert _outcome(_interpreted, e, full) == expected
    assert _outcome(_static, e, full) == expected


def test_bound_formulas_follow_the_interpreters_rules() -> None:
    from chainlang.language.analysis.bounds import evaluate, lit, op

    c = BSym(name="c")
    lazy = op("and", lit(False), op(">", op("/", lit(1), c), lit(0)))
    assert evaluate(lazy, {"c": 0}) is False  # as the run: the right side is never computed
    with pytest.raises(OperationError, match="division by zero"):
        evaluate(op("/", lit(1), c), {"c": 0})


@pytest.mark.parametrize(
    ("size", "codes"),
    [("ceil(n / 2) + n % 3", set()), ("n * 2", set()), ("len(points) * n", {"E603"})],
)
def test_batch_items_is_what_the_run_can_compute_before_reading_items(
    size: str, codes: set[str]
) -> None:
    text = (
        'chain label "l" {\n  input image: Image\n  input points: Points\n  output Label\n'
        f"  param n: Int = 1\n  batch items = {size}\n"
        "  prompt which(each view: Image) -> Label(coco80) {\n"
        '    each user "Image {key}:" [view high]\n  }\n'
        "  return ask which(view = image)\n}\n"
    )
    found = {d.code for d in check_source(text, "b.chain").diagnostics if d.severity == "error"}
    assert found == codes
