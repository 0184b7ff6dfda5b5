"""Questions asked per item by each paper chain, against the compiler's bound and §3.8.

Each chain runs with ``oracle`` and ``random`` answerers on two small
synthetic scenes. The count of each item's questions is checked three ways:

* against the chain's static bound (``program.bounds``) evaluated with the
  run's parameters and the data-dependent sizes measured on the item (K =
  superpixels actually produced, classes found, query points): exact
  formulas must match, upper bounds must hold;
* against the reference's calls per image (paper-chains.md §3.8) with the
  paper's default parameters;
* against ``chainlang plan``, which must show the same formula.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from chains_helpers import CHAINS, PAPER_CHAINS, RELABEL, RunChain, questions, records

from chainlang.api import RunOptions, load_chain, plan
from chainlang.data.manifest import load_dataset
from chainlang.language import ir
from chainlang.language.lower import resolve_params
from chainlang.vision.superpixels import superpixels

MODELS = ("oracle", "random")
# 1/B per item is exact for full batches: two scenes fill a batch of two.
FULL_BATCH = {"classify": {"per_call": "2"}}


def _cases() -> list[Any]:
    return [pytest.param(c, m, id=f"{c}-{m}") for c in PAPER_CHAINS for m in MODELS]


def _program(chain: str) -> ir.Program:
    return load_chain(CHAINS / f"{chain}.chain")


def _params(
    program: ir.Program, model: str, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """The parameters the run resolved for ``model`` (its ``defaults for`` blocks apply)."""
    return dict(resolve_params(program, model, overrides).params)


def _superpixel_counts(data: Path, segments: int) -> dict[str, int]:
    """K per item: the same operation and arguments the chains use."""
    return {
        item.id: superpixels(item.image(), n=segments, sigma=5.0).count
        for item in load_dataset(data)
    }


def _run(
    run_chain: RunChain, data: Path, chain: str, model: str, params: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    return records(run_chain(data, CHAINS / f"{chain}.chain", model, params))


@pytest.mark.parametrize(("chain", "model"), _cases())
def test_questions_within_the_static_bound(
    run_chain: RunChain, two_scenes: Path, chain: str, model: str
) -> None:
    program = _program(chain)
    overrides = FULL_BATCH.get(chain)
    params = _params(program, model, overrides)
    bound = program.bounds
    assert bound is not None
    items = {item.id: item for item in load_dataset(two_scenes)}
    ks = _superpixel_counts(two_scenes, int(params["segments"])) if "segments" in params else {}
    for item_id, record in _run(run_chain, two_scenes, chain, model, overrides).items():
        asked = sum(q["share"] for q in questions(record))
        sizes = {"K": ks.get(item_id, 0)}
        if chain == "group":
            sizes["len(points)"] = len(items[item_id].input("points"))
        if chain == "detect":
            sizes["len(classes)"] = len(_classes_found(record))
        allowed = bound.evaluate({**params, **sizes}, estimate=False)
        if bound.exact:
            assert asked == pytest.approx(allowed), f"{item_id}: {bound.show()}"
        else:
            assert 0 < asked <= allowed, f"{item_id}: {asked} questions, {bound.show()}"


def _classes_found(record: dict[str, Any]) -> set[str]:
    return {c for q in questions(record, "find_classes") for c in q["answer"]["classes"]}


@pytest.mark.parametrize("model", MODELS)
def test_classify_packs_b_items_per_request(
    run_chain: RunChain, two_scenes: Path, model: str
) -> None:
    # §3.1: ceil(#images / B) requests; B = 100 by default, so both scenes share one.
    recs = _run(run_chain, two_scenes, "classify", model)
    keys = {q["key"] for r in recs.values() for q in questions(r)}
    assert len(keys) == math.ceil(len(recs) / 100) == 1
    assert all(
        q["share"] == pytest.approx(1 / len(recs)) for r in recs.values() for q in r["questions"]
    )


@pytest.mark.parametrize(
    ("chain", "model"),
    [
        pytest.param("depth", "oracle", id="depth-oracle"),
        pytest.param("depth", "random", id="depth-random"),
        pytest.param("normals", "oracle", id="normals-oracle"),
    ],
)
def test_pairwise_chains_ask_p_200(
    run_chain: RunChain, two_scenes: Path, chain: str, model: str
) -> None:
    # §3.5/§3.6: P = 200 pairs for K < 400, one single-image question per pair.
    for item_id, record in _run(run_chain, two_scenes, chain, model).items():
        asked = questions(record, "compare")
        assert len(asked) == len(record["questions"]) == 200, item_id
        assert all(q["batch"] is None for q in asked)


@pytest.mark.parametrize("model", MODELS)
def test_segment_asks_ceil_k_over_16(run_chain: RunChain, two_scenes: Path, model: str) -> None:
    # §3.3: superpixels in batches of 16, each labelled exactly once: ceil(K/16) calls.
    ks = _superpixel_counts(two_scenes, 400)
    for item_id, record in _run(run_chain, two_scenes, "segment", model).items():
        batches = [q["batch"] for q in questions(record, "name_regions")]
        assert len(batches) == len(record["questions"]) == math.ceil(ks[item_id] / 16)
        assert sum(batches) == ks[item_id]
        assert max(batches) == 16


@pytest.mark.parametrize("model", MODELS)
def test_detect_asks_s_plus_iterations(run_chain: RunChain, two_scenes: Path, model: str) -> None:
    # §3.2 batched: S + Σ_c it_c calls, S = 5 (five regions), it_c <= n_iters (7 here).
    n_iters = _params(_program("detect"), model)["n_iters"]
    items = {item.id: item for item in load_dataset(two_scenes)}
    for item_id, record in _run(run_chain, two_scenes, "detect", model).items():
        found = questions(record, "find_classes")
        zoom = questions(record, "cell")
        assert len(found) == 5 and len(found) + len(zoom) == len(record["questions"])
        assert all(q["batch"] == 9 for q in zoom), "batched mode: one request of 9 cells"
        classes = _classes_found(record)
        assert len(zoom) <= n_iters * len(classes)
        if model == "oracle":  # a perfect answerer finds each truth class once ...
            truth = {b.label for b in items[item_id].truth("boxes")}
            assert classes == truth
            # ... and its zoom needs two "done" steps per class at least (no tiny boxes here)
            assert len(zoom) >= 2 * len(classes)


@pytest.mark.parametrize("model", MODELS)
def test_group_asks_bfs_batches(run_chain: RunChain, two_scenes: Path, model: str) -> None:
    # §3.4: one call per BFS batch of <= 8 candidates; every examined candidate once.
    ks = _superpixel_counts(two_scenes, 400)
    items = {item.id: item for item in load_dataset(two_scenes)}
    for item_id, record in _run(run_chain, two_scenes, "group", model).items():
        batches = [q["batch"] for q in questions(record, "grow")]
        points = len(items[item_id].input("points"))
        assert len(batches) == len(record["questions"])
        assert all(1 <= b <= 8 for b in batches)
        examined = sum(batches)
        assert examined <= points * (ks[item_id] - 1), "no candidate is examined twice"
        # at least one batch per point; never fewer than the examined candidates packed by 8
        assert max(points, math.ceil(examined / 8)) <= len(batches) <= examined


@pytest.mark.parametrize(
    "chain",
    [
        "classify",
        "segment",
        "depth",
        "normals",
    ],
)
def test_plan_shows_the_compiler_formula(two_scenes: Path, chain: str) -> None:
    program = _program(chain)
    bound = program.bounds
    assert bound is not None
    shown = plan(
        CHAINS / f"{chain}.chain",
        two_scenes,
        "openai:gpt-4o",
        options=RunOptions(labels=RELABEL),
        sample_items=1,
    )
    assert shown.formula == bound.show()
    assert shown.exact is bound.exact
    params = dict(resolve_params(program, "gpt-4o").params)
    if chain == "classify":  # 1/B per item in the formula; the run sends ceil(items / B)
        assert bound.evaluate(params) == pytest.approx(1 / 100)
        assert shown.total_calls == math.ceil(shown.items / 100) == 1
        return
    assert shown.calls_per_item == pytest.approx(bound.evaluate(params))
    paper = {"depth": 200, "normals": 200, "segment": math.ceil(400 / 16)}
    assert shown.calls_per_item == pytest.approx(paper[chain])


@pytest.mark.parametrize("chain, size", [("detect", "len(classes)"), ("group", "len(points)")])
def test_plan_of_data_dependent_chains_uses_the_dry_run(
    two_scenes: Path, chain: str, size: str
) -> None:
    """The bound needs a size only the data knows: the plan says so and prices the dry run."""
    shown = plan(
        CHAINS / f"{chain}.chain",
        two_scenes,
        "openai:gpt-4o",
        options=RunOptions(labels=RELABEL),
        sample_items=1,
    )
    assert shown.formula == _program(chain).bounds.show()
    assert not shown.exact and not shown.bounded
    assert shown.calls_per_item == pytest.approx(shown.dry_run[0].calls)
    assert shown.calls_per_item > 0 and shown.usd_per_item and shown.usd_per_item > 0
    assert any(size in note for note in shown.notes)
