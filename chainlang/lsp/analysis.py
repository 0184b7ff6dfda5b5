"""One document as the server knows it: the compiler's result plus a position index.

:func:`analyze` checks the text with the same entry point as ``chainlang check``
(:func:`chainlang.language.compiler.check_source`, the file's path as its name so
imports resolve next to it), recording the type the checker gives every
expression and ``let`` (the compiler's ``observer`` hook) and indexing names
(:mod:`.index`). A text that does not parse keeps the previous analysis's index
and types (``stale``), so hover and completion go on working while a line is
half typed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chainlang.language.checking.state import Scope
from chainlang.language.compiler import Result, check_source
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile, Span
from chainlang.language.syntax import nodes as n
from chainlang.language.syntax.parser import parse
from chainlang.language.types import Type
from chainlang.lsp.index import Index, build_index


@dataclass
class Typed:
    """The type the checker gave one expression or ``let``."""

    span: Span
    node: n.Expr | n.Let
    type: Type


@dataclass
class Analysis:
    """Everything the features read about one version of a document."""

    path: str
    src: SourceFile
    result: Result
    index: Index = field(default_factory=Index)
    typed: list[Typed] = field(default_factory=list)
    module: n.Module | None = None
    #: The prompts, answers and label sets the file sees (imports included).
    scope: Scope | None = None
    #: True when the text did not parse and ``index``/``typed``/``module`` come from an
    #: earlier version (their spans may be off by the edit since).
    stale: bool = False

    @property
    def text(self) -> str:
        """The document's text."""
        return self.src.text

    def innermost(self, offset: int) -> Typed | None:
        """The smallest typed expression whose span holds ``offset``."""
        best: Typed | None = None
        for t in self.typed:
            if t.span.start <= offset <= t.span.end and (
                best is None or t.span.end - t.span.start < best.span.end - best.span.start
            ):
                best = t
        return best

    def type_of_node(self, node: object) -> Type | None:
        """The type recorded for one AST node (by identity), or None."""
        for t in self.typed:
            if t.node is node:
                return t.type
        return None

    def imports(self) -> list[Path]:
        """The resolved paths of the files this document imports."""
        if self.module is None:
            return []
        base = Path(self.path).parent
        return [(base / i.path).resolve() for i in self.module.items if isinstance(i, n.Import)]


def analyze(
    text: str,
    path: str,
    overlay: Mapping[str, str] | None = None,
    previous: Analysis | None = None,
) -> Analysis:
    """Check and index one document.

    Args:
        text: The document's current text.
        path: Its file path (imports resolve relative to it; diagnostics name it).
        overlay: Texts of other open documents by resolved path (unsaved imports).
        previous: The last analysis of this document, reused while the text does not parse.
    """
    typed: list[Typed] = []

    def observe(node: n.Expr | n.Let, t: Type) -> None:
        typed.append(Typed(node.span, node, t))

    result = check_source(text, path, observer=observe, overlay=overlay)
    src = result.sources.get(path) or SourceFile.of(path, text)
    module = result.module
    if module is None:
        if previous is not None and previous.module is not None:
            return Analysis(
                path,
                src,
                result,
                previous.index,
                previous.typed,
                previous.module,
                previous.scope,
                stale=True,
            )
        return Analysis(path, src, result)
    index = build_index(module, src, _resolver(path, overlay))
    scope = result.scope or (previous.scope if previous is not None else None)
    return Analysis(path, src, result, index, typed, module, scope)


def _resolver(
    path: str, overlay: Mapping[str, str] | None, seen: dict[str, Index | None] | None = None
) -> Callable[[str], Index | None]:
    """Index an imported file (open text first, then disk); None when it cannot be read."""
    base = Path(path).parent
    seen = {} if seen is None else seen

    def resolve(rel: str) -> Index | None:
        target = (base / rel).resolve()
        key = str(target)
        if key in seen:
            return seen[key]
        seen[key] = None  # an import cycle resolves to nothing rather than recursing
        text = (overlay or {}).get(key)
        if text is None:
            try:
                text = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
        src = SourceFile.of(str(base / rel), text)
        module = parse(src, Diagnostics())
        if module is not None:
            seen[key] = build_index(module, src, _resolver(str(target), overlay, seen))
        return seen[key]

    return resolve


def symbol_type(a: Analysis, target: object) -> Type | None:
    """The checked type of a ``let``, loop variable or state (None for other symbols)."""
    from chainlang.language.types import ListT

    if isinstance(target, n.Let):
        return a.type_of_node(target)
    if isinstance(target, n.For | n.Comprehension):
        source = a.type_of_node(target.source)
        return source.item if isinstance(source, ListT) else None
    if isinstance(target, n.StateField):
        return a.type_of_node(target.init)
    return None


def chain_of(a: Analysis) -> n.ChainDecl | None:
    """The document's chain declaration (None in a file of shared declarations)."""
    if a.module is None:
        return None
    return next((i for i in a.module.items if isinstance(i, n.ChainDecl)), None)
