"""The checker: names, types, answers, prompts, parameters, defaults, loops.

Passes run in order over one module, each guarded: declarations (label sets,
answers, prompts) first, then the chain's header (inputs, truth, output,
parameters, defaults), then its body. Every error of a file is reported; an
expression that already has an error gets the type ``ERR``, which every
later check accepts silently, so one typo gives one diagnostic.

While checking, every expression is also translated to its typed IR node
(:mod:`chainlang.ir`); :mod:`chainlang.lower` assembles them into a
:class:`~chainlang.ir.Program`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chainlang import ir
from chainlang import nodes as n
from chainlang.diagnostics import Diagnostics, did_you_mean
from chainlang.labelsets import BUILTIN, LabelSetError, load
from chainlang.source import Span
from chainlang.stdlib import Operation, Registry
from chainlang.stdlib.typenames import ANY, OPAQUE, OUTPUTS, is_type_var, named_type
from chainlang.types import (
    ERROR_TYPE,
    BoolT,
    EnumT,
    FieldT,
    FloatT,
    ImageT,
    IntT,
    LabelT,
    ListT,
    OpaqueT,
    OptionalT,
    RecordT,
    TextT,
    Type,
    assignable,
    contains_any,
    is_answer_type,
    join,
)

ERR = ERROR_TYPE

_ARITH = {"+", "-", "*", "/", "%"}
_ORDER = {"<", "<=", ">", ">="}
_PARAM_KINDS = {"int", "float", "bool", "text", "enum"}


@dataclass
class Scope:
    """Declarations visible in a module: label sets, answers and prompts."""

    labelsets: dict[str, ir.LabelSet] = field(default_factory=dict)
    answers: dict[str, Type] = field(default_factory=dict)
    prompts: dict[str, ir.Prompt] = field(default_factory=dict)


@dataclass(frozen=True)
class Binding:
    type: Type
    scope: str  # input | param | let | var | state | labelset
    static: bool = False  # a formula of parameters only (usable as a bound or batch size)
    item_local: bool = False  # depends on the element of a batched for


@dataclass
class Checked:
    """What the checker learnt about one chain, ready for :func:`chainlang.lower.lower`."""

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


class Checker:
    """Checks one module. Create one per compilation (it holds the diagnostics bag)."""

    def __init__(self, diags: Diagnostics, registry: Registry, base_dir: Path) -> None:
        self.diags = diags
        self.registry = registry
        self.base_dir = base_dir
        self.scope = Scope()
        self.env: dict[str, Binding] = {}
        self.truth_type: RecordT | None = None
        self.in_oracle = False
        self.batch_items: ir.Expr | None = None
        self.loop_depth = 0
        self.broken: set[str] = set()  # prompts with errors: later uses stay quiet

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
        if name in table:
            self.diags.error("E202", span, f"{what} '{name}' is defined twice")
            return True
        return False

    def _labels(self, d: n.LabelsDecl) -> None:
        if self._dup(d.name, self.scope.labelsets, d.span, "label set"):
            return
        try:
            labels = load(str(self.base_dir / d.path))
        except LabelSetError as exc:
            self.diags.error("E204", d.span, f"label set '{d.name}': {exc}")
            return
        self.scope.labelsets[d.name] = ir.LabelSet(
            name=d.name, source=d.path, size=len(labels), origin=d.span.origin()
        )

    def labelset(self, name: str) -> ir.LabelSet | None:
        """A declared or built-in label set."""
        if name in self.scope.labelsets:
            return self.scope.labelsets[name]
        if name in BUILTIN:
            return ir.LabelSet(name=name, source="builtin", size=len(load(name)))
        return None

    def _answer(self, d: n.AnswerDecl) -> None:
        if self._dup(d.name, self.scope.answers, d.span, "answer"):
            return
        t = self.type_of(d.type)
        if isinstance(t, RecordT):
            t = RecordT(name=d.name, fields=t.fields)
        if t != ERR and not is_answer_type(t):
            self.diags.error(
                "E407",
                d.type.span,
                f"answer '{d.name}' has type {t.show()}, which has no JSON form",
            )
            t = ERR
        self.scope.answers[d.name] = t

    def _prompt(self, d: n.PromptDecl) -> None:
        if self._dup(d.name, self.scope.prompts, d.span, "prompt"):
            return
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
            if self.labelset(t.labelset) is None:
                known = [*self.scope.labelsets, *BUILTIN]
                self.diags.error(
                    "E204",
                    t.span,
                    f"unknown label set '{t.labelset}'",
                    did_you_mean(t.labelset, known),
                )
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
        return self._record_type(t)

    def _named(self, t: n.NamedType) -> Type:
        found = named_type(t.name)
        if found is not None:
            return found
        if t.name in self.scope.answers:
            return self.scope.answers[t.name]
        known = ["Int", "Float", "Bool", "Text", "Image", "Points", *OPAQUE, *self.scope.answers]
        self.diags.error("E203", t.span, f"unknown type '{t.name}'", did_you_mean(t.name, known))
        return ERR

    def _record_type(self, t: n.RecordType) -> Type:
        fields, bad = [], False
        for f in t.fields:
            if any(x.name == f.name for x in fields):
                self.diags.error("E202", f.span, f"field '{f.name}' is defined twice")
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
        if self.diags.has_errors() or result is None or output is None:
            return None
        return Checked(
            c, self.scope, inputs, truth, output, params, defaults, self.batch_items, body, result
        )

    def _io(self, c: n.ChainDecl) -> tuple[list[ir.Decl], list[ir.Decl], list[n.OutputDecl]]:
        inputs, truth = [], []
        for item in c.items:
            if isinstance(item, n.InputDecl | n.TruthDecl):
                t = self.type_of(item.type)
                decl = ir.Decl(name=item.name, type=t, origin=item.span.origin())
                if isinstance(item, n.InputDecl):
                    if not self._dup(item.name, self.env, item.span, "name"):
                        self.env[item.name] = Binding(t, "input")
                        inputs.append(decl)
                elif not any(d.name == item.name for d in truth):
                    truth.append(decl)
                else:
                    self.diags.error("E202", item.span, f"truth '{item.name}' is defined twice")
        fields = tuple(FieldT(name=d.name, type=d.type) for d in truth)
        self.truth_type = RecordT(name="truth", fields=fields)
        outputs = [o for o in c.items if isinstance(o, n.OutputDecl)]
        if len(outputs) != 1:
            where = outputs[1].span if len(outputs) > 1 else c.span
            self.diags.error(
                "E208", where, f"a chain needs exactly one `output`, found {len(outputs)}"
            )
        return inputs, truth, outputs

    def _output(
        self, c: n.ChainDecl, outs: list[n.OutputDecl], result: ir.Expr | None
    ) -> Type | None:
        if len(outs) != 1:
            return None
        o = outs[0]
        name = o.type.name if isinstance(o.type, n.NamedType) else None
        if name not in OUTPUTS:
            choices = ", ".join(sorted(OUTPUTS))
            self.diags.error(
                "E203",
                o.type.span,
                f"the output must be one of {choices}",
                did_you_mean(name or "", OUTPUTS),
            )
            return None
        t = named_type(name)
        assert t is not None
        if result is not None and not assignable(result.type, t):
            ret = next(i for i in c.items if isinstance(i, n.Return))
            self.diags.error(
                "E305", ret.span, f"the chain returns {result.type.show()} but its output is {name}"
            )
        return t

    def _params(self, c: n.ChainDecl) -> list[ir.Param]:
        out = []
        for p in (i for i in c.items if isinstance(i, n.ParamDecl)):
            t = self.type_of(p.type)
            if t != ERR and t.kind not in _PARAM_KINDS:
                self.diags.error(
                    "E501",
                    p.type.span,
                    f"parameter '{p.name}' has type {t.show()}; parameters are "
                    "Int, Float, Bool, Text or a choice of strings",
                )
                t = ERR
            default = None
            if p.default is not None:
                default = self.literal(p.default, t, f"the default of '{p.name}'")
            if self._dup(p.name, self.env, p.span, "name"):
                continue
            self.env[p.name] = Binding(t, "param", static=True)
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
            self.diags.error("E503", e.span, f"{what} must be a literal, not an expression")
            return None
        if not assignable(vt, t):
            self.diags.error("E503", e.span, f"{what} must be {t.show()}, got {vt.show()}")
            return None
        return float(value) if isinstance(t, FloatT) and isinstance(value, int) else value

    def _defaults(self, d: n.DefaultsDecl, params: list[ir.Param]) -> ir.ModelDefaults:
        if not d.pattern.strip() or any(ch.isspace() for ch in d.pattern):
            self.diags.error(
                "E504", d.span, f"'{d.pattern}' is not a model glob such as \"gpt-4o*\""
            )
        by_name = {p.name: p for p in params}
        values: list[tuple[str, ir.Scalar]] = []
        variants: list[tuple[str, str]] = []
        for s in d.settings:
            if isinstance(s, n.ParamSetting):
                if s.name not in by_name:
                    self.diags.error(
                        "E502",
                        s.span,
                        f"'{s.name}' is not a parameter of this chain",
                        did_you_mean(s.name, by_name),
                    )
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
            self.diags.error(
                "E206",
                s.span,
                f"unknown prompt '{s.prompt}'",
                did_you_mean(s.prompt, self.scope.prompts),
            )
        elif all(v.name != s.variant for v in prompt.variants):
            names = [v.name for v in prompt.variants]
            self.diags.error(
                "E406",
                s.span,
                f"prompt '{s.prompt}' has no variant '{s.variant}' (it has {', '.join(names)})",
                did_you_mean(s.variant, names),
            )

    def _batch_decl(self, c: n.ChainDecl) -> ir.Expr | None:
        decls = [i for i in c.items if isinstance(i, n.BatchDecl)]
        if not decls:
            return None
        if len(decls) > 1:
            self.diags.error("E202", decls[1].span, "`batch items` is given twice")
        return self.batch_size(decls[0].size)

    def batch_size(self, e: n.Expr) -> ir.Expr:
        """A batch size: a static Int expression."""
        size = self.expr(e)
        if size.type != ERR and (not assignable(size.type, IntT()) or not self.is_static(e)):
            self.diags.error("E603", e.span, "a batch size must be an Int computed from parameters")
        return size

    # ---- the chain body ----
    def _body(self, c: n.ChainDecl) -> tuple[list[ir.Let], ir.Expr | None]:
        lets: list[ir.Let] = []
        stmts = [i for i in c.items if isinstance(i, n.Let | n.Return)]
        returns = [s for s in stmts if isinstance(s, n.Return)]
        if len(returns) != 1 or stmts[-1] is not returns[0]:
            where = returns[-1].span if returns else c.span
            self.diags.error("E208", where, "a chain needs exactly one `return`, as its last step")
        result = None
        for s in stmts:
            if isinstance(s, n.Let):
                lets.append(self.let(s))
            else:
                result = self.value(s.value)
        return lets, result

    def let(self, s: n.Let, item_local: bool = False) -> ir.Let:
        """Check a let and bind its name in the current environment."""
        value = self.value(s.value)
        if s.name in self.env and self.env[s.name].scope in {"input", "param", "labelset"}:
            self.diags.error("E202", s.span, f"'{s.name}' is already a {self.env[s.name].scope}")
        local = item_local or self.depends_on_local(s.value)
        self.env[s.name] = Binding(value.type, "let", self.is_static(s.value), local)
        return ir.Let(name=s.name, value=value, origin=s.span.origin())

    # ---- prompts ----
    def prompt_decl(self, d: n.PromptDecl) -> ir.Prompt | None:
        """Check a prompt: parameter and answer types, holes, image slots, variants."""
        params: dict[str, ir.PromptParam] = {}
        for p in d.params:
            if self._dup(p.name, params, p.span, "prompt parameter"):
                continue
            params[p.name] = ir.PromptParam(name=p.name, type=self.type_of(p.type), each=p.each)
        answer = self.type_of(d.answer)
        if answer != ERR and not is_answer_type(answer):
            self.diags.error(
                "E407", d.answer.span, f"the answer type {answer.show()} has no JSON form"
            )
            answer = ERR
        base = [self._message(m, params) for m in d.items if isinstance(m, n.Message)]
        variants = self._variants(d, params, base)
        if answer == ERR or any(m is None for m in base) or variants is None:
            return None
        reasoning = any(v.reasoning for v in variants)
        element = answer
        if reasoning and isinstance(answer, RecordT) and answer.field("reasoning") is None:
            extra = FieldT(name="reasoning", type=ListT(item=TextT()))
            element = RecordT(name=answer.name, fields=(extra, *answer.fields))
        default = next(
            (v.name for v in variants if "default" in _flags(d, v.name)), variants[0].name
        )
        return ir.Prompt(
            name=d.name,
            params=tuple(params.values()),
            answer=answer,
            element=element,
            variants=tuple(variants),
            default_variant=default,
            origin=d.span.origin(),
        )

    def _variants(
        self, d: n.PromptDecl, params: dict[str, ir.PromptParam], base: list[ir.Message | None]
    ) -> list[ir.Variant] | None:
        decls = [v for v in d.items if isinstance(v, n.Variant)]
        out: list[ir.Variant] = []
        ok = True
        if sum("default" in v.flags for v in decls) > 1:
            self.diags.error("E202", d.span, f"prompt '{d.name}' has more than one default variant")
        for v in decls:
            if any(o.name == v.name for o in out):
                self.diags.error("E202", v.span, f"variant '{v.name}' is defined twice")
                continue
            msgs = [self._message(m, params) for m in v.messages]
            ok = ok and None not in msgs
            out.append(
                ir.Variant(
                    name=v.name,
                    reasoning="reasoning" in v.flags,
                    messages=_merge([m for m in base if m], [m for m in msgs if m]),
                    origin=v.span.origin(),
                )
            )  # type: ignore[arg-type]
        if not decls:
            out.append(
                ir.Variant(
                    name="base", messages=tuple(m for m in base if m), origin=d.span.origin()
                )
            )  # type: ignore[arg-type]
        if ok and None not in base and not any(m.role != "system" for v in out for m in v.messages):
            self.diags.error("E404", d.span, f"prompt '{d.name}' has no user message")
            ok = False
        return out if ok else None

    def _message(self, m: n.Message, params: dict[str, ir.PromptParam]) -> ir.Message | None:
        parts: list[ir.TextPart | ir.ImageSlot] = []
        ok = True
        for part in m.parts:
            if isinstance(part, n.ImagePart):
                ok = self._slot(part, m, params) and ok
                detail = part.detail or "high"
                parts.append(
                    ir.ImageSlot(param=part.param, detail=detail, origin=part.span.origin())
                )  # type: ignore[arg-type]
                continue
            text = part.text if isinstance(part, n.TextPart) else self._read_text(part)
            if text is None:
                ok = False
                continue
            segs = self._holes(text, part.span, m, params)
            ok = ok and segs is not None
            parts.append(ir.TextPart(segments=tuple(segs or ()), origin=part.span.origin()))
        if not ok:
            return None
        return ir.Message(role=m.role, each=m.each, parts=tuple(parts), origin=m.span.origin())  # type: ignore[arg-type]

    def _slot(self, part: n.ImagePart, m: n.Message, params: dict[str, ir.PromptParam]) -> bool:
        p = params.get(part.param)
        if p is None or not assignable(p.type, OptionalT(item=ImageT())) or p.type == ANY:
            images = [q.name for q in params.values() if isinstance(q.type, ImageT)]
            self.diags.error(
                "E403",
                part.span,
                f"image slot '{part.param}' is not an Image parameter of the prompt",
                did_you_mean(part.param, images),
            )
            return False
        if p.each and not m.each:
            self.diags.error(
                "E410",
                part.span,
                f"'{part.param}' is an `each` parameter; use it in an `each` message",
            )
            return False
        return True

    def _read_text(self, part: n.FilePart) -> str | None:
        try:
            return (self.base_dir / part.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.diags.error(
                "E411",
                part.span,
                f"cannot read prompt text '{part.path}': {exc.__class__.__name__}",
            )
            return None

    def _holes(
        self, text: str, span: Span, m: n.Message, params: dict[str, ir.PromptParam]
    ) -> list[ir.TextSeg | ir.HoleSeg] | None:
        segs: list[ir.TextSeg | ir.HoleSeg] = []
        ok, buf, i = True, "", 0
        while i < len(text):
            if text.startswith("{{", i) or text.startswith("}}", i):
                buf, i = buf + text[i], i + 2
                continue
            if text[i] != "{":
                buf, i = buf + text[i], i + 1
                continue
            end = text.find("}", i)
            name = text[i + 1 : end] if end > 0 else ""
            if not name.isidentifier():
                buf, i = buf + text[i], i + 1  # a lone brace is text
                continue
            ok = self._hole(name, span, m, params) and ok
            if buf:
                segs.append(ir.TextSeg(text=buf))
            segs.append(ir.HoleSeg(name=name))
            buf, i = "", end + 1
        if buf:
            segs.append(ir.TextSeg(text=buf))
        return segs if ok else None

    def _hole(self, name: str, span: Span, m: n.Message, params: dict[str, ir.PromptParam]) -> bool:
        if (name == "key" and m.each) or name == "count":
            return True
        p = params.get(name)
        if p is None:
            cands = [*params, "count", *(["key"] if m.each else [])]
            self.diags.error(
                "E402",
                span,
                f"hole {{{name}}} is not a parameter of the prompt",
                did_you_mean(name, cands),
            )
            return False
        if isinstance(p.type, ImageT):
            self.diags.error(
                "E403", span, f"'{name}' is an image; show it with [{name}], not {{{name}}}"
            )
            return False
        if (p.each and not m.each) or name == "key":
            self.diags.error(
                "E410", span, f"hole {{{name}}} is per item; use it in an `each` message"
            )
            return False
        return True

    # ---- values ----
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
        saved = dict(self.env)
        try:
            lets = [self.let(x) for x in b.lets]
            if batch_var is not None and isinstance(b.value, n.Ask):
                result = self.ask(b.value, batch_var)
            else:
                result = self.value(b.value)
            return ir.Block(lets=tuple(lets), result=result, origin=b.span.origin())
        finally:
            self.env = saved

    def for_value(self, f: n.For) -> ir.Expr:
        source = self.expr(f.source)
        item = self._element(source.type, f.source.span, "a `for` loop")
        batch = self.batch_size(f.batch) if f.batch is not None else None
        if f.batch is not None and (not isinstance(f.body.value, n.Ask) or _asks_in(f.body.lets)):
            self.diags.error(
                "E602",
                f.body.span,
                "a batched `for` body must end in one `ask` and contain no other ask",
            )
        saved = dict(self.env)
        self.env[f.var] = Binding(item, "var", item_local=f.batch is not None)
        self.loop_depth += 1
        try:
            body = self.block(f.body, f.var if f.batch is not None else None)
        finally:
            self.env, self.loop_depth = saved, self.loop_depth - 1
        t = ERR if body.result.type == ERR else ListT(item=body.result.type)
        return ir.ForEach(
            var=f.var, source=source, batch=batch, body=body, type=t, origin=f.span.origin()
        )

    def _element(self, t: Type, span: Span, what: str) -> Type:
        if t == ERR:
            return ERR
        if isinstance(t, ListT):
            return t.item
        self.diags.error("E306", span, f"{what} needs a list, got {t.show()}")
        return ERR

    def repeat(self, r: n.Repeat) -> ir.Expr:
        state = self._state(r)
        saved = dict(self.env)
        for s in state:
            self.env[s.name] = Binding(s.type, "state")
        self.loop_depth += 1
        try:
            bound = self.expr(r.bound)
            if bound.type != ERR and (
                not assignable(bound.type, IntT()) or not self.is_static(r.bound)
            ):
                self.diags.error(
                    "E601",
                    r.bound.span,
                    "`up to` needs an Int computed from "
                    "parameters and data sizes (e.g. n_iters, ceil(count(regions) / 8))",
                )
            until = self._bool(r.until, "`until`")
            lets = [self.let(x) for x in r.lets]
            nxt = self._next(r, state)
        finally:
            self.env, self.loop_depth = saved, self.loop_depth - 1
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
        for s in r.state:
            init = self.expr(s.init)
            t = self.type_of(s.type) if s.type is not None else init.type
            if s.type is not None:
                self._expect(init.type, t, s.init.span, f"the start value of '{s.name}'")
            elif contains_any(t):
                self.diags.error(
                    "E605",
                    s.span,
                    f"cannot tell the type of '{s.name}' from its "
                    f"start value; write it, e.g. `{s.name}: [Region] = []`",
                )
                t = ERR
            if any(o.name == s.name for o in out):
                self.diags.error("E202", s.span, f"state field '{s.name}' is defined twice")
                continue
            out.append(ir.StateField(name=s.name, type=t, init=init, origin=s.span.origin()))
        return out

    def _next(self, r: n.Repeat, state: list[ir.StateField]) -> ir.Expr:
        nxt = self.expr(r.next)
        given = {f.name: f for f in r.next.fields}
        for s in state:
            if s.name not in given:
                self.diags.error("E605", r.next.span, f"`next` must give a value for '{s.name}'")
        for name, f in given.items():
            s = next((x for x in state if x.name == name), None)
            if s is None:
                self.diags.error(
                    "E605",
                    f.span,
                    f"'{name}' is not a state field of this loop",
                    did_you_mean(name, [x.name for x in state]),
                )
            elif isinstance(nxt, ir.RecordOf):
                got = next(a.value.type for a in nxt.fields if a.name == name)
                self._expect(got, s.type, f.value.span, f"the next value of '{name}'")
        return nxt

    def if_block(self, b: n.IfBlock) -> ir.Expr:
        cond = self._bool(b.cond, "`if`")
        then, other = self.block(b.then), self.block(b.otherwise)
        t = join(then.result.type, other.result.type)
        if t is None:
            self.diags.error(
                "E307",
                b.span,
                f"the branches give {then.result.type.show()} and {other.result.type.show()}",
            )
            t = ERR
        return ir.Branch(cond=cond, then=then, otherwise=other, type=t, origin=b.span.origin())

    # ---- asks ----
    def ask(self, a: n.Ask, batch_var: str | None) -> ir.Expr:
        """Check an ask; ``batch_var`` is the element variable of an enclosing batched for."""
        prompt = self.scope.prompts.get(a.prompt)
        args = [(k, self.expr(k.value)) for k in a.args]
        if prompt is None:
            if a.prompt not in self.broken:
                self.diags.error(
                    "E206",
                    a.span,
                    f"unknown prompt '{a.prompt}'",
                    did_you_mean(a.prompt, self.scope.prompts),
                )
            return _err(a)
        self._ask_args(a, prompt, args, batch_var)
        element = prompt.element
        oracle = self._clause(a.oracle, element, True) if a.oracle is not None else None
        fallback = self._clause(a.fallback, element, False) if a.fallback is not None else None
        on_failure = "skip" if a.skip else "value" if fallback is not None else "fail"
        batch_items = None
        if self.batch_items is not None:
            if self.loop_depth:
                self.diags.error("E604", a.span, "with `batch items`, asks must be outside loops")
            batch_items = self.batch_items
        t = OptionalT(item=element) if a.skip else element
        return ir.Ask(
            prompt=a.prompt,
            args=tuple(ir.Arg(name=k.name, value=v) for k, v in args),
            each=tuple(p.name for p in prompt.params if p.each),
            batch_items=batch_items,
            oracle=oracle,
            on_failure=on_failure,
            fallback=fallback,
            type=t,
            origin=a.span.origin(),
        )  # type: ignore[arg-type]

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
                self.diags.error(
                    "E405",
                    k.span,
                    f"prompt '{prompt.name}' has no parameter '{k.name}'",
                    did_you_mean(k.name, params),
                )
                continue
            if k.name in seen:
                self.diags.error("E303", k.span, f"'{k.name}' is given twice")
            seen.add(k.name)
            self._expect(v.type, p.type, k.value.span, f"argument '{k.name}'")
            shared_bad = batch_var is not None and self.depends_on_local(k.value)
            if not p.each and shared_bad:
                self.diags.error(
                    "E409",
                    k.span,
                    f"'{k.name}' is shared by every item of a batch "
                    f"but depends on '{batch_var}'; make it an `each` parameter",
                )
        for name in params:
            if name not in seen:
                self.diags.error("E404", a.span, f"the ask does not give prompt parameter '{name}'")

    def _clause(self, c: n.ClauseBody, answer: Type, oracle: bool) -> ir.Block:
        saved, saved_oracle = dict(self.env), self.in_oracle
        self.in_oracle = oracle
        try:
            lets = [self.let(x) for x in c.lets]
            value = self._clause_value(c, answer, "the oracle" if oracle else "the fallback")
        finally:
            self.env, self.in_oracle = saved, saved_oracle
        return ir.Block(lets=tuple(lets), result=value, origin=c.span.origin())

    def _clause_value(self, c: n.ClauseBody, answer: Type, what: str) -> ir.Expr:
        if c.fields is None:
            assert c.expr is not None
            v = self.expr(c.expr)
            self._expect_answer(v.type, answer, c.expr.span, what)
            return v
        fields = [ir.Arg(name=f.name, value=self.expr(f.value)) for f in c.fields]
        if not isinstance(answer, RecordT):
            self.diags.error(
                "E408",
                c.span,
                f"{what} gives fields but the answer is {answer.show()}; write the value itself",
            )
            return ir.RecordOf(fields=tuple(fields), type=ERR)
        given = {f.name for f in fields}
        for f in c.fields:
            if answer.field(f.name) is None:
                self.diags.error(
                    "E408",
                    f.span,
                    f"the answer has no field '{f.name}'",
                    did_you_mean(f.name, [x.name for x in answer.fields]),
                )
        for af in answer.fields:
            if af.name not in given and af.name != "reasoning":
                self.diags.error("E408", c.span, f"{what} must give field '{af.name}'")
        for f, node in zip(fields, c.fields, strict=True):
            af = answer.field(f.name)
            if af is not None:
                self._expect_answer(f.value.type, af.type, node.value.span, f"field '{f.name}'")
        return ir.RecordOf(fields=tuple(fields), type=answer, origin=c.span.origin())

    def _expect_answer(self, got: Type, want: Type, span: Span, what: str) -> None:
        if got != ERR and not assignable(got, want):
            self.diags.error("E408", span, f"{what} must be {want.show()}, got {got.show()}")

    def _expect(self, got: Type, want: Type, span: Span, what: str) -> bool:
        if got == ERR or want == ERR or assignable(got, want):
            return True
        if isinstance(got, OptionalT) and assignable(got.item, want):
            self.diags.error(
                "E308",
                span,
                f"{what} may be missing ({_shown(got)}) but {want.show()} is required",
                "use present(...) or an `else` value",
            )
        else:
            self.diags.error("E301", span, f"{what} must be {want.show()}, got {got.show()}")
        return False

    def _bool(self, e: n.Expr, what: str) -> ir.Expr:
        v = self.expr(e)
        if v.type != ERR and not assignable(v.type, BoolT()):
            self.diags.error("E304", e.span, f"{what} needs a Bool condition, got {v.type.show()}")
        return v

    # ---- expressions ----
    def expr(self, e: n.Expr) -> ir.Expr:
        """Check an expression and return its typed IR."""
        o = e.span.origin()
        if isinstance(e, n.IntLit | n.FloatLit | n.BoolLit | n.StrLit | n.NoneLit):
            value, t = _literal(e)
            return ir.Lit(value=value, type=t, origin=o)  # type: ignore[arg-type]
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
            if any(x.name == f.name for x in e.fields[:i]):
                self.diags.error("E202", f.span, f"field '{f.name}' is given twice")
        t = RecordT(fields=tuple(FieldT(name=f.name, type=f.value.type) for f in fields))
        return ir.RecordOf(fields=tuple(fields), type=t, origin=o)

    def _name(self, e: n.Name) -> ir.Expr:
        o = e.span.origin()
        if e.name == "truth":
            if not self.in_oracle:
                self.diags.error(
                    "E207", e.span, "`truth` is only available inside `oracle { ... }`"
                )
                return ir.Ref(name="truth", scope="truth", type=ERR, origin=o)
            return ir.Ref(name="truth", scope="truth", type=self.truth_type or ERR, origin=o)
        b = self.env.get(e.name)
        if b is None:
            cands = [*self.env, *(["truth"] if self.in_oracle else [])]
            self.diags.error(
                "E201", e.span, f"unknown name '{e.name}'", did_you_mean(e.name, cands)
            )
            return ir.Ref(name=e.name, scope="let", type=ERR, origin=o)
        return ir.Ref(name=e.name, scope=b.scope, type=b.type, origin=o)  # type: ignore[arg-type]

    def _field(self, e: n.Field) -> ir.Expr:
        obj = self.expr(e.obj)
        t, lift = obj.type, 0
        while isinstance(t, ListT | OptionalT):
            t, lift = t.item, lift + 1
        ft = self._field_type(t, e)
        # Rewrap the field type in the layers it was lifted through.
        layers = []
        t2 = obj.type
        while isinstance(t2, ListT | OptionalT):
            layers.append(type(t2))
            t2 = t2.item
        for layer in reversed(layers):
            ft = ft if ft == ERR else layer(item=ft)
        return ir.GetField(obj=obj, name=e.name, lift=lift, type=ft, origin=e.span.origin())

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
        what = f"an answer of type {t.show()}" if isinstance(t, RecordT) else t.show()
        self.diags.error(
            "E401", e.span, f"{what} has no field '{e.name}'", did_you_mean(e.name, fields)
        )
        return ERR

    def _binary(self, e: n.Binary) -> ir.Expr:
        left, right = self.expr(e.left), self.expr(e.right)
        t, lift = self._binary_type(e, left.type, right.type)
        return ir.BinOp(op=e.op, left=left, right=right, lift=lift, type=t, origin=e.span.origin())  # type: ignore[arg-type]

    def _binary_type(self, e: n.Binary, a: Type, b: Type) -> tuple[Type, bool]:
        if ERR in (a, b):
            return ERR, False
        num = (IntT(), FloatT())
        if e.op in {"and", "or"} and assignable(a, BoolT()) and assignable(b, BoolT()):
            return BoolT(), False
        if e.op in _ARITH and a in num and b in num:
            return (FloatT() if e.op == "/" or FloatT() in (a, b) else IntT()), False
        if e.op == "+" and isinstance(a, ListT) and isinstance(b, ListT) and join(a, b):
            return join(a, b), False  # type: ignore[return-value]
        if e.op in _ORDER and a in num and b in num:
            return BoolT(), False
        if e.op in {"==", "!="}:
            if join(a, b) is not None:
                return BoolT(), False
            if isinstance(a, ListT) and join(a.item, b) is not None:
                return ListT(item=BoolT()), True  # `votes.near == "red"` compares each element
        self.diags.error("E302", e.span, f"'{e.op}' cannot combine {a.show()} and {b.show()}")
        return ERR, False

    def _unary(self, e: n.Unary) -> ir.Expr:
        v = self.expr(e.operand)
        t = v.type
        if e.op == "not" and t != ERR and not assignable(t, BoolT()):
            self.diags.error("E302", e.span, f"`not` needs a Bool, got {t.show()}")
            t = ERR
        elif e.op == "-" and t not in (ERR, IntT(), FloatT()):
            self.diags.error("E302", e.span, f"'-' needs a number, got {t.show()}")
            t = ERR
        return ir.UnOp(op=e.op, operand=v, type=t, origin=e.span.origin())  # type: ignore[arg-type]

    def _if(self, e: n.IfExpr) -> ir.Expr:
        cond = self._bool(e.cond, "`if`")
        a, b = self.expr(e.then), self.expr(e.otherwise)
        t = join(a.type, b.type)
        if t is None:
            self.diags.error(
                "E307", e.span, f"the branches give {a.type.show()} and {b.type.show()}"
            )
            t = ERR
        return ir.Cond(cond=cond, then=a, otherwise=b, type=t, origin=e.span.origin())

    def _list(self, e: n.ListLit) -> ir.Expr:
        items = [self.expr(x) for x in e.items]
        t: Type | None = ANY
        for x, node in zip(items, e.items, strict=True):
            t2 = join(t, x.type) if t is not None else None  # type: ignore[arg-type]
            if t2 is None and t is not None:
                self.diags.error(
                    "E307", node.span, f"list elements mix {t.show()} and {x.type.show()}"
                )
            t = t2
        lt = ERR if t is None or t == ERR else ListT(item=t)
        return ir.ListOf(items=tuple(items), type=lt, origin=e.span.origin())

    def _comprehension(self, e: n.Comprehension) -> ir.Expr:
        source = self.expr(e.source)
        item = self._element(source.type, e.source.span, "a comprehension")
        saved = dict(self.env)
        self.env[e.var] = Binding(item, "var")
        try:
            cond = self._bool(e.cond, "the filter") if e.cond is not None else None
            result = self.expr(e.result)
        finally:
            self.env = saved
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
            self.diags.error(
                "E205",
                e.span,
                f"unknown operation '{e.op}'",
                did_you_mean(e.op, self.registry.names()),
            )
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
            self.diags.error(
                "E303",
                e.span,
                f"'{op.name}' takes at most {len(op.params)} arguments, got {len(pos)}",
            )
            return None
        for p, v, node in zip(op.params, pos, e.args, strict=False):
            out[p.name] = (v, node.span)
        for k, v in kws:
            if op.param(k.name) is None:
                self.diags.error(
                    "E303",
                    k.span,
                    f"'{op.name}' has no parameter '{k.name}'",
                    did_you_mean(k.name, [p.name for p in op.params]),
                )
                ok = False
            elif k.name in out:
                self.diags.error("E303", k.span, f"'{k.name}' is given twice")
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
                self.diags.error("E303", e.span, f"'{op.name}' needs argument '{p.name}'")
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
            if not any(unify(t, v.type, env) for t in p.types):
                shown = " or ".join(t.show() for t in p.types)
                ok = (
                    self._expect(
                        v.type, _subst(p.types[0], env), span, f"argument '{p.name}' of '{op.name}'"
                    )
                    and ok
                )
                if ok:  # assignable after substitution: report the signature form instead
                    self.diags.error(
                        "E301",
                        span,
                        f"argument '{p.name}' of '{op.name}' must be {shown}, got {v.type.show()}",
                    )
                    ok = False
        return _subst(op.result, env) if ok else ERR

    # ---- static-ness and dependencies ----
    def is_static(self, e: n.Value) -> bool:
        """True if ``e`` is computed from literals, parameters, static lets and data sizes."""
        if isinstance(e, n.IntLit | n.FloatLit | n.BoolLit | n.StrLit | n.NoneLit):
            return True
        if isinstance(e, n.Name):
            b = self.env.get(e.name)
            return b is not None and b.static
        if isinstance(e, n.Binary):
            return self.is_static(e.left) and self.is_static(e.right)
        if isinstance(e, n.Unary):
            return self.is_static(e.operand)
        if isinstance(e, n.IfExpr):
            return all(self.is_static(x) for x in (e.cond, e.then, e.otherwise))
        if isinstance(e, n.Call):
            if e.op in {"count", "len"}:  # data sizes become symbols of the bound
                return True
            if e.op in {"ceil", "floor", "min", "max", "abs"}:
                return all(self.is_static(a) for a in e.args) and not e.kwargs
        return False

    def depends_on_local(self, e: n.Value) -> bool:
        """True if ``e`` mentions a name bound per element of a batched for."""
        return any(b.item_local for name in _mentions(e) if (b := self.env.get(name)))


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
        name = pattern.name  # type: ignore[union-attr]
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
        return env.get(t.name, ANY)  # type: ignore[union-attr]
    if isinstance(t, ListT):
        return ListT(item=_subst(t.item, env))
    if isinstance(t, OptionalT):
        return OptionalT(item=_subst(t.item, env))
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


def _literal(e: n.Expr) -> tuple[ir.Scalar, Type | None]:
    if isinstance(e, n.Unary) and e.op == "-" and isinstance(e.operand, n.IntLit | n.FloatLit):
        value, t = _literal(e.operand)
        return -value, t  # type: ignore[operator]
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
