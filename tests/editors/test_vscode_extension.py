"""The VS Code extension in editors/vscode: its manifest, its client stack, its package.

VS Code's extension host cannot start here (``@vscode/test-electron`` downloads a VS Code
build), so the smoke test drives ``chainlang lsp`` over stdio from node with
vscode-jsonrpc, the transport vscode-languageclient uses, started the way the extension
starts it. The package test builds the ``.vsix`` with @vscode/vsce and reads it back.
Tests that need node modules skip, saying so, until ``npm ci`` has run in editors/vscode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = ROOT / "grammars" / "chain.tmLanguage.json"


def _node(module: str) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs npm)")
    if not (VSCODE / "node_modules" / module).is_dir():
        pytest.skip(f"{module} is not installed: run `npm ci` in editors/vscode")
    return node


def test_the_manifest_declares_the_language_grammar_and_client() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    contributes = manifest["contributes"]
    (language,) = contributes["languages"]
    assert language["id"] == "chain" and language["extensions"] == [".chain"]
    assert (VSCODE / language["configuration"]).is_file()
    (grammar,) = contributes["grammars"]
    assert grammar["scopeName"] == json.loads(GRAMMAR.read_text(encoding="utf-8"))["scopeName"]
    assert grammar["path"] == "./syntaxes/chain.tmLanguage.json"  # copied there by the build
    assert "vscode-languageclient" in manifest["dependencies"]
    assert (VSCODE / "package-lock.json").is_file()
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    assert '"-m", "chainlang", "lsp"' in (VSCODE / "extension.js").read_text(encoding="utf-8")


def test_the_client_stack_talks_to_the_server_over_stdio() -> None:
    node = _node("vscode-jsonrpc")
    done = subprocess.run(
        [node, str(VSCODE / "test" / "smoke.js"), sys.executable, "chains/depth.chain"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    caps = answer["capabilities"]
    for provider in ("hoverProvider", "definitionProvider", "completionProvider"):
        assert caps.get(provider), provider
    assert answer["diagnostics"] == []
    assert "prompt compare" in answer["hover"]
    assert answer["lenses"] and all("per item" in t for t in answer["lenses"])


def test_the_build_script_packages_a_vsix(tmp_path: Path) -> None:
    node = _node("@vscode/vsce")
    out = tmp_path / "chainlang.vsix"
    done = subprocess.run(
        [node, str(VSCODE / "scripts" / "build.js"), str(out)],
        capture_output=True,
        text=True,
        cwd=VSCODE,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(out) as vsix:
        names = set(vsix.namelist())
        shipped = vsix.read("extension/syntaxes/chain.tmLanguage.json")
    assert shipped == GRAMMAR.read_bytes()
    assert {"extension/extension.js", "extension/language-configuration.json"} <= names
    assert any(n.startswith("extension/node_modules/vscode-languageclient/") for n in names)
