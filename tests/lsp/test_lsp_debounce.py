"""Changes are checked once typing pauses: a burst of edits gives one check, after the pause."""

from __future__ import annotations

import asyncio

import pytest

from chainlang.lsp import server as srv


async def test_a_burst_of_changes_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(srv, "DEBOUNCE_S", 0.05)
    ls = srv.ChainServer()
    checked: list[str] = []
    monkeypatch.setattr(ls, "check", lambda uri, importers=True: checked.append(uri))
    ls.analyses["file:///a.chain"] = None  # type: ignore[assignment]  # open; never read here
    for _ in range(5):
        ls.schedule("file:///a.chain")
        await asyncio.sleep(0.01)
    assert checked == []  # still typing
    await asyncio.sleep(0.2)
    assert checked == ["file:///a.chain"]
