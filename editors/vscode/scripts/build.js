// Build the extension into chainlang-<version>.vsix: copy the grammar from the repository's
// grammars/ (its one home), then package with @vscode/vsce. Run: npm ci && npm run build
// (node scripts/build.js OUT.vsix writes the package there instead).
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const here = path.resolve(__dirname, "..");
const grammar = path.resolve(here, "..", "..", "grammars", "chain.tmLanguage.json");
fs.mkdirSync(path.join(here, "syntaxes"), { recursive: true });
fs.copyFileSync(grammar, path.join(here, "syntaxes", "chain.tmLanguage.json"));
const vsce = path.join(here, "node_modules", "@vscode", "vsce", "vsce");
const out = process.argv[2] ? ["--out", path.resolve(process.argv[2])] : [];
execFileSync(process.execPath, [vsce, "package", "--skip-license", ...out], {
  cwd: here,
  stdio: "inherit",
});
