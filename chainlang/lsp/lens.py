"""Code lenses: the static call bounds of ``chainlang check --explain`` on each ``ask``.

Each ``ask`` gets the calls per dataset item it makes, loops around it included,
with the parameters' declared defaults filled in where the formula allows, and the
chain's total. Shown only for a file that compiles (the bounds come from its IR).
"""

from __future__ import annotations

from collections.abc import Mapping

from lsprotocol import types as lsp

from chainlang.errors import ChainlangError
from chainlang.language.analysis.bounds import BExpr, BLit, BOp, Bound, ask_bound, lit, show
from chainlang.language.analysis.staticeval import Scalar
from chainlang.language.syntax import nodes as n
from chainlang.lsp.analysis import Analysis
from chainlang.lsp.positions import Codec


def code_lenses(a: Analysis, codec: Codec) -> list[lsp.CodeLens]:
    """One lens per ``ask`` of a compiled chain."""
    program = a.result.program
    if program is None or program.bounds is None or a.stale:
        return []
    values = {p.name: p.default for p in program.params if p.default is not None}
    total = program.bounds.show()
    out = []
    for t in _asks(a):
        bound = ask_bound(program, t.span.origin())
        title = f"{_calls(bound, values)} per item · chain: {total}"
        start = codec.position(a.src, t.span.start)
        out.append(
            lsp.CodeLens(
                range=lsp.Range(start=start, end=start),
                command=lsp.Command(title=title, command=""),
            )
        )
    return out


def _asks(a: Analysis) -> list[n.Ask]:
    found: list[n.Ask] = []
    stack: list[object] = [a.module]
    while stack:
        node = stack.pop()
        if isinstance(node, n.Ask):
            found.append(node)
        if isinstance(node, tuple):
            stack.extend(node)
            continue
        fields = getattr(node, "__dataclass_fields__", None)
        if fields is None:
            continue
        for name in fields:
            if name not in {"span", "comments", "tail"}:
                stack.append(getattr(node, name))
    return sorted(found, key=lambda x: x.span.start)


def _calls(bound: Bound, values: Mapping[str, Scalar]) -> str:
    formula = _tidy(bound.calls)
    shown = show(formula)
    word = "=" if bound.exact else "<="
    try:
        at_defaults = bound.evaluate(values)
    except (ChainlangError, ArithmeticError, TypeError, ValueError):
        return f"calls {word} {shown}"
    number = f"{at_defaults:g}"
    if shown == number:
        return f"calls {word} {number}"
    return f"calls {word} {shown} ({word} {number} at the defaults)"


def _tidy(e: BExpr) -> BExpr:
    """For display only: ``x * 0`` is 0, ``x + 0`` is x, ``if c then a else a`` is a."""
    if not isinstance(e, BOp):
        return e
    args = tuple(_tidy(x) for x in e.args)
    zero = [isinstance(x, BLit) and x.value == 0 for x in args]
    if e.op == "*" and any(zero):
        return lit(0)
    if e.op == "+":
        rest = tuple(x for x, z in zip(args, zero, strict=True) if not z)
        if len(rest) == 1:
            return rest[0]
        if not rest:
            return lit(0)
    if e.op == "if" and len(args) == 3 and args[1] == args[2]:
        return args[1]
    return BOp(op=e.op, args=args)
