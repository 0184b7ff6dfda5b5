"""The metrics a ``score`` line names, against independent formulations and hand computations."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chainlang.errors import ScoringError
from chainlang.language import ir
from chainlang.scoring import generic
from chainlang.scoring.common import BootstrapSpec, ScoredBox
from chainlang.scoring.generic import ItemInput, score_use
from chainlang.scoring.score import score_run

# --------------------------------------------------------------------- numbers and exact


def test_exact_compares_values_not_representations() -> None:
    assert generic.exact(3, 3.0) == 1.0
    assert generic.exact((1, 2), [1, 2]) == 1.0
    assert generic.exact({"a": [1]}, {"a": (1,)}) == 1.0
    assert generic.exact("cat", "cat ") == 0.0
    assert generic.exact(np.int64(4), 4) == 1.0


def test_mae_and_rmse_match_numpy(rng: np.random.Generator) -> None:
    pred, truth = rng.normal(0, 5, 40), rng.normal(0, 5, 40)
    items = [ItemInput(str(i), p, t) for i, (p, t) in enumerate(zip(pred, truth, strict=True))]
    m = score_use("mae", generic.mae, {}, False, items, None)
    r = score_use("rmse", generic.rmse, {}, False, items, None)
    assert m.values["mae"].value == pytest.approx(np.mean(np.abs(pred - truth)))
    assert r.values["rmse"].value == pytest.approx(np.sqrt(np.mean((pred - truth) ** 2)))
    # the per-image cells reproduce the run's value (paired statistics use them)
    assert m.per_image["mae"].value() == pytest.approx(m.values["mae"].value)
    assert r.per_image["rmse"].value() == pytest.approx(r.values["rmse"].value)


def test_rmse_interval_is_the_root_of_the_mean_squared_error_interval(
    rng: np.random.Generator,
) -> None:
    items = [ItemInput(str(i), float(v), 0.0) for i, v in enumerate(rng.normal(0, 2, 60))]
    res = score_use("rmse", generic.rmse, {}, False, items, BootstrapSpec(n_resamples=200))
    v = res.values["rmse"]
    assert v.ci_low < v.value < v.ci_high
    assert not v.higher_is_better


def test_a_non_number_is_a_note_and_counts_against_coverage() -> None:
    items = [ItemInput("a", 2, 3), ItemInput("b", "two", 3), ItemInput("c", None, 1)]
    res = score_use("mae", generic.mae, {}, False, items, None)
    assert res.values["mae"].value == 1.0
    assert res.values["mae"].coverage.items_failed == 2
    assert res.scored == {"a"}
    assert res.notes == ["mae: item b: the prediction 'two' is not a number"]


# --------------------------------------------------------------------- points


def _brute_force_matching(pred: np.ndarray, true: np.ndarray) -> list[float]:
    """The cheapest one-to-one matching of truth points, by trying every assignment."""
    best: tuple[float, list[float]] | None = None
    k = min(len(pred), len(true))
    for rows in itertools.permutations(range(len(true)), k):
        for cols in itertools.permutations(range(len(pred)), k):
            d = [float(np.hypot(*(true[r] - pred[c]))) for r, c in zip(rows, cols, strict=True)]
            if best is None or sum(d) < best[0] - 1e-12:
                best = (sum(d), d)
    assert best is not None
    return best[1]


@pytest.mark.parametrize(("n_pred", "n_true"), [(3, 3), (2, 4), (4, 2)])
def test_point_error_and_pck_match_brute_force_matching(
    rng: np.random.Generator, n_pred: int, n_true: int
) -> None:
    size = (64, 48)
    diag = math.hypot(*size)
    for _ in range(5):
        pred, true = rng.uniform(0, 48, (n_pred, 2)), rng.uniform(0, 48, (n_true, 2))
        d = _brute_force_matching(pred, true)
        missed = n_true - len(d)
        want = (sum(d) + missed * diag) / n_true
        got = generic.point_error(pred.tolist(), true.tolist(), image_size=size)
        assert got == pytest.approx(want)
        r = 0.2
        hits = sum(x <= r * diag for x in d)
        assert generic.pck(pred.tolist(), true.tolist(), image_size=size, r=r) == hits / n_true


def test_single_points_and_truth_point_objects() -> None:
    class P:
        def __init__(self, x: float, y: float) -> None:
            self.x, self.y = x, y

    assert generic.point_error([3, 4], [0, 0], image_size=(10, 10)) == 5.0
    assert generic.point_error([[3, 4]], [P(0, 0)], image_size=(10, 10)) == 5.0
    # pck's radius is a fraction of the diagonal: 0.05 x 100 = 5 pixels
    assert generic.pck([5, 0], [0, 0], image_size=(60, 80)) == 1.0
    assert generic.pck([5.1, 0], [0, 0], image_size=(60, 80)) == 0.0


def test_point_error_reports_mean_and_median_over_images() -> None:
    items = [ItemInput(str(i), [e, 0], [0, 0], (100, 100)) for i, e in enumerate([1, 2, 9])]
    res = score_use("point_error", generic.point_error, {}, False, items, None)
    assert res.values["point_error"].value == 4.0
    assert res.values["point_error_median"].value == 2.0


@pytest.mark.parametrize(
    ("pred", "truth", "message"),
    [
        ([[1, 2, 3]], [[0, 0]], "not a point"),
        ([0, 0], [], "no points"),
        ("here", [0, 0], "not a point"),
    ],
)
def test_malformed_points_say_why(pred: Any, truth: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generic.point_error(pred, truth, image_size=(10, 10))


# --------------------------------------------------------------------- rankings


def _tau_b(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b by counting pairs (no scipy)."""
    conc = disc = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tx += 1
        elif dy == 0:
            ty += 1
        elif dx == dy:
            conc += 1
        else:
            disc += 1
    return (conc - disc) / math.sqrt((conc + disc + tx) * (conc + disc + ty))


def _average_ranks(v: list[float]) -> np.ndarray:
    v_arr = np.asarray(v)
    return np.array([np.mean(np.flatnonzero(np.sort(v_arr) == x)) for x in v_arr])


@pytest.mark.parametrize("drop", [0, 2])
def test_rank_correlations_match_pair_counting_and_pearson_of_ranks(
    rng: np.random.Generator, drop: int
) -> None:
    truth = [f"id{i}" for i in range(7)]
    for _ in range(5):
        pred = [*rng.permutation(truth)[: len(truth) - drop], "stranger"]
        pos = {v: i for i, v in enumerate(pred) if v in truth}
        # left-out ids tie after every named one
        y = [float(pos.get(v, len(pos))) for v in truth]
        x = [float(i) for i in range(len(truth))]
        assert generic.kendall_tau(pred, truth) == pytest.approx(_tau_b(x, y))
        rho = np.corrcoef(_average_ranks(x), _average_ranks(y))[0, 1]
        assert generic.spearman(pred, truth) == pytest.approx(rho)


def test_rankings_of_integer_ids_and_the_reversed_order() -> None:
    assert generic.kendall_tau([3, 2, 1], ["1", "2", "3"]) == pytest.approx(-1.0)
    assert generic.spearman([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)


def test_a_text_permutation_answer_scores_against_an_integer_truth_ranking() -> None:
    truth = [3, 1, 2, 5, 4]  # e.g. the synthetic scenes' size_rank, instance ids
    answer = ["3", "1", "2", "5", "4"]  # a `permutation of ["1".."5"]` answer, oracle-equivalent
    assert generic.kendall_tau(answer, truth) == pytest.approx(1.0)
    assert generic.spearman(answer, truth) == pytest.approx(1.0)
    assert generic.kendall_tau(answer[::-1], truth) == pytest.approx(-1.0)
    # and the other way round, whole floats too (a truth ranking written as text, a JSON 3.0)
    assert generic.kendall_tau([3.0, 1, 2, 5, 4], ["3", "1", "2", "5", "4"]) == pytest.approx(1.0)
    # labels compare as labels do: case and _/-/space folded
    assert generic.kendall_tau(["Traffic light", "CAT"], ["traffic_light", "cat"]) == 1.0


@pytest.mark.parametrize(
    ("pred", "truth", "message"),
    [
        (["x"], ["a", "b"], "names none"),
        (["a"], ["a"], "fewer than two"),
        (["a", "b"], ["a", "a"], "repeats"),
        ("a b", ["a", "b"], "not a ranking"),
    ],
)
def test_unscorable_rankings_say_why(pred: Any, truth: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generic.kendall_tau(pred, truth)


# --------------------------------------------------------------------- multi-instance AP


def test_ap_with_several_instances_of_a_class_matches_a_hand_computation() -> None:
    truth = [ScoredBox("a", 0, 0, 10, 10), ScoredBox("a", 20, 20, 30, 30)]
    pred = [
        ScoredBox("a", 0, 0, 10, 10, 0.9),  # hit
        ScoredBox("a", 50, 50, 60, 60, 0.8),  # false positive
        ScoredBox("a", 20, 20, 30, 30, 0.7),  # hit
    ]
    # Precision 1 up to recall 0.5, then 2/3 up to recall 1, at every IoU threshold (exact
    # boxes): COCO's 101-point interpolation gives (51 x 1 + 50 x 2/3) / 101.
    want = (51 + 50 * 2 / 3) / 101
    assert generic.ap([pred], [truth]) == pytest.approx(want)
    # the same boxes as JSON, as a run records them
    as_json = [{"label": b.label, "box": [b.x0, b.y0, b.x1, b.y1], "score": b.score} for b in pred]
    res = score_use("ap", generic.ap, {}, True, [ItemInput("1", as_json, truth)], None)
    assert res.values["ap"].value == pytest.approx(want)
    assert res.per_image == {}  # AP is not a mean over images


def test_ap_notes_an_item_with_malformed_boxes() -> None:
    good = [ScoredBox("a", 0, 0, 10, 10)]
    items = [ItemInput("1", good, good), ItemInput("2", [{"label": "a"}], good)]
    res = score_use("ap", generic.ap, {}, True, items, None)
    assert res.values["ap"].value == pytest.approx(1.0)
    assert res.scored == {"1"}
    assert "item 2" in res.notes[0] and "malformed" in res.notes[0]


# --------------------------------------------------------------------- score_run


def _write_run(root: Path, truths: list[Any], outputs: list[Any], kind: str) -> tuple[Path, Path]:
    """A dataset with ``label`` truth and a run folder recording ``outputs`` (None: failed)."""
    data = root / "data"
    data.mkdir()
    lines = []
    for i, t in enumerate(truths):
        Image.new("RGB", (40, 30)).save(data / f"{i}.png")
        lines.append(json.dumps({"id": str(i), "image": f"{i}.png", "truth": t}))
    (data / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = root / "run"
    run.mkdir()
    info = {"chain": str(root / "gone.chain"), "dataset": str(data), "model": "m"}
    (run / "run.json").write_text(json.dumps(info), encoding="utf-8")
    records = []
    for i, out in enumerate(outputs):
        r: dict[str, Any] = {"id": str(i), "key": f"{i}#0", "status": "ok"}
        if out is None:
            r["status"] = "failed"
        else:
            r["output"] = {"kind": kind, "value": out}
        records.append(json.dumps(r))
    (run / "results.jsonl").write_text("\n".join(records) + "\n", encoding="utf-8")
    return run, data


def test_score_run_uses_the_score_line_with_coverage_and_notes(tmp_path: Path) -> None:
    truths = [{"label": "cat"}, {"label": "dog"}, {"label": "cat"}, {}]
    run, _ = _write_run(tmp_path, truths, ["cat", "cat", None, "cat"], "Label")
    uses = (ir.MetricUse(name="exact", truth="label"),)
    s = score_run(run, scores=uses, n_boot=50)
    assert s.metrics["exact"].value == 0.5
    assert s.per_image["exact"].ids == ("0", "1")
    # one failed item and one without the truth field
    assert s.coverage.items == 4 and s.coverage.items_failed == 2
    assert len(s.notes) == 1 and "item 3" in s.notes[0] and "truth.label" in s.notes[0]
    assert "top1" not in s.metrics  # the score line replaces the output type's metrics


def test_score_run_without_a_score_line_keeps_todays_metrics(tmp_path: Path) -> None:
    run, _ = _write_run(tmp_path, [{"label": "cat"}, {"label": "dog"}], ["cat", "cat"], "Label")
    s = score_run(run, n_boot=0)
    assert s.metrics["top1"].value == 0.5 and "exact" not in s.metrics


def test_an_output_without_todays_metrics_needs_its_chains_score_line(tmp_path: Path) -> None:
    run, _ = _write_run(tmp_path, [{"label": "cat"}], [3], "Int")
    with pytest.raises(ScoringError, match=r"`score` line.*gone.chain.*does not exist"):
        score_run(run, n_boot=0)


def test_an_unknown_metric_or_argument_is_a_scoring_error(tmp_path: Path) -> None:
    run, _ = _write_run(tmp_path, [{"label": "cat"}], ["cat"], "Label")
    with pytest.raises(ScoringError, match="unknown metric"):
        score_run(run, scores=(ir.MetricUse(name="nope", truth="label"),), n_boot=0)
    bad = ir.MetricUse(name="exact", truth="label", args=(("r", 1),))
    with pytest.raises(ScoringError, match="takes no argument 'r'"):
        score_run(run, scores=(bad,), n_boot=0)


BOXES_CHAIN = """\
chain boxes {
  input image: Image
  truth boxes: Boxes
  output Boxes
  score ap(truth.boxes)

  return boxes_from([], [])
}
"""


def test_score_run_reads_the_score_line_of_the_chain_the_run_names(tmp_path: Path) -> None:
    truth = [["a", 0, 0, 10, 10], ["a", 20, 20, 30, 30]]
    hit = {"label": "a", "box": [0, 0, 10, 10], "score": 1.0}
    run, _ = _write_run(tmp_path, [{"boxes": truth}], [None], "Boxes")
    (tmp_path / "gone.chain").write_text(BOXES_CHAIN, encoding="utf-8")
    # the run recorded one box of two: the score line's multi-instance AP, not the paper's
    record = {"id": "0", "key": "0#0", "status": "ok", "output": {"kind": "Boxes", "boxes": [hit]}}
    (run / "results.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    s = score_run(run, n_boot=0)
    assert set(s.metrics) == {"ap"}
    assert s.metrics["ap"].value == pytest.approx(51 / 101)  # precision 1 up to recall 0.5


def test_a_third_party_metric_scores_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from chainlang.stdlib import metrics as registry

    @registry.metric(
        "shouted(prediction: Text, truth: Text)", higher_is_better=True, doc="same, ignoring case"
    )
    def shouted(prediction: str, truth: str, *, image_size: Any = None) -> float:
        return float(prediction.upper() == truth.upper())

    package = SimpleNamespace(shouted=shouted)
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [SimpleNamespace(load=lambda: package)]
    )
    registry._installed.cache_clear()
    try:
        run, _ = _write_run(tmp_path, [{"label": "cat"}, {"label": "dog"}], ["CAT", "cow"], "Label")
        s = score_run(run, scores=(ir.MetricUse(name="shouted", truth="label"),), n_boot=0)
    finally:
        registry._installed.cache_clear()
    assert s.metrics["shouted"].value == 0.5


def test_scores_and_intervals_do_not_depend_on_the_order_items_finished(tmp_path: Path) -> None:
    truths = [{"label": "cat" if i % 3 else "dog"} for i in range(12)]
    outputs = ["cat" if i % 4 else "dog" for i in range(12)]
    run, _ = _write_run(tmp_path, truths, outputs, "Label")
    lines = (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
    # every item answered two questions, agreeing with the truth on some of them
    records = [json.loads(line) for line in lines]
    for i, r in enumerate(records):
        r["questions"] = [
            {"ok": True, "answer": "yes", "expected": "yes" if i % 2 else "no"},
            {"ok": True, "answer": "no", "expected": "no" if i % 5 else "yes"},
        ]
    write = [json.dumps(r) for r in records]
    (run / "results.jsonl").write_text("\n".join(write) + "\n", encoding="utf-8")
    first = score_run(run, n_boot=200)
    (run / "results.jsonl").write_text("\n".join(reversed(write)) + "\n", encoding="utf-8")
    again = score_run(run, n_boot=200)
    assert first.metrics.keys() == again.metrics.keys() >= {"top1", "answer_acc"}
    for name, m in first.metrics.items():
        other = again.metrics[name]
        assert (m.value, m.ci_low, m.ci_high) == (other.value, other.ci_low, other.ci_high)
