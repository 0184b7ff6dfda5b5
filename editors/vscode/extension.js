// The chainlang extension: .chain highlighting comes from the grammar in package.json;
// everything else (errors as you type, hover, definitions, references, completion,
// formatting, outline, call bounds on each `ask`) from `chainlang lsp` over stdio.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

// The Python interpreter chosen in VS Code's Python extension, if there is one.
async function selectedPython() {
  const python = vscode.extensions.getExtension("ms-python.python");
  if (!python) return undefined;
  try {
    const api = python.isActive ? python.exports : await python.activate();
    const env = api.environments.getActiveEnvironmentPath();
    const resolved = await api.environments.resolveEnvironment(env);
    return resolved && resolved.executable && resolved.executable.uri
      ? resolved.executable.uri.fsPath
      : undefined;
  } catch (err) {
    return undefined;
  }
}

// `chainlang.server.command` when set; else `python -m chainlang lsp` with the selected
// interpreter; else `chainlang lsp` from PATH.
async function serverCommand() {
  const configured = vscode.workspace.getConfiguration("chainlang").get("server.command") || [];
  if (configured.length > 0) return { command: configured[0], args: configured.slice(1) };
  const python = await selectedPython();
  if (python) return { command: python, args: ["-m", "chainlang", "lsp"] };
  return { command: "chainlang", args: ["lsp"] };
}

async function activate(context) {
  const server = await serverCommand();
  client = new LanguageClient(
    "chainlang",
    "chainlang",
    { command: server.command, args: server.args },
    { documentSelector: [{ scheme: "file", language: "chain" }] }
  );
  context.subscriptions.push(client);
  await client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
