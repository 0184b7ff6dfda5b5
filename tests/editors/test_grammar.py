"""The TextMate grammar (grammars/chain.tmLanguage.json) with VS Code's own engine.

A node script (editors/vscode/test/tokenize.js) tokenises every ``.chain`` file of the
repository with vscode-textmate and vscode-oniguruma, the libraries VS Code highlights
with. Every non-blank token must get a scope of its own (not just the file's root scope
or a bare ``meta`` region), nothing in the shipped chains may fall through to the
grammar's ``invalid`` catch-all, and every ``{hole}`` inside prompt text must be a
token scoped as a hole.

The node modules come from ``npm ci`` in editors/vscode (the committed package-lock.json;
``.ci/run`` runs it); without node or those modules the test is skipped, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = ROOT / "grammars" / "chain.tmLanguage.json"
VSCODE = ROOT / "editors" / "vscode"
SCRIPT = VSCODE / "test" / "tokenize.js"
SKIP_DIRS = {".venv", "node_modules", ".git"}
HOLE = re.compile(r"(?<!\{)\{[A-Za-z_][A-Za-z0-9_]*\}")

Token = tuple[int, int, int, str, list[str]]


def _chain_files() -> list[Path]:
    return sorted(
        p for p in ROOT.rglob("*.chain") if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)
    )


def _tokenize(files: list[Path]) -> dict[str, list[Token]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs npm)")
    if not (VSCODE / "node_modules" / "vscode-textmate").is_dir():
        pytest.skip("vscode-textmate is not installed: run `npm ci` in editors/vscode")
    done = subprocess.run(
        [node, str(SCRIPT), str(GRAMMAR), *map(str, files)],
        capture_output=True,
        text=True,
        cwd=VSCODE,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _own_scope(token: Token) -> str:
    return token[4][-1]


def _unscoped(token: Token) -> bool:
    scope = _own_scope(token)
    return bool(token[3].strip()) and (scope == "source.chain" or scope.startswith("meta."))


def test_every_token_of_every_chain_file_is_scoped() -> None:
    files = _chain_files()
    assert len(files) > 20
    tokens = _tokenize(files)
    bad = [
        f"{Path(f).relative_to(ROOT)}:{t[0]}:{t[1] + 1}: {t[3]!r} {t[4]}"
        for f, ts in tokens.items()
        for t in ts
        if _unscoped(t)
    ]
    assert not bad, "tokens without a scope:\n" + "\n".join(bad[:20])
    shipped = [f for f in tokens if "golden" not in Path(f).parts]
    invalid = [
        f"{Path(f).relative_to(ROOT)}:{t[0]}: {t[3]!r}"
        for f in shipped
        for t in tokens[f]
        if "invalid" in _own_scope(t)
    ]
    assert not invalid, "tokens the grammar does not know:\n" + "\n".join(invalid[:20])


def test_holes_inside_strings_are_scoped_as_holes() -> None:
    tokens = _tokenize(_chain_files())
    holes = 0
    for f, ts in tokens.items():
        for t in ts:
            scopes = t[4]
            if "variable.parameter.hole.chain" in scopes:
                holes += 1
                continue
            in_string = any(s.startswith("string.") for s in scopes)
            assert not (in_string and HOLE.search(t[3])), f"{f}:{t[0]}: hole not scoped: {t[3]!r}"
    assert holes > 10  # the shipped prompts have holes; a grammar that lost them would fail


SAMPLE = '''# a comment
from "lib.chain" import shared
labels animals = "animals.labels"
chain demo "doc" {
  input image: Image
  truth label: Label(animals)
  output [Label(animals)]?
  param k: Int = 3 "how many"
  param t: Float = -1.5e3
  defaults for "gpt-4o*" { k = 2  variant which = brief }
  prompt which(each view: Image, n: Int) -> {a: Int(0..20)} {
    system """Count {n} things
and {{escaped}} braces"""
    each user [view high] "Look at {view}" file "extra.txt"
    variant brief default reasoning { user [view] "Short." }
  }
  let xs = [x * 2 for x in range(k) if x % 2 != 0 and not false]
  let r = repeat with { i: Int = 0 } up to 3 until i >= 2 { next { i = i + 1 } }
  let y = ask which(view = image, n = k) variant brief samples 2 oracle { a = 1 } else skip
  return if true then none else y.a
}
'''

EXPECTED = {
    "#": "comment.line.number-sign.chain",
    "from": "storage.type.chain",
    "chain": "storage.type.chain",
    "demo": "entity.name.type.declaration.chain",
    "Image": "entity.name.type.chain",
    "3": "constant.numeric.integer.chain",
    "-1.5e3": None,
    "1.5e3": "constant.numeric.float.chain",
    "system": "keyword.other.role.chain",
    "n": "variable.parameter.hole.chain",
    "{{": "constant.character.escape.brace.chain",
    "high": "keyword.other.detail.chain",
    "view": "variable.parameter.image.chain",
    "file": "keyword.other.file.chain",
    "repeat": "keyword.control.chain",
    "ask": "keyword.control.chain",
    "range": "entity.name.function.chain",
    "and": "keyword.operator.logical.chain",
    "!=": "keyword.operator.chain",
    "none": "constant.language.chain",
    "reasoning": "storage.modifier.chain",
}


def test_each_kind_of_token_gets_its_scope(tmp_path: Path) -> None:
    sample = tmp_path / "sample.chain"
    sample.write_text(SAMPLE, encoding="utf-8")
    tokens = _tokenize([sample])[str(sample)]
    assert not [t for t in tokens if _unscoped(t) or "invalid" in _own_scope(t)]
    seen: dict[str, set[str]] = {}
    for t in tokens:
        seen.setdefault(t[3].strip() if t[3].strip() != "#" else "#", set()).add(_own_scope(t))
        if t[3].startswith("#"):
            seen.setdefault("#", set()).add(_own_scope(t))
    for text, scope in EXPECTED.items():
        if scope is not None:
            assert scope in seen.get(text, set()), (text, seen.get(text))
    holes = [t[3] for t in tokens if _own_scope(t) == "variable.parameter.hole.chain"]
    assert holes == ["n", "view"]
