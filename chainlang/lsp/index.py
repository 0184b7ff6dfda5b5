"""Where each name of a file is defined and used, read from its syntax tree.

The AST keeps one span per node, not per name, so a declaration's name is found
in the text of its node (the first word after the keyword). The walk follows the
checker's scoping: a chain's inputs, parameters and ``let``s in order; blocks,
``for`` variables, comprehension variables, ``repeat`` state and oracle clauses
open child scopes. Imported names point at their declaration in the imported
file (``Symbol.origin``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from chainlang.language.source import SourceFile, Span
from chainlang.language.syntax import nodes as n

#: ``{name}`` holes of prompt text (``{{`` escapes a brace).
HOLE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(eq=False)
class Symbol:
    """A declared name: what it is, where its name is, and its whole declaration."""

    name: str
    kind: str  # chain input truth param let var state labelset answer field prompt
    #            promptparam variant import
    span: Span  # the name itself
    node: object  # the declaring AST node
    parent: Symbol | None = None  # a field's answer, a prompt parameter's or variant's prompt
    origin: Symbol | None = None  # an imported name: its declaration in the other file
    children: list[Symbol] = field(default_factory=list)  # fields, parameters, variants

    def target(self) -> Symbol:
        """The declaration this symbol stands for (through imports)."""
        seen: Symbol = self
        for _ in range(16):  # imports of imports, never a loop
            if seen.origin is None:
                break
            seen = seen.origin
        return seen


@dataclass(frozen=True)
class Ref:
    """A use of a name at ``span`` that stands for ``symbol``."""

    span: Span
    symbol: Symbol


@dataclass
class Index:
    """The symbols of one file and every use of them found in it."""

    symbols: list[Symbol] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    #: Names in scope where each scope starts (offset, names), for completion.
    scopes: list[tuple[int, int, dict[str, Symbol]]] = field(default_factory=list)
    #: ``obj.name`` uses whose type only the checker knows: (field span, the ``Field`` node).
    fields: list[tuple[Span, n.Field]] = field(default_factory=list)
    top: dict[str, Symbol] = field(default_factory=dict)  # prompts, answers, label sets

    def at(self, offset: int) -> Symbol | None:
        """The symbol defined or used at ``offset`` (None when none is)."""
        for s in self.symbols:
            if s.span.start <= offset <= s.span.end:
                return s
        for r in self.refs:
            if r.span.start <= offset <= r.span.end:
                return r.symbol
        return None

    def visible(self, offset: int) -> dict[str, Symbol]:
        """The names a value at ``offset`` may use (innermost scope last wins)."""
        out: dict[str, Symbol] = {}
        for start, end, names in self.scopes:
            if start <= offset <= end:
                for name, sym in names.items():
                    if sym.span.start < offset:
                        out[name] = sym
        return out


ImportResolver = Callable[[str], "Index | None"]


class _Builder:
    def __init__(self, src: SourceFile, resolve: ImportResolver | None) -> None:
        self.src = src
        self.resolve = resolve
        self.index = Index()
        self.env: dict[str, Symbol] = {}
        self.prompts: dict[str, Symbol] = {}

    # ---- names inside node text ----
    def name_span(self, node_span: Span, name: str, skip: int = 0) -> Span:
        """The span of the first whole-word ``name`` in the node's text after ``skip`` chars."""
        text = self.src.text
        pattern = re.compile(rf"(?<![\w\"]){re.escape(name)}(?!\w)")
        m = pattern.search(text, node_span.start + skip, max(node_span.end, node_span.start))
        if m is None:
            return node_span
        return self.src.span(m.start(), m.end())

    def define(
        self, name: str, kind: str, node_span: Span, node: object, parent: Symbol | None = None
    ) -> Symbol:
        """Declare ``name``; its span is found after the declaration's keyword."""
        skip = 0 if kind in {"field", "promptparam", "state"} else _keyword_len(self.src, node_span)
        sym = Symbol(name, kind, self.name_span(node_span, name, skip), node, parent=parent)
        self.index.symbols.append(sym)
        if sym.parent is not None:
            sym.parent.children.append(sym)
        return sym

    def use(self, span: Span, sym: Symbol | None) -> None:
        if sym is not None:
            self.index.refs.append(Ref(span, sym))

    # ---- module ----
    def module(self, m: n.Module) -> Index:
        items = m.items
        for imp in (i for i in items if isinstance(i, n.Import)):
            self.imports(imp)
        for item in items:
            if isinstance(item, n.LabelsDecl | n.AnswerDecl | n.PromptDecl):
                self.declaration(item)
        for item in items:
            if isinstance(item, n.AnswerDecl | n.PromptDecl):
                self.declaration_body(item)
            elif isinstance(item, n.ChainDecl):
                self.chain(item)
        return self.index

    def imports(self, imp: n.Import) -> None:
        other = self.resolve(imp.path) if self.resolve is not None else None
        skip = imp.span.start
        text = self.src.text
        after = text.find("import", text.find('"', skip) + 1, imp.span.end)
        offset = max(after + len("import"), skip) - imp.span.start
        for name in imp.names:
            span = self.name_span(imp.span, name, offset)
            offset = span.end - imp.span.start
            origin = other.top.get(name) if other is not None else None
            sym = Symbol(name, "import", span, imp, origin=origin)
            self.index.symbols.append(sym)
            self.index.top.setdefault(name, sym)
            if origin is not None and origin.kind == "prompt":
                self.prompts[name] = sym

    def declaration(self, d: n.LabelsDecl | n.AnswerDecl | n.PromptDecl) -> None:
        kind = {n.LabelsDecl: "labelset", n.AnswerDecl: "answer", n.PromptDecl: "prompt"}[type(d)]
        sym = self.define(d.name, kind, d.span, d)
        self.index.top.setdefault(d.name, sym)
        if isinstance(d, n.PromptDecl):
            self.prompts[d.name] = sym

    def declaration_body(self, d: n.AnswerDecl | n.PromptDecl) -> None:
        owner = self.index.top.get(d.name)
        if isinstance(d, n.AnswerDecl):
            self.type_node(d.type, owner)
            return
        params: dict[str, Symbol] = {}
        for p in d.params:
            params[p.name] = self.define(p.name, "promptparam", p.span, p, parent=owner)
            self.type_node(p.type)
        self.type_node(d.answer)
        for item in d.items:
            if isinstance(item, n.Variant):
                self.define(item.name, "variant", item.span, item, parent=owner)
                for m in item.messages:
                    self.message(m, params)
            else:
                self.message(item, params)

    def message(self, m: n.Message, params: dict[str, Symbol]) -> None:
        for part in m.parts:
            if isinstance(part, n.ImagePart):
                self.use(self.name_span(part.span, part.param), params.get(part.param))
            elif isinstance(part, n.TextPart):
                raw = self.src.text[part.span.start : part.span.end]
                for hole in HOLE.finditer(raw):
                    start = part.span.start + hole.start(1)
                    span = self.src.span(start, start + len(hole.group(1)))
                    self.use(span, params.get(hole.group(1)))

    def type_node(self, t: n.TypeNode | None, owner: Symbol | None = None) -> None:
        if t is None:
            return
        if isinstance(t, n.NamedType):
            self.use(t.span, self.index.top.get(t.name))
        elif isinstance(t, n.LabelType):
            self.use(self.name_span(t.span, t.labelset), self.index.top.get(t.labelset))
        elif isinstance(t, n.PermutationType) and t.labelset is not None:
            self.use(
                self.name_span(t.span, t.labelset, len("permutation of Label")),
                self.index.top.get(t.labelset),
            )
        elif isinstance(t, n.ListType | n.OptionalType | n.FixedListType):
            self.type_node(t.item)
        elif isinstance(t, n.RecordType):
            for f in t.fields:
                if owner is not None:
                    self.define(f.name, "field", f.span, f, parent=owner)
                self.type_node(f.type)

    # ---- chain ----
    def chain(self, c: n.ChainDecl) -> None:
        self.define(c.name, "chain", c.span, c)
        self.env = {}
        self.open_scope(c.span)
        params: dict[str, Symbol] = {}
        for item in c.items:  # declared first: `defaults` blocks name prompts declared below
            if isinstance(item, n.LabelsDecl | n.AnswerDecl | n.PromptDecl):
                self.declaration(item)
        for item in c.items:
            if isinstance(item, n.AnswerDecl | n.PromptDecl):
                self.declaration_body(item)
        for item in c.items:
            self.chain_item(item, params)
        self.close_scope(c.span)

    def chain_item(self, item: n.ChainItem, params: dict[str, Symbol]) -> None:
        if isinstance(item, n.InputDecl | n.TruthDecl | n.ParamDecl):
            kind = {n.InputDecl: "input", n.TruthDecl: "truth", n.ParamDecl: "param"}[type(item)]
            sym = self.define(item.name, kind, item.span, item)
            self.type_node(item.type)
            if isinstance(item, n.ParamDecl):
                params[item.name] = sym
                self.expr(item.default)
            if kind != "truth":
                self.bind(item.name, sym)
            else:
                self.index.top.setdefault(f"truth.{item.name}", sym)
        elif isinstance(item, n.OutputDecl):
            self.type_node(item.type)
        elif isinstance(item, n.LabelsDecl):
            self.bind(item.name, self.index.top[item.name])
        elif isinstance(item, n.DefaultsDecl):
            self.defaults(item, params)
        elif isinstance(item, n.ScoreDecl):
            for m in item.metrics:
                self.expr(m.truth)
                for k in m.args:
                    self.expr(k.value)
        elif isinstance(item, n.BatchDecl):
            self.expr(item.size)
        elif isinstance(item, n.Let):
            self.let(item)
        elif isinstance(item, n.Return):
            self.value(item.value)

    def defaults(self, d: n.DefaultsDecl, params: dict[str, Symbol]) -> None:
        for s in d.settings:
            if isinstance(s, n.ParamSetting):
                self.use(self.name_span(s.span, s.name), params.get(s.name))
                self.expr(s.value)
            else:
                prompt = self.index.top.get(s.prompt)
                self.use(self.name_span(s.span, s.prompt, len("variant")), prompt)
                after = self.name_span(s.span, s.prompt, len("variant")).end - s.span.start
                self.use(
                    self.name_span(s.span, s.variant, after), self.variant_of(prompt, s.variant)
                )

    def variant_of(self, prompt: Symbol | None, name: str) -> Symbol | None:
        if prompt is None:
            return None
        target = prompt.target()
        return next(
            (s for s in self.all_symbols(target) if s.kind == "variant" and s.name == name), None
        )

    def all_symbols(self, owner: Symbol) -> Iterator[Symbol]:
        yield from owner.children

    def bind(self, name: str, sym: Symbol) -> None:
        self.env[name] = sym
        if self.index.scopes:
            self.index.scopes[-1][2][name] = sym

    def open_scope(self, span: Span) -> None:
        self.index.scopes.append((span.start, span.end, {}))

    def close_scope(self, span: Span) -> None:
        pass  # scopes are kept for completion; their extent was recorded on opening

    def scoped(self, span: Span) -> _Scoped:
        return _Scoped(self, span)

    def let(self, s: n.Let) -> None:
        self.value(s.value)
        self.bind(s.name, self.define(s.name, "let", s.span, s))

    def value(self, v: n.Value | None) -> None:
        if v is None:
            return
        if isinstance(v, n.Ask):
            self.ask(v)
        elif isinstance(v, n.For):
            self.expr(v.source)
            self.expr(v.batch)
            with self.scoped(v.span):
                self.bind(v.var, self.define(v.var, "var", v.span, v))
                self.block(v.body)
        elif isinstance(v, n.Repeat):
            with self.scoped(v.span):
                for st in v.state:
                    self.expr(st.init)
                    self.type_node(st.type)
                for st in v.state:
                    self.bind(st.name, self.define(st.name, "state", st.span, st))
                self.expr(v.bound)
                self.expr(v.until)
                for x in v.lets:
                    self.let(x)
                for a in v.next.fields:
                    self.use(self.name_span(a.span, a.name), self.env.get(a.name))
                    self.expr(a.value)
        elif isinstance(v, n.IfBlock):
            self.expr(v.cond)
            self.block(v.then)
            self.block(v.otherwise)
        else:
            self.expr(v)

    def block(self, b: n.Block) -> None:
        with self.scoped(b.span):
            for x in b.lets:
                self.let(x)
            self.value(b.value)

    def ask(self, a: n.Ask) -> None:
        prompt = self.prompts.get(a.prompt) or self.index.top.get(a.prompt)
        self.use(self.name_span(a.span, a.prompt, len("ask")), prompt)
        params = {}
        if prompt is not None:
            params = {
                s.name: s for s in self.all_symbols(prompt.target()) if s.kind == "promptparam"
            }
        for k in a.args:
            self.use(self.name_span(k.span, k.name), params.get(k.name))
            self.expr(k.value)
        if a.variant is not None:
            self.use(self.variant_span(a), self.variant_of(prompt, a.variant))
        self.expr(a.samples)
        for clause in (a.oracle, a.fallback):
            if clause is None:
                continue
            with self.scoped(clause.span):
                for x in clause.lets:
                    self.let(x)
                for f in clause.fields or ():
                    self.expr(f.value)
                self.expr(clause.expr)

    def variant_span(self, a: n.Ask) -> Span:
        text = self.src.text
        m = re.compile(rf"\)\s*variant\s+({re.escape(a.variant or '')})\b").search(
            text, a.span.start, a.span.end
        )
        return self.src.span(m.start(1), m.end(1)) if m else a.span

    def expr(self, e: n.Expr | None) -> None:
        if e is None:
            return
        for node in _walk_expr(e):
            if isinstance(node, n.Name):
                if node.name != "truth":
                    self.use(node.span, self.env.get(node.name))
            elif isinstance(node, n.Field):
                span = _field_name_span(self.src, node)
                if isinstance(node.obj, n.Name) and node.obj.name == "truth":
                    self.use(span, self.index.top.get(f"truth.{node.name}"))
                else:
                    self.index.fields.append((span, node))
            elif isinstance(node, n.Comprehension):
                self.comprehension(node)
                continue

    def comprehension(self, c: n.Comprehension) -> None:
        self.expr(c.source)
        with self.scoped(c.span):
            m = re.compile(rf"\bfor\s+({re.escape(c.var)})\b").search(
                self.src.text, c.span.start, c.span.end
            )
            span = self.src.span(m.start(1), m.end(1)) if m else c.span
            sym = Symbol(c.var, "var", span, c)
            self.index.symbols.append(sym)
            self.bind(c.var, sym)
            self.expr(c.result)
            self.expr(c.cond)


class _Scoped:
    def __init__(self, builder: _Builder, span: Span) -> None:
        self.builder = builder
        self.span = span
        self.saved: dict[str, Symbol] = {}

    def __enter__(self) -> None:
        self.saved = dict(self.builder.env)
        self.builder.open_scope(self.span)

    def __exit__(self, *exc: object) -> None:
        self.builder.env = self.saved


def _walk_expr(e: n.Expr) -> Iterator[n.Expr]:
    """Every expression inside ``e`` (comprehensions are yielded, not entered)."""
    stack: list[n.Expr] = [e]
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, n.Field):
            stack.append(x.obj)
        elif isinstance(x, n.Call):
            stack.extend(x.args)
            stack.extend(k.value for k in x.kwargs)
        elif isinstance(x, n.Binary):
            stack.extend((x.left, x.right))
        elif isinstance(x, n.Unary):
            stack.append(x.operand)
        elif isinstance(x, n.IfExpr):
            stack.extend((x.cond, x.then, x.otherwise))
        elif isinstance(x, n.ListLit):
            stack.extend(x.items)
        elif isinstance(x, n.RecordLit):
            stack.extend(f.value for f in x.fields)


def _field_name_span(src: SourceFile, f: n.Field) -> Span:
    """The span of ``name`` in ``obj.name`` (the node's last word)."""
    end = f.span.end
    return src.span(end - len(f.name), end)


def _keyword_len(src: SourceFile, span: Span) -> int:
    m = re.match(r"[A-Za-z_]+", src.text[span.start : span.start + 16])
    return m.end() if m else 0


def build_index(module: n.Module, src: SourceFile, resolve: ImportResolver | None = None) -> Index:
    """The symbols and references of a parsed file; ``resolve`` indexes an imported path."""
    return _Builder(src, resolve).module(module)
