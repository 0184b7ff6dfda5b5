"""The docstring of an operation's implementation, read without importing it.

The registry binds each operation to ``"package.module:function"`` and imports it
only when a chain runs; hover must not load vision code or its dependencies, so
the docstring is read from the module's source with :mod:`ast`, following
``from x import name`` re-exports (``chainlang.vision.ops`` gathers them).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

from chainlang.stdlib import Operation


def operation_doc(op: Operation) -> str:
    """The operation's one-line ``doc`` if declared, else its implementation's docstring."""
    if op.doc:
        return op.doc
    module, _, name = op.impl.partition(":")
    return _docstring(module, name or op.name, 0) or ""


@cache
def _docstring(module: str, name: str, depth: int) -> str | None:
    if depth > 4:
        return None
    path = _module_file(module)
    if path is None:
        return None
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return ast.get_docstring(node)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(
            (a.asname or a.name) == name for a in node.names
        ):
            real = next(a.name for a in node.names if (a.asname or a.name) == name)
            source = _absolute(module, node, path)
            return _docstring(source, real, depth + 1) if source else None
    return None


def _absolute(module: str, node: ast.ImportFrom, path: Path) -> str | None:
    if not node.level:
        return node.module
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def _module_file(module: str) -> Path | None:
    """The source file of a dotted module name, found without importing the module."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # the top-level package only (already loaded)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin else None
    for root in spec.submodule_search_locations or ():
        base = Path(root, *rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None
