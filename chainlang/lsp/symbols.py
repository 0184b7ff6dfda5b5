"""Document symbols: the outline of a file (its chain, prompts, answers, parameters, lets)."""

from __future__ import annotations

from lsprotocol import types as lsp

from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n
from chainlang.lsp.analysis import Analysis
from chainlang.lsp.index import Symbol
from chainlang.lsp.positions import Codec

S = lsp.SymbolKind
_KINDS = {
    "chain": S.Module,
    "input": S.Variable,
    "truth": S.Field,
    "param": S.Constant,
    "let": S.Variable,
    "labelset": S.Enum,
    "answer": S.Struct,
    "field": S.Field,
    "prompt": S.Function,
    "promptparam": S.TypeParameter,
    "variant": S.EnumMember,
    "import": S.Namespace,
}


def document_symbols(a: Analysis, codec: Codec) -> list[lsp.DocumentSymbol]:
    """The outline: top-level declarations, the chain with its items, nested children."""
    if a.module is None or a.stale:
        return []
    shown = [s for s in a.index.symbols if s.kind in _KINDS]
    chain = next((s for s in shown if s.kind == "chain"), None)
    out: list[lsp.DocumentSymbol] = []
    inside: list[lsp.DocumentSymbol] = []
    for sym in shown:
        if sym.parent is not None or sym.kind == "chain":
            continue
        if sym.kind == "let" and _nested(sym, a):
            continue  # a let inside a block: the outline keeps the chain's own steps
        entry = _symbol(sym, a, codec)
        in_chain = chain is not None and _within(sym.span, chain.node)
        (inside if in_chain else out).append(entry)
    if chain is not None:
        entry = _symbol(chain, a, codec)
        entry.children = inside
        out.append(entry)
    return sorted(out, key=lambda s: (s.range.start.line, s.range.start.character))


def _symbol(sym: Symbol, a: Analysis, codec: Codec) -> lsp.DocumentSymbol:
    span = getattr(sym.node, "span", sym.span)
    full = codec.range(a.src, span)
    name_range = codec.range(a.src, sym.span)
    if not (_le(full.start, name_range.start) and _le(name_range.end, full.end)):
        full = name_range
    children = [_symbol(c, a, codec) for c in sym.children]
    return lsp.DocumentSymbol(
        name=sym.name,
        kind=_KINDS.get(sym.kind, S.Variable),
        range=full,
        selection_range=name_range,
        detail=sym.kind,
        children=children or None,
    )


def _le(x: lsp.Position, y: lsp.Position) -> bool:
    return (x.line, x.character) <= (y.line, y.character)


def _within(span: Span, node: object) -> bool:
    outer = getattr(node, "span", None)
    return outer is not None and outer.start <= span.start <= outer.end


def _nested(sym: Symbol, a: Analysis) -> bool:
    chain = next(
        (i for i in (a.module.items if a.module else ()) if isinstance(i, n.ChainDecl)), None
    )
    return chain is None or not any(item is sym.node for item in chain.items)
