"""The server never fails on a half-typed file: every request kind on prefixes of chains.

A property test over every shipped chain: cut it at a drawn offset (the text an author
has typed so far), analyse it the way the server does (with the last complete version
as the previous analysis), and run every feature at a drawn position and at the end.
Each must answer (possibly nothing) without raising. The features are called in
process, without the server's safety net, so an exception fails the test.
"""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsp_helpers import CHAINS

from chainlang.lsp.analysis import Analysis, analyze
from chainlang.lsp.completion import completions
from chainlang.lsp.definition import definition, references
from chainlang.lsp.diagnostics import diagnostics
from chainlang.lsp.formatting import formatting
from chainlang.lsp.hover import hover
from chainlang.lsp.lens import code_lenses
from chainlang.lsp.positions import Codec
from chainlang.lsp.symbols import document_symbols

CODEC = Codec()


@cache
def _complete(index: int) -> tuple[str, Analysis]:
    path = CHAINS[index]
    text = path.read_text(encoding="utf-8")
    return text, analyze(text, str(path))


def _document_requests(a: Analysis) -> None:
    diagnostics(a, CODEC)
    document_symbols(a, CODEC)
    code_lenses(a, CODEC)
    formatting(a.text, a.path, CODEC)


def _position_requests(a: Analysis, offset: int) -> None:
    hover(a, offset, CODEC)
    definition(a, offset, CODEC)
    references(a, offset, CODEC, True)
    completions(a, offset)
    assert CODEC.offset(a.src, CODEC.position(a.src, offset)) == offset


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(min_value=0, max_value=len(CHAINS) - 1),
    cut=st.floats(min_value=0.0, max_value=1.0),
    where=st.floats(min_value=0.0, max_value=1.0),
)
def test_every_request_answers_on_a_prefix(which: int, cut: float, where: float) -> None:
    text, whole = _complete(which)
    prefix = text[: int(len(text) * cut)]
    a = analyze(prefix, whole.path, previous=whole)
    _document_requests(a)
    _position_requests(a, int(len(prefix) * where))
    _position_requests(a, len(prefix))


def test_every_shipped_chain_at_every_line_start() -> None:
    """Each complete chain, probed at the start and end of each of its lines."""
    for i in range(len(CHAINS)):
        text, a = _complete(i)
        _document_requests(a)
        starts = [0, *(j + 1 for j, ch in enumerate(text) if ch == "\n")]
        for offset in starts:
            end = text.find("\n", offset)
            _position_requests(a, offset)
            _position_requests(a, end if end >= 0 else len(text))
