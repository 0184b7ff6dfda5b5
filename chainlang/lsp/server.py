"""``chainlang lsp``: the language server (pygls over stdio).

Documents are checked when opened and saved, and after every change once the
typing has paused (:data:`DEBOUNCE_S`); a check of one file re-checks the open
files that import it, with the editor's unsaved text of open files standing in
for what is on disk. Every request answers from the latest
:class:`~chainlang.lsp.analysis.Analysis` of its document; a feature that fails
on some text it did not foresee logs the error and answers "nothing" rather than
taking the server down.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from chainlang.lsp.analysis import Analysis, analyze
from chainlang.lsp.completion import completions
from chainlang.lsp.definition import definition, references
from chainlang.lsp.diagnostics import diagnostics
from chainlang.lsp.formatting import formatting
from chainlang.lsp.hover import hover
from chainlang.lsp.lens import code_lenses
from chainlang.lsp.positions import Codec
from chainlang.lsp.symbols import document_symbols

#: Seconds of quiet after a change before the document is checked again.
DEBOUNCE_S = 0.3

T = TypeVar("T")
log = logging.getLogger(__name__)


class ChainServer(LanguageServer):
    """The server and the analyses of the documents it has open."""

    def __init__(self) -> None:
        super().__init__("chainlang", _version())
        self.analyses: dict[str, Analysis] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}

    @property
    def codec(self) -> Codec:
        """Positions in the units agreed with the client at initialisation."""
        return Codec(str(getattr(self.workspace, "position_encoding", "utf-16")))

    def path_of(self, uri: str) -> str:
        """The file path of a document (its URI for documents not on disk)."""
        return to_fs_path(uri) or uri

    def overlay(self) -> dict[str, str]:
        """The text of every open document by resolved path (imports read these first)."""
        out = {}
        for uri, doc in self.workspace.text_documents.items():
            out[str(Path(self.path_of(uri)).resolve())] = doc.source
        return out

    def check(self, uri: str, *, importers: bool = True) -> None:
        """Analyse a document, publish its diagnostics, then re-check its open importers."""
        doc = self.workspace.get_text_document(uri)
        previous = self.analyses.get(uri)
        a = analyze(doc.source, self.path_of(uri), self.overlay(), previous)
        self.analyses[uri] = a
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(
                uri=uri, diagnostics=diagnostics(a, self.codec), version=doc.version
            )
        )
        if importers:
            mine = Path(a.path).resolve()
            for other, oa in list(self.analyses.items()):
                if other != uri and mine in oa.imports():
                    self.check(other, importers=False)

    def schedule(self, uri: str) -> None:
        """Check ``uri`` once no change has arrived for :data:`DEBOUNCE_S`."""
        old = self.pending.pop(uri, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(DEBOUNCE_S, self._run_pending, uri)

    def _run_pending(self, uri: str) -> None:
        self.pending.pop(uri, None)
        if uri in self.analyses:
            guarded(self, lambda: self.check(uri), None)

    def analysis(self, uri: str) -> Analysis:
        """The document's analysis, made now if a debounced check is still waiting."""
        if uri in self.pending or uri not in self.analyses:
            handle = self.pending.pop(uri, None)
            if handle is not None:
                handle.cancel()
            self.check(uri)
        return self.analyses[uri]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chainlang")
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        return "0"


def guarded(ls: ChainServer, run: Callable[[], T], fallback: T) -> T:
    """Run a feature; on an internal error log it to the client and answer ``fallback``."""
    try:
        return run()
    except Exception:  # the server must outlive any text it is shown
        ls.window_log_message(
            lsp.LogMessageParams(
                type=lsp.MessageType.Error,
                message="chainlang lsp internal error:\n" + traceback.format_exc(),
            )
        )
        return fallback


def build_server() -> ChainServer:
    """The server with every feature registered."""
    server = ChainServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ChainServer, params: lsp.DidOpenTextDocumentParams) -> None:
        guarded(ls, lambda: ls.check(params.text_document.uri), None)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ChainServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ChainServer, params: lsp.DidSaveTextDocumentParams) -> None:
        guarded(ls, lambda: ls.check(params.text_document.uri), None)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ChainServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        handle = ls.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        ls.analyses.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: ChainServer, params: lsp.HoverParams) -> lsp.Hover | None:
        return guarded(ls, lambda: _with_offset(ls, params, hover), None)

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: ChainServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        return guarded(ls, lambda: _with_offset(ls, params, definition), None)

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls: ChainServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
        def run() -> list[lsp.Location]:
            a = ls.analysis(params.text_document.uri)
            offset = ls.codec.offset(a.src, params.position)
            include = params.context.include_declaration
            return references(a, offset, ls.codec, include, ls.analyses.values())

        return guarded(ls, run, [])

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=[".", "{", '"', "(", " "]),
    )
    def on_completion(ls: ChainServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        def run() -> lsp.CompletionList:
            a = ls.analysis(params.text_document.uri)
            items = completions(a, ls.codec.offset(a.src, params.position))
            return lsp.CompletionList(is_incomplete=False, items=items)

        return guarded(ls, run, lsp.CompletionList(is_incomplete=False, items=[]))

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def on_format(ls: ChainServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
        def run() -> list[lsp.TextEdit]:
            uri = params.text_document.uri
            doc = ls.workspace.get_text_document(uri)
            return formatting(doc.source, ls.path_of(uri), ls.codec)

        return guarded(ls, run, [])

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: ChainServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        return guarded(
            ls, lambda: document_symbols(ls.analysis(params.text_document.uri), ls.codec), []
        )

    @server.feature(lsp.TEXT_DOCUMENT_CODE_LENS)
    def on_lens(ls: ChainServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        return guarded(ls, lambda: code_lenses(ls.analysis(params.text_document.uri), ls.codec), [])

    return server


def _with_offset(ls: ChainServer, params: Any, feature: Callable[..., T]) -> T:
    a = ls.analysis(params.text_document.uri)
    return feature(a, ls.codec.offset(a.src, params.position), ls.codec)


def main() -> int:
    """Serve over stdin/stdout until the client says exit."""
    build_server().start_io()
    return 0
