"""Formatting: the text ``chainlang fmt`` would write, as one whole-document edit.

Like ``chainlang fmt``, a text the parser rejects is left alone (no edits).
"""

from __future__ import annotations

from lsprotocol import types as lsp

from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile
from chainlang.language.syntax.parser import parse
from chainlang.language.syntax.unparse import unparse
from chainlang.lsp.positions import Codec, whole


def formatted(text: str, name: str) -> str | None:
    """The canonical layout of ``text``, or None when it has syntax errors (as fmt does)."""
    src = SourceFile.of(name, text)
    diags = Diagnostics()
    module = parse(src, diags)
    if module is None or diags.has_errors():
        return None
    return unparse(module)


def formatting(text: str, name: str, codec: Codec) -> list[lsp.TextEdit]:
    """No edits when the text is already formatted or does not parse; else one edit."""
    new = formatted(text, name)
    if new is None or new == text:
        return []
    return [lsp.TextEdit(range=whole(SourceFile.of(name, text), codec), new_text=new)]
