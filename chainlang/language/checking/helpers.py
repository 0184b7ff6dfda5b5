"""Type unification and small helpers shared by the checker passes."""

from __future__ import annotations

from dataclasses import dataclass

from chainlang.language import ir
from chainlang.language.analysis.staticeval import Static
from chainlang.language.syntax import nodes as n
from chainlang.language.types import (
    ERROR_TYPE,
    BoolT,
    EnumT,
    FloatT,
    IntT,
    ListT,
    OpaqueT,
    OptionalT,
    RecordT,
    Type,
    assignable,
    join,
)
from chainlang.stdlib.typenames import ANY, is_type_var

ERR = ERROR_TYPE


@dataclass(frozen=True)
class Binding:
    """What a name in scope stands for."""

    type: Type
    scope: str  # input | param | let | var | state | labelset
    # What the one static evaluator knows before any question is asked: the value as a
    # formula of parameters and data sizes, and a list's length (exact or an upper bound).
    value: Static | None = None
    size: Static | None = None
    item_local: bool = False  # depends on the element of a batched for


def _shown(t: Type) -> str:
    return "none" if isinstance(t, OptionalT) and t.item == ANY else t.show()


def _flags(d: n.PromptDecl, name: str) -> tuple[str, ...]:
    return next((v.flags for v in d.items if isinstance(v, n.Variant) and v.name == name), ())


def _merge(base: list[ir.Message], own: list[ir.Message]) -> tuple[ir.Message, ...]:
    # A variant's system messages replace the base's; so do its other messages.
    system = [m for m in own if m.role == "system"] or [m for m in base if m.role == "system"]
    rest = [m for m in own if m.role != "system"] or [m for m in base if m.role != "system"]
    return (*system, *rest)


def _asks_in(lets: tuple[n.Let, ...]) -> bool:
    return any(isinstance(x.value, n.Ask | n.For | n.Repeat | n.IfBlock) for x in lets)


def _err(a: n.Ask) -> ir.Expr:
    return ir.Lit(value=None, type=ERR, origin=a.span.origin())


def _mentions(e: object) -> set[str]:
    """Every name an AST subtree mentions (a conservative dependency set)."""
    out: set[str] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, n.Name):
            out.add(x.name)
        elif isinstance(x, tuple):
            stack.extend(x)
        elif hasattr(x, "__dataclass_fields__"):
            stack.extend(
                getattr(x, f) for f in x.__dataclass_fields__ if f not in {"span", "comments"}
            )
    return out


def unify(pattern: Type, actual: Type, env: dict[str, Type]) -> bool:
    """Match ``actual`` against a signature type, binding its type variables in ``env``."""
    if is_type_var(pattern):
        name = pattern.name
        if name in env:
            joined = join(env[name], actual)
            if joined is None:
                return False
            env[name] = joined
        else:
            env[name] = actual
        return True
    if isinstance(pattern, ListT):
        if actual == ANY:
            return True
        return isinstance(actual, ListT) and unify(pattern.item, actual.item, env)
    if isinstance(pattern, OptionalT):
        inner = actual.item if isinstance(actual, OptionalT) else actual
        return unify(pattern.item, inner, env)
    return assignable(actual, pattern)


def _subst(t: Type, env: dict[str, Type]) -> Type:
    if is_type_var(t):
        return env.get(t.name, ANY)
    if isinstance(t, ListT):
        return ListT(item=_subst(t.item, env))
    if isinstance(t, OptionalT):
        return OptionalT(item=_subst(t.item, env))
    if isinstance(t, RecordT):  # a record result, e.g. zip's [{a: A, b: B}]
        fields = tuple(f.model_copy(update={"type": _subst(f.type, env)}) for f in t.fields)
        return t.model_copy(update={"fields": fields})
    return t


_REGION = OpaqueT(name="Region")
_INT = IntT()
_OPAQUE_FIELDS: dict[str, dict[str, Type]] = {
    "Pair": {"a": _REGION, "b": _REGION},
    "Region": {"id": _INT},
    "Cell": {"index": _INT, "row": _INT, "col": _INT, "box": OpaqueT(name="Box")},
    "Box": {"x0": _INT, "y0": _INT, "x1": _INT, "y1": _INT},
    "Point": {"x": _INT, "y": _INT},
    "Grid": {"rows": _INT, "cols": _INT, "box": OpaqueT(name="Box")},
}

#: The fields of the standard library's value types (``p.a`` of a ``Pair``), for editors.
OPAQUE_FIELDS: dict[str, dict[str, Type]] = _OPAQUE_FIELDS


def _literal(e: n.Expr) -> tuple[ir.Scalar, Type | None]:
    if isinstance(e, n.Unary) and e.op == "-" and isinstance(e.operand, n.IntLit | n.FloatLit):
        value, t = _literal(e.operand)
        return -value, t  # type: ignore[operator]  # an Int/Float literal: a number
    if isinstance(e, n.IntLit):
        return e.value, IntT()
    if isinstance(e, n.FloatLit):
        return e.value, FloatT()
    if isinstance(e, n.BoolLit):
        return e.value, BoolT()
    if isinstance(e, n.StrLit):
        return e.value, EnumT(values=(e.value,))
    if isinstance(e, n.NoneLit):
        return None, OptionalT(item=ANY)
    return None, None
