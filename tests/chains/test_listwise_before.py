"""The listwise depth example against the same idea in the language before issue 12.

``examples/listwise_before/`` keeps the chain as it had to be written then: no
``range``/``str``/``argsort``/``index_of``/``order_pairs``/``or_else``, no permutation
answers, and a Python operation to build a ``Pair``. Both chains ask the same
questions about the same groups, so with the oracle they must give the same depth
map; the new one must be clearly shorter (docs/tasks.md quotes the figures).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from chains_helpers import CHAINS

from chainlang.api import RunOptions, run
from chainlang.language import ir
from chainlang.language.compiler import compile_file
from chainlang.stdlib import default_registry

BEFORE = CHAINS.parent / "examples" / "listwise_before"
NEW = CHAINS / "examples" / "listwise_depth.chain"
# Operations issue 12 added (stdlib basics, numbered views, shapes, or_else, cell_at).
ADDED = {
    "pair", "pairs_of", "order_pairs", "area", "centroid", "centre", "box_area", "iou",
    "boxes_of", "box_labels", "instance_masks", "number_regions", "grid_numbered",
    "outline_instances", "sum", "mean", "min_of", "max_of", "sort", "sort_by", "rank",
    "argsort", "reverse", "range", "enumerate", "zip", "index_of", "str", "concat", "format",
    "or_else", "cell_at",
}  # fmt: skip


def _before(monkeypatch: pytest.MonkeyPatch) -> ir.Program:
    monkeypatch.syspath_prepend(str(BEFORE))
    from make_pair import make_pair

    registry = default_registry().with_operations([make_pair])
    return compile_file(BEFORE / "listwise_depth.chain", registry=registry)


def _calls(program: ir.Program) -> set[str]:
    return {node.op for node in ir.walk(program) if isinstance(node, ir.Call)}


def _body(path: Path) -> tuple[int, int]:
    """Lines and tokens of the chain's body (from the first `let` to `return`), no comments."""
    text = path.read_text(encoding="utf-8")
    text = text[text.index("  let regions") : text.rindex("}")]
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    tokens = sum(len(re.findall(r'"[^"]*"|\w+|[^\s\w]', ln)) for ln in lines)
    return len(lines), tokens


def test_the_old_form_uses_only_the_old_language(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _before(monkeypatch), compile_file(NEW)
    assert not _calls(old) & ADDED and "make_pair" in _calls(old)
    assert {"order_pairs", "argsort", "index_of", "or_else"} <= _calls(new)


def test_the_new_form_is_clearly_shorter() -> None:
    (new_lines, new_tokens), (old_lines, old_tokens) = (
        _body(NEW),
        _body(BEFORE / "listwise_depth.chain"),
    )
    assert new_lines <= 0.8 * old_lines and new_tokens <= 0.6 * old_tokens, (
        (new_lines, new_tokens),
        (old_lines, old_tokens),
    )


def test_both_forms_give_the_same_oracle_depth(
    monkeypatch: pytest.MonkeyPatch, two_scenes: Path, tmp_path: Path
) -> None:
    old = _before(monkeypatch)
    outputs = []
    for name, chain in (("new", NEW), ("old", old)):
        options = RunOptions(
            params={"segments": "40"}, cache=tmp_path / f"{name}.sqlite", progress="none", workers=1
        )
        result = run(chain, two_scenes, "oracle", out=tmp_path / name, options=options)
        assert result.summary.items_ok == result.summary.items == 2
        assert result.summary.questions > 0
        outputs.append(sorted((tmp_path / name).rglob("*.npz")))
    new_files, old_files = outputs
    assert len(new_files) == len(old_files) == 2
    for a, b in zip(new_files, old_files, strict=True):
        with np.load(a) as x, np.load(b) as y:
            np.testing.assert_array_equal(x["output"], y["output"])
