"""Hover: the type of the expression or name under the cursor, and what a name declares.

Operations show their signature and docstring; prompts their parameters, variants and
the per-model variant choices; answers their fields; parameters their default, doc and
per-model defaults; any other expression its checked type.
"""

from __future__ import annotations

from lsprotocol import types as lsp

from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n
from chainlang.language.syntax.unparse import expr_text
from chainlang.language.types import ListT, OptionalT, RecordT, Type
from chainlang.lsp.analysis import Analysis, chain_of, symbol_type
from chainlang.lsp.describe import code, describe_field, describe_op, describe_symbol
from chainlang.lsp.index import Symbol
from chainlang.lsp.positions import Codec
from chainlang.stdlib import default_registry


def hover(a: Analysis, offset: int, codec: Codec) -> lsp.Hover | None:
    """The hover at a character offset, or None where there is nothing to say."""
    found = _describe(a, offset)
    if found is None:
        return None
    text, span = found
    return lsp.Hover(
        contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
        range=codec.range(a.src, span) if span is not None else None,
    )


def _describe(a: Analysis, offset: int) -> tuple[str, Span | None] | None:
    chain = chain_of(a)
    call = _call_at(a, offset)
    if call is not None:
        op = default_registry().get(call.op)
        if op is not None:
            return describe_op(op), None
    sym = a.index.at(offset)
    if sym is not None:
        t = _type_at(a, offset, sym)
        return describe_symbol(sym, t, chain), sym.span
    for span, node in a.index.fields:
        if span.start <= offset <= span.end:
            return _field(a, node), span
    typed = a.innermost(offset)
    if typed is None or isinstance(typed.node, n.Let):
        return None
    return code(f"{expr_text(typed.node)}: {typed.type.show()}"), typed.span


def _type_at(a: Analysis, offset: int, sym: Symbol) -> Type | None:
    typed = a.innermost(offset)
    if typed is not None and isinstance(typed.node, n.Name) and typed.node.name == sym.name:
        return typed.type
    return symbol_type(a, sym.target().node)


def _call_at(a: Analysis, offset: int) -> n.Call | None:
    """A call whose operation name is under the cursor."""
    for t in a.typed:
        node = t.node
        if isinstance(node, n.Call) and node.span.start <= offset <= node.span.start + len(node.op):
            return node
    return None


def _field(a: Analysis, node: n.Field) -> str:
    t = a.type_of_node(node)
    obj = a.type_of_node(node.obj)
    while isinstance(obj, ListT | OptionalT):
        obj = obj.item
    shown = code(f"{expr_text(node)}: {t.show() if t is not None else '?'}")
    if isinstance(obj, RecordT) and obj.name is not None:
        answer = a.index.top.get(obj.name)
        if answer is not None:
            decl = next((c for c in answer.target().children if c.name == node.name), None)
            if decl is not None and isinstance(decl.node, n.FieldDecl):
                return shown + "\n\n" + describe_field(decl.node, obj.name)
    fld = obj.field(node.name) if isinstance(obj, RecordT) else None
    return shown + (f"\n\n{fld.doc}" if fld is not None and fld.doc else "")
