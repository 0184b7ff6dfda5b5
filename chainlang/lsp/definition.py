"""Go to definition and find references, for every name the index knows."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lsprotocol import types as lsp

from chainlang.language.syntax import nodes as n
from chainlang.language.types import ListT, OptionalT, RecordT
from chainlang.lsp.analysis import Analysis
from chainlang.lsp.index import Symbol
from chainlang.lsp.positions import Codec


def symbol_at(a: Analysis, offset: int) -> Symbol | None:
    """The declaration a name at ``offset`` stands for (an answer field through its type)."""
    sym = a.index.at(offset)
    if sym is not None:
        return sym
    for span, node in a.index.fields:
        if span.start <= offset <= span.end:
            return _field_symbol(a, node)
    return None


def _field_symbol(a: Analysis, node: n.Field) -> Symbol | None:
    obj = a.type_of_node(node.obj)
    while isinstance(obj, ListT | OptionalT):
        obj = obj.item
    if not isinstance(obj, RecordT) or obj.name is None:
        return None
    answer = a.index.top.get(obj.name)
    if answer is None:
        return None
    return next((c for c in answer.target().children if c.name == node.name), None)


def definition(a: Analysis, offset: int, codec: Codec) -> lsp.Location | None:
    """Where the name at ``offset`` is declared (in an imported file for imported names)."""
    sym = symbol_at(a, offset)
    if sym is None:
        return None
    target = sym.target()
    return _location(target, a, codec)


def _location(sym: Symbol, a: Analysis, codec: Codec) -> lsp.Location:
    from chainlang.language.source import SourceFile

    if sym.span.file == a.path:
        src = a.src
    else:
        try:
            src = SourceFile.read(sym.span.file)
        except (OSError, UnicodeDecodeError):
            src = SourceFile.of(sym.span.file, "")
    return lsp.Location(
        uri=Path(sym.span.file).resolve().as_uri(), range=codec.range(src, sym.span)
    )


def references(
    a: Analysis,
    offset: int,
    codec: Codec,
    include_declaration: bool,
    others: Iterable[Analysis] = (),
) -> list[lsp.Location]:
    """Every use of the name at ``offset`` in this document and the other open ones."""
    sym = symbol_at(a, offset)
    if sym is None:
        return []
    target = sym.target()
    key = _key(target)
    out: list[lsp.Location] = []
    for doc in (a, *[o for o in others if o is not a]):
        if include_declaration:
            out.extend(
                _location(s, doc, codec)
                for s in doc.index.symbols
                if s.origin is None and _key(s) == key
            )
        out.extend(
            _location(s, doc, codec)
            for s in doc.index.symbols
            if s.origin is not None and _key(s.target()) == key
        )
        out.extend(
            lsp.Location(uri=Path(doc.path).resolve().as_uri(), range=codec.range(doc.src, r.span))
            for r in doc.index.refs
            if _key(r.symbol.target()) == key
        )
        for span, node in doc.index.fields:
            found = _field_symbol(doc, node)
            if found is not None and _key(found.target()) == key:
                out.append(
                    lsp.Location(
                        uri=Path(doc.path).resolve().as_uri(), range=codec.range(doc.src, span)
                    )
                )
    unique = {(x.uri, x.range.start.line, x.range.start.character): x for x in out}
    return list(unique.values())


def _key(sym: Symbol) -> tuple[str, int, str]:
    return (str(Path(sym.span.file).resolve()), sym.span.start, sym.name)
