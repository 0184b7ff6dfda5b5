"""Every shipped chain runs, scores and plans under every simulated answerer.

The chains under ``chains/`` are found by walking the folder, and the found set
must equal :data:`EXPECTED`: a new chain is added here on purpose, with the
data it runs on and the metric that judges it, so no chain ships untested.

Each chain runs on small data with ``oracle``, ``oracle:flip=0.3`` and
``random``; every item must end ``ok``, the score must report the chain's
headline metrics (or the metrics its ``score`` line names), and ``oracle`` must
beat ``random`` on the main metric. The example chains of new tasks
(``examples/``) must also order the three answerers: oracle above
``oracle:flip=0.3`` above random, on each metric they list.
Each chain is also planned for one model of each real provider (the plan's
dry run evaluates the whole chain with stand-in answers). Exact figures are
left to the ceiling, calibration and plan-accuracy tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_helpers import CHAINS, REAL_MODELS, results, run_chain

from chainlang.api import RunOptions, plan
from chainlang.image import ImageData
from chainlang.reporting.trace import format_trace, trace_item
from chainlang.runtime.runfolder import read_image
from chainlang.scoring.score import HEADLINE, RunScore, score_run

# The paper chains name COCO/ImageNet label sets; the scenes have six classes of their own.
RELABEL = {"imagenet1k": "synthetic", "coco80": "synthetic", "coco_stuff133": "synthetic"}
ANSWERERS = ("oracle", "oracle:flip=0.3", "random")


@dataclass(frozen=True)
class Case:
    """How one chain is exercised: its data, small parameters, output and main metric."""

    data: str  # fixture name
    output: str  # the chain's output type (picks the headline metrics)
    main: str  # the metric on which oracle must beat random
    params: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=lambda: dict(RELABEL))
    # The metrics of the chain's `score` line (none: the output type's headline metrics).
    metrics: tuple[str, ...] = ()
    # Metrics on which oracle > oracle:flip=0.3 > random (in each metric's direction).
    ordered: tuple[str, ...] = ()


# Every .chain file under chains/, relative to it.
EXPECTED: dict[str, Case] = {
    "classify.chain": Case("syn_manifest", "Label", "top1", {"per_call": "2"}),
    "detect.chain": Case("syn_manifest", "Boxes", "ap50"),
    "segment.chain": Case("syn_manifest", "SemanticMask", "miou", {"segments": "30"}),
    "group.chain": Case("syn_manifest", "InstanceMask", "miou", {"segments": "30"}),
    "depth.chain": Case("syn_manifest", "DepthMap", "spearman", {"pairs": "16", "segments": "30"}),
    "normals.chain": Case(
        "syn_manifest", "NormalMap", "spearman_z", {"pairs": "16", "segments": "30"}
    ),
    # Issue 14's strategies at a small budget: the adaptive rounds and the listwise rounds.
    "depth_strategies.chain": Case(
        "syn_manifest",
        "DepthMap",
        "spearman",
        {"strategy": "adaptive", "calls": "16", "rounds": "2", "segments": "30"},
    ),
    "normals_strategies.chain": Case(
        "syn_manifest",
        "NormalMap",
        "spearman_z",
        {"strategy": "sortrefine", "calls": "8", "rounds": "2", "segments": "30"},
    ),
    "dense_depth.chain": Case("syn_manifest", "DepthMap", "spearman", {"side": "384"}),
    "dense_normals.chain": Case("syn_manifest", "NormalMap", "spearman_z", {"side": "384"}),
    "dense_group.chain": Case("syn_manifest", "InstanceMask", "miou", {"side": "384"}),
    # A user label set of its own: the bundled animal photos carry its labels.
    "examples/label.chain": Case("sample_manifest", "Label", "top1", labels={}),
    # New tasks (docs/tasks.md), scored by their `score` lines against the scenes' truth.
    "examples/count.chain": Case(
        "syn_four", "Int", "exact", metrics=("exact", "mae"), ordered=("exact", "mae")
    ),
    "examples/centres.chain": Case(
        "syn_four",
        "[Point]",  # `Points` is the list of points
        "pck",
        metrics=("point_error", "pck"),
        ordered=("point_error", "pck"),
    ),
    "examples/size_rank.chain": Case(
        "syn_four",
        "Ranking",
        "kendall_tau",
        metrics=("kendall_tau", "spearman"),
        ordered=("kendall_tau", "spearman"),
    ),
    "examples/instances.chain": Case("syn_four", "Boxes", "ap", metrics=("ap",), ordered=("ap",)),
    "examples/listwise_depth.chain": Case(
        "syn_four", "DepthMap", "spearman", {"segments": "40"}, ordered=("spearman", "delta1")
    ),
}


def _found() -> set[str]:
    return {p.relative_to(CHAINS).as_posix() for p in CHAINS.rglob("*.chain")}


def test_every_chain_file_is_covered() -> None:
    found = _found()
    assert found == set(EXPECTED), (
        f"chains/ and this test disagree: new {sorted(found - set(EXPECTED))}, "
        f"gone {sorted(set(EXPECTED) - found)}; add each new chain to EXPECTED"
    )


@pytest.fixture(scope="module")
def scored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], RunScore]:
    """``scored(chain, answerer)``: run, check and score once per module (memoised)."""
    done: dict[tuple[str, str], RunScore] = {}

    def go(name: str, model: str) -> RunScore:
        if (name, model) not in done:
            data = request.getfixturevalue(EXPECTED[name].data)
            root = tmp_path_factory.mktemp("all-chains")
            done[(name, model)] = _run(name, model, data, root)
        return done[(name, model)]

    return go


def _run(name: str, model: str, data: Path, root: Path) -> RunScore:
    case = EXPECTED[name]
    out = root / "run"
    result = run_chain(CHAINS / name, data, model, out, case.params, labels=case.labels)
    records = results(out)
    errors = {k: r.get("error") for k, r in records.items() if r["status"] != "ok"}
    assert not errors, f"{name} under {model}: items failed: {errors}"
    assert result.summary.items == result.summary.items_ok == len(records) > 0
    assert result.summary.questions > 0
    assert not result.summary.failures, result.summary.failures
    score = score_run(out, n_boot=0)
    assert score.output == case.output
    missing = set(case.metrics or HEADLINE[case.output]) - set(score.metrics)
    assert not missing, f"{name} under {model}: no {sorted(missing)} in {sorted(score.metrics)}"
    assert score.coverage.items_failed == 0
    return score


@pytest.mark.parametrize("model", ANSWERERS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_chain_runs_and_scores(
    name: str, model: str, scored: Callable[[str, str], RunScore]
) -> None:
    scored(name, model)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_oracle_beats_random(name: str, scored: Callable[[str, str], RunScore]) -> None:
    main = EXPECTED[name].main
    high, low = scored(name, "oracle").metrics[main], scored(name, "random").metrics[main]
    if not high.higher_is_better:
        high, low = low, high
    assert high.value > low.value, f"{name}: oracle {main} {high.value} vs random {low.value}"


ORDERED = sorted(n for n in EXPECTED if EXPECTED[n].ordered)


@pytest.mark.parametrize("name", ORDERED)
def test_flipped_oracle_lies_between_oracle_and_random(
    name: str, scored: Callable[[str, str], RunScore]
) -> None:
    for metric in EXPECTED[name].ordered:
        values = [scored(name, model).metrics[metric] for model in ANSWERERS]
        got = [v.value for v in values]
        sign = 1.0 if values[0].higher_is_better else -1.0
        assert sign * got[0] > sign * got[1] > sign * got[2], f"{name} {metric}: {got}"


@pytest.mark.parametrize("provider", sorted(REAL_MODELS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_chain_plans(name: str, provider: str, request: pytest.FixtureRequest) -> None:
    case = EXPECTED[name]
    data = request.getfixturevalue(case.data)
    options = RunOptions(params=dict(case.params), labels=case.labels)
    p = plan(CHAINS / name, data, REAL_MODELS[provider], options=options)
    dry = [n for n in p.notes if n.startswith("dry run of item")]
    assert not dry, f"{name} on {provider}: {dry}"
    assert p.dry_run and all(e.calls > 0 and e.input_tokens > 0 for e in p.dry_run)
    assert p.total_calls > 0
    assert p.total_usd is not None and math.isfinite(p.total_usd) and p.total_usd > 0


DRAWN = sorted(n for n in EXPECTED if n.startswith("dense_"))


@pytest.mark.parametrize("model", ["oracle", "random"])
@pytest.mark.parametrize("name", DRAWN)
def test_image_answers_are_files_of_the_run(
    name: str, model: str, scored: Callable[[str, str], RunScore]
) -> None:
    """A drawn answer is a PNG in the run folder, named by the record, and the trace
    replays it from there (no journal needed) and shows it."""
    run = Path(scored(name, model).run)
    step_images = []
    for record in results(run).values():
        for q in record["questions"]:
            assert q["answer"] is None and q["expected"] is None  # images are not JSON
            for field_name in ("answer_image", "expected_image"):
                drawn = read_image(run, q[field_name])
                assert drawn.size == (384, 384), (field_name, drawn.size)
            assert (q["answer_image"] == q["expected_image"]) == (model == "oracle")
            step_images.append(q["answer_image"])
    item = next(iter(results(run)))
    trace = trace_item(run, item, cache=run.parent / "no-journal.sqlite")
    assert trace.steps and all(isinstance(s.answer, ImageData) for s in trace.steps)
    text = format_trace(trace)
    assert all(s.answer_image and f"-> {s.answer_image}" in text for s in trace.steps)
