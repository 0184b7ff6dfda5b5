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
  evaluated with them once the parameters are known. What a call contributes
  (its value, the length of its result, its parts) is declared on its operation
  (``size=``, ``count=``, ``value=``; :mod:`chainlang.stdlib.facts`) and read
  from the registry in :attr:`Scope.ops`: no operation is named here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chainlang.errors import OperationError, UsageError
from chainlang.stdlib import Operation, Registry, default_registry
from chainlang.stdlib.facts import Formula, FormulaNode

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
            # arg-type: ``name`` is a plain str here; pydantic checks it against the Literal
            return lit(evaluate(BOp(op=name, args=args), {}))  # type: ignore[arg-type]
        except OperationError:
            pass  # kept as written: evaluating it raises the same error at run time
    simple = _simplify(name, args)
    # arg-type: as above, pydantic validates the operator name
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
    """Static facts of the names in scope: values, list lengths, parts, and the symbols met.

    ``child()`` opens a nested scope (a block, a loop body); :meth:`hide`
    shadows a name that has no static value there (a loop variable). ``ops`` is
    the registry whose operations declare what is static about their calls
    (None: the default registry).
    """

    values: dict[str, Static | None] = field(default_factory=dict)
    sizes: dict[str, Static | None] = field(default_factory=dict)
    symbols: dict[str, Symbol] = field(default_factory=dict)
    parent: Scope | None = None
    # symbols of lengths known only while the chain runs (answers, loop state)
    runtime: set[str] = field(default_factory=set)
    # parts of a value (superpixels of a map, cells of a grid): an operation's count fact
    counts: dict[str, Static | None] = field(default_factory=dict)
    ops: Registry | None = None

    def child(self) -> Scope:
        """A nested scope sharing this scope's symbols."""
        return Scope(symbols=self.symbols, parent=self, runtime=self.runtime, ops=self.ops)

    def operation(self, name: str) -> Operation | None:
        """The operation a call names, with its declared facts."""
        return (self.ops if self.ops is not None else default_registry()).get(name)

    def value(self, name: str) -> Static | None:
        """The static value of ``name``, or None."""
        return self._find(name, "values")

    def size(self, name: str) -> Static | None:
        """The length of list-valued ``name``, or None."""
        return self._find(name, "sizes")

    def count(self, name: str) -> Static | None:
        """The number of parts of ``name`` (a superpixel map, a grid), or None."""
        return self._find(name, "counts")

    def _find(self, name: str, table: str) -> Static | None:
        scope: Scope | None = self
        while scope is not None:
            own = {"values": scope.values, "sizes": scope.sizes, "counts": scope.counts}[table]
            if name in own:
                return own[name]
            if name in scope.values or name in scope.sizes or name in scope.counts:
                return None  # bound here without this kind of fact: it shadows outer ones
            scope = scope.parent
        return None

    def bind(
        self,
        name: str,
        value: Static | None = None,
        size: Static | None = None,
        count: Static | None = None,
    ) -> None:
        """Bind ``name`` here (None: no static value / unknown length / unknown parts)."""
        self.values[name] = value
        self.sizes[name] = size
        self.counts[name] = count

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
    if e.kind == "lit":
        return Static(lit(e.value))
    if e.kind == "ref":
        return scope.value(e.name) if e.scope != "truth" else None
    if e.kind == "binary":
        if e.lift:
            return None
        a, b = value_of(e.left, scope), value_of(e.right, scope)
        return None if a is None or b is None else _combine(e.op, [a, b])
    if e.kind == "unary":
        a = value_of(e.operand, scope)
        if a is None or not a.exact:
            return None
        return Static(op("neg" if e.op == "-" else "not", a.formula))
    if e.kind == "if":
        return _if_value(e, scope)
    if e.kind == "call":
        return _call_value(e, scope)
    return None


def _if_value(e: ir.Cond, scope: Scope) -> Static | None:
    cond = value_of(e.cond, scope)
    a, b = value_of(e.then, scope), value_of(e.otherwise, scope)
    if cond is None or a is None or b is None or not cond.exact:
        return None
    return Static(op("if", cond.formula, a.formula, b.formula), a.exact and b.exact)


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
    if e.kind == "list":
        return Static(lit(len(e.items)))
    if e.kind == "ref":
        return scope.size(e.name)
    if e.kind == "for" or e.kind == "comprehension":
        src = size_of(e.source, scope)
        if src is not None and e.kind == "comprehension" and e.cond is not None:
            return Static(src.formula, exact=False)  # a filter keeps at most every element
        return src
    if e.kind == "call":
        return _call_size(e, scope)
    if e.kind == "if":
        a, b = size_of(e.then, scope), size_of(e.otherwise, scope)
        if a is None or b is None:
            return None
        cond = value_of(e.cond, scope)
        if cond is not None and cond.exact:
            return Static(op("if", cond.formula, a.formula, b.formula), a.exact and b.exact)
        return Static(op("max", a.formula, b.formula), exact=False)  # the larger branch
    if e.kind == "binary" and e.op == "+":
        a, b = size_of(e.left, scope), size_of(e.right, scope)
        return None if a is None or b is None else _combine("+", [a, b])
    if e.kind == "field":
        return size_of(e.obj, scope) if e.lift else None
    return None


# ---------------------------------------------------------------- operation facts
#
# What is static about a call is declared on its operation (``size=``, ``count=``,
# ``value=``; chainlang.stdlib.facts) and computed here: no operation is named below.


def _declared(e: ir.Call, fact: str, scope: Scope) -> Formula | None:
    found = scope.operation(e.op)
    formula: Formula | None = None if found is None else getattr(found, fact)
    return formula


def _call_value(e: ir.Call, scope: Scope) -> Static | None:
    formula = _declared(e, "value", scope)
    return None if formula is None else _formula(formula.tree, e, scope)


def _call_size(e: ir.Call, scope: Scope) -> Static | None:
    formula = _declared(e, "size", scope)
    return None if formula is None else _formula(formula.tree, e, scope)


def _known_count(e: ir.Expr, scope: Scope) -> Static | None:
    if e.kind == "call":
        formula = _declared(e, "count", scope)
        return None if formula is None else _formula(formula.tree, e, scope)
    if e.kind == "ref":
        return scope.count(e.name)
    return None


def count_of(e: ir.Expr, scope: Scope) -> Static:
    """How many parts ``e`` has (regions of a superpixel map, cells of a grid): its
    operation's ``count`` fact, or a symbol only the run knows."""
    found = _known_count(e, scope)
    if found is not None:
        return found
    what = describe(e)
    return scope.symbol(f"count({what})", f"number of parts of {what} (no estimate)")


def _formula(f: FormulaNode, call: ir.Call, scope: Scope) -> Static | None:
    """A declared formula at one call: parameter names stand for the call's arguments."""
    kind = f[0]
    if kind == "lit":
        value = f[1]
        assert isinstance(value, int | float | str)  # facts.parse_formula keeps only these
        return Static(lit(value))
    if kind == "arg":
        return value_of(_arg(call, str(f[1])), scope)
    if kind == "bin":
        a, b = _formula(_node(f, 2), call, scope), _formula(_node(f, 3), call, scope)
        return None if a is None or b is None else _combine(str(f[1]), [a, b])
    if kind == "if":
        return _formula_if(f, call, scope)
    return _formula_call(str(f[1]), tuple(_node(f, i) for i in range(2, len(f))), call, scope)


def _node(f: FormulaNode, i: int) -> FormulaNode:
    """The ``i``-th element of ``f``, itself a formula."""
    node = f[i]
    assert isinstance(node, tuple)  # facts.parse_formula builds nested tuples
    return node


def _formula_if(f: FormulaNode, call: ir.Call, scope: Scope) -> Static | None:
    cond = _formula(_node(f, 1), call, scope)
    if cond is not None and cond.exact and isinstance(cond.formula, BLit):
        return _formula(_node(f, 2 if cond.formula.value else 3), call, scope)
    a, b = _formula(_node(f, 2), call, scope), _formula(_node(f, 3), call, scope)
    if a is None or b is None:
        return None
    return Static(_larger(a.formula, b.formula), exact=False)  # either branch, at most


def _larger(a: BExpr, b: BExpr) -> BExpr:
    """``max(a, b)``, leaving out an operand the other already takes the maximum with."""
    if a == b or (isinstance(a, BOp) and a.op == "max" and b in a.args):
        return a
    if isinstance(b, BOp) and b.op == "max" and a in b.args:
        return b
    return op("max", a, b)


def _formula_call(
    name: str, args: tuple[FormulaNode, ...], call: ir.Call, scope: Scope
) -> Static | None:
    if name in {"len", "count", "prefix"}:
        arg = _arg(call, str(args[0][1]))
        if name == "len":
            return size_of(arg, scope)
        if name == "count":
            return count_of(arg, scope)
        return _prefix(arg, _formula(args[1], call, scope), scope)
    if name == "symbol":
        found = _formula(args[2], call, scope)
        estimate = found.formula if found is not None and found.exact else None
        return scope.symbol(str(args[0][1]), str(args[1][1]), estimate)
    parts = [p for a in args if (p := _formula(a, call, scope)) is not None]
    if len(parts) < len(args):
        return None
    if name == "at_most":
        return Static(parts[0].formula, exact=False)
    return _combine(name, parts)


def _prefix(xs: ir.Expr, n: Static | None, scope: Scope) -> Static | None:
    """The length of the first (or last) ``n`` elements of ``xs``."""
    inner = _size(xs, scope)
    if inner is not None and _unestimated(inner.formula, scope):
        inner = None  # a length known only at run time: at most n says more
    if n is None:
        return None if inner is None else Static(inner.formula, exact=False)
    if inner is None and nonnegative(n.formula, scope):
        return Static(n.formula, exact=False)  # at most n: the list may be shorter
    wanted = _combine("max", [n, Static(lit(0))])  # a negative n takes nothing
    if wanted is None or inner is None:
        return wanted
    return _combine("min", [inner, wanted])


def _unestimated(e: BExpr, scope: Scope) -> bool:
    """True for a bare data-dependent size with no estimate (``len(found)``)."""
    if not isinstance(e, BSym):
        return False
    known = scope.symbols.get(e.name)
    return known is not None and known.estimate is None


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
    scope.bind(
        name, value_of(value, scope), size_of(value, scope, name), _known_count(value, scope)
    )


def describe(e: ir.Expr) -> str:
    """A short text of an expression, to name the symbol of its length."""
    if e.kind == "ref":
        return e.name
    if e.kind == "field":
        return f"{describe(e.obj)}.{e.name}"
    if e.kind == "call":
        return f"{e.op}({', '.join(describe(a.value) for a in e.args)})"
    if e.kind == "lit":
        return show(lit(e.value))
    kind = e.kind
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
