"""Parse tree → AST (:mod:`chainlang.language.syntax.nodes`). The other module that imports lark.

The builder only reshapes: it never judges a program (that is ``check``).
The one kind of user mistake it reports is a literal Python cannot hold
(an integer with thousands of digits, a bad escape), as E105.

Comments are not in the grammar's tree, so they are found by a small scan of
the text and attached as leading comments of the next item in the same
container (module, chain, block, prompt); comments before a closing brace
become the container's tail.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import VisitError
from lark.tree import Meta

from chainlang.language import codes
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile, Span
from chainlang.language.syntax import nodes as n


def build(tree: Tree[Token], src: SourceFile, diags: Diagnostics) -> n.Module | None:
    """Turn a lark tree into a :class:`~chainlang.language.syntax.nodes.Module`.

    Args:
        tree: The tree ``parser`` produced from ``src``.
        src: The source, for spans and comments.
        diags: Malformed literals are reported here (E105).

    Returns:
        The module, or None if a literal was malformed.
    """
    builder = _Builder(src, diags, scan_comments(src.text))
    try:
        module: n.Module = builder.transform(tree)
    except VisitError as exc:  # a bug in this module: surface the original exception
        raise exc.orig_exc from None
    return None if builder.failed else module


def scan_comments(text: str) -> list[tuple[int, str]]:
    """(line, text) of every ``#`` comment, skipping strings.

    >>> scan_comments('let a = "#no"  # yes\\n')
    [(1, '# yes')]
    """
    out: list[tuple[int, str]] = []
    i, line, size = 0, 1, len(text)
    while i < size:
        ch = text[i]
        if text.startswith('"""', i):
            j = text.find('"""', i + 3)
            j = size if j < 0 else j + 3
        elif ch == '"':
            j = _string_end(text, i)
        elif ch == "#":
            j = text.find("\n", i)
            j = size if j < 0 else j
            out.append((line, text[i:j].rstrip()))
        else:
            j = i + 1
        line += text.count("\n", i, j)
        i = j
    return out


# The body of a one-line string: plain runs and escapes (a regex step per run, not a
# Python step per character).
_STRING_BODY = re.compile(r'[^"\\\n]*(?:\\.[^"\\\n]*)*')


def _string_end(text: str, i: int) -> int:
    """The offset just past the string starting at ``i`` (or past where it breaks off)."""
    j = _STRING_BODY.match(text, i + 1).end()  # type: ignore[union-attr]  # always matches
    if j < len(text) and text[j] == "\\":  # a backslash ending the text
        j += 2
    return j + 1


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


def unquote(raw: str) -> str:
    """The value of a STRING token (raises ValueError on an unknown escape).

    >>> unquote('"a\\\\tb"')
    'a\\tb'
    """
    if raw.startswith('"""'):
        return raw[3:-3]  # long strings are raw: prompt text is kept as written

    def sub(m: re.Match[str]) -> str:
        code = m.group(1)
        if code.startswith("u") and len(code) == 5:
            return chr(int(code[1:], 16))
        if code not in _ESCAPES:
            raise ValueError(f"unknown escape \\{code}")
        return _ESCAPES[code]

    return _ESCAPE.sub(sub, raw[1:-1])


@v_args(meta=True)
class _Builder(Transformer[Token, Any]):
    """Rule methods are named after the grammar rules (one to one)."""

    def __init__(self, src: SourceFile, diags: Diagnostics, comments: list[tuple[int, str]]):
        super().__init__()
        self.src = src
        self.diags = diags
        self.comments = comments
        self.claimed: set[int] = set()
        self.failed = False

    # ---- helpers ----
    def _span(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return self.src.span(0, 0)
        return self.src.span(meta.start_pos, meta.end_pos)

    def _tok(self, tok: Token) -> Span:
        start = tok.start_pos or 0
        return self.src.span(start, tok.end_pos if tok.end_pos is not None else start)

    def _str(self, tok: Token) -> str:
        try:
            return unquote(str(tok))
        except ValueError:
            self.diags.add(codes.malformed_literal(self._tok(tok), escape=True))
            self.failed = True
            return ""

    def _attach(self, items: Sequence[Any], open_line: int) -> tuple[Any, ...]:
        """Give each item the unclaimed comments between the previous item and itself."""
        out, prev = [], open_line
        for item in items:
            start = item.span.line
            found = self._take(prev, start - 1)
            out.append(dataclasses.replace(item, comments=found) if found else item)
            prev = start
        return tuple(out)

    def _take(self, first: int, last: int) -> tuple[str, ...]:
        found = []
        for idx, (line, text) in enumerate(self.comments):
            if first <= line <= last and idx not in self.claimed:
                self.claimed.add(idx)
                found.append(text)
        return tuple(found)

    def _tail(self, items: Sequence[Any], open_line: int, close_line: int) -> tuple[str, ...]:
        last = items[-1].span.line if items else open_line
        return self._take(last, close_line)

    # ---- module and imports ----
    def start(self, meta: Meta, children: list[Any]) -> n.Module:
        end_line = self.src.text.count("\n") + 1
        items = self._attach(children, 1)
        tail = self._tail(children, 1, end_line)
        return n.Module(items, span=self.src.span(0, len(self.src.text)), tail=tail)

    def import_decl(self, meta: Meta, c: list[Any]) -> n.Import:
        return n.Import(self._str(c[0]), tuple(str(t) for t in c[1:]), span=self._span(meta))

    def labels_decl(self, meta: Meta, c: list[Any]) -> n.LabelsDecl:
        return n.LabelsDecl(str(c[0]), self._str(c[1]), span=self._span(meta))

    # ---- types ----
    def answer_record(self, meta: Meta, c: list[Any]) -> n.AnswerDecl:
        return n.AnswerDecl(str(c[0]), c[1], False, span=self._span(meta))

    def answer_alias(self, meta: Meta, c: list[Any]) -> n.AnswerDecl:
        return n.AnswerDecl(str(c[0]), c[1], True, span=self._span(meta))

    def type(self, meta: Meta, c: list[Any]) -> n.TypeNode:
        inner: n.TypeNode = c[0]
        return inner if c[1] is None else n.OptionalType(inner, span=self._span(meta))

    def named_type(self, meta: Meta, c: list[Any]) -> n.NamedType:
        return n.NamedType(str(c[0]), span=self._span(meta))

    def label_type(self, meta: Meta, c: list[Any]) -> n.TypeNode:
        if str(c[0]) != "Label":
            # `Foo(x)` is only meaningful as Label(x); keep it as a named type the checker rejects.
            return n.NamedType(f"{c[0]}({c[1]})", span=self._span(meta))
        return n.LabelType(str(c[1]), span=self._span(meta))

    def list_type(self, meta: Meta, c: list[Any]) -> n.ListType:
        return n.ListType(c[0], span=self._span(meta))

    def range_bound(self, meta: Meta, c: list[Any]) -> int | float:
        tok = c[1]
        value: int | float = int(tok) if tok.type == "INT" else float(tok)
        return -value if c[0] is not None else value

    def range_type(self, meta: Meta, c: list[Any]) -> n.RangeType:
        return n.RangeType(str(c[0]), c[1], c[2], span=self._span(meta))

    def fixed_list_type(self, meta: Meta, c: list[Any]) -> n.FixedListType:
        return n.FixedListType(c[0], int(c[1]), span=self._span(meta))

    def permutation_type(self, meta: Meta, c: list[Any]) -> n.PermutationType:
        return n.PermutationType(tuple(self._str(t) for t in c), span=self._span(meta))

    def permutation_label_type(self, meta: Meta, c: list[Any]) -> n.TypeNode:
        if str(c[0]) != "Label":
            # Only a label set can be permuted by name; the checker rejects the unknown type.
            return n.NamedType(f"{c[0]}({c[1]})", span=self._span(meta))
        return n.PermutationType(labelset=str(c[1]), span=self._span(meta))

    def enum_type(self, meta: Meta, c: list[Any]) -> n.EnumType:
        return n.EnumType(tuple(self._str(t) for t in c), span=self._span(meta))

    def record_type(self, meta: Meta, c: list[Any]) -> n.RecordType:
        return n.RecordType(tuple(c), span=self._span(meta))

    def field_decl(self, meta: Meta, c: list[Any]) -> n.FieldDecl:
        doc = self._str(c[2]) if c[2] is not None else None
        return n.FieldDecl(str(c[0]), c[1], doc, span=self._span(meta))

    # ---- prompts ----
    def prompt_decl(self, meta: Meta, c: list[Any]) -> n.PromptDecl:
        name, rest = str(c[0]), c[1:]
        params = tuple(p for p in rest[:-1] if isinstance(p, n.PromptParam))
        body = [x for x in rest if isinstance(x, n.Message | n.Variant)]
        answer = next(
            x
            for x in rest
            if x is not None and not isinstance(x, n.PromptParam | n.Message | n.Variant)
        )
        span = self._span(meta)
        return n.PromptDecl(name, params, answer, self._attach(body, span.line), span=span)

    def prompt_param(self, meta: Meta, c: list[Any]) -> n.PromptParam:
        return n.PromptParam(str(c[1]), c[2], c[0] is not None, span=self._span(meta))

    def message(self, meta: Meta, c: list[Any]) -> n.Message:
        each = c[0] is not None
        return n.Message(str(c[1]), each, tuple(c[2:]), span=self._span(meta))

    def text_part(self, meta: Meta, c: list[Any]) -> n.TextPart:
        return n.TextPart(self._str(c[0]), span=self._span(meta))

    def file_part(self, meta: Meta, c: list[Any]) -> n.FilePart:
        return n.FilePart(self._str(c[0]), span=self._span(meta))

    def image_part(self, meta: Meta, c: list[Any]) -> n.ImagePart:
        detail = str(c[1]) if c[1] is not None else None
        return n.ImagePart(str(c[0]), detail, span=self._span(meta))

    def variant(self, meta: Meta, c: list[Any]) -> n.Variant:
        flags = tuple(str(t) for t in c[1:] if isinstance(t, Token))
        msgs = [m for m in c[1:] if isinstance(m, n.Message)]
        span = self._span(meta)
        return n.Variant(str(c[0]), flags, self._attach(msgs, span.line), span=span)

    # ---- chains ----
    def chain_decl(self, meta: Meta, c: list[Any]) -> n.ChainDecl:
        doc = self._str(c[1]) if c[1] is not None else None
        span = self._span(meta)
        items = self._attach(c[2:], span.line)
        tail = self._tail(c[2:], span.line, span.end_line)
        return n.ChainDecl(str(c[0]), doc, items, span=span, tail=tail)

    def input_decl(self, meta: Meta, c: list[Any]) -> n.InputDecl:
        return n.InputDecl(str(c[0]), c[1], span=self._span(meta))

    def truth_decl(self, meta: Meta, c: list[Any]) -> n.TruthDecl:
        return n.TruthDecl(str(c[0]), c[1], span=self._span(meta))

    def output_decl(self, meta: Meta, c: list[Any]) -> n.OutputDecl:
        return n.OutputDecl(c[0], span=self._span(meta))

    def score_decl(self, meta: Meta, c: list[Any]) -> n.ScoreDecl:
        return n.ScoreDecl(tuple(c), span=self._span(meta))

    def metric_use(self, meta: Meta, c: list[Any]) -> n.MetricUse:
        return n.MetricUse(str(c[0]), c[1], tuple(c[2:]), span=self._span(meta))

    def param_decl(self, meta: Meta, c: list[Any]) -> n.ParamDecl:
        doc = self._str(c[3]) if c[3] is not None else None
        return n.ParamDecl(str(c[0]), c[1], c[2], doc, span=self._span(meta))

    def defaults_decl(self, meta: Meta, c: list[Any]) -> n.DefaultsDecl:
        return n.DefaultsDecl(self._str(c[0]), tuple(c[1:]), span=self._span(meta))

    def param_setting(self, meta: Meta, c: list[Any]) -> n.ParamSetting:
        return n.ParamSetting(str(c[0]), c[1], span=self._span(meta))

    def variant_setting(self, meta: Meta, c: list[Any]) -> n.VariantSetting:
        return n.VariantSetting(str(c[0]), str(c[1]), span=self._span(meta))

    def batch_decl(self, meta: Meta, c: list[Any]) -> n.BatchDecl:
        return n.BatchDecl(c[0], span=self._span(meta))

    def let_stmt(self, meta: Meta, c: list[Any]) -> n.Let:
        return n.Let(str(c[0]), c[1], span=self._span(meta))

    def return_stmt(self, meta: Meta, c: list[Any]) -> n.Return:
        return n.Return(c[0], span=self._span(meta))

    # ---- values ----
    def block(self, meta: Meta, c: list[Any]) -> n.Block:
        span = self._span(meta)
        lets = self._attach(c[:-1], span.line)
        lead, tail = self._around(lets, c[-1], span)
        return n.Block(lets, c[-1], span=span, lead=lead, tail=tail)

    def _around(
        self, items: Sequence[Any], value: Any, span: Span
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The comments of a braced body between its last item and its value (``lead``),
        and after the value up to the closing brace (``tail``): kept inside the body."""
        after = items[-1].span.line if items else span.line
        lead = self._take(after, value.span.line - 1) if value is not None else ()
        last = value.span.end_line if value is not None else after
        return lead, self._take(last, span.end_line)

    def ask(self, meta: Meta, c: list[Any]) -> n.Ask:
        # c: NAME, kwargs..., variant, samples, oracle, else (absent optionals are None)
        args = tuple(x for x in c[1:-4] if x is not None)
        variant, samples = c[-4], c[-3]
        fallback, skip = c[-1], False
        if fallback == "skip":
            fallback, skip = None, True
        return n.Ask(
            str(c[0]), args, c[-2], fallback, skip, variant, samples, span=self._span(meta)
        )

    def ask_variant(self, meta: Meta, c: list[Any]) -> str:
        return str(c[0])

    def ask_samples(self, meta: Meta, c: list[Any]) -> n.Expr:
        samples: n.Expr = c[0]
        return samples

    def kwarg(self, meta: Meta, c: list[Any]) -> n.KwArg:
        return n.KwArg(str(c[0]), c[1], span=self._span(meta))

    def oracle_clause(self, meta: Meta, c: list[Any]) -> n.ClauseBody:
        body: n.ClauseBody = c[0]
        return body

    def else_clause(self, meta: Meta, c: list[Any]) -> n.ClauseBody:
        body: n.ClauseBody = c[0]
        return body

    def else_skip(self, meta: Meta, c: list[Any]) -> str:
        return "skip"

    def clause_body(self, meta: Meta, c: list[Any]) -> n.ClauseBody:
        span = self._span(meta)
        items = self._attach([x for x in c if isinstance(x, n.Let | n.Assign)], span.line)
        lets = tuple(x for x in items if isinstance(x, n.Let))
        fields = tuple(x for x in items if isinstance(x, n.Assign))
        rest = [x for x in c if not isinstance(x, n.Let | n.Assign)]
        if fields:
            _, tail = self._around(items, None, span)
            return n.ClauseBody(lets, fields, None, span=span, tail=tail)
        lead, tail = self._around(lets, rest[0], span)
        return n.ClauseBody(lets, None, rest[0], span=span, lead=lead, tail=tail)

    def assign(self, meta: Meta, c: list[Any]) -> n.Assign:
        return n.Assign(str(c[0]), c[1], span=self._span(meta))

    def for_value(self, meta: Meta, c: list[Any]) -> n.For:
        return n.For(str(c[0]), c[1], c[2], c[3], span=self._span(meta))

    def repeat_value(self, meta: Meta, c: list[Any]) -> n.Repeat:
        state = tuple(x for x in c if isinstance(x, n.StateField))
        bound, until, (lets, nxt, lead, tail) = c[len(state)], c[len(state) + 1], c[len(state) + 2]
        return n.Repeat(state, bound, until, lets, nxt, span=self._span(meta), lead=lead, tail=tail)

    def state_field(self, meta: Meta, c: list[Any]) -> n.StateField:
        return n.StateField(str(c[0]), c[1], c[2], span=self._span(meta))

    def repeat_body(
        self, meta: Meta, c: list[Any]
    ) -> tuple[tuple[n.Let, ...], n.RecordLit, tuple[str, ...], tuple[str, ...]]:
        span = self._span(meta)
        lets = self._attach(c[:-1], span.line)
        return (lets, c[-1], *self._around(lets, c[-1], span))

    def if_block(self, meta: Meta, c: list[Any]) -> n.IfBlock:
        return n.IfBlock(c[0], c[1], c[2], span=self._span(meta))

    # ---- expressions ----
    def if_expr(self, meta: Meta, c: list[Any]) -> n.IfExpr:
        return n.IfExpr(c[0], c[1], c[2], span=self._span(meta))

    def binary(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary(str(c[1]), c[0], c[2], span=self._span(meta))

    def unary(self, meta: Meta, c: list[Any]) -> n.Unary:
        return n.Unary(str(c[0]), c[1], span=self._span(meta))

    def field(self, meta: Meta, c: list[Any]) -> n.Field:
        return n.Field(c[0], str(c[1]), span=self._span(meta))

    def int_lit(self, meta: Meta, c: list[Any]) -> n.IntLit:
        try:
            value = int(str(c[0]))
        except ValueError:  # more digits than Python converts
            value = 0
            self._bad_number(c[0])
        return n.IntLit(value, span=self._span(meta))

    def float_lit(self, meta: Meta, c: list[Any]) -> n.FloatLit:
        value = float(str(c[0]))
        if not math.isfinite(value):
            self._bad_number(c[0])
            value = 0.0
        return n.FloatLit(value, span=self._span(meta))

    def _bad_number(self, tok: Token) -> None:
        self.diags.add(codes.malformed_literal(self._tok(tok)))
        self.failed = True

    def string_lit(self, meta: Meta, c: list[Any]) -> n.StrLit:
        return n.StrLit(self._str(c[0]), span=self._span(meta))

    def bool_lit(self, meta: Meta, c: list[Any]) -> n.BoolLit:
        return n.BoolLit(str(c[0]) == "true", span=self._span(meta))

    def none_lit(self, meta: Meta, c: list[Any]) -> n.NoneLit:
        return n.NoneLit(span=self._span(meta))

    def name(self, meta: Meta, c: list[Any]) -> n.Name:
        return n.Name(str(c[0]), span=self._span(meta))

    def call(self, meta: Meta, c: list[Any]) -> n.Call:
        args = [a for a in c[1:] if a is not None]
        pos = tuple(a for a in args if not isinstance(a, n.KwArg))
        kws = tuple(a for a in args if isinstance(a, n.KwArg))
        first_kw = next((i for i, a in enumerate(args) if isinstance(a, n.KwArg)), len(args))
        for late in args[first_kw:]:
            if not isinstance(late, n.KwArg):
                # Accepting it would let `fmt` silently reorder what the author wrote.
                self.diags.add(
                    codes.wrong_arguments(
                        late.span,
                        "a positional argument after a named one",
                        "put positional arguments first, or name this one too",
                    )
                )
        return n.Call(str(c[0]), pos, kws, span=self._span(meta))

    def arg(self, meta: Meta, c: list[Any]) -> Any:
        return c[0]

    def list_lit(self, meta: Meta, c: list[Any]) -> n.ListLit:
        return n.ListLit(tuple(x for x in c if x is not None), span=self._span(meta))

    def comprehension(self, meta: Meta, c: list[Any]) -> n.Comprehension:
        return n.Comprehension(c[0], str(c[1]), c[2], c[3], span=self._span(meta))

    def record(self, meta: Meta, c: list[Any]) -> n.RecordLit:
        return n.RecordLit(tuple(c), span=self._span(meta))
