"""The compiler's diagnostics as LSP diagnostics (the same list ``chainlang check`` prints)."""

from __future__ import annotations

from lsprotocol import types as lsp

from chainlang.language.diagnostics import Diagnostic, Severity
from chainlang.language.source import SourceFile
from chainlang.lsp.analysis import Analysis
from chainlang.lsp.positions import Codec

SOURCE = "chainlang"


def to_lsp(
    d: Diagnostic, src: SourceFile, codec: Codec, sources: dict[str, SourceFile]
) -> lsp.Diagnostic:
    """One diagnostic: message with its suggestion, code, severity, related places."""
    message = d.message + (f"\n{d.suggestion}" if d.suggestion else "")
    related = []
    for r in d.related:
        other = sources.get(r.span.file)
        if other is None:
            continue
        related.append(
            lsp.DiagnosticRelatedInformation(
                location=lsp.Location(uri=_uri(r.span.file), range=codec.range(other, r.span)),
                message=r.message,
            )
        )
    return lsp.Diagnostic(
        range=codec.range(src, d.span),
        message=message,
        severity=lsp.DiagnosticSeverity.Error
        if d.severity is Severity.ERROR
        else lsp.DiagnosticSeverity.Warning,
        code=d.code,
        source=SOURCE,
        related_information=related or None,
    )


def diagnostics(a: Analysis, codec: Codec) -> list[lsp.Diagnostic]:
    """The diagnostics located in this document.

    Problems inside an imported file are reported there; this file shows the compiler's
    own "imported file has errors" at the import, as ``chainlang check`` does.
    """
    sources = dict(a.result.sources)
    return [to_lsp(d, a.src, codec, sources) for d in a.result.diagnostics if d.span.file == a.path]


def _uri(path: str) -> str:
    from pathlib import Path

    return Path(path).resolve().as_uri()
