"""The checker: names, types, answers, prompts, parameters, defaults, loops.

Passes run in order over one module, each guarded: declarations (label sets,
answers, prompts) first, then the chain's header (inputs, truth, output,
parameters, defaults), then its body. Every error of a file is reported; an
expression that already has an error gets the type ``ERR``, which every
later check accepts silently, so one typo gives one diagnostic.

While checking, every expression is also translated to its typed IR node
(:mod:`chainlang.language.ir`); :mod:`chainlang.language.lower` assembles them into a
:class:`~chainlang.language.ir.Program`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chainlang.language import codes, ir
from chainlang.language.analysis import staticeval
from chainlang.language.analysis.staticeval import BSym, Static
from chainlang.language.checking.exprs import ExprChecks
from chainlang.language.checking.helpers import Binding, _literal, _shown
from chainlang.language.checking.lints import lints
from chainlang.language.checking.prompts import PromptChecks
from chainlang.language.checking.repeats import repeated_asks
from chainlang.language.checking.scores import MetricSignature, ScoreChecks
from chainlang.language.checking.state import CheckState, Scope
from chainlang.language.checking.values import ValueChecks
from chainlang.language.diagnostics import Diagnostics, did_you_mean
from chainlang.language.labelsets import BUILTIN, LabelSetError, declared_path, load
from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n
from chainlang.language.syntax.unparse import type_text
from chainlang.language.types import (
    ERROR_TYPE,
    EnumT,
    FieldT,
    FixedListT,
    FloatRangeT,
    FloatT,
    IntRangeT,
    LabelT,
    ListT,
    OptionalT,
    RecordT,
    Type,
    assignable,
    is_answer_type,
    permutation_of,
)
from chainlang.stdlib import Registry
from chainlang.stdlib.typenames import BUILTIN_NAMES, named_type

ERR = ERROR_TYPE

_PARAM_KINDS = {"int", "float", "bool", "text", "enum"}


def builtin_labelset(name: str) -> ir.LabelSet:
    """The IR entry of a built-in label set (a key of :data:`~.labelsets.BUILTIN`)."""
    return ir.LabelSet(name=name, source="builtin", size=len(load(name)))


@dataclass
class Checked:
    """What the checker learnt about one chain, ready for :func:`chainlang.language.lower.lower`."""

    chain: n.ChainDecl
    scope: Scope
    inputs: list[ir.Decl]
    truth: list[ir.Decl]
    output: Type
    params: list[ir.Param]
    defaults: list[ir.ModelDefaults]
    batch_items: ir.Expr | None
    body: list[ir.Let]
    result: ir.Expr
    scores: tuple[ir.MetricUse, ...] = ()


class Checker(PromptChecks, ValueChecks, ExprChecks, ScoreChecks):
    """Checks one module. Create one per compilation (it holds the diagnostics bag).

    Its state (:class:`~.state.CheckState`) is declared once and shared by the passes.
    ``metrics`` are the metrics a ``score`` line may name (None: the metric registry).
    """

    def __init__(
        self,
        diags: Diagnostics,
        registry: Registry,
        base_dir: Path,
        metrics: Mapping[str, MetricSignature] | None = None,
    ) -> None:
        CheckState.__init__(self, diags, registry, base_dir)
        self.metrics_given = metrics

    # ---- declarations ----
    def declare(self, items: tuple[n.ModuleItem | n.ChainItem, ...]) -> None:
        """Check label sets, answers and prompts, in source order."""
        for item in items:
            if isinstance(item, n.LabelsDecl):
                self._labels(item)
            elif isinstance(item, n.AnswerDecl):
                self._answer(item)
            elif isinstance(item, n.PromptDecl):
                self._prompt(item)

    def _dup(self, name: str, table: Mapping[str, object], span: Span, what: str) -> bool:
        first = self.first_spans.setdefault((what, name), span)
        if name in table:
            self.diags.add(codes.duplicate_name(span, what, name, first if first != span else None))
            return True
        return False

    def _labels(self, d: n.LabelsDecl) -> None:
        if self._dup(d.name, self.scope.labelsets, d.span, "label set"):
            return
        try:
            labels = load(str(declared_path(d.path, self.base_dir)))
        except LabelSetError as exc:
            self.diags.add(codes.unknown_labelset(d.span, d.name, None, str(exc)))
            return
        self.scope.labelsets[d.name] = ir.LabelSet(
            name=d.name, source=d.path, size=len(labels), origin=d.span.origin()
        )

    def labelset(self, name: str) -> ir.LabelSet | None:
        """A declared or built-in label set."""
        if name in self.scope.labelsets:
            return self.scope.labelsets[name]
        if name in BUILTIN:
            return builtin_labelset(name)
        return None

    def _answer(self, d: n.AnswerDecl) -> None:
        if self._dup(d.name, self.scope.answers, d.span, "answer"):
            return
        t = self.type_of(d.type)
        if isinstance(t, RecordT):
            t = RecordT(name=d.name, fields=t.fields)
        if t != ERR and not is_answer_type(t):
            self.diags.add(codes.no_json_form(d.type.span, t.show(), d.name))
            t = ERR
        self.scope.answers[d.name] = t

    def _prompt(self, d: n.PromptDecl) -> None:
        if self._dup(d.name, self.scope.prompts, d.span, "prompt"):
            return
        self.own_prompts[d.name] = d.span
        prompt = self.prompt_decl(d)
        if prompt is not None:
            self.scope.prompts[d.name] = prompt
        else:
            self.broken.add(d.name)

    # ---- types ----
    def type_of(self, t: n.TypeNode) -> Type:
        """Resolve a written type (E203/E204 on unknown names)."""
        if isinstance(t, n.NamedType):
            return self._named(t)
        if isinstance(t, n.LabelType):
            if self._broken_labelset(t.labelset):
                return ERR  # its declaration already has an error: one mistake, one message
            if self.labelset(t.labelset) is None:
                known = [*self.scope.labelsets, *BUILTIN]
                hint = did_you_mean(t.labelset, known)
                self.diags.add(codes.unknown_labelset(t.span, t.labelset, hint))
                return ERR
            return LabelT(labelset=t.labelset)
        if isinstance(t, n.ListType):
            item = self.type_of(t.item)
            return ERR if item == ERR else ListT(item=item)
        if isinstance(t, n.OptionalType):
            item = self.type_of(t.item)
            return ERR if item == ERR else OptionalT(item=item)
        if isinstance(t, n.EnumType):
            return EnumT(values=tuple(dict.fromkeys(t.values)))
        if isinstance(t, n.RangeType | n.FixedListType | n.PermutationType):
            return self._shape_type(t)
        return self._record_type(t)

    def _shape_type(self, t: n.RangeType | n.FixedListType | n.PermutationType) -> Type:
        """``Int(0..20)``, ``[T; 5]``, ``permutation of [...]`` (E211 when no answer fits)."""
        shown = type_text(t)
        if isinstance(t, n.RangeType):
            if t.name not in ("Int", "Float"):
                hint = "only Int and Float take a range"
                self.diags.add(codes.empty_shape(t.span, shown, "is not a number range", hint))
                return ERR
            if t.name == "Int" and not (isinstance(t.lo, int) and isinstance(t.hi, int)):
                hint = "write whole bounds, or use Float(..)"
                self.diags.add(codes.empty_shape(t.span, shown, "has a fractional bound", hint))
                return ERR
            if t.lo > t.hi:
                hint = f"write it low to high: {t.name}({t.hi!r}..{t.lo!r})"
                self.diags.add(codes.empty_shape(t.span, shown, "is empty", hint))
                return ERR
            if t.name == "Int":
                return IntRangeT(lo=int(t.lo), hi=int(t.hi))
            return FloatRangeT(lo=float(t.lo), hi=float(t.hi))
        if isinstance(t, n.FixedListType):
            item = self.type_of(t.item)
            if t.length < 1:
                self.diags.add(
                    codes.empty_shape(t.span, shown, "has no items", "use a length >= 1")
                )
                return ERR
            return ERR if item == ERR else FixedListT(item=item, length=t.length)
        return self._permutation_type(t, shown)

    def _permutation_type(self, t: n.PermutationType, shown: str) -> Type:
        if t.labelset is not None:
            item = self.type_of(n.LabelType(t.labelset, span=t.span))
            found = self.labelset(t.labelset)
            size = found.size if found is not None else 2
            if item == ERR:
                return ERR
            values: tuple[str, ...] = ()
        else:
            values, size = t.values, len(t.values)
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                why = f"names {', '.join(repr(v) for v in twice)} twice"
                self.diags.add(codes.empty_shape(t.span, shown, why, "list each value once"))
                return ERR
        if size < 2:
            hint = "a permutation orders two or more values"
            self.diags.add(codes.empty_shape(t.span, shown, "has a single order", hint))
            return ERR
        return permutation_of(values, t.labelset)

    def _broken_labelset(self, name: str) -> bool:
        """A label set declared in this file whose file could not be used (E204 given)."""
        return ("label set", name) in self.first_spans and name not in self.scope.labelsets

    def _named(self, t: n.NamedType) -> Type:
        found = named_type(t.name)
        if found is not None:
            return found
        if t.name in self.scope.answers:
            return self.scope.answers[t.name]
        known = [*BUILTIN_NAMES, *self.scope.answers]
        self.diags.add(codes.unknown_type(t.span, t.name, did_you_mean(t.name, known)))
        return ERR

    def _record_type(self, t: n.RecordType) -> Type:
        fields, bad = [], False
        for i, f in enumerate(t.fields):
            first = next((x for x in t.fields[:i] if x.name == f.name), None)
            if first is not None:
                self.diags.add(codes.duplicate_field(f.span, "field", f.name, first.span))
                continue
            ft = self.type_of(f.type)
            bad = bad or ft == ERR
            fields.append(FieldT(name=f.name, type=ft, doc=f.doc))
        return ERR if bad else RecordT(fields=tuple(fields))

    # ---- the chain header ----
    def chain(self, c: n.ChainDecl) -> Checked | None:
        """Check a chain (declarations must already be in ``self.scope``)."""
        self.declare(c.items)
        inputs, truth, outputs = self._io(c)
        params = self._params(c)
        defaults = [self._defaults(d, params) for d in c.items if isinstance(d, n.DefaultsDecl)]
        for name in BUILTIN:
            self.env.setdefault(name, Binding(ListT(item=LabelT(labelset=name)), "labelset"))
        for ls in self.scope.labelsets.values():
            self.env.setdefault(ls.name, Binding(ListT(item=LabelT(labelset=ls.name)), "labelset"))
        self.batch_items = self._batch_decl(c)
        body, result = self._body(c)
        output = self._output(c, outputs, result)
        scores = self.score_line(c, outputs[0] if len(outputs) == 1 else None, output or ERR)
        if self.diags.has_errors() or result is None or output is None:
            return None
        return Checked(
            c,
            self.scope,
            inputs,
            truth,
            output,
            params,
            defaults,
            self.batch_items,
            body,
            result,
            scores,
        )

    def _io(self, c: n.ChainDecl) -> tuple[list[ir.Decl], list[ir.Decl], list[n.OutputDecl]]:
        inputs: list[ir.Decl] = []
        truth: list[ir.Decl] = []
        for item in c.items:
            if isinstance(item, n.InputDecl | n.TruthDecl):
                t = self.type_of(item.type)
                decl = ir.Decl(name=item.name, type=t, origin=item.span.origin())
                if isinstance(item, n.InputDecl):
                    if not self._dup(item.name, self.env, item.span, "name"):
                        size = Static(BSym(name=f"len({item.name})"))
                        self.env[item.name] = Binding(t, "input", size=size)
                        inputs.append(decl)
                elif not any(d.name == item.name for d in truth):
                    truth.append(decl)
                else:
                    first = next(
                        d.span
                        for d in c.items
                        if isinstance(d, n.TruthDecl) and d.name == item.name
                    )
                    self.diags.add(codes.duplicate_name(item.span, "truth", item.name, first))
        fields = tuple(FieldT(name=d.name, type=d.type) for d in truth)
        self.truth_type = RecordT(name="truth", fields=fields)
        outputs = [o for o in c.items if isinstance(o, n.OutputDecl)]
        if len(outputs) != 1:
            where = outputs[1].span if len(outputs) > 1 else c.span
            self.diags.add(codes.chain_structure(where, "output", len(outputs)))
        return inputs, truth, outputs

    def _output(
        self, c: n.ChainDecl, outs: list[n.OutputDecl], result: ir.Expr | None
    ) -> Type | None:
        if len(outs) != 1:
            return None
        o = outs[0]
        t = self.type_of(o.type)  # any type the language writes; `score_line` checks the rest
        if t == ERR:
            return None
        if result is not None and not assignable(result.type, t):
            ret = next(i for i in c.items if isinstance(i, n.Return))
            self.diags.add(codes.wrong_output(ret.span, _shown(result.type), type_text(o.type)))
        return t

    def _params(self, c: n.ChainDecl) -> list[ir.Param]:
        out = []
        for p in (i for i in c.items if isinstance(i, n.ParamDecl)):
            t = self.type_of(p.type)
            if t != ERR and t.kind not in _PARAM_KINDS:
                self.diags.add(codes.bad_param_type(p.type.span, p.name, t.show()))
                t = ERR
            default = None
            if p.default is not None:
                default = self.literal(p.default, t, f"the default of '{p.name}'")
            if self._dup(p.name, self.env, p.span, "name"):
                continue
            self.env[p.name] = Binding(t, "param", value=Static(BSym(name=p.name)))
            out.append(
                ir.Param(
                    name=p.name,
                    type=t,
                    default=default,
                    required=p.default is None,
                    doc=p.doc,
                    origin=p.span.origin(),
                )
            )
        return out

    def literal(self, e: n.Expr, t: Type, what: str) -> ir.Scalar:
        """The value of a literal expression of type ``t`` (E503 otherwise)."""
        value, vt = _literal(e)
        if vt is None:
            self.diags.add(codes.not_a_literal(e.span, what))
            return None
        if not assignable(vt, t):
            self.diags.add(codes.not_a_literal(e.span, what, t.show(), vt.show()))
            return None
        if isinstance(t, FloatT) and isinstance(value, int):
            try:
                return float(value)
            except OverflowError:  # an integer literal beyond any Float
                self.diags.add(codes.malformed_literal(e.span))
                return None
        return value

    def _defaults(self, d: n.DefaultsDecl, params: list[ir.Param]) -> ir.ModelDefaults:
        if not d.pattern.strip() or any(ch.isspace() for ch in d.pattern):
            self.diags.add(codes.bad_glob(d.span, d.pattern))
        by_name = {p.name: p for p in params}
        values: list[tuple[str, ir.Scalar]] = []
        variants: list[tuple[str, str]] = []
        for s in d.settings:
            if isinstance(s, n.ParamSetting):
                if s.name not in by_name:
                    hint = did_you_mean(s.name, by_name)
                    self.diags.add(codes.unknown_param(s.span, s.name, hint))
                    continue
                values.append((s.name, self.literal(s.value, by_name[s.name].type, f"'{s.name}'")))
            else:
                self._variant_setting(s)
                variants.append((s.prompt, s.variant))
        return ir.ModelDefaults(
            pattern=d.pattern,
            params=tuple(values),
            variants=tuple(variants),
            origin=d.span.origin(),
        )

    def _variant_setting(self, s: n.VariantSetting) -> None:
        prompt = self.scope.prompts.get(s.prompt)
        if prompt is None and s.prompt in self.broken:
            return
        if prompt is None:
            hint = did_you_mean(s.prompt, self.scope.prompts)
            self.diags.add(codes.unknown_prompt(s.span, s.prompt, hint))
        elif all(v.name != s.variant for v in prompt.variants):
            names = [v.name for v in prompt.variants]
            hint = did_you_mean(s.variant, names)
            self.diags.add(codes.unknown_variant(s.span, s.prompt, s.variant, names, hint))

    def _batch_decl(self, c: n.ChainDecl) -> ir.Expr | None:
        decls = [i for i in c.items if isinstance(i, n.BatchDecl)]
        if not decls:
            return None
        if len(decls) > 1:
            self.diags.add(codes.batch_items_twice(decls[1].span, decls[0].span))
        return self.batch_size(decls[0].size, params_only=True)

    def batch_size(self, e: n.Expr, *, params_only: bool = False) -> ir.Expr:
        """A batch size: an Int the static evaluator computes exactly (for ``batch items``,
        from parameters alone: the run evaluates it before it reads any item)."""
        size = self.expr(e)
        if size.type == ERR:
            return size
        if self.exact_int(size, params_only=params_only) is None:
            self.diags.add(codes.bad_batch_size(e.span, params_only=params_only))
        return size

    # ---- the chain body ----
    def _body(self, c: n.ChainDecl) -> tuple[list[ir.Let], ir.Expr | None]:
        lets: list[ir.Let] = []
        stmts = [i for i in c.items if isinstance(i, n.Let | n.Return)]
        returns = [s for s in stmts if isinstance(s, n.Return)]
        if len(returns) != 1 or stmts[-1] is not returns[0]:
            where = returns[-1].span if returns else c.span
            self.diags.add(codes.chain_structure(where, "return"))
        result = None
        for s in stmts:
            if isinstance(s, n.Let):
                lets.append(self.let(s))
            else:
                result = self.value(s.value)
        if not self.diags.has_errors():  # a lint for chains that compile
            for span, message, first in repeated_asks(stmts):
                self.diags.add(codes.identical_asks(span, message, first))
            for diag in lints(c, self.own_prompts):
                self.diags.add(diag)
        return lets, result

    def let(self, s: n.Let, item_local: bool = False) -> ir.Let:
        """Check a let and bind its name in the current environment."""
        value = self.value(s.value)
        if s.name in self.env and self.env[s.name].scope in {"input", "param", "labelset"}:
            first = self.first_spans.get(("name", s.name))
            self.diags.add(codes.let_rebinds(s.span, s.name, self.env[s.name].scope, first))
        local = item_local or self.depends_on_local(s.value)
        scope = self.static_scope()
        self.env[s.name] = Binding(
            value.type,
            "let",
            value=staticeval.value_of(value, scope),
            size=staticeval.size_of(value, scope, s.name),
            item_local=local,
        )
        if self.observer is not None:
            self.observer(s, value.type)
        return ir.Let(name=s.name, value=value, origin=s.span.origin())
