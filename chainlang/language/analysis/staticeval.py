"""The one static evaluator: what a chain's values are before any question is asked.

Three things live here, and every part of chainlang that needs them uses these:

* **Operator semantics** — :func:`binary`, :func:`unary` and :func:`function`
  apply ``+ - * / %``, comparisons, ``and``/``or``/``not`` and ``ceil``,
  ``floor``, ``min``, ``max``, ``abs``. The interpreter applies them at run
  time and formulas apply them when evaluated, so a static value and the run
  agree, including on division or modulo by zero and on missing values (both
  raise :class:`~chainlang.errors.OperationError`).
* **Formulas** — :data:`BExpr` (literals, symbols, operators), built with
  :func:`op`, shown with :func:`show` and computed with :func:`evaluate`.
  ``and``, ``or`` and ``if`` are lazy in formulas as in the interpreter.
* **Static analysis of the IR** — :func:`value_of` gives an expression's value
  as a formula of parameters and data-size symbols, and :func:`size_of` the
  length of a list. Each result is a :class:`Static`: the exact value, or
  (``exact=False``) an upper bound of it, e.g. a filtered comprehension is at
  most as long as its source. Upper bounds pass only through operators that
  keep them upper bounds (``+``, ``max``, ``ceil``, ...). The checker uses
  these to decide what a loop bound or a batch size may be, the call bounds
  (:mod:`chainlang.language.analysis.bounds`) to build their formulas, and ``batch items`` is
  evaluated with them once the parameters are known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chainlang.errors import OperationError, UsageError

if TYPE_CHECKING:
    from chainlang.language import ir

Scalar = bool | int | float | str | None

# ---------------------------------------------------------------- operator semantics

_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def binary(op: str, a: Any, b: Any) -> Any:
    """``a op b`` as a chain computes it.

    ``and``/``or`` give Bools (the interpreter does not evaluate ``b`` when
    ``a`` decides); ``==``/``!=`` accept missing values; everything else
    refuses them. ``/`` is true division.

    Raises:
        OperationError: division or modulo by zero, a missing operand, or
            operands the operator cannot combine.

    >>> binary("%", -7, 3), binary("/", 7, 2), binary("and", True, False)
    (2, 3.5, False)
    """
    if op == "and":
        return bool(a) and bool(b)
    if op == "or":
        return bool(a) or bool(b)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if a is None or b is None:
        raise OperationError(f"{op!r} on a missing value")
    try:
        if op in {"/", "%"}:
            if b == 0:
                raise OperationError("division by zero" if op == "/" else "modulo by zero")
            return a / b if op == "/" else a % b
        return _ARITH[op](a, b)
    except TypeError as err:
        raise OperationError(f"cannot apply {op!r}: {err}") from err


def unary(op: str, a: Any) -> Any:
    """``not a`` or ``-a`` (``op`` is ``not``, ``-`` or ``neg``)."""
    if op == "not":
        return not a
    if a is None:
        raise OperationError("'-' on a missing value")
    try:
        return -a
    except TypeError as err:
        raise OperationError(f"cannot apply '-': {err}") from err


def _rounded(fn: Callable[[float], int]) -> Callable[[Any], int]:
    def go(x: Any) -> int:
        if x is None:
            raise OperationError(f"{fn.__name__}() of a missing value")
        try:
            return fn(x)
        except (OverflowError, ValueError) as err:
            raise OperationError(f"{fn.__name__}({x!r}): {err}") from err

    return go


def _checked(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def go(*args: Any) -> Any:
        if any(a is None for a in args):
            raise OperationError(f"{name}() of a missing value")
        try:
            return fn(*args)
        except TypeError as err:
            raise OperationError(f"{name}(): {err}") from err

    return go


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ceil": _rounded(math.ceil),
    "floor": _rounded(math.floor),
    "min": _checked("min", min),
    "max": _checked("max", max),
    "abs": _checked("abs", abs),
}


def function(name: str, *args: Any) -> Any:
    """A number function of the standard library: ``ceil``, ``floor``, ``min``, ``max``, ``abs``."""
    return FUNCTIONS[name](*args)


# ---------------------------------------------------------------- formulas

_INFIX = {"+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"}


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
        "%",
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


def lit(v: Scalar) -> BLit:
    """A literal formula."""
    return BLit(value=v)


def op(name: str, *args: BExpr) -> BExpr:
    """Build an operator node, folding constants and identities that cannot hide an error.

    >>> show(op("+", lit(1), op("*", lit(2), lit(3))))
    '7'
    """
    if all(isinstance(a, BLit) for a in args):
        try:
            return lit(evaluate(BOp(op=name, args=args), {}))  # type: ignore[arg-type]
        except OperationError:
            pass  # kept as written: evaluating it raises the same error at run time
    simple = _simplify(name, args)
    return simple if simple is not None else BOp(op=name, args=args)  # type: ignore[arg-type]


def _simplify(name: str, args: tuple[BExpr, ...]) -> BExpr | None:
    # Only rewrites that keep every sub-formula evaluated: ``x * 0 -> 0`` would
    # hide an error of ``x`` that the interpreter raises.
    a = args[0] if args else None
    b = args[1] if len(args) > 1 else None
    if name == "+" and _is(a, 0):
        return b
    if name in {"+", "-"} and _is(b, 0):
        return a
    if name == "*" and _is(a, 1):
        return b
    if name == "*" and _is(b, 1):
        return a
    if name in {"max", "min"} and a == b:
        return a
    if name in {"ceil", "floor"} and isinstance(a, BOp) and a.op in {"ceil", "floor"}:
        return a
    if name == "if" and isinstance(a, BLit):
        return args[1] if a.value else args[2]
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


def evaluate(e: BExpr, values: Mapping[str, Scalar]) -> Any:
    """Evaluate a formula with the chain's own operator semantics.

    Raises:
        UsageError: a symbol has no value in ``values``.
        OperationError: as the interpreter would (division by zero, ...).

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
    if e.op in {"and", "or"}:
        first = bool(evaluate(e.args[0], values))
        if first == (e.op == "or"):  # decided by the left side, as in the interpreter
            return first
        return binary(e.op, first, evaluate(e.args[1], values))
    args = [evaluate(a, values) for a in e.args]
    if e.op in {"not", "neg"}:
        return unary(e.op, args[0])
    if e.op in FUNCTIONS:
        return function(e.op, *args)
    return binary(e.op, *args)


def names(e: BExpr) -> set[str]:
    """The symbols a formula mentions."""
    if isinstance(e, BSym):
        return {e.name}
    if isinstance(e, BOp):
        return set().union(*(names(a) for a in e.args))
    return set()


# ---------------------------------------------------------------- static analysis


@dataclass(frozen=True)
class Static:
    """A formula for a value: exactly it, or (``exact=False``) an upper bound of it."""

    formula: BExpr
    exact: bool = True


class Symbol(_B):
    """A data-dependent size, with an estimate in terms of the parameters when one exists."""

    name: str
    doc: str
    estimate: BExpr | None = None


@dataclass
class Scope:
    """Static facts of the names in scope: values, list lengths, and the symbols met.

    ``child()`` opens a nested scope (a block, a loop body); :meth:`hide`
    shadows a name that has no static value there (a loop variable).
    """

    values: dict[str, Static | None] = field(default_factory=dict)
    sizes: dict[str, Static | None] = field(default_factory=dict)
    symbols: dict[str, Symbol] = field(default_factory=dict)
    parent: Scope | None = None
    # symbols of lengths known only while the chain runs (answers, loop state)
    runtime: set[str] = field(default_factory=set)

    def child(self) -> Scope:
        """A nested scope sharing this scope's symbols."""
        return Scope(symbols=self.symbols, parent=self, runtime=self.runtime)

    def value(self, name: str) -> Static | None:
        """The static value of ``name``, or None."""
        return self._find(name, "values")

    def size(self, name: str) -> Static | None:
        """The length of list-valued ``name``, or None."""
        return self._find(name, "sizes")

    def _find(self, name: str, table: str) -> Static | None:
        scope: Scope | None = self
        while scope is not None:
            own = getattr(scope, table)
            if name in own:
                return own[name]  # type: ignore[no-any-return]
            if name in scope.values or name in scope.sizes:
                return None  # bound here without this kind of fact: it shadows outer ones
            scope = scope.parent
        return None

    def bind(self, name: str, value: Static | None = None, size: Static | None = None) -> None:
        """Bind ``name`` here (None: no static value / unknown length)."""
        self.values[name] = value
        self.sizes[name] = size

    def hide(self, name: str) -> None:
        """Bind ``name`` here with nothing known (a loop variable or state field)."""
        self.bind(name)

    def symbol(self, name: str, doc: str, estimate: BExpr | None = None) -> Static:
        """A data-dependent size (recorded once, with its first doc and estimate)."""
        known = self.symbols.get(name)
        if known is None or (known.estimate is None and estimate is not None):
            doc = known.doc if known is not None else doc
            self.symbols[name] = Symbol(name=name, doc=doc, estimate=estimate)
        return Static(BSym(name=name))


def _arg(e: ir.Call, name: str) -> ir.Expr:
    return next(a.value for a in e.args if a.name == name)


def _is_list(e: ir.Expr) -> bool:
    t = getattr(e, "type", None)
    return t is not None and t.kind == "list"


# Monotone rules for upper bounds: an operator keeps an upper bound an upper bound
# only when it never decreases as that operand grows.
_MONOTONE = {"+", "max", "min", "ceil", "floor"}


def _combine(name: str, parts: list[Static]) -> Static | None:
    exact = all(p.exact for p in parts)
    formulas = [p.formula for p in parts]
    if exact:
        return Static(op(name, *formulas))
    if name in _MONOTONE:
        return Static(op(name, *formulas), exact=False)
    if name == "-" and parts[1].exact:
        return Static(op("-", *formulas), exact=False)
    if name in {"*", "/"} and parts[1].exact and _positive_lit(formulas[1]):
        return Static(op(name, *formulas), exact=False)
    if name == "*" and parts[0].exact and _positive_lit(formulas[0]):
        return Static(op(name, *formulas), exact=False)
    if name == "%" and parts[1].exact:
        # a % b lies in [0, b) for b > 0 and in (b, 0] for b < 0, whatever a is.
        b = formulas[1]
        return Static(op("max", op("-", b, lit(1)), lit(0)), exact=False)
    return None


def _positive_lit(e: BExpr) -> bool:
    return (
        isinstance(e, BLit) and isinstance(e.value, int | float) and not isinstance(e.value, bool)
    ) and e.value > 0


def value_of(e: ir.Expr, scope: Scope) -> Static | None:
    """The value of ``e`` as a formula of parameters and data sizes, or None.

    None means the value depends on something known only while the chain runs
    (an answer, a loop variable or state, an image).
    """
    kind = e.kind
    if kind == "lit":
        return Static(lit(e.value))  # type: ignore[union-attr]
    if kind == "ref":
        return scope.value(e.name) if e.scope != "truth" else None  # type: ignore[union-attr]
    if kind == "binary":
        if e.lift:  # type: ignore[union-attr]
            return None
        a, b = value_of(e.left, scope), value_of(e.right, scope)  # type: ignore[union-attr]
        return None if a is None or b is None else _combine(e.op, [a, b])  # type: ignore[union-attr]
    if kind == "unary":
        a = value_of(e.operand, scope)  # type: ignore[union-attr]
        if a is None or not a.exact:
            return None
        return Static(op("neg" if e.op == "-" else "not", a.formula))  # type: ignore[union-attr]
    if kind == "if":
        return _if_value(e, scope)  # type: ignore[arg-type]
    if kind == "call":
        return _call_value(e, scope)  # type: ignore[arg-type]
    return None


def _if_value(e: ir.Cond, scope: Scope) -> Static | None:
    cond = value_of(e.cond, scope)
    a, b = value_of(e.then, scope), value_of(e.otherwise, scope)
    if cond is None or a is None or b is None or not cond.exact:
        return None
    return Static(op("if", cond.formula, a.formula, b.formula), a.exact and b.exact)


def _call_value(e: ir.Call, scope: Scope) -> Static | None:
    if e.op == "count":
        return superpixel_count(_arg(e, "regions"), scope)
    if e.op == "len":
        return size_of(_arg(e, "xs"), scope)
    if e.op in FUNCTIONS:
        parts = [value_of(a.value, scope) for a in e.args]
        if any(p is None for p in parts):
            return None
        if e.op == "abs" and not parts[0].exact:  # type: ignore[union-attr]
            return None
        return _combine(e.op, parts)  # type: ignore[arg-type]
    return None


def superpixel_count(regions: ir.Expr, scope: Scope) -> Static:
    """``K``, the superpixels actually produced, estimated by the requested ``n``
    (``regions`` is a superpixel map or its adjacency graph)."""
    estimate = None
    if regions.kind == "call" and regions.op == "superpixels":  # type: ignore[union-attr]
        n = value_of(_arg(regions, "n"), scope)  # type: ignore[arg-type]
        estimate = n.formula if n is not None and n.exact else None
    elif regions.kind == "call" and regions.op == "adjacency":  # type: ignore[union-attr]
        return superpixel_count(_arg(regions, "regions"), scope)  # type: ignore[arg-type]
    elif regions.kind == "ref":
        known = scope.value(f"K:{regions.name}")  # type: ignore[union-attr]
        estimate = known.formula if known is not None else None
    return scope.symbol("K", "number of superpixels actually produced", estimate)


def size_of(e: ir.Expr, scope: Scope, name: str | None = None) -> Static | None:
    """The length of list-valued ``e`` (exact or an upper bound); None if ``e`` is no list.

    A length nothing bounds becomes a symbol, ``len(name)`` — a size only the
    data or the answers know.
    """
    if not _is_list(e) and e.kind not in {"list", "comprehension", "for"}:
        return None
    found = _size(e, scope)
    # A named list measured by a symbol only the run knows is better measured by its own
    # length (``len(classes)`` rather than a bound in terms of another unknown).
    if found is not None and (name is None or not names(found.formula) & scope.runtime):
        return found
    symbol = f"len({name or describe(e)})"
    scope.runtime.add(symbol)
    return scope.symbol(symbol, _symbol_doc(name))


def _symbol_doc(name: str | None) -> str:
    what = f"'{name}'" if name else "this list"
    return f"number of elements of {what} (known only while the chain runs; no estimate)"


def _size(e: ir.Expr, scope: Scope) -> Static | None:
    kind = e.kind
    if kind == "list":
        return Static(lit(len(e.items)))  # type: ignore[union-attr]
    if kind == "ref":
        return scope.size(e.name)  # type: ignore[union-attr]
    if kind in {"for", "comprehension"}:
        src = size_of(e.source, scope)  # type: ignore[union-attr]
        if src is not None and kind == "comprehension" and e.cond is not None:  # type: ignore[union-attr]
            return Static(src.formula, exact=False)  # a filter keeps at most every element
        return src
    if kind == "call":
        return _call_size(e, scope)  # type: ignore[arg-type]
    if kind == "if":
        a, b = size_of(e.then, scope), size_of(e.otherwise, scope)  # type: ignore[union-attr]
        if a is None or b is None:
            return None
        cond = value_of(e.cond, scope)  # type: ignore[union-attr]
        if cond is not None and cond.exact:
            return Static(op("if", cond.formula, a.formula, b.formula), a.exact and b.exact)
        return Static(op("max", a.formula, b.formula), exact=False)  # the larger branch
    if kind == "binary" and e.op == "+":  # type: ignore[union-attr]
        a, b = size_of(e.left, scope), size_of(e.right, scope)  # type: ignore[union-attr]
        return None if a is None or b is None else _combine("+", [a, b])
    if kind == "field":
        return size_of(e.obj, scope) if e.lift else None  # type: ignore[union-attr]
    return None


# Operations whose result is at most as long as their list argument.
_NO_LONGER = {"unique": "xs", "present": "xs", "select": "xs", "drop": "xs"}
_AS_LONG = {"shuffle": "xs", "unshuffle": "xs", "first_each": "lists"}


def _call_size(e: ir.Call, scope: Scope) -> Static | None:
    if e.op == "regions_of":
        return superpixel_count(_arg(e, "regions"), scope)
    if e.op in {"neighbours", "frontier"}:  # regions of the graph's map, at most K
        return Static(superpixel_count(_arg(e, "graph"), scope).formula, exact=False)
    if e.op == "sample_pairs":
        return _pairs_size(e, scope)
    if e.op == "quadrants":
        return Static(lit(5))
    if e.op == "cells":
        return _cells_size(_arg(e, "grid"), scope)
    if e.op in _AS_LONG:
        return size_of(_arg(e, _AS_LONG[e.op]), scope)
    if e.op in _NO_LONGER:
        inner = size_of(_arg(e, _NO_LONGER[e.op]), scope)
        return None if inner is None else Static(inner.formula, exact=False)
    if e.op in {"take", "last"}:
        return _take_size(e, scope)
    if e.op == "chunk":
        inner, n = size_of(_arg(e, "xs"), scope), value_of(_arg(e, "size"), scope)
        if inner is not None and n is not None and n.exact:
            return _combine("ceil", [_combine("/", [inner, n]) or Static(lit(0))])
    return None


def _take_size(e: ir.Call, scope: Scope) -> Static | None:
    inner, n = _size(_arg(e, "xs"), scope), value_of(_arg(e, "n"), scope)
    if n is None:
        return None if inner is None else Static(inner.formula, exact=False)
    if inner is None and nonnegative(n.formula, scope):
        return Static(n.formula, exact=False)  # at most n: the list may be shorter
    wanted = _combine("max", [n, Static(lit(0))])  # a negative n takes nothing
    if wanted is None or inner is None:
        return wanted
    return _combine("min", [inner, wanted])


def _cells_size(grid: ir.Expr, scope: Scope) -> Static | None:
    if grid.kind == "ref":
        return scope.value(f"cells:{grid.name}")  # type: ignore[union-attr]
    return cells_of(grid, scope)


def cells_of(grid: ir.Expr, scope: Scope) -> Static | None:
    """Cells of a grid built by ``grid`` (3 x 3) or ``grid_uniform`` (rows x cols)."""
    if grid.kind != "call":
        return None
    if grid.op == "grid":  # type: ignore[union-attr]
        return Static(lit(9))
    if grid.op == "grid_uniform":  # type: ignore[union-attr]
        rows = value_of(_arg(grid, "rows"), scope)  # type: ignore[arg-type]
        cols = value_of(_arg(grid, "cols"), scope)  # type: ignore[arg-type]
        if rows is not None and cols is not None and rows.exact and cols.exact:
            return Static(op("*", rows.formula, cols.formula))
    return None


def _pairs_size(e: ir.Call, scope: Scope) -> Static | None:
    """Pairs sampled: the reference scheme pairs every region at least once.

    Its passes each pair all K regions (ceil(K/2) pairs) and are truncated to
    ``n`` only when more than one pass was needed, so it yields
    max(n, ceil(K/2)) pairs; the other schemes yield at most ``n``.
    """
    n = value_of(_arg(e, "n"), scope)
    scheme = _arg(e, "scheme")
    if n is None:
        return None
    if scheme.kind == "lit" and scheme.value != "reference":  # type: ignore[union-attr]
        return Static(n.formula, exact=False)
    k = superpixel_count(_arg(e, "regions"), scope)
    half = Static(op("ceil", op("/", k.formula, lit(2))))
    if scheme.kind == "lit":
        return _combine("max", [n, half])
    return Static(op("max", n.formula, half.formula), exact=False)


def nonnegative(e: BExpr, scope: Scope) -> bool:
    """True when ``e`` can never be negative (literals >= 0, data sizes, and sums,
    products, quotients, ceilings and floors of those)."""
    if isinstance(e, BLit):
        return isinstance(e.value, int | float) and e.value >= 0
    if isinstance(e, BSym):
        return e.name in scope.symbols
    if e.op == "max":
        return any(nonnegative(a, scope) for a in e.args)
    if e.op in {"+", "*", "/", "min", "ceil", "floor"}:
        return all(nonnegative(a, scope) for a in e.args)
    if e.op == "if":
        return nonnegative(e.args[1], scope) and nonnegative(e.args[2], scope)
    return e.op == "abs"


def bind_let(scope: Scope, name: str, value: ir.Expr) -> None:
    """Record what is static about ``let name = value`` in ``scope``."""
    scope.bind(name, value_of(value, scope), size_of(value, scope, name))
    if value.kind == "call" and value.op in {"superpixels", "adjacency"}:  # type: ignore[union-attr]
        k = superpixel_count(value, scope).formula
        estimate = scope.symbols["K"].estimate if k == BSym(name="K") else None
        if estimate is not None:
            scope.values[f"K:{name}"] = Static(estimate)
    cells = cells_of(value, scope)
    if cells is not None:
        scope.values[f"cells:{name}"] = cells


def describe(e: ir.Expr) -> str:
    """A short text of an expression, to name the symbol of its length."""
    kind = e.kind
    if kind == "ref":
        return e.name  # type: ignore[union-attr]
    if kind == "field":
        return f"{describe(e.obj)}.{e.name}"  # type: ignore[union-attr]
    if kind == "call":
        return f"{e.op}({', '.join(describe(a.value) for a in e.args)})"  # type: ignore[union-attr]
    if kind == "lit":
        return show(lit(e.value))  # type: ignore[union-attr]
    return f"<{kind} at {e.origin}>" if getattr(e, "origin", "") else f"<{kind}>"


def static_value(e: ir.Expr, params: Mapping[str, Any]) -> Any:
    """The value of a static expression once the parameters are known.

    Raises:
        UsageError: ``e`` is not computed from parameters and literals alone.
        OperationError: evaluating it fails (e.g. division by zero).
    """
    scope = Scope()
    for name in params:
        scope.bind(name, Static(BSym(name=name)))
    found = value_of(e, scope)
    if found is None or not found.exact or names(found.formula) - set(params):
        raise UsageError("the value must be computed from parameters and literals")
    return evaluate(found.formula, params)
