"""Checker pass: expressions — names, fields, operators, lists, calls against signatures."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from chainlang.language import codes, ir
from chainlang.language.analysis import staticeval
from chainlang.language.analysis.staticeval import Scope, Static
from chainlang.language.checking.helpers import (
    _OPAQUE_FIELDS,
    Binding,
    _literal,
    _mentions,
    _subst,
    unify,
)
from chainlang.language.checking.labels import not_a_label
from chainlang.language.checking.state import CheckState
from chainlang.language.diagnostics import did_you_mean
from chainlang.language.labelsets import normalise
from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n
from chainlang.language.types import (
    ERROR_TYPE,
    BoolT,
    EnumT,
    FieldT,
    FloatT,
    IntT,
    LabelT,
    ListT,
    OpaqueT,
    OptionalT,
    RecordT,
    Type,
    assignable,
    join,
    widen,
)
from chainlang.stdlib import Operation
from chainlang.stdlib.typenames import ANY

ERR = ERROR_TYPE

_ARITH = {"+", "-", "*", "/", "%"}
_ORDER = {"<", "<=", ">", ">="}


class ExprChecks(CheckState):
    """Expressions → typed IR (a pass of :class:`Checker`)."""

    if TYPE_CHECKING:
        # Provided by :class:`ValueChecks`, which :class:`Checker` mixes in with this pass.
        def _bool(self, e: n.Expr, what: str) -> ir.Expr: ...
        def _element(self, t: Type, span: Span, what: str) -> Type: ...
        def _expect(self, got: Type, want: Type, span: Span, what: str) -> bool: ...
        def label_names(self, labelset: str) -> dict[str, str] | None: ...

    def expr(self, e: n.Expr) -> ir.Expr:
        """Check an expression and return its typed IR."""
        out = self._expr(e)
        if self.observer is not None:
            self.observer(e, out.type)
        return out

    def _expr(self, e: n.Expr) -> ir.Expr:
        o = e.span.origin()
        if isinstance(e, n.IntLit | n.FloatLit | n.BoolLit | n.StrLit | n.NoneLit):
            value, t = _literal(e)
            return ir.Lit(value=value, type=t, origin=o)  # type: ignore[arg-type]  # a literal's value
        if isinstance(e, n.Name):
            return self._name(e)
        if isinstance(e, n.Field):
            return self._field(e)
        if isinstance(e, n.Call):
            return self.call(e)
        if isinstance(e, n.Binary):
            return self._binary(e)
        if isinstance(e, n.Unary):
            return self._unary(e)
        if isinstance(e, n.IfExpr):
            return self._if(e)
        if isinstance(e, n.ListLit):
            return self._list(e)
        if isinstance(e, n.Comprehension):
            return self._comprehension(e)
        fields = [ir.Arg(name=f.name, value=self.expr(f.value)) for f in e.fields]
        for i, f in enumerate(e.fields):
            first = next((x for x in e.fields[:i] if x.name == f.name), None)
            if first is not None:
                self.diags.add(codes.duplicate_field(f.span, "field", f.name, first.span))
        t = RecordT(fields=tuple(FieldT(name=f.name, type=f.value.type) for f in fields))
        return ir.RecordOf(fields=tuple(fields), type=t, origin=o)

    def _name(self, e: n.Name) -> ir.Expr:
        o = e.span.origin()
        if e.name == "truth":
            if not self.in_oracle:
                self.diags.add(codes.truth_outside_oracle(e.span))
                return ir.Ref(name="truth", scope="truth", type=ERR, origin=o)
            return ir.Ref(name="truth", scope="truth", type=self.truth_type or ERR, origin=o)
        b = self.env.get(e.name)
        if b is None:
            cands = [*self.env, *(["truth"] if self.in_oracle else [])]
            self.diags.add(codes.unknown_name(e.span, e.name, did_you_mean(e.name, cands)))
            return ir.Ref(name=e.name, scope="let", type=ERR, origin=o)
        # arg-type: a binding's scope is one of ir.Ref's scopes (pydantic checks too)
        return ir.Ref(name=e.name, scope=b.scope, type=b.type, origin=o)  # type: ignore[arg-type]

    def _field(self, e: n.Field) -> ir.Expr:
        obj = self.expr(e.obj)
        t = obj.type
        layers: list[type[ListT | OptionalT]] = []
        while isinstance(t, ListT | OptionalT):
            layers.append(type(t))
            t = t.item
        ft = self._field_type(t, e)
        # Rewrap the field type in the layers it was lifted through.
        for layer in reversed(layers):
            ft = ft if ft == ERR else layer(item=ft)
        return ir.GetField(obj=obj, name=e.name, lift=len(layers), type=ft, origin=e.span.origin())

    def _field_type(self, t: Type, e: n.Field) -> Type:
        if t == ERR:
            return ERR
        fields: dict[str, Type] = {}
        if isinstance(t, RecordT):
            fields = {f.name: f.type for f in t.fields}
        elif isinstance(t, OpaqueT):
            fields = _OPAQUE_FIELDS.get(t.name, {})
        if e.name in fields:
            return fields[e.name]
        hint = did_you_mean(e.name, fields) or self._operation_hint(e)
        owner = _field_owner(t)
        self.diags.add(codes.unknown_field(e.span, owner, e.name, list(fields), hint))
        return ERR

    def _operation_hint(self, e: n.Field) -> str | None:
        # `r.area` where `area` is an operation: say how to call it.
        if self.registry.get(e.name) is None:
            return None
        return f"'{e.name}' is an operation, not a field: call it as {e.name}(...)"

    def _binary(self, e: n.Binary) -> ir.Expr:
        left, right = self.expr(e.left), self.expr(e.right)
        t, lift = self._binary_type(e, left.type, right.type)
        # arg-type: the grammar admits only ir.BinOp's operators (pydantic checks too)
        return ir.BinOp(op=e.op, left=left, right=right, lift=lift, type=t, origin=e.span.origin())  # type: ignore[arg-type]

    def _binary_type(self, e: n.Binary, a: Type, b: Type) -> tuple[Type, bool]:
        if ERR in (a, b):
            return ERR, False
        a, b = widen(a), widen(b)  # Int(0..20) + 1 is an Int; a fixed list joins as a list
        num = (IntT(), FloatT())
        if e.op in {"and", "or"} and assignable(a, BoolT()) and assignable(b, BoolT()):
            return BoolT(), False
        if e.op in _ARITH and a in num and b in num:
            return (FloatT() if e.op == "/" or FloatT() in (a, b) else IntT()), False
        if e.op == "+" and isinstance(a, ListT) and isinstance(b, ListT) and (joined := join(a, b)):
            return joined, False
        if e.op in _ORDER and a in num and b in num:
            return BoolT(), False
        if e.op in {"==", "!="}:
            if join(a, b) is not None or self._compares_labels(e, a, b):
                return BoolT(), False
            if isinstance(a, ListT) and join(a.item, b) is not None:
                return ListT(item=BoolT()), True  # `votes.near == "red"` compares each element
        message = f"'{e.op}' cannot combine {a.show()} and {b.show()}"
        self.diags.add(codes.bad_operands(e.span, message))
        return ERR, False

    def _compares_labels(self, e: n.Binary, a: Type, b: Type) -> bool:
        # `answer == "cat"` with a Label(coco80) answer: the literal must be a label of the set.
        if isinstance(b, LabelT) and isinstance(a, EnumT):
            a, b = b, a
        if not (isinstance(a, LabelT) and isinstance(b, EnumT)):
            return False
        names = self.label_names(a.labelset)
        if names is None:
            return False
        for value in b.values:
            if normalise(value) not in names:
                message, hint = not_a_label(value, a.labelset, names)
                self.diags.add(codes.bad_operands(e.span, message, hint))
        return True

    def _unary(self, e: n.Unary) -> ir.Expr:
        v = self.expr(e.operand)
        t = widen(v.type)  # -x of an Int(0..20) is an Int outside the range
        if e.op == "not" and t != ERR and not assignable(t, BoolT()):
            self.diags.add(codes.bad_operands(e.span, f"`not` needs a Bool, got {t.show()}"))
            t = ERR
        elif e.op == "-" and t not in (ERR, IntT(), FloatT()):
            self.diags.add(codes.bad_operands(e.span, f"'-' needs a number, got {t.show()}"))
            t = ERR
        # arg-type: the grammar admits only ir.UnOp's operators (pydantic checks too)
        return ir.UnOp(op=e.op, operand=v, type=t, origin=e.span.origin())  # type: ignore[arg-type]

    def _if(self, e: n.IfExpr) -> ir.Expr:
        cond = self._bool(e.cond, "`if`")
        a, b = self.expr(e.then), self.expr(e.otherwise)
        t = join(a.type, b.type)
        if t is None:
            self.diags.add(codes.incompatible_branches(e.span, a.type.show(), b.type.show()))
            t = ERR
        return ir.Cond(cond=cond, then=a, otherwise=b, type=t, origin=e.span.origin())

    def _list(self, e: n.ListLit) -> ir.Expr:
        items = [self.expr(x) for x in e.items]
        t: Type | None = ANY
        for x, node in zip(items, e.items, strict=True):
            t2 = join(t, x.type) if t is not None else None
            if t2 is None and t is not None:
                shown = t.show(), x.type.show()
                self.diags.add(codes.incompatible_branches(node.span, *shown, elements=True))
            t = t2
        lt = ERR if t is None or t == ERR else ListT(item=t)
        return ir.ListOf(items=tuple(items), type=lt, origin=e.span.origin())

    def _comprehension(self, e: n.Comprehension) -> ir.Expr:
        source = self.expr(e.source)
        item = self._element(source.type, e.source.span, "a comprehension")
        with self.scoped({e.var: Binding(item, "var")}):
            cond = self._bool(e.cond, "the filter") if e.cond is not None else None
            result = self.expr(e.result)
        t = ERR if result.type == ERR else ListT(item=result.type)
        return ir.Comprehension(
            var=e.var, source=source, cond=cond, result=result, type=t, origin=e.span.origin()
        )

    # ---- calls ----
    def call(self, e: n.Call) -> ir.Expr:
        """Check a call against the registry's signature; fill in defaults."""
        op = self.registry.get(e.op)
        pos = [self.expr(a) for a in e.args]
        kws = [(k, self.expr(k.value)) for k in e.kwargs]
        if op is None:
            hint = did_you_mean(e.op, self.registry.names())
            self.diags.add(codes.unknown_operation(e.span, e.op, hint))
            return ir.Call(op=e.op, impl="", args=(), type=ERR, origin=e.span.origin())
        bound = self._bind_args(e, op, pos, kws)
        if bound is None:
            return ir.Call(op=e.op, impl=op.impl, args=(), type=ERR, origin=e.span.origin())
        result = self._unify_call(e, op, bound)
        args = tuple(ir.Arg(name=name, value=v) for name, (v, _) in bound.items())
        return ir.Call(op=e.op, impl=op.impl, args=args, type=result, origin=e.span.origin())

    def _bind_args(
        self, e: n.Call, op: Operation, pos: list[ir.Expr], kws: list[tuple[n.KwArg, ir.Expr]]
    ) -> dict[str, tuple[ir.Expr, Span]] | None:
        out: dict[str, tuple[ir.Expr, Span]] = {}
        ok = True
        if len(pos) > len(op.params):
            message = f"'{op.name}' takes at most {len(op.params)} arguments, got {len(pos)}"
            self.diags.add(codes.wrong_arguments(e.span, message))
            return None
        for p, v, node in zip(op.params, pos, e.args, strict=False):
            out[p.name] = (v, node.span)
        for k, v in kws:
            if op.param(k.name) is None:
                hint = did_you_mean(k.name, [p.name for p in op.params])
                message = f"'{op.name}' has no parameter '{k.name}'"
                self.diags.add(codes.wrong_arguments(k.span, message, hint))
                ok = False
            elif k.name in out:
                self.diags.add(codes.wrong_arguments(k.span, f"'{k.name}' is given twice"))
                ok = False
            else:
                out[k.name] = (v, k.span)
        ordered: dict[str, tuple[ir.Expr, Span]] = {}
        for p in op.params:
            if p.name in out:
                ordered[p.name] = out[p.name]
            elif p.has_default:
                t = p.types[0]
                ordered[p.name] = (ir.Lit(value=p.default, type=t), e.span)
            else:
                message = f"'{op.name}' needs argument '{p.name}'"
                self.diags.add(codes.wrong_arguments(e.span, message))
                ok = False
        return ordered if ok else None

    def _unify_call(self, e: n.Call, op: Operation, bound: dict[str, tuple[ir.Expr, Span]]) -> Type:
        env: dict[str, Type] = {}
        ok = True
        for p in op.params:
            v, span = bound[p.name]
            if v.type == ERR:
                ok = False
                continue
            if any(unify(t, v.type, env) for t in p.types):
                continue
            ok = False
            what = f"argument '{p.name}' of '{op.name}'"
            # _expect reports when the value does not fit even after substitution; when it
            # does fit, only the signature's form failed, so report that instead. This is
            # decided per argument, whatever happened to the earlier ones.
            if self._expect(v.type, _subst(p.types[0], env), span, what):
                shown = " or ".join(t.show() for t in p.types)
                self.diags.add(codes.wrong_argument_type(span, what, shown, v.type.show()))
        return _subst(op.result, env) if ok else ERR

    # ---- static values and dependencies ----
    def static(self, e: ir.Expr) -> Static | None:
        """The static value of checked ``e`` (None: known only while the chain runs)."""
        return staticeval.value_of(e, self.static_scope())

    def exact_int(self, e: ir.Expr, *, params_only: bool) -> Static | None:
        """The exact static value of the Int ``e``, or None when it has none (with
        ``params_only``, also when it needs more than parameters and literals)."""
        found = self.static(e)
        if not assignable(e.type, IntT()) or found is None or not found.exact:
            return None
        params = {k for k, b in self.env.items() if b.scope == "param"}
        if params_only and staticeval.names(found.formula) - params:
            return None
        return found

    def static_scope(self) -> Scope:
        """The names in scope as the static evaluator sees them.

        A live view of the environment, not a copy: copying it for every ``let`` made
        checking quadratic in the number of names (300k ``let``s took minutes).
        """
        return Scope(
            values=_EnvFacts(self.env, "value"),  # type: ignore[arg-type]  # read-only view
            sizes=_EnvFacts(self.env, "size"),  # type: ignore[arg-type]  # read-only view
            ops=self.registry,  # a call's static facts are declared on its operation
        )

    def depends_on_local(self, e: n.Value) -> bool:
        """True if ``e`` mentions a name bound per element of a batched for."""
        return any(b.item_local for name in _mentions(e) if (b := self.env.get(name)))


def _field_owner(t: Type) -> str:
    """Whose field is missing, as E401 names it (``"truth"`` for the truth record)."""
    if isinstance(t, RecordT) and t.name == "truth":
        return "truth"
    return f"an answer of type {t.show()}" if isinstance(t, RecordT) else t.show()


class _EnvFacts(Mapping[str, "Static | None"]):
    """One static fact (``value`` or ``size``) of every binding in an environment."""

    def __init__(self, env: Mapping[str, Any], fact: str) -> None:
        self._env = env
        self._fact = fact

    def __getitem__(self, name: str) -> Static | None:
        fact: Static | None = getattr(self._env[name], self._fact)
        return fact

    def __contains__(self, name: object) -> bool:
        return name in self._env

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)
