"""A real LSP client talking to ``chainlang lsp`` over stdio (pytest-lsp), one per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_lsp
from lsp_helpers import ROOT, SERVER
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """A client initialised like VS Code, shut down after the module's tests."""
    await lsp_client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=ROOT.as_uri(),
        )
    )
    yield
    await lsp_client.shutdown_session()
