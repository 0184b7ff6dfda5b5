"""Source files and spans.

A :class:`SourceFile` is the text of one ``.chain`` file with a line index;
a :class:`Span` is a range of it with 1-based line and column numbers. Spans
are attached to AST nodes and diagnostics; the IR keeps them as
``file:line:col`` strings.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Span:
    """A range of a source file: offsets plus 1-based line/column of both ends."""

    file: str
    start: int
    end: int
    line: int
    col: int
    end_line: int
    end_col: int

    def origin(self) -> str:
        """Return ``file:line:col``, the form runtime errors and the IR use.

        >>> Span("a.chain", 0, 1, 3, 5, 3, 6).origin()
        'a.chain:3:5'
        """
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The text of one source file plus the offsets where its lines start."""

    name: str
    text: str
    line_starts: tuple[int, ...] = field(default=(), repr=False)

    @staticmethod
    def of(name: str, text: str) -> SourceFile:
        """Build a source file from a display name and its text."""
        starts = [0]
        i = text.find("\n")
        while i >= 0:  # str.find runs in C: a megabyte line costs one call, not a million
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        return SourceFile(name, text, tuple(starts))

    @staticmethod
    def read(path: str | Path) -> SourceFile:
        """Read a UTF-8 file; raises ``OSError``/``UnicodeDecodeError`` for the caller to report."""
        p = Path(path)
        return SourceFile.of(str(path), p.read_text(encoding="utf-8"))

    def line_text(self, line: int) -> str:
        """The text of 1-based ``line`` without its newline ('' when out of range)."""
        if line < 1 or line > len(self.line_starts):
            return ""
        start = self.line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        idx = bisect.bisect_right(self.line_starts, offset) - 1
        return idx + 1, offset - self.line_starts[idx] + 1

    def span(self, start: int, end: int) -> Span:
        """The span covering ``text[start:end]``."""
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(self.name, start, end, line, col, end_line, end_col)

    def whole(self) -> Span:
        """A zero-width span at the start of the file (for file-level diagnostics)."""
        return self.span(0, 0)
