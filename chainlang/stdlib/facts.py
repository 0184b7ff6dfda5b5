"""Facts an operation declares with its signature, for the static evaluator.

An operation may say, next to its signature, what is known about its result
before the chain runs (see docs/stdlib.md, "Static facts"):

* ``size``: the length of its list result, e.g. ``"len(xs)"`` or
  ``"at_most(count(graph))"``;
* ``count``: how many parts its result has (the regions of a superpixel map,
  the cells of a grid), read by ``count(arg)`` in other operations' formulas;
* ``value``: its value when its arguments are static, e.g. ``"min(a, b)"``
  (such an operation may appear in loop bounds and batch sizes);
* ``labels``: which label set the implementation receives as ``label_set``:
  ``"argument"`` (the set of its arguments' ``Label`` type, else the
  dataset's) or ``"dataset"`` (the dataset's, else the arguments').

A formula is a small expression over the operation's parameter names (see
:data:`FUNCTIONS`), parsed here when the operation is declared, so a mistake
is reported where the operation is written; the static evaluator
(:mod:`chainlang.language.analysis.staticeval`) computes it at each call.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Literal

from chainlang.stdlib.sigparse import SignatureError

__all__ = ["FUNCTIONS", "LABEL_SOURCES", "Formula", "FormulaNode", "parse_formula"]

#: The functions a formula may call, with their number of arguments.
FUNCTIONS: dict[str, int] = {
    "len": 1,  # the length of a list argument
    "count": 1,  # the parts of an argument (another operation's ``count`` fact)
    "at_most": 1,  # an upper bound rather than the exact value
    "prefix": 2,  # prefix(xs, n): the length of the first (or last) n elements of xs
    "symbol": 3,  # symbol("K", "what it counts", estimate): a size only the data knows
    "min": 2,
    "max": 2,
    "ceil": 1,
    "floor": 1,
    "abs": 1,
}

LABEL_SOURCES = ("argument", "dataset")
LabelSource = Literal["argument", "dataset"]

# A parsed formula: ("lit", value) | ("arg", name) | ("call", function, args...)
# | ("bin", operator, left, right) | ("if", condition, then, otherwise).
FormulaNode = tuple[object, ...]

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!="}


@dataclass(frozen=True, slots=True)
class Formula:
    """A parsed fact formula (``text`` as declared, ``tree`` for the evaluator)."""

    text: str
    tree: FormulaNode


def parse_formula(text: str, params: tuple[str, ...], what: str) -> Formula:
    """Parse a fact formula over the parameter names ``params``.

    Args:
        text: e.g. ``"rows * cols"``; Python syntax, restricted to names of
            parameters, numbers, strings, ``+ - * /``, ``==``/``!=``,
            ``a if cond else b`` and the calls of :data:`FUNCTIONS`.
        params: The operation's parameter names.
        what: Where the formula is declared, for error messages.

    Raises:
        SignatureError: The formula is malformed or names an unknown parameter.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise SignatureError(f"{what}: cannot read formula {text!r}: {err.msg}") from None
    return Formula(text, _node(tree, params, f"{what}: formula {text!r}"))


def _node(e: ast.expr, params: tuple[str, ...], where: str) -> FormulaNode:
    if isinstance(e, ast.Constant) and isinstance(e.value, int | float | str):
        return ("lit", e.value)
    if isinstance(e, ast.Name):
        if e.id not in params:
            raise SignatureError(f"{where} names {e.id!r}, which is not a parameter")
        return ("arg", e.id)
    if isinstance(e, ast.BinOp) and type(e.op) in _BINARY:
        return (
            "bin",
            _BINARY[type(e.op)],
            _node(e.left, params, where),
            _node(e.right, params, where),
        )
    if isinstance(e, ast.Compare) and len(e.ops) == 1 and type(e.ops[0]) in _COMPARE:
        right = _node(e.comparators[0], params, where)
        return ("bin", _COMPARE[type(e.ops[0])], _node(e.left, params, where), right)
    if isinstance(e, ast.IfExp):
        parts = (e.test, e.body, e.orelse)
        return ("if", *(_node(p, params, where) for p in parts))
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and not e.keywords:
        return _call(e.func.id, e.args, params, where)
    raise SignatureError(f"{where}: {ast.unparse(e)!r} is not allowed in a formula")


def _call(name: str, args: list[ast.expr], params: tuple[str, ...], where: str) -> FormulaNode:
    if name not in FUNCTIONS:
        known = ", ".join(FUNCTIONS)
        raise SignatureError(f"{where} calls {name}(), which is not one of {known}")
    if len(args) != FUNCTIONS[name]:
        raise SignatureError(f"{where}: {name}() takes {FUNCTIONS[name]} argument(s)")
    if name in {"len", "count"} and not isinstance(args[0], ast.Name):
        raise SignatureError(f"{where}: {name}() takes a parameter name")
    if name == "symbol" and not all(
        isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args[:2]
    ):
        raise SignatureError(f"{where}: symbol() takes a name and a description in quotes")
    return ("call", name, *(_node(a, params, where) for a in args))


def check_labels(labels: str | None, what: str) -> LabelSource | None:
    """``labels`` if it is one of :data:`LABEL_SOURCES` (or None)."""
    if labels is not None and labels not in LABEL_SOURCES:
        raise SignatureError(f"{what}: labels must be one of {', '.join(LABEL_SOURCES)}")
    return labels  # type: ignore[return-value]  # checked just above
