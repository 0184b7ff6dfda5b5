"""The import direction between chainlang's packages, and what ``chainlang check`` loads.

The layers, top to bottom (imports only go downward; docs/architecture.md draws them)::

    cli
    reporting
    api, experiments                      (independent of each other)
    runtime
    providers, scoring, data, vision      (independent, except SIBLING_EDGES)
    language, stdlib                      (stdlib holds the operations' signatures)
    errors, image                         (the values every stage shares)

``testing`` (the fake provider server) is a tool for tests: it may import anything
below ``cli``, and only ``cli`` may import it. ``lsp`` (the language server) may
import only ``language``, ``stdlib`` and the shared values, and only ``cli`` may
import it. Every import statement counts,
including those inside functions (an AST walk sees them all), because a
function-local import still ties the lower package to the upper one.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "chainlang"

#: Rank of each top-level part of ``chainlang``; an import may only go to a lower rank,
#: or stay within one package. ``<root>`` is ``chainlang/__init__.py`` (a lazy facade).
RANK = {
    "<root>": 7,
    "__main__": 7,
    "cli": 7,
    "testing": 6,
    "lsp": 6,
    "reporting": 5,
    "api": 4,
    "experiments": 4,
    "runtime": 3,
    "providers": 2,
    "scoring": 2,
    "data": 2,
    "vision": 2,
    "language": 1,
    "stdlib": 1,
    "errors": 0,
    "image": 0,
}

#: Packages of one rank that must not import each other (unless in SIBLING_EDGES).
INDEPENDENT = [{"api", "experiments"}, {"providers", "scoring", "data", "vision"}]

#: Imports between independent siblings that the design allows (documented in
#: docs/architecture.md, "Allowed import directions").
SIBLING_EDGES = {
    ("scoring", "data"),  # scoring joins a run with its dataset's truth
    ("providers", "vision"),  # adapters encode images with vision.encode
}

#: Upward imports that another change of issue 11 is removing right now. Each entry is
#: (importing module, imported module); delete it once that change lands. Nothing else
#: may be added here: fix the import instead.
ALLOWED_UPWARD: set[tuple[str, str]] = set()

#: Packages that only ``cli`` may import, and what each of them may import itself.
CLI_ONLY = {"testing": None, "lsp": {"language", "stdlib", "errors", "image"}}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The chainlang modules an import statement loads (``from pkg import mod`` → pkg.mod)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = []
        for alias in node.names:
            full = f"{base}.{alias.name}"
            names.append(full if full in MODULES else base)
    return [n for n in names if n == "chainlang" or n.startswith("chainlang.")]


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _allowed(src: str, dst: str) -> bool:
    if src == dst:
        return True
    if dst in CLI_ONLY:
        return src == "cli"
    allowed = CLI_ONLY.get(src)
    if allowed is not None:
        return dst in allowed
    if RANK[src] > RANK[dst]:
        return True
    if RANK[src] < RANK[dst]:
        return False
    same_group = any(src in g and dst in g for g in INDEPENDENT)
    return not same_group or (src, dst) in SIBLING_EDGES


def import_edges() -> list[tuple[str, str, int]]:
    """(importing module, imported module, line) for every chainlang import in the package."""
    edges: list[tuple[str, str, int]] = []
    for module, path in sorted(MODULES.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges.extend((module, t, node.lineno) for t in _targets(module, node))
    return edges


def test_every_package_has_a_layer() -> None:
    parts = {_part(m) for m in MODULES}
    assert parts <= set(RANK), f"give these a layer in RANK: {sorted(parts - set(RANK))}"


def test_imports_only_go_down_the_layers() -> None:
    bad = [
        f"{src}:{line} imports {dst}"
        for src, dst, line in sorted(set(import_edges()))
        if not _allowed(_part(src), _part(dst)) and (src, dst) not in ALLOWED_UPWARD
    ]
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_allow_list_has_no_stale_entries() -> None:
    present = {(src, dst) for src, dst, _ in import_edges()}
    stale = ALLOWED_UPWARD - present
    assert not stale, f"these imports are gone; delete them from ALLOWED_UPWARD: {stale}"


def test_the_checker_on_its_own() -> None:
    """The layer test itself rejects an upward import (so it cannot pass vacuously)."""
    assert not _allowed("scoring", "experiments")
    assert not _allowed("scoring", "runtime")
    assert not _allowed("scoring", "vision")
    assert not _allowed("language", "runtime")
    assert not _allowed("runtime", "testing")
    assert _allowed("scoring", "data")
    assert _allowed("testing", "runtime")
    assert not _allowed("lsp", "runtime")
    assert not _allowed("language", "lsp")
    assert not _allowed("reporting", "lsp")
    assert _allowed("lsp", "language")
    assert _allowed("cli", "lsp")


_HEAVY = ("chainlang.vision", "skimage", "scipy", "openai", "anthropic", "google.genai", "torch")

_PROBE = """
import json, sys
from chainlang.cli.app import main
code = main(["check", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_check_imports_no_vision_no_provider_sdk_no_torch() -> None:
    """``chainlang check`` stays light: none of the heavy packages is loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT / "chains" / "depth.chain")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    heavy = [m for m in result["modules"] if any(m == h or m.startswith(h + ".") for h in _HEAVY)]
    assert not heavy, f"chainlang check imported {heavy[:10]}"


@pytest.mark.parametrize("module", ["chainlang.scoring.score", "chainlang.scoring"])
def test_scoring_loads_without_experiments_or_runtime(module: str) -> None:
    """Importing scoring loads neither the experiments nor the runtime packages."""
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if 'chainlang.' in m))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = done.stdout
    assert "chainlang.experiments" not in loaded
    assert "chainlang.runtime" not in loaded
