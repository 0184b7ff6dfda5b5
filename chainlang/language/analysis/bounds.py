"""Static call bounds: how many model calls a chain makes per dataset item.

:func:`bound_program` walks the IR and returns a :class:`Bound`: a formula
over the parameters and a few data-dependent symbols (``K`` = superpixels
actually produced, ``len(classes)`` = classes found, ``len(points)`` =
query points). ``exact`` is false when it is an upper bound: a loop that may
stop early, a branch chosen by an answer, or a size bounded by a larger one
(a filtered list is at most as long as its source). No loop or fan-out is
ever left out: a size nothing bounds is a symbol without an estimate, and
evaluating the bound without a value for it fails, which ``plan`` and the
run's progress report as "no bound". The formulas and every static value
come from the one static evaluator, :mod:`chainlang.language.analysis.staticeval`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING

from chainlang.language.analysis.staticeval import (
    _B,
    BExpr,
    BLit,
    BOp,
    BSym,
    Scalar,
    Scope,
    Static,
    Symbol,
    bind_let,
    evaluate,
    lit,
    names,
    nonnegative,
    op,
    show,
    size_of,
    value_of,
)

if TYPE_CHECKING:
    from chainlang.language import ir
    from chainlang.stdlib import Registry

__all__ = [
    "BExpr",
    "BLit",
    "BOp",
    "BSym",
    "Bound",
    "Symbol",
    "ask_bound",
    "bound_program",
    "evaluate",
    "lit",
    "op",
    "show",
]


class Bound(_B):
    """Model calls per dataset item."""

    calls: BExpr
    exact: bool
    symbols: tuple[Symbol, ...] = ()

    def show(self) -> str:
        """``calls = ...`` or ``calls <= ...``."""
        return f"calls {'=' if self.exact else '<='} {show(self.calls)}"

    def unbounded(self) -> tuple[str, ...]:
        """The symbols that have no estimate: without their values there is no bound."""
        return tuple(s.name for s in self.symbols if s.estimate is None)

    def evaluate(self, values: Mapping[str, Scalar], *, estimate: bool = True) -> float:
        """The number of calls for given parameter and symbol values.

        Args:
            values: Parameter values (resolved) and, optionally, symbol values.
            estimate: Fill symbols missing from ``values`` from their estimates.

        Raises:
            UsageError: A symbol has neither a value nor an estimate.
            OperationError: The formula fails for these values (e.g. a batch size of 0).
        """
        env = dict(values)
        for sym in self.symbols:
            if sym.name not in env and estimate and sym.estimate is not None:
                env[sym.name] = evaluate(sym.estimate, env)
        return float(evaluate(self.calls, env))


# ---- the walk over the IR ----

_NONE = Static(lit(0))

#: While :func:`ask_bound` walks: the origin of the one ask whose calls are counted.
_ONLY_ASK: ContextVar[str | None] = ContextVar("_ONLY_ASK", default=None)


def ask_bound(program: ir.Program, origin: str, registry: Registry | None = None) -> Bound:
    """The calls per item of one ask (named by its IR ``origin``), loops around it included.

    The same walk as :func:`bound_program` with every other ask counted as none, so the
    bounds of a chain's asks are read the same way as its total (editors show them).
    """
    token = _ONLY_ASK.set(origin)
    try:
        return bound_program(program, registry)
    finally:
        _ONLY_ASK.reset(token)


def _counted(e: ir.Ask) -> bool:
    only = _ONLY_ASK.get()
    return only is None or e.origin == only


def bound_program(program: ir.Program, registry: Registry | None = None) -> Bound:
    """The calls per item of a program (exact formula, or an upper bound).

    ``registry``: the operations whose declared facts measure the calls (None: the
    default registry).
    """
    scope = Scope(ops=registry)
    for p in program.params:
        scope.bind(p.name, Static(BSym(name=p.name)))
    for d in program.inputs:
        size = scope.symbol(f"len({d.name})", f"number of elements of input '{d.name}'")
        scope.bind(d.name, None, size)
    total = _lets(program.body, scope)
    calls = _sum(total, _calls(program.result, scope))
    used = names(calls.formula)
    symbols = tuple(s for s in scope.symbols.values() if s.name in used)
    return Bound(calls=calls.formula, exact=calls.exact, symbols=symbols)


def _sum(a: Static, b: Static) -> Static:
    return Static(op("+", a.formula, b.formula), a.exact and b.exact)


def _times(n: Static, body: Static) -> Static:
    # Both are counts (never negative), so a product of upper bounds is an upper bound.
    return Static(op("*", n.formula, body.formula), n.exact and body.exact)


def _lets(lets: tuple[ir.Let, ...], scope: Scope) -> Static:
    total = _NONE
    for let in lets:
        total = _sum(total, _calls(let.value, scope))
        bind_let(scope, let.name, let.value)
    return total


def _calls(e: ir.Expr, scope: Scope) -> Static:
    if e.kind == "ask":
        return _ask_calls(e, scope)
    if e.kind == "for":
        return _for_calls(e, scope)
    if e.kind == "loop":
        return _loop_calls(e, scope)
    if e.kind == "branch":
        return _branch_calls(e, scope)
    return _NONE


def _ask_calls(e: ir.Ask, scope: Scope) -> Static:
    if not _counted(e):
        return _NONE
    one = Static(lit(1))
    if e.batch_items is not None:
        size = value_of(e.batch_items, scope)
        if size is None or not size.exact:
            one = Static(lit(1), exact=False)  # a share of one request at most
        else:
            one = Static(op("/", lit(1), size.formula))
    return one if e.samples is None else _times(_samples(e.samples, scope), one)


def _samples(k: ir.Expr, scope: Scope) -> Static:
    """K of ``samples K``: K requests per ask (a K below 1 fails the item, asking none)."""
    n = value_of(k, scope)
    if n is None:  # the checker refuses these (E608); never drop the samples regardless
        return scope.symbol(f"samples({k.origin})", "samples of an ask (no value known)")
    return n if nonnegative(n.formula, scope) else Static(op("max", n.formula, lit(0)), n.exact)


def _block(b: ir.Block, scope: Scope) -> Static:
    inner = scope.child()
    return _sum(_lets(b.lets, inner), _calls(b.result, inner))


def _branch_calls(e: ir.Branch, scope: Scope) -> Static:
    a, b = _block(e.then, scope), _block(e.otherwise, scope)
    cond = value_of(e.cond, scope)
    if a.formula == b.formula:  # the same calls either way
        return Static(a.formula, a.exact and b.exact)
    if cond is not None and cond.exact:
        return Static(op("if", cond.formula, a.formula, b.formula), a.exact and b.exact)
    return Static(op("max", a.formula, b.formula), exact=False)


def _loop_calls(e: ir.Loop, scope: Scope) -> Static:
    bound = value_of(e.bound, scope)
    if bound is None:  # the checker refuses these (E601); never drop the loop regardless
        bound = scope.symbol(f"iterations({e.origin})", "iterations of a loop (no bound known)")
    inner = scope.child()
    for s in e.state:
        inner.hide(s.name)
    body = _lets(e.lets, inner)
    # `up to N` runs at most N times, and none when N is negative; `until` may stop it earlier.
    n = bound.formula if nonnegative(bound.formula, scope) else op("max", bound.formula, lit(0))
    return Static(op("*", n, body.formula), exact=False)


def _for_calls(e: ir.ForEach, scope: Scope) -> Static:
    n = size_of(e.source, scope) or scope.symbol(
        f"len({e.var}s)", f"number of elements '{e.var}' ranges over"
    )
    if e.batch is not None:
        ask = e.body.result
        if ask.kind == "ask" and not _counted(ask):
            return _NONE
        requests = _batched_requests(e, n, scope)
        if ask.kind == "ask" and ask.samples is not None:  # each batch is asked K times
            return _times(_samples(ask.samples, scope), requests)
        return requests
    inner = scope.child()
    inner.hide(e.var)
    return _times(n, _block(e.body, inner))


def _batched_requests(e: ir.ForEach, n: Static, scope: Scope) -> Static:
    """Requests of one sample of a batched ``for``: ``ceil(n / batch)``."""
    assert e.batch is not None  # only called for a batched for
    size = value_of(e.batch, scope)
    if size is None or not size.exact:  # the checker refuses these (E603): one per call
        return Static(n.formula, exact=False)
    if _at_most(n.formula, size.formula):  # at most one batch (sizes below 1 fail)
        return Static(lit(1), exact=n.exact and n.formula == size.formula)
    return Static(op("ceil", op("/", n.formula, size.formula)), n.exact)


def _at_most(n: BExpr, size: BExpr) -> bool:
    """True when ``n`` is at most ``size`` whenever ``size`` >= 1 (``take(xs, size)``)."""
    if n == size or n == op("max", size, lit(0)):
        return True
    return isinstance(n, BOp) and n.op == "min" and any(_at_most(a, size) for a in n.args)
