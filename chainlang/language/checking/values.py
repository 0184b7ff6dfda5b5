"""Checker pass: values that ask, loop or branch — for, repeat, if blocks, ask and its clauses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from chainlang.language import codes, ir
from chainlang.language.analysis.staticeval import BLit
from chainlang.language.checking.helpers import (
    Binding,
    _asks_in,
    _err,
    _shown,
)
from chainlang.language.checking.labels import (
    enum_fits_labels,
    label_names,
    literal_sites,
    not_a_label,
)
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
    IntT,
    LabelT,
    ListT,
    OptionalT,
    RecordT,
    Type,
    assignable,
    contains_any,
    join,
    loosen,
)

if TYPE_CHECKING:
    from chainlang.language.analysis.staticeval import Static

ERR = ERROR_TYPE
OnFailure = Literal["fail", "value", "skip"]  # what an ask does when it fails (ir.Ask)


class ValueChecks(CheckState):
    """Blocks, loops and asks → IR (a pass of :class:`Checker`)."""

    if TYPE_CHECKING:
        # Provided by the passes this one is mixed with in :class:`Checker`; declared
        # here so each pass is checked against the others' signatures.
        def expr(self, e: n.Expr) -> ir.Expr: ...
        def static(self, e: ir.Expr) -> Static | None: ...
        def exact_int(self, e: ir.Expr, *, params_only: bool) -> Static | None: ...
        def depends_on_local(self, e: n.Value) -> bool: ...
        def let(self, s: n.Let, item_local: bool = False) -> ir.Let: ...
        def batch_size(self, e: n.Expr, *, params_only: bool = False) -> ir.Expr: ...
        def type_of(self, t: n.TypeNode) -> Type: ...
        def labelset(self, name: str) -> ir.LabelSet | None: ...

    def value(self, v: n.Value) -> ir.Expr:
        """Check a value (an expression, or an ask / for / repeat / if-block)."""
        if isinstance(v, n.Ask):
            return self.ask(v, None)
        if isinstance(v, n.For):
            return self.for_value(v)
        if isinstance(v, n.Repeat):
            return self.repeat(v)
        if isinstance(v, n.IfBlock):
            return self.if_block(v)
        return self.expr(v)

    def block(self, b: n.Block, batch_var: str | None = None) -> ir.Block:
        """Check a block in a child environment (its names do not leak)."""
        with self.scoped():
            lets = [self.let(x) for x in b.lets]
            if batch_var is not None and isinstance(b.value, n.Ask):
                result = self.ask(b.value, batch_var)
            else:
                result = self.value(b.value)
        return ir.Block(lets=tuple(lets), result=result, origin=b.span.origin())

    def for_value(self, f: n.For) -> ir.Expr:
        source = self.expr(f.source)
        item = self._element(source.type, f.source.span, "a `for` loop")
        batch = self.batch_size(f.batch) if f.batch is not None else None
        if f.batch is not None and (not isinstance(f.body.value, n.Ask) or _asks_in(f.body.lets)):
            self.diags.add(codes.batched_body(f.body.span))
        var = {f.var: Binding(item, "var", item_local=f.batch is not None)}
        with self.scoped(var, loop=True):
            body = self.block(f.body, f.var if f.batch is not None else None)
        t = ERR if body.result.type == ERR else ListT(item=body.result.type)
        return ir.ForEach(
            var=f.var, source=source, batch=batch, body=body, type=t, origin=f.span.origin()
        )

    def _element(self, t: Type, span: Span, what: str) -> Type:
        if t == ERR:
            return ERR
        if isinstance(t, ListT):
            return t.item
        self.diags.add(codes.not_a_list(span, what, t.show()))
        return ERR

    def repeat(self, r: n.Repeat) -> ir.Expr:
        state = self._state(r)
        with self.scoped({s.name: Binding(s.type, "state") for s in state}, loop=True):
            bound = self.expr(r.bound)
            if bound.type != ERR and (
                not assignable(bound.type, IntT()) or self.static(bound) is None
            ):
                self.diags.add(codes.unbounded_repeat(r.bound.span))
            until = self._bool(r.until, "`until`")
            lets = [self.let(x) for x in r.lets]
            nxt = self._next(r, state)
        t = RecordT(fields=tuple(FieldT(name=s.name, type=s.type) for s in state))
        return ir.Loop(
            state=tuple(state),
            bound=bound,
            until=until,
            lets=tuple(lets),
            next=nxt,
            type=t,
            origin=r.span.origin(),
        )

    def _state(self, r: n.Repeat) -> list[ir.StateField]:
        out: list[ir.StateField] = []
        for i, s in enumerate(r.state):
            init = self.expr(s.init)
            t = self.type_of(s.type) if s.type is not None else init.type
            if s.type is not None:
                self._expect(init.type, t, s.init.span, f"the start value of '{s.name}'")
            elif contains_any(t):
                self.diags.add(codes.state_type_unknown(s.span, s.name))
                t = ERR
            first = next((x for x in r.state[:i] if x.name == s.name), None)
            if first is not None:
                self.diags.add(codes.duplicate_field(s.span, "state field", s.name, first.span))
                continue
            out.append(ir.StateField(name=s.name, type=t, init=init, origin=s.span.origin()))
        return out

    def _next(self, r: n.Repeat, state: list[ir.StateField]) -> ir.Expr:
        nxt = self.expr(r.next)
        given = {f.name: f for f in r.next.fields}
        for kept in state:
            if kept.name not in given:
                self.diags.add(codes.bad_next(r.next.span, kept.name, missing=True))
        for name, f in given.items():
            s = next((x for x in state if x.name == name), None)
            if s is None:
                hint = did_you_mean(name, [x.name for x in state])
                self.diags.add(codes.bad_next(f.span, name, missing=False, hint=hint))
            elif isinstance(nxt, ir.RecordOf):
                got = next(a.value.type for a in nxt.fields if a.name == name)
                self._expect(got, s.type, f.value.span, f"the next value of '{name}'")
        return nxt

    def if_block(self, b: n.IfBlock) -> ir.Expr:
        cond = self._bool(b.cond, "`if`")
        then, other = self.block(b.then), self.block(b.otherwise)
        t = join(then.result.type, other.result.type)
        if t is None:
            shown = then.result.type.show(), other.result.type.show()
            self.diags.add(codes.incompatible_branches(b.span, *shown))
            t = ERR
        return ir.Branch(cond=cond, then=then, otherwise=other, type=t, origin=b.span.origin())

    # ---- asks ----
    def ask(self, a: n.Ask, batch_var: str | None) -> ir.Expr:
        """Check an ask; ``batch_var`` is the element variable of an enclosing batched for."""
        prompt = self.scope.prompts.get(a.prompt)
        args = [(k, self.expr(k.value)) for k in a.args]
        if prompt is None:
            if a.prompt not in self.broken:
                hint = did_you_mean(a.prompt, self.scope.prompts)
                self.diags.add(codes.unknown_prompt(a.span, a.prompt, hint))
            return _err(a)
        self._ask_args(a, prompt, args, batch_var)
        element = prompt.element
        oracle = self._clause(a.oracle, element, True) if a.oracle is not None else None
        fallback = self._clause(a.fallback, element, False) if a.fallback is not None else None
        on_failure: OnFailure = "skip" if a.skip else "value" if fallback is not None else "fail"
        batch_items = None
        if self.batch_items is not None:
            if self.loop_depth:
                self.diags.add(codes.ask_in_loop_with_batch_items(a.span))
            batch_items = self.batch_items
        t: Type = OptionalT(item=element) if a.skip else element
        samples = self._samples(a.samples) if a.samples is not None else None
        if samples is not None:
            t = ListT(item=t)  # one answer per sample, in sample order
        return ir.Ask(
            prompt=a.prompt,
            args=tuple(ir.Arg(name=k.name, value=v) for k, v in args),
            each=tuple(p.name for p in prompt.params if p.each),
            batch_items=batch_items,
            oracle=oracle,
            on_failure=on_failure,
            fallback=fallback,
            variant=self._ask_variant(a, prompt),
            samples=samples,
            type=t,
            origin=a.span.origin(),
        )

    def _ask_variant(self, a: n.Ask, prompt: ir.Prompt) -> str | None:
        """The variant an ask pins (``variant NAME``): one the prompt has."""
        if a.variant is None:
            return None
        have = [v.name for v in prompt.variants]
        if a.variant not in have:
            hint = did_you_mean(a.variant, have)
            self.diags.add(codes.unknown_variant(a.span, prompt.name, a.variant, have, hint))
        return a.variant

    def _samples(self, e: n.Expr) -> ir.Expr:
        """``samples K``: an Int computed exactly from parameters and literals, at least 1.

        A literal below 1 is refused here; a parameter's value is checked when the ask
        is reached (the interpreter fails the item rather than asking nothing).
        """
        k = self.expr(e)
        if k.type == ERR:
            return k
        found = self.exact_int(k, params_only=True)
        if found is None:
            self.diags.add(codes.bad_samples(e.span))
        elif isinstance(found.formula, BLit) and isinstance(k_lit := found.formula.value, int):
            if k_lit < 1:
                self.diags.add(codes.bad_samples(e.span, k_lit))
        return k

    def _ask_args(
        self,
        a: n.Ask,
        prompt: ir.Prompt,
        args: list[tuple[n.KwArg, ir.Expr]],
        batch_var: str | None,
    ) -> None:
        params = {p.name: p for p in prompt.params}
        seen: set[str] = set()
        for k, v in args:
            p = params.get(k.name)
            if p is None:
                hint = did_you_mean(k.name, params)
                self.diags.add(codes.unknown_prompt_argument(k.span, prompt.name, k.name, hint))
                continue
            if k.name in seen:
                self.diags.add(codes.wrong_arguments(k.span, f"'{k.name}' is given twice"))
            seen.add(k.name)
            self._expect(v.type, p.type, k.value.span, f"argument '{k.name}'")
            shared_bad = batch_var is not None and self.depends_on_local(k.value)
            if not p.each and shared_bad:
                assert batch_var is not None  # shared_bad implies it
                self.diags.add(codes.shared_depends_on_item(k.span, k.name, batch_var))
        for name in params:
            if name not in seen:
                self.diags.add(codes.missing_prompt_argument(a.span, name))

    def _clause(self, c: n.ClauseBody, answer: Type, oracle: bool) -> ir.Block:
        with self.scoped(oracle=oracle):
            lets = [self.let(x) for x in c.lets]
            value = self._clause_value(c, answer, "the oracle" if oracle else "the fallback")
        self._clause_labels(c, answer)
        return ir.Block(lets=tuple(lets), result=value, origin=c.span.origin())

    def _clause_labels(self, c: n.ClauseBody, answer: Type) -> None:
        # Every literal the clause can give as a label must be one: a type join with a truth
        # label (`if .. then "zebra" else truth.label`) would otherwise hide a misspelling.
        body: n.Value | None = c.expr
        if c.fields is not None:
            body = n.RecordLit(fields=c.fields, span=c.span)
        lets = {x.name: x.value for x in c.lets}
        for lit, labelset in literal_sites(body, answer, lets):
            names = self.label_names(labelset)
            if names is not None and normalise(lit.value) not in names:
                message, hint = not_a_label(lit.value, labelset, names)
                self.diags.add(codes.clause_mismatch(lit.span, message, hint))

    def label_names(self, labelset: str) -> dict[str, str] | None:
        """The labels of a declared or built-in set by normalised form (memoised)."""
        memo: dict[str, dict[str, str] | None] = self.__dict__.setdefault("_label_memo", {})
        if labelset not in memo:
            memo[labelset] = label_names(self.labelset(labelset), self.base_dir)
        return memo[labelset]

    def _clause_value(self, c: n.ClauseBody, answer: Type, what: str) -> ir.Expr:
        if c.fields is None:
            assert c.expr is not None
            v = self.expr(c.expr)
            self._expect_answer(v.type, answer, c.expr.span, what)
            return v
        fields = [ir.Arg(name=f.name, value=self.expr(f.value)) for f in c.fields]
        if not isinstance(answer, RecordT):
            message = (
                f"{what} gives fields but the answer is {answer.show()}; write the value itself"
            )
            self.diags.add(codes.clause_mismatch(c.span, message))
            return ir.RecordOf(fields=tuple(fields), type=ERR)
        given = {f.name for f in fields}
        for written in c.fields:
            if answer.field(written.name) is None:
                hint = did_you_mean(written.name, [x.name for x in answer.fields])
                message = f"the answer has no field '{written.name}'"
                self.diags.add(codes.clause_mismatch(written.span, message, hint))
        for wanted in answer.fields:
            if wanted.name not in given and wanted.name != "reasoning":
                message = f"{what} must give field '{wanted.name}'"
                self.diags.add(codes.clause_mismatch(c.span, message))
        for f, node in zip(fields, c.fields, strict=True):
            af = answer.field(f.name)
            if af is not None:
                self._expect_answer(f.value.type, af.type, node.value.span, f"field '{f.name}'")
        return ir.RecordOf(fields=tuple(fields), type=answer, origin=c.span.origin())

    def _expect_answer(self, got: Type, want: Type, span: Span, what: str) -> None:
        if got == ERR or assignable(got, want):
            return
        if assignable(got, loosen(want)) and _is_shaped(want):
            return  # Int into Int(0..20), a list into a permutation: checked as an answer when used
        if enum_fits_labels(got, want, self.label_names):
            return  # literals that name labels of the set (each literal is checked above)
        if _names_labels(got, want):
            return  # a literal that is not a label: `_clause_labels` names it precisely
        message = f"{what} must be {want.show()}, got {got.show()}"
        self.diags.add(codes.clause_mismatch(span, message))

    def _expect(self, got: Type, want: Type, span: Span, what: str) -> bool:
        if got == ERR or want == ERR or assignable(got, want):
            return True
        if isinstance(got, OptionalT) and assignable(got.item, want):
            self.diags.add(codes.maybe_missing(span, what, _shown(got), want.show()))
        else:
            self.diags.add(codes.wrong_argument_type(span, what, want.show(), got.show()))
        return False

    def _bool(self, e: n.Expr, what: str) -> ir.Expr:
        v = self.expr(e)
        if v.type != ERR and not assignable(v.type, BoolT()):
            self.diags.add(codes.not_bool(e.span, what, v.type.show()))
        return v


def _names_labels(got: Type, want: Type) -> bool:
    """True if ``got`` is literal text where ``want`` is a label (possibly in a list/optional)."""
    if isinstance(want, OptionalT):
        return _names_labels(got.item if isinstance(got, OptionalT) else got, want.item)
    if isinstance(want, ListT):
        return isinstance(got, ListT) and _names_labels(got.item, want.item)
    return isinstance(want, LabelT) and isinstance(got, EnumT)


def _is_shaped(t: Type) -> bool:
    """True if ``t`` has an answer shape (range, fixed length, permutation) at any depth."""
    return loosen(t) != t
