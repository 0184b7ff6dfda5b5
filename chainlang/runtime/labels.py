"""Bind a chain's label sets to files before it runs.

A chain names label sets by alias (``Label(coco80)``, ``labels animals =
"animals.labels"``). Before a run every alias is resolved once: built-in
names stay as they are, user files become absolute paths (relative to the
chain file), and ``--labels ALIAS=NAME_OR_PATH`` rebinds an alias — which is
how a paper chain written for COCO runs on a dataset with its own classes
(the demo runs them on the synthetic scenes' label set).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from chainlang.errors import UsageError
from chainlang.language import ir, labelsets


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
    target: dict[str, str] = {}
    for name, ls in known.items():
        try:
            target[name] = _target(ls, chain_dir, overrides.get(name))
            labelsets.load(target[name])
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
    # A file the chain names stays inside the chain's folder tree; one given on the
    # command line (the override above) may be anywhere.
    return str(labelsets.declared_path(ls.source, chain_dir or Path.cwd()))


def _rewrite(node: Any, target: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v, target) for k, v in node.items()}
        if out.get("kind") == "label" and out.get("labelset") in target:
            out["labelset"] = target[out["labelset"]]
        return out
    if isinstance(node, (list, tuple)):
        return [_rewrite(v, target) for v in node]
    return node


def check_truth_labels(program: ir.Program, dataset: Any) -> None:
    """Refuse a run whose dataset's truth labels are not labels of the chain's sets.

    ``program`` is bound (:func:`bind_labelsets`). The truth's labels are those
    written in the manifest (``label``, inline ``boxes``) and, for truth held in files
    (``semantic`` masks), the dataset's declared label set. Only the label sets that
    an ``oracle`` clause answers in are compared: a truth label outside them cannot be
    answered, so every question about it would fail as an invalid answer while the
    items still finish.

    Raises:
        UsageError: naming the missing labels and the ``--labels`` rebinding that fixes it.
    """
    sets = _oracle_labelsets(program)
    read = _truth_read(program) & _LABELLED_TRUTH
    if not sets or not read:
        return
    truth, declared = _truth_vocabulary(dataset, read)
    if not truth:
        return
    for alias, target in sets.items():
        names = {labelsets.normalise(v) for v in labelsets.load(target)}
        missing = [v for v in truth if labelsets.normalise(v) not in names]
        if missing:
            raise UsageError(_mismatch(alias, target, truth, missing, declared))


def _oracle_labelsets(program: ir.Program) -> dict[str, str]:
    """Alias → bound target of each label set an oracle clause answers in."""
    # Built-in sets first, so an alias rebound onto a built-in name wins the reverse map.
    ordered = sorted(program.labelsets, key=lambda ls: ls.source != "builtin")
    target_of = {(ls.name if ls.source == "builtin" else ls.source): ls.name for ls in ordered}
    found: dict[str, str] = {}
    for node in ir.walk(program):
        if isinstance(node, ir.Ask) and node.oracle is not None:
            for t in _label_types(node.type):
                found[target_of.get(t, t)] = t
    return found


def _label_types(t: Any) -> Iterator[str]:
    if getattr(t, "kind", None) == "label":
        yield t.labelset
    for name in ("item", "fields"):
        sub = getattr(t, name, None)
        for s in sub if isinstance(sub, tuple) else [sub] if sub is not None else []:
            yield from _label_types(getattr(s, "type", s))


#: Truth kinds whose values name labels (a class name, boxes' labels, mask class indices).
_LABELLED_TRUTH = frozenset({"label", "boxes", "semantic"})


def _truth_read(program: ir.Program) -> frozenset[str]:
    from chainlang.runtime.truth import truth_fields  # truth imports the interpreter

    return truth_fields(program)


def _truth_vocabulary(dataset: Any, read: frozenset[str]) -> tuple[list[str], str | None]:
    """The truth labels the chain can meet, and the dataset's declared label set (or None).

    Labels written in the manifest (``label`` strings, inline ``boxes``) are collected
    from every item, so a chain that answers in a subset of the dataset's classes (the
    ones its truth uses) runs. Truth held in files (masks, box files) is described by
    the declared set, which is then the vocabulary.
    """
    seen: dict[str, None] = {}
    from_files = "semantic" in read
    for item in dataset if read & dataset.truth_names() & {"label", "boxes"} else ():
        if "label" in read and isinstance(v := item.truth_values.get("label"), str):
            seen[v] = None
        boxes = item.truth_values.get("boxes") if "boxes" in read else None
        from_files |= boxes is not None and not isinstance(boxes, list)
        for b in boxes if isinstance(boxes, list) else []:
            if isinstance(b, Mapping) and isinstance(b.get("label"), str):
                seen[b["label"]] = None
    if from_files and dataset.labelset is not None:
        seen.update(dict.fromkeys(labelsets.load(dataset.labelset)))
    return list(seen), dataset.labelset


def _mismatch(
    alias: str, target: str, truth: list[str], missing: list[str], declared: str | None
) -> str:
    shown = ", ".join(repr(v) for v in missing[:6]) + (", ..." if len(missing) > 6 else "")
    bound = "" if target == alias else f" (bound to {target})"
    head = (
        f"{len(missing)} of the {len(truth)} labels of the dataset's truth are not labels "
        f"of the chain's label set {alias!r}{bound}: {shown}; every question about them "
        "would fail as an invalid answer."
    )
    if declared is not None:
        return f"{head} Run with --labels {alias}={declared} to answer in the dataset's labels."
    return (
        f"{head} Write the dataset's labels to a label file (one per line) and run with "
        f"--labels {alias}=FILE."
    )
