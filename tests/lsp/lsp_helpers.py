"""Shared helpers of the language-server tests: shipped chains, positions, a client."""

from __future__ import annotations

import sys
from pathlib import Path

from lsprotocol import types as lsp

ROOT = Path(__file__).resolve().parents[2]
CHAINS = sorted((ROOT / "chains").rglob("*.chain"))
SERVER = [sys.executable, "-m", "chainlang", "lsp"]


def position(text: str, needle: str, into: int = 0) -> lsp.Position:
    """The LSP position ``into`` characters inside the first ``needle`` of ``text`` (ASCII)."""
    offset = text.index(needle) + into
    line = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    return lsp.Position(line=line, character=col)


def doc(path: Path) -> lsp.TextDocumentIdentifier:
    """The identifier of a file's document."""
    return lsp.TextDocumentIdentifier(uri=path.resolve().as_uri())
