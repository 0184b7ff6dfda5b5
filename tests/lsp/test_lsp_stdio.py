"""``chainlang lsp`` with a real client over stdio: what an editor sees.

Diagnostics equal ``chainlang check``'s and clear when fixed; a change in an
imported file re-checks its importer; hover and definition on every shipped chain;
completion lists; formatting equals ``chainlang fmt``; code lenses carry the call
bounds; the outline lists the chain's parts; no request logs an internal error.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest
from lsp_helpers import CHAINS, ROOT, doc, position
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from chainlang.cli.app import main as cli
from chainlang.language.compiler import check_file
from chainlang.language.labelsets import load
from chainlang.stdlib import default_registry

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.resolve().as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri,
                language_id="chain",
                version=1,
                text=path.read_text(encoding="utf-8") if text is None else text,
            )
        )
    )
    await _diagnostics_for(client, uri)
    return uri


async def _diagnostics_for(client: LanguageClient, uri: str) -> list[lsp.Diagnostic]:
    for _ in range(50):
        if uri in client.diagnostics:
            return list(client.diagnostics.pop(uri))
        await asyncio.wait_for(
            client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), timeout=20
        )
    raise AssertionError(f"no diagnostics for {uri}")


def _change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _close(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(
        lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )


def _no_internal_errors(client: LanguageClient) -> None:
    errors = [m.message for m in client.log_messages if m.type == lsp.MessageType.Error]
    assert not errors, errors[0]


async def test_diagnostics_equal_check_and_clear_when_fixed(
    client: LanguageClient, tmp_path: Path
) -> None:
    good = (ROOT / "chains" / "depth.chain").read_text(encoding="utf-8")
    bad = good.replace("sample_pairs(regions", "sample_pairs(regionz", 1)
    path = tmp_path / "depth.chain"
    path.write_text(bad, encoding="utf-8")
    expected = [
        (d.code, d.span.line - 1, d.span.col - 1, d.message) for d in check_file(path).diagnostics
    ]
    assert expected and expected[0][0] == "E201"
    uri = await _open(client, path)
    client.diagnostics.clear()
    _change(client, uri, bad, 2)  # typing: checked after the pause, like on open
    got = await _diagnostics_for(client, uri)
    shown = [(d.code, d.range.start.line, d.range.start.character, d.message) for d in got]
    assert [(c, ln, col) for c, ln, col, _ in shown] == [(c, ln, col) for c, ln, col, _ in expected]
    assert all(s[3].startswith(e[3]) for s, e in zip(shown, expected, strict=True))
    assert "did you mean 'regions'?" in got[0].message
    _change(client, uri, good, 3)
    assert await _diagnostics_for(client, uri) == []
    _close(client, uri)
    _no_internal_errors(client)


LIB = """answer Yes {
  yes: Bool "whether it is so"
}
prompt ask_yes(view: Image) -> Yes {
  user [view] "Is there a dog?"
}
"""

MAIN = """from "lib.chain" import ask_yes

chain dogs {
  input image: Image
  truth dog: Bool
  output Bool
  score exact(truth.dog)
  let answer = ask ask_yes(view = image)
  return answer.yes
}
"""


async def test_a_change_in_an_imported_file_rechecks_its_importer(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "lib.chain").write_text(LIB, encoding="utf-8")
    (tmp_path / "main.chain").write_text(MAIN, encoding="utf-8")
    main_uri = await _open(client, tmp_path / "main.chain")
    lib_uri = await _open(client, tmp_path / "lib.chain")
    assert await _diagnostics_for(client, main_uri) == []  # opening lib re-checks main
    # Unsaved edit in the imported file: the prompt is renamed, the importer breaks.
    _change(client, lib_uri, LIB.replace("ask_yes", "ask_if"), 2)
    broken = await _diagnostics_for(client, main_uri)
    assert "E703" in [d.code for d in broken], broken
    assert "did you mean 'ask_if'?" in broken[0].message
    definition = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=doc(tmp_path / "main.chain"), position=position(MAIN, "ask_yes(", 1)
        )
    )
    assert definition is None or isinstance(definition, lsp.Location)
    _change(client, lib_uri, LIB, 3)
    assert await _diagnostics_for(client, main_uri) == []
    definition = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=doc(tmp_path / "main.chain"), position=position(MAIN, "ask_yes(", 1)
        )
    )
    assert isinstance(definition, lsp.Location)
    assert definition.uri == (tmp_path / "lib.chain").resolve().as_uri()
    assert definition.range.start.line == 3
    _close(client, main_uri)
    _close(client, lib_uri)


def _in_code(text: str, offset: int) -> bool:
    """Whether ``offset`` is outside comments and one-line strings."""
    before = text[text.rfind("\n", 0, offset) + 1 : offset]
    return "#" not in before and before.count('"') % 2 == 0


@pytest.mark.parametrize("chain", CHAINS, ids=lambda p: p.name)
async def test_hover_and_definition_on_every_shipped_chain(
    client: LanguageClient, chain: Path
) -> None:
    text = chain.read_text(encoding="utf-8")
    uri = await _open(client, chain)
    ident = doc(chain)
    ask = re.search(r"\bask\s+(\w+)(?=\()", text)
    assert ask is not None
    at = position(text, ask.group(0), len(ask.group(0)) - 1)
    hover = await client.text_document_hover_async(
        lsp.HoverParams(text_document=ident, position=at)
    )
    assert hover is not None and f"prompt {ask.group(1)}(" in hover.contents.value
    target = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=ident, position=at)
    )
    assert isinstance(target, lsp.Location)
    declared = Path(target.uri.removeprefix("file://")).read_text(encoding="utf-8")
    line = declared.splitlines()[target.range.start.line]
    assert f"prompt {ask.group(1)}" in line
    ops = default_registry()
    calls = [
        m
        for m in re.finditer(r"(?<![\w.])(\w+)\(", text)
        if m.group(1) in ops and _in_code(text, m.start())
    ]
    for call in calls[:1]:  # the first operation called: its signature
        line_start = text.rfind("\n", 0, call.start()) + 1
        at = lsp.Position(
            line=text.count("\n", 0, call.start()), character=call.start() - line_start + 1
        )
        hover = await client.text_document_hover_async(
            lsp.HoverParams(text_document=ident, position=at)
        )
        assert hover is not None and f"{call.group(1)}(" in hover.contents.value
        assert ") -> " in hover.contents.value
    for let in list(re.finditer(r"\blet (\w+) =", text))[:1]:  # a let: its checked type
        hover = await client.text_document_hover_async(
            lsp.HoverParams(text_document=ident, position=position(text, let.group(0), 5))
        )
        assert hover is not None and f"{let.group(1)}: " in hover.contents.value
    _close(client, uri)
    _no_internal_errors(client)


async def test_completion_lists(client: LanguageClient, tmp_path: Path) -> None:
    text = (ROOT / "chains" / "depth.chain").read_text(encoding="utf-8")
    path = tmp_path / "depth.chain"
    path.write_text(text, encoding="utf-8")
    uri = await _open(client, path)
    ident = doc(path)

    async def labels_at(new: str, needle: str) -> list[str]:
        _change(client, uri, new, 2)
        got = await client.text_document_completion_async(
            lsp.CompletionParams(text_document=ident, position=position(new, needle, len(needle)))
        )
        assert isinstance(got, lsp.CompletionList)
        return [i.label for i in got.items]

    # fields after `.` (a loop variable's Pair), while the line is half typed
    typed = text.replace("[p.a, p.b]", "[p., p.b]", 1)
    assert {"a", "b"} <= set(await labels_at(typed, "[p."))
    # enum values inside a literal compared with an enum-typed parameter
    typed = text.replace('form == "depth_order"', 'form == "', 1)
    assert set(await labels_at(typed, 'form == "')) == {"near", "depth_order"}
    # a prompt's variants after `variant` in a defaults block
    typed = text.replace("variant compare = careful", "variant compare = ", 1)
    assert "careful" in await labels_at(typed, "variant compare = ")
    # operations with signatures and keywords anywhere else
    items = await labels_at(text, "  let regions = ")
    assert {"superpixels", "sample_pairs", "let", "ask", "segments"} <= set(items)
    _close(client, uri)


async def test_label_names_in_a_label_typed_literal(client: LanguageClient, tmp_path: Path) -> None:
    src = ROOT / "chains" / "examples"
    shutil.copy(src / "animals.labels", tmp_path / "animals.labels")
    text = (src / "label.chain").read_text(encoding="utf-8")
    typed = text.replace("truth.label\n", '"\n', 1)  # the oracle's value: Label(animals)
    path = tmp_path / "label.chain"
    path.write_text(text, encoding="utf-8")
    uri = await _open(client, path)
    _change(client, uri, typed, 2)
    got = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=doc(path), position=position(typed, '{\n      "', 9))
    )
    labels = load(str(src / "animals.labels"))
    assert isinstance(got, lsp.CompletionList)
    assert {i.label for i in got.items} >= set(labels[:3])
    _close(client, uri)


async def test_formatting_equals_chainlang_fmt(client: LanguageClient, tmp_path: Path) -> None:
    text = (ROOT / "chains" / "depth.chain").read_text(encoding="utf-8")
    messy = text.replace("  let ", "let     ").replace(", ", " ,  ")
    path = tmp_path / "messy.chain"
    path.write_text(messy, encoding="utf-8")
    uri = await _open(client, path)
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=doc(path), options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )
    assert edits and len(edits) == 1
    assert cli(["fmt", str(path)]) == 0
    assert edits[0].new_text == path.read_text(encoding="utf-8") != messy
    _close(client, uri)


async def test_code_lens_bounds_and_outline(client: LanguageClient) -> None:
    path = ROOT / "chains" / "depth.chain"
    text = path.read_text(encoding="utf-8")
    uri = await _open(client, path)
    lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(text_document=doc(path)))
    asks = [m.start() for m in re.finditer(r"\bask\s+\w+\(", text)]
    assert lenses is not None and len(lenses) == len(asks)
    assert [lens.range.start.line for lens in lenses] == [text.count("\n", 0, i) for i in asks]
    assert all(lens.command and "per item" in lens.command.title for lens in lenses)
    assert all("chain: calls" in lens.command.title for lens in lenses)
    outline = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(text_document=doc(path))
    )
    assert outline is not None
    chain = next(s for s in outline if isinstance(s, lsp.DocumentSymbol) and s.name == "depth")
    names = {c.name for c in chain.children or []}
    assert {"image", "pairs", "compare", "Nearer", "regions", "nearness"} <= names
    _close(client, uri)


async def test_half_typed_prefixes_answer_every_request(client: LanguageClient) -> None:
    path = ROOT / "chains" / "detect.chain"
    text = path.read_text(encoding="utf-8")
    uri = await _open(client, path)
    ident = doc(path)
    for version, cut in enumerate(range(97, len(text), max(1, len(text) // 6)), start=2):
        prefix = text[:cut]
        _change(client, uri, prefix, version)
        end = position(prefix + "\0", "\0")
        await client.text_document_hover_async(lsp.HoverParams(text_document=ident, position=end))
        await client.text_document_completion_async(
            lsp.CompletionParams(text_document=ident, position=end)
        )
        await client.text_document_definition_async(
            lsp.DefinitionParams(text_document=ident, position=end)
        )
        await client.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(text_document=ident)
        )
        await client.text_document_code_lens_async(lsp.CodeLensParams(text_document=ident))
    await asyncio.sleep(0.5)  # a debounced check still pending would log here
    _close(client, uri)
    _no_internal_errors(client)
