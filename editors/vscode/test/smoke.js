// Smoke test of the extension's client stack against `chainlang lsp`, without VS Code:
// the extension host cannot be started here (@vscode/test-electron downloads a VS Code
// build), so this drives the server over stdio with vscode-jsonrpc, the transport
// vscode-languageclient uses, the way the extension starts it (`python -m chainlang lsp`).
// Usage: node test/smoke.js PYTHON FILE.chain   (tests/editors/test_vscode_extension.py)
"use strict";
const fs = require("fs");
const path = require("path");
const { spawn } = require("child_process");
const rpc = require("vscode-jsonrpc/node");

async function main() {
  const [python, file] = process.argv.slice(2);
  const server = spawn(python, ["-m", "chainlang", "lsp"], { stdio: ["pipe", "pipe", "inherit"] });
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(server.stdout),
    new rpc.StreamMessageWriter(server.stdin)
  );
  const uri = "file://" + path.resolve(file);
  const published = new Promise((resolve) =>
    conn.onNotification("textDocument/publishDiagnostics", (p) => p.uri === uri && resolve(p))
  );
  conn.listen();
  const init = await conn.sendRequest("initialize", { processId: process.pid, rootUri: null, capabilities: {} });
  conn.sendNotification("initialized", {});
  const text = fs.readFileSync(file, "utf8");
  conn.sendNotification("textDocument/didOpen", {
    textDocument: { uri, languageId: "chain", version: 1, text },
  });
  const diagnostics = await published;
  const lines = text.split("\n");
  const line = lines.findIndex((l) => /\bask\s+\w+\(/.test(l));
  const character = lines[line].search(/\bask\s+\w+\(/) + 5;
  const hover = await conn.sendRequest("textDocument/hover", {
    textDocument: { uri },
    position: { line, character },
  });
  const lenses = await conn.sendRequest("textDocument/codeLens", { textDocument: { uri } });
  await conn.sendRequest("shutdown");
  conn.sendNotification("exit");
  process.stdout.write(
    JSON.stringify({
      capabilities: init.capabilities,
      diagnostics: diagnostics.diagnostics,
      hover: hover && hover.contents.value,
      lenses: lenses.map((l) => l.command.title),
    })
  );
}

const timer = setTimeout(() => {
  console.error("no answer from the server within 60 s");
  process.exit(2);
}, 60000);
main().then(() => clearTimeout(timer), (err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
