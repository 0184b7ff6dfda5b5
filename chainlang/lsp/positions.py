"""Spans (1-based code-point columns) ↔ LSP positions (0-based, in the client's units).

LSP counts columns in UTF-16 code units unless the client and server agreed on
UTF-8 or UTF-32 at initialisation; a chain may hold any text in strings and
comments, so every conversion goes through the agreed encoding.
"""

from __future__ import annotations

from lsprotocol import types as lsp

from chainlang.language.source import SourceFile, Span


class Codec:
    """Converts between character offsets of a source file and LSP positions."""

    def __init__(self, encoding: str = "utf-16") -> None:
        self.encoding = str(encoding).lower().replace("-", "")

    def _units(self, text: str) -> int:
        if self.encoding == "utf8":
            return len(text.encode("utf-8"))
        if self.encoding == "utf32":
            return len(text)
        return len(text.encode("utf-16-le")) // 2

    def position(self, src: SourceFile, offset: int) -> lsp.Position:
        """The LSP position of a character offset."""
        line, col = src.position(offset)
        return lsp.Position(line=line - 1, character=self._units(src.line_text(line)[: col - 1]))

    def range(self, src: SourceFile, span: Span) -> lsp.Range:
        """The LSP range of a span of ``src``."""
        return lsp.Range(start=self.position(src, span.start), end=self.position(src, span.end))

    def offset(self, src: SourceFile, pos: lsp.Position) -> int:
        """The character offset of an LSP position (clamped to the text)."""
        if pos.line >= len(src.line_starts):
            return len(src.text)
        text = src.line_text(pos.line + 1)
        chars = 0
        units = 0
        for ch in text:
            if units >= pos.character:
                break
            units += self._units(ch)
            chars += 1
        return src.line_starts[pos.line] + chars


def whole(src: SourceFile, codec: Codec) -> lsp.Range:
    """The range of a whole document."""
    return lsp.Range(
        start=lsp.Position(line=0, character=0), end=codec.position(src, len(src.text))
    )
