"""Bind a chain's label sets to files before it runs.

A chain names label sets by alias (``Label(coco80)``, ``labels animals =
"animals.labels"``). Before a run every alias is resolved once: built-in
names stay as they are, user files become absolute paths (relative to the
chain file), and ``--labels ALIAS=NAME_OR_PATH`` rebinds an alias — which is
how a paper chain written for COCO runs on a dataset with its own classes
(the demo runs them on the synthetic scenes' label set).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainlang import ir, labelsets
from chainlang.errors import UsageError


def bind_labelsets(
    program: ir.Program, chain_dir: Path | None, overrides: Mapping[str, str] | None = None
) -> ir.Program:
    """Return ``program`` with every label-set reference resolved to a loadable name or path.

    Raises:
        UsageError: an override names an alias the chain does not use, or a label
            set that cannot be loaded.
    """
    overrides = dict(overrides or {})
    known = {ls.name: ls for ls in program.labelsets}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise UsageError(
            f"--labels names {', '.join(unknown)}, which the chain does not use "
            f"(it uses {', '.join(sorted(known)) or 'no label sets'})"
        )
    target = {name: _target(ls, chain_dir, overrides.get(name)) for name, ls in known.items()}
    for name, where in target.items():
        try:
            labelsets.load(where)
        except labelsets.LabelSetError as err:
            raise UsageError(f"label set {name!r}: {err}") from None
    bound = ir.Program.model_validate(_rewrite(program.model_dump(), target))
    sets = tuple(
        ls.model_copy(
            update={"source": "builtin" if target[ls.name] == ls.name else target[ls.name]}
        )
        for ls in bound.labelsets
    )
    return bound.model_copy(update={"labelsets": sets})


def _target(ls: ir.LabelSet, chain_dir: Path | None, override: str | None) -> str:
    if override is not None:
        if override in labelsets.BUILTIN:
            return override
        return str(Path(override).resolve())
    if ls.source == "builtin":
        return ls.name
    base = chain_dir or Path.cwd()
    return str((base / ls.source).resolve())


def _rewrite(node: Any, target: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v, target) for k, v in node.items()}
        if out.get("kind") == "label" and out.get("labelset") in target:
            out["labelset"] = target[out["labelset"]]
        return out
    if isinstance(node, (list, tuple)):
        return [_rewrite(v, target) for v in node]
    return node
