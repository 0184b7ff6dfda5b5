"""Static call bounds: how many model calls a chain makes per dataset item.

:func:`bound_program` walks the IR and returns a :class:`Bound`: a formula
over the parameters and a few data-dependent symbols (``K`` = superpixels
actually produced, ``len(classes)`` = classes found, ``len(points)`` =
query points). ``exact`` is false when a loop that depends on answers makes
it an upper bound. :meth:`Bound.evaluate` computes it for given values; the
symbols carry an ``estimate`` (e.g. ``K ≈ segments``) for planners.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chainlang.errors import UsageError

if TYPE_CHECKING:
    from chainlang import ir

Scalar = bool | int | float | str | None
_INFIX = {"+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or"}


class _B(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BLit(_B):
    kind: Literal["lit"] = "lit"
    value: Scalar


class BSym(_B):
    """A parameter or a data-dependent size."""

    kind: Literal["sym"] = "sym"
    name: str


class BOp(_B):
    """An operator or function over sub-formulas (``if`` takes cond, then, else)."""

    kind: Literal["op"] = "op"
    op: Literal[
        "+",
        "-",
        "*",
        "/",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "not",
        "neg",
        "ceil",
        "floor",
        "min",
        "max",
        "abs",
        "if",
    ]
    args: tuple[BExpr, ...]


BExpr = Annotated[BLit | BSym | BOp, Field(discriminator="kind")]
BOp.model_rebuild()


class Symbol(_B):
    """A data-dependent size, with an estimate in terms of the parameters when one exists."""

    name: str
    doc: str
    estimate: BExpr | None = None


class Bound(_B):
    """Model calls per dataset item."""

    calls: BExpr
    exact: bool
    symbols: tuple[Symbol, ...] = ()

    def show(self) -> str:
        """``calls = ...`` or ``calls <= ...``."""
        return f"calls {'=' if self.exact else '<='} {show(self.calls)}"

    def evaluate(self, values: Mapping[str, Scalar], *, estimate: bool = True) -> float:
        """The number of calls for given parameter and symbol values.

        Args:
            values: Parameter values (resolved) and, optionally, symbol values.
            estimate: Fill symbols missing from ``values`` from their estimates.

        Raises:
            UsageError: A symbol has neither a value nor an estimate.
        """
        env = dict(values)
        for sym in self.symbols:
            if sym.name not in env and estimate and sym.estimate is not None:
                env[sym.name] = evaluate(sym.estimate, env)
        return float(evaluate(self.calls, env))


def lit(v: Scalar) -> BLit:
    return BLit(value=v)


def op(name: str, *args: BExpr) -> BExpr:
    """Build an operator node, folding constants and trivial cases.

    >>> show(op("+", lit(1), op("*", lit(2), lit(3))))
    '7'
    """
    if all(isinstance(a, BLit) for a in args) and name != "if":
        try:
            return lit(evaluate(BOp(op=name, args=args), {}))  # type: ignore[arg-type]
        except (UsageError, TypeError, ZeroDivisionError):
            pass
    simple = _simplify(name, args)
    return simple if simple is not None else BOp(op=name, args=args)  # type: ignore[arg-type]


def _simplify(name: str, args: tuple[BExpr, ...]) -> BExpr | None:
    a = args[0] if args else None
    b = args[1] if len(args) > 1 else None
    if name == "+" and _is(a, 0):
        return b
    if name in {"+", "-"} and _is(b, 0):
        return a
    if name == "*" and (_is(a, 0) or _is(b, 0)):
        return lit(0)
    if name == "*" and _is(a, 1):
        return b
    if name in {"*", "/"} and _is(b, 1):
        return a
    if name == "/" and a == b:
        return lit(1)
    if name in {"max", "min"} and a == b:
        return a
    if name == "ceil" and isinstance(a, BOp) and a.op == "ceil":
        return a
    if name == "if" and args[1] == args[2]:
        return args[1]
    return None


def _is(e: BExpr | None, v: float) -> bool:
    return isinstance(e, BLit) and not isinstance(e.value, bool) and e.value == v


def show(e: BExpr) -> str:
    """Render a formula.

    >>> show(op("ceil", op("/", BSym(name="K"), lit(16))))
    'ceil(K / 16)'
    """
    if isinstance(e, BLit):
        if isinstance(e.value, str):
            return f'"{e.value}"'
        if isinstance(e.value, float) and e.value.is_integer():
            return str(int(e.value))
        return str(e.value).lower() if isinstance(e.value, bool) else str(e.value)
    if isinstance(e, BSym):
        return e.name
    if e.op in _INFIX:
        return " ".join([_paren(e.args[0]), e.op, _paren(e.args[1])])
    if e.op == "if":
        return f"(if {show(e.args[0])} then {show(e.args[1])} else {show(e.args[2])})"
    if e.op in {"not", "neg"}:
        return ("not " if e.op == "not" else "-") + _paren(e.args[0])
    return f"{e.op}({', '.join(show(a) for a in e.args)})"


def _paren(e: BExpr) -> str:
    return f"({show(e)})" if isinstance(e, BOp) and e.op in _INFIX else show(e)


_FUNCS: dict[str, Any] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "and": lambda a, b: a and b,
    "or": lambda a, b: a or b,
    "not": lambda a: not a,
    "neg": lambda a: -a,
    "ceil": math.ceil,
    "floor": math.floor,
    "min": min,
    "max": max,
    "abs": abs,
}


def evaluate(e: BExpr, values: Mapping[str, Scalar]) -> Any:
    """Evaluate a formula; symbols are looked up in ``values``.

    >>> evaluate(op("ceil", op("/", BSym(name="K"), lit(16))), {"K": 380})
    24
    """
    if isinstance(e, BLit):
        return e.value
    if isinstance(e, BSym):
        if e.name not in values:
            raise UsageError(f"the call bound needs a value for '{e.name}'")
        return values[e.name]
    if e.op == "if":
        cond = evaluate(e.args[0], values)
        return evaluate(e.args[1] if cond else e.args[2], values)
    return _FUNCS[e.op](*(evaluate(a, values) for a in e.args))


# ---- the walk over the IR ----


@dataclass
class _Walk:
    """Sizes of list-valued names and the symbols met so far (local to one walk)."""

    sizes: dict[str, BExpr] = field(default_factory=dict)
    static: dict[str, BExpr] = field(default_factory=dict)
    symbols: dict[str, Symbol] = field(default_factory=dict)
    approx: bool = False  # set when a size was replaced by an upper bound

    def symbol(self, name: str, doc: str, estimate: BExpr | None = None) -> BSym:
        self.symbols.setdefault(name, Symbol(name=name, doc=doc, estimate=estimate))
        return BSym(name=name)


def bound_program(program: ir.Program) -> Bound:
    """The calls per item of a program (exact formula, or an upper bound)."""
    w = _Walk()
    for p in program.params:
        w.static[p.name] = BSym(name=p.name)
    for d in program.inputs:
        w.sizes[d.name] = w.symbol(f"len({d.name})", f"number of elements of input '{d.name}'")
    total, exact = _lets(program.body, w)
    calls, ex2 = _calls(program.result, w)
    formula = op("+", total, calls)
    used = _names(formula)
    symbols = tuple(s for s in w.symbols.values() if s.name in used)
    return Bound(calls=formula, exact=exact and ex2, symbols=symbols)


def _names(e: BExpr) -> set[str]:
    if isinstance(e, BSym):
        return {e.name}
    if isinstance(e, BOp):
        return set().union(*(_names(a) for a in e.args))
    return set()


def _lets(lets: tuple[ir.Let, ...], w: _Walk) -> tuple[BExpr, bool]:
    total: BExpr = lit(0)
    exact = True
    for let in lets:
        c, ex = _calls(let.value, w)
        total, exact = op("+", total, c), exact and ex
        size = size_of(let.value, w, let.name)
        if size is not None:
            w.sizes[let.name] = size
        value = static_of(let.value, w)
        if value is not None:
            w.static[let.name] = value
        if let.value.kind == "call" and let.value.op == "superpixels":  # type: ignore[union-attr]
            estimate = static_of(_arg(let.value, "n"), w)  # type: ignore[arg-type]
            if estimate is not None:
                w.static[f"K:{let.name}"] = estimate
    return total, exact


def _calls(e: ir.Expr, w: _Walk) -> tuple[BExpr, bool]:
    kind = e.kind
    if kind == "ask":
        if e.batch_items is not None:  # type: ignore[union-attr]
            size = static_of(e.batch_items, w) or lit(1)  # type: ignore[union-attr]
            return op("/", lit(1), size), True
        return lit(1), True
    if kind == "for":
        return _for_calls(e, w)  # type: ignore[arg-type]
    if kind == "loop":
        body, _ = _lets(e.lets, w)  # type: ignore[union-attr]
        n = static_of(e.bound, w) or lit(0)  # type: ignore[union-attr]
        return op("*", n, body), False
    if kind == "branch":
        a, ea = _block(e.then, w)  # type: ignore[union-attr]
        b, eb = _block(e.otherwise, w)  # type: ignore[union-attr]
        cond = static_of(e.cond, w)  # type: ignore[union-attr]
        if cond is not None:
            return op("if", cond, a, b), ea and eb
        return op("max", a, b), False
    return lit(0), True


def _block(b: ir.Block, w: _Walk) -> tuple[BExpr, bool]:
    total, exact = _lets(b.lets, w)
    c, ex = _calls(b.result, w)
    return op("+", total, c), exact and ex


def _for_calls(e: ir.ForEach, w: _Walk) -> tuple[BExpr, bool]:
    w.approx = False
    n = size_of(e.source, w, None)
    exact = n is not None and not w.approx
    if n is None:
        n = w.symbol(f"len({e.var}s)", f"number of elements '{e.var}' ranges over")
    if e.batch is not None:
        size = static_of(e.batch, w) or lit(1)
        return op("ceil", op("/", n, size)), exact
    body, ex = _block(e.body, w)
    return op("*", n, body), exact and ex


def size_of(e: ir.Expr, w: _Walk, name: str | None) -> BExpr | None:
    """The length of a list-valued expression as a formula, or None if unknown."""
    kind = e.kind
    if kind == "list":
        return lit(len(e.items))  # type: ignore[union-attr]
    if kind == "ref":
        return w.sizes.get(e.name)  # type: ignore[union-attr]
    if kind in {"for", "comprehension"}:
        src = size_of(e.source, w, None)  # type: ignore[union-attr]
        if kind == "comprehension" and e.cond is not None:  # type: ignore[union-attr]
            return _named(w, name)
        return src if src is not None else _named(w, name)
    if kind == "call":
        return _call_size(e, w, name)  # type: ignore[arg-type]
    if kind == "if":
        cond = static_of(e.cond, w)  # type: ignore[union-attr]
        a, b = size_of(e.then, w, None), size_of(e.otherwise, w, None)  # type: ignore[union-attr]
        if a is None or b is None:
            return _named(w, name)
        if cond is not None:
            return op("if", cond, a, b)
        w.approx = True  # the larger branch: an upper bound only
        return op("max", a, b)
    if kind == "field":
        return size_of(e.obj, w, None)  # type: ignore[union-attr]
    return _named(w, name) if _is_list(e) else None


def _is_list(e: ir.Expr) -> bool:
    return getattr(e, "type", None) is not None and e.type.kind == "list"


def _named(w: _Walk, name: str | None) -> BExpr | None:
    if name is None:
        return None
    return w.symbol(f"len({name})", f"number of elements of '{name}' (depends on the data)")


def _arg(e: ir.Call, name: str) -> ir.Expr:
    return next(a.value for a in e.args if a.name == name)


def _call_size(e: ir.Call, w: _Walk, name: str | None) -> BExpr | None:
    if e.op == "regions_of":
        return _superpixels(_arg(e, "regions"), w)
    if e.op == "sample_pairs":
        return _pairs_size(e, w) or _named(w, name)
    if e.op == "quadrants":
        return lit(5)
    if e.op == "cells":
        return lit(9)
    if e.op in {"take", "last"}:
        inner, n = size_of(_arg(e, "xs"), w, None), static_of(_arg(e, "n"), w)
        if n is None:
            return inner or _named(w, name)
        return n if inner is None else op("min", inner, n)
    if e.op == "chunk":
        inner, n = size_of(_arg(e, "xs"), w, None), static_of(_arg(e, "size"), w)
        if inner is not None and n is not None:
            return op("ceil", op("/", inner, n))
    return _named(w, name)


def _pairs_size(e: ir.Call, w: _Walk) -> BExpr | None:
    """Pairs sampled: the reference scheme pairs every region at least once.

    Its passes each pair all K regions (ceil(K/2) pairs) and are truncated to
    ``n`` only when more than one pass was needed, so it yields
    max(n, ceil(K/2)) pairs; the other schemes yield ``n``.
    """
    n = static_of(_arg(e, "n"), w)
    scheme = _arg(e, "scheme")
    if n is None or not (scheme.kind == "lit" and scheme.value == "reference"):  # type: ignore[union-attr]
        return n
    k = _superpixels(_arg(e, "regions"), w)
    return op("max", n, op("ceil", op("/", k, lit(2))))


def _superpixels(regions: ir.Expr, w: _Walk) -> BExpr:
    estimate = None
    if regions.kind == "call" and regions.op == "superpixels":  # type: ignore[union-attr]
        estimate = static_of(_arg(regions, "n"), w)  # type: ignore[arg-type]
    elif regions.kind == "ref":
        estimate = w.static.get(f"K:{regions.name}")  # type: ignore[union-attr]
    return w.symbol("K", "number of superpixels actually produced", estimate)


def static_of(e: ir.Expr, w: _Walk) -> BExpr | None:
    """The value of an expression as a formula of parameters and symbols, or None."""
    kind = e.kind
    if kind == "lit":
        return lit(e.value)  # type: ignore[union-attr]
    if kind == "ref":
        return w.static.get(e.name)  # type: ignore[union-attr]
    if kind == "binary":
        a, b = static_of(e.left, w), static_of(e.right, w)  # type: ignore[union-attr]
        return None if a is None or b is None or e.op == "%" else op(e.op, a, b)  # type: ignore[union-attr]
    if kind == "unary":
        a = static_of(e.operand, w)  # type: ignore[union-attr]
        return None if a is None else op("neg" if e.op == "-" else "not", a)  # type: ignore[union-attr]
    if kind == "if":
        parts = [static_of(x, w) for x in (e.cond, e.then, e.otherwise)]  # type: ignore[union-attr]
        return None if None in parts else op("if", *parts)  # type: ignore[arg-type]
    if kind == "call":
        return _static_call(e, w)  # type: ignore[arg-type]
    return None


def _static_call(e: ir.Call, w: _Walk) -> BExpr | None:
    if e.op == "count":
        return _superpixels(_arg(e, "regions"), w)
    if e.op == "len":
        return size_of(_arg(e, "xs"), w, None)
    if e.op in {"ceil", "floor", "abs", "min", "max"}:
        args = [static_of(a.value, w) for a in e.args]
        return None if None in args else op(e.op, *args)  # type: ignore[arg-type]
    return None
