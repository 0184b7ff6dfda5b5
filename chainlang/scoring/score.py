"""Join a run's outputs with the dataset's truth and compute the task's metrics.

The chain's output type selects the metrics (``Label`` → top-1, ``Boxes`` →
COCO AP, ``SemanticMask`` → mIoU, ``InstanceMask`` → grouping IoU,
``DepthMap`` → δ/AbsRel/ρ, ``NormalMap`` → per-axis ρ and angles). Every run
also gets ``answer_acc``: the fraction of the model's answers that agree
with the answer the truth gives to the same question (the ask's ``oracle``
clause, recorded with each question) — for depth this is the paper's
pairwise accuracy.

Failed items are excluded from the metrics (the paper's convention) and
reported in coverage; classification, detection, segmentation and grouping
also report each metric with failures counted as misses (``*_with_failures``).

A chain with a ``score`` line (``ir.Program.scores``) is scored by the metrics
it names instead (:mod:`chainlang.scoring.generic`, signatures in
:mod:`chainlang.stdlib.metrics`); the program is compiled from the chain file
the run names, as the run itself was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from chainlang.data.manifest import Dataset, load_dataset
from chainlang.data.runs import read_results, read_run
from chainlang.errors import ChainlangError, DataError, ScoringError
from chainlang.language import ir
from chainlang.scoring import metrics
from chainlang.scoring.bootstrap import PerImage
from chainlang.scoring.common import DEFAULT_BOOTSTRAP, _ci_mean
from chainlang.scoring.metrics import BootstrapSpec, Coverage, MetricValue, Sample

TRUTH_FOR_OUTPUT = {
    "Label": "label",
    "Boxes": "boxes",
    "SemanticMask": "semantic",
    "InstanceMask": "instances",
    "DepthMap": "depth",
    "NormalMap": "normals",
}

# The metrics shown first in tables, per output type (the paper's columns).
HEADLINE = {
    "Label": ("top1", "top1_normalised"),
    "Boxes": ("ap", "ap50", "ap75"),
    "SemanticMask": ("miou", "pixel_acc"),
    "InstanceMask": ("miou",),
    "DepthMap": ("delta1", "delta2", "delta3", "absrel", "spearman"),
    "NormalMap": ("spearman_x", "spearman_y", "spearman_z", "angle_mean", "within_30"),
}


@dataclass(frozen=True)
class RunScore:
    """A run's metrics, per-image contributions (for paired statistics), and coverage."""

    run: str
    chain: str
    model: str
    output: str
    metrics: Mapping[str, MetricValue]
    per_image: Mapping[str, PerImage] = field(default_factory=dict)
    coverage: Coverage = field(default_factory=Coverage)
    cost_usd: float | None = None
    notes: tuple[str, ...] = ()  # per-item reasons an item could not be scored

    def headline(self) -> list[str]:
        """Metric names in display order: the paper's columns first."""
        first = [m for m in HEADLINE.get(self.output, ()) if m in self.metrics]
        return first + [m for m in self.metrics if m not in first]


def score_run(
    run_dir: str | Path,
    *,
    dataset: Dataset | str | Path | None = None,
    mask: str = "valid",
    n_boot: int = 1000,
    normals_rho: str = "scores",
    scores: Sequence[ir.MetricUse] | None = None,
) -> RunScore:
    """Score one run folder against its dataset's truth.

    ``normals_rho="reference"`` ranks normal predictions as the reference does
    (0..255 integer levels per axis) to reproduce its published ρ.

    ``scores`` are the metric uses to score with; by default the ``score``
    line of the chain the run names (none: the output type's metrics).

    Raises:
        ScoringError: the run has no scorable items, or its dataset/truth is missing.
    """
    run_dir = Path(run_dir)
    info = read_run(run_dir)
    # records are written as items finish; one canonical order keeps every metric and its
    # bootstrap interval independent of how a run was scheduled (local, pool or Ray)
    records = sorted(
        (r for r in read_results(run_dir) if "id" in r),
        key=lambda r: (str(r["id"]), int(r.get("sample", 0))),
    )
    if not records:
        raise ScoringError(f"{run_dir} has no finished items to score")
    data = _dataset(info, dataset, run_dir)
    output = _output_kind(records)
    uses = tuple(scores) if scores is not None else _program_scores(info, run_dir, output)
    spec = metrics.BootstrapSpec(n_resamples=n_boot) if n_boot else None
    if uses:
        return _score_uses(run_dir, info, records, data, output, uses, spec)
    unscored: list[str] = []
    samples = list(_samples(run_dir, records, data, output, unscored))
    if not samples:
        raise ScoringError(f"{run_dir}: no item has readable truth ({len(unscored)} tried)")
    classes = _num_classes(data) if output == "SemanticMask" else 0
    values = dict(_task_metrics(output, samples, mask, spec, classes, normals_rho))
    acc, per_answer = answer_accuracy(records, bootstrap=spec)
    if acc is not None:
        values["answer_acc"] = acc
    per_image = _per_image(output, samples, per_answer, values)
    # an item with no readable truth counts as failed in coverage
    return _run_score(run_dir, info, records, output, values, per_image, set(unscored), [])


def score_specialist(
    spec: str,
    dataset: Dataset | str | Path,
    output_kind: str,
    *,
    mask: str = "valid",
    n_boot: int = 1000,
    cache_dir: str | Path | None = None,
    normals_rho: str = "scores",
) -> RunScore:
    """Score a specialist's own predictions directly, with the chain's metrics.

    This is the "SPEC (direct)" row next to "Specialist + Chain": the specialist
    predicts each item's ``output_kind`` (e.g. ``DepthMap``) and the prediction
    is scored exactly as a run's output would be. Grouping takes, per query
    point, the predicted instance under that point (none on background).

    Args:
        spec: a specialist spec (``folder:DIR``, ``hf-depth:DIR``, ...), with or
            without the ``specialist:`` model prefix.
        dataset: the dataset (or its path) with truth.
        output_kind: the chain's output type name, which picks truth and metrics.
        mask: depth/normals pixels: ``valid`` truth only, or ``all``.
        n_boot: bootstrap resamples for intervals (0: none).
        cache_dir: the specialists' prediction cache.
        normals_rho: ``scores``, or ``reference`` (its 0..255 integer levels).

    Raises:
        ScoringError: unknown output kind, a specialist of another task, a bad
            spec, or a missing prediction or truth (naming the item).
    """
    from chainlang.scoring.specialists import SpecialistOptions, Task, get_specialist

    spec = spec.removeprefix("specialist:")
    truth_name = TRUTH_FOR_OUTPUT.get(output_kind)
    if truth_name is None:
        raise ScoringError(f"no metric is defined for {output_kind} outputs")
    data = _open_dataset(dataset)
    labels = _labels(data)
    specialist = get_specialist(
        spec,
        SpecialistOptions(labels=labels, task=cast("Task", truth_name)),
        cache_dir=cache_dir,
    )
    if specialist.task != truth_name:
        raise ScoringError(
            f"specialist {spec} predicts {specialist.task}, but {output_kind} outputs "
            f"are scored against {truth_name}"
        )
    items = list(data)
    preds = specialist.predict(items)
    samples = [
        _specialist_sample(item, pred, output_kind, truth_name)
        for item, pred in zip(items, preds, strict=True)
    ]
    boot = metrics.BootstrapSpec(n_resamples=n_boot) if n_boot else None
    classes = _num_classes(data) if output_kind == "SemanticMask" else 0
    values = dict(_task_metrics(output_kind, samples, mask, boot, classes, normals_rho))
    return RunScore(
        run=f"{spec} (direct)",
        chain="",
        model=f"specialist:{spec}",
        output=output_kind,
        metrics=values,
        per_image=_per_image(output_kind, samples, {}, values),
        coverage=Coverage(items=len(samples)),
        cost_usd=0.0,
    )


def _specialist_sample(item: Any, pred: Any, output_kind: str, truth_name: str) -> Sample[Any, Any]:
    try:
        truth = item.truth(truth_name)
        if output_kind == "InstanceMask":
            points = item.input("points")
            truth = metrics.instance_masks_for_points(truth, points)
            pred = _instances_at(np.asarray(pred), points)
    except DataError as err:
        raise ScoringError(f"item {item.id}: {err}") from err
    return Sample(item_id=str(item.id), pred=pred, truth=truth)


def _instances_at(instances: np.ndarray, points: Any) -> list[np.ndarray]:
    """The predicted instance under each query point (an empty mask on background)."""
    h, w = instances.shape[:2]
    masks = []
    for pt in points:
        x, y = int(pt[0]), int(pt[1])
        ident = instances[y, x] if 0 <= x < w and 0 <= y < h else 0
        masks.append(instances == ident if ident > 0 else np.zeros((h, w), dtype=bool))
    return masks


def _open_dataset(dataset: Dataset | str | Path, where: str = "") -> Dataset:
    """The dataset itself, or the one loaded from its path (``where`` prefixes errors)."""
    if isinstance(dataset, Dataset):
        return dataset
    try:
        return load_dataset(dataset)
    except DataError as err:
        raise ScoringError(f"{where}cannot open the dataset {dataset}: {err}") from err


def _labels(data: Dataset) -> tuple[str, ...] | None:
    """The dataset's label set (class names for label, box and semantic specialists)."""
    from chainlang.language import labelsets

    return labelsets.load(data.labelset) if data.labelset else None


def answer_accuracy(
    records: Sequence[Mapping[str, Any]],
    *,
    bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP,
) -> tuple[MetricValue | None, dict[str, float]]:
    """Agreement of each answer with the truth's answer to the same question.

    Returns the metric (None when no question had a truth answer; its CI from
    ``bootstrap``, None for no interval) and the per-item agreement used for
    paired comparisons.
    """
    per_item: dict[str, list[int]] = {}
    for r in records:
        agree = total = 0
        for q in r.get("questions", []):
            if q.get("expected") is None or not q.get("ok"):
                continue
            ordered = frozenset(q.get("ordered") or ())
            a, t = _agreement(q.get("answer"), q["expected"], ordered)
            agree, total = agree + a, total + t
        if total:
            per_item.setdefault(str(r["id"]), [0, 0])
            per_item[str(r["id"])][0] += agree
            per_item[str(r["id"])][1] += total
    if not per_item:
        return None, {}
    # sorted by id: the bootstrap resamples by position, so the interval must not depend
    # on the order items finished in
    values = {k: a / t for k, (a, t) in sorted(per_item.items())}
    arr = list(values.values())
    lo, hi = _ci_mean(arr, bootstrap)
    metric = MetricValue("answer_acc", float(np.mean(arr)), lo, hi, len(arr), True)
    return metric, values


def _agreement(
    answer: Any, expected: Any, ordered: frozenset[str] = frozenset(), path: str = ""
) -> tuple[int, int]:
    """(matching leaves, leaves) between an answer and the truth's answer.

    ``ordered`` holds the paths whose lists are orders (a ranking, a permutation, a
    vector: compared in order); every other list is a set of picks, compared as a
    multiset. Records written before the field existed have none: all lists are sets.
    """
    if isinstance(expected, Mapping):
        a = t = 0
        for key, exp in expected.items():
            if key == "reasoning":
                continue
            got = answer.get(key) if isinstance(answer, Mapping) else None
            da, dt = _agreement(got, exp, ordered, _child(path, key, ordered))
            a, t = a + da, t + dt
        return a, t
    in_order = path in ordered
    return int(_norm(answer, in_order) == _norm(expected, in_order)), 1


def _child(path: str, key: str, ordered: frozenset[str]) -> str:
    """The path of ``key`` under ``path``: a batched answer's keys ("1".."n") match ``*``."""
    named = f"{path}.{key}" if path else key
    if not key.isdigit() or any(p == named or p.startswith(named + ".") for p in ordered):
        return named
    return f"{path}.*" if path else "*"


def _norm(value: Any, in_order: bool = False) -> Any:
    """A leaf for comparison: texts case- and space-folded, lists as sorted multisets
    unless ``in_order`` (an order is compared as given).

    Lists are sorted by their JSON text, so lists of records or of mixed values
    (an answer listing objects as ``{label, cell}``) compare too. A whole number is
    compared as its text: a ranking answer ``["3", "1"]`` agrees with an oracle
    clause's ``[3, 1]`` over an integer truth ranking.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return " ".join(value.lower().replace("_", " ").split())
    if isinstance(value, list):
        items = [_norm(v) for v in value]
        return items if in_order else sorted(items, key=_sort_key)
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _dataset(info: Mapping[str, Any], given: Any, run_dir: Path) -> Dataset:
    """The dataset given, else the one the run names."""
    if isinstance(given, Dataset):
        return given
    path = given or info.get("dataset")
    if not path:
        raise ScoringError(f"{run_dir}: the run does not name its dataset; pass --data")
    return _open_dataset(path, f"{run_dir}: ")


def _output_kind(records: Sequence[Mapping[str, Any]]) -> str:
    for r in records:
        if r.get("output"):
            return str(r["output"]["kind"])
    raise ScoringError("no item of the run produced an output; nothing to score")


def _samples(
    run_dir: Path,
    records: Sequence[Mapping[str, Any]],
    data: Dataset,
    output: str,
    unscored: list[str],
) -> Iterator[Sample[Any, Any]]:
    """Prediction and truth per (item, sample); items without readable truth go to ``unscored``."""
    truth_name = TRUTH_FOR_OUTPUT.get(output)
    if truth_name is None:
        raise ScoringError(f"no metric is defined for {output} outputs")
    for r in sorted(records, key=lambda r: (str(r["id"]), int(r.get("sample", 0)))):
        item_id = str(r["id"])
        try:
            item = data.get(item_id)
            truth = item.truth(truth_name)
            if output == "InstanceMask":
                truth = metrics.instance_masks_for_points(truth, item.input("points"))
        except DataError:
            # A broken truth file costs this item its score, not the whole table.
            unscored.append(item_id)
            continue
        pred = _prediction(run_dir, r, output) if r.get("status") == "ok" else None
        if output == "InstanceMask" and pred is not None:
            # one instance id per query point, in point order (ids stay aligned)
            pred = [pred == k for k in range(1, len(truth) + 1)]
        yield Sample(
            item_id=item_id,
            pred=pred,
            truth=truth,
            questions=int(r.get("n_questions", 0)),
            questions_failed=int(r.get("n_failed", 0)),
        )


def _prediction(run_dir: Path, record: Mapping[str, Any], output: str) -> Any:
    out = record["output"]
    if "arrays" in out:
        with np.load(run_dir / out["arrays"]) as z:
            return z["output"]
    if output == "Boxes":
        return [_scored_box(b) for b in out["boxes"]]
    return out.get("value")


def _num_classes(data: Dataset) -> int:
    """Classes of the dataset's label set (the semantic truth indexes into it)."""
    from chainlang.language import labelsets

    if not data.labelset:
        return metrics.COCO_SEMANTIC_CLASSES
    return len(labelsets.load(data.labelset))


def _task_metrics(
    output: str,
    samples: list[Sample[Any, Any]],
    mask: str,
    spec: Any,
    classes: int,
    normals_rho: str = "scores",
) -> dict[str, MetricValue]:
    if output == "Label":
        return metrics.score_classification(samples, bootstrap=spec)
    if output == "Boxes":
        return metrics.score_detection(samples)
    if output == "SemanticMask":
        return metrics.score_segmentation(samples, num_classes=classes, bootstrap=spec)
    if output == "InstanceMask":
        return metrics.score_grouping(samples, bootstrap=spec)
    if output == "DepthMap":
        # arg-type: ``mask`` is the caller's str; the dense scorers refuse modes they do not know
        return metrics.score_depth(samples, mask=mask, bootstrap=spec)  # type: ignore[arg-type]
    # arg-type: as above
    return metrics.score_normals(samples, mask=mask, bootstrap=spec, rho=normals_rho)  # type: ignore[arg-type]


def _per_image(
    output: str,
    samples: list[Sample[Any, Any]],
    per_answer: Mapping[str, float],
    values: Mapping[str, MetricValue],
) -> dict[str, PerImage]:
    """Per-image values of the headline per-image metrics, for paired comparisons.

    The metric functions already hold them (in the order of the scored
    samples); only grouping, scored per instance, is averaged per image here.
    Pooled metrics (δ1, AbsRel, angular errors) bring their per-image
    sufficient statistics and the function of their sum (``MetricValue.pooled``).
    """
    out: dict[str, PerImage] = {}
    if per_answer:
        ids = tuple(per_answer)
        out["answer_acc"] = PerImage(ids, np.array([per_answer[i] for i in ids]))
    ok = [s for s in samples if s.pred is not None]
    if not ok:
        return out
    ids = tuple(s.item_id for s in ok)
    if output == "InstanceMask":
        out["miou"] = PerImage(ids, np.array([_group_iou(s) for s in ok]))
    for name in _PER_IMAGE.get(output, ()):
        metric = values.get(name)
        if metric is not None and len(metric.per_image) == len(ids):
            out[name] = PerImage(ids, np.array(metric.per_image))
    for name, metric in values.items():
        if metric.pooled is not None and name not in out:
            out[name] = metric.pooled
    return out


_PER_IMAGE = {
    "Label": ("top1",),
    "DepthMap": ("spearman",),
    "NormalMap": ("spearman_x", "spearman_y", "spearman_z", "spearman_mean"),
}


def _scored_box(b: Mapping[str, Any]) -> metrics.ScoredBox:
    x0, y0, x1, y1 = b["box"]
    return metrics.ScoredBox(b["label"], x0, y0, x1, y1, b.get("score", 1.0))


def _group_iou(s: Sample[Any, Any]) -> float:
    if s.pred is None:  # a failed item overlaps nothing (callers pass only predictions)
        return 0.0
    ious = [metrics.mask_iou(p, t) for p, t in zip(s.pred, s.truth, strict=False)]
    return float(np.mean(ious)) if ious else 0.0


# ---------------------------------------------------------------------------
# A chain's own ``score`` line
# ---------------------------------------------------------------------------


def _program_scores(
    info: Mapping[str, Any], run_dir: Path, output: str
) -> tuple[ir.MetricUse, ...]:
    """The ``score`` line of the chain the run names (compiled as the run compiled it).

    A run of one of today's output types whose chain file is gone, or no
    longer compiles, keeps today's metrics; any other output needs the line.
    """
    from chainlang.language.compiler import compile_file

    chain = str(info.get("chain", ""))
    problem = f"the chain file {chain!r} the run names does not exist"
    if chain and Path(chain).is_file():
        try:
            return compile_file(chain).scores
        except ChainlangError as err:
            problem = f"the chain {chain} no longer compiles: {str(err).splitlines()[0]}"
    if output in TRUTH_FOR_OUTPUT:
        return ()
    raise ScoringError(
        f"{run_dir}: {output} outputs are scored by the chain's `score` line, but {problem}"
    )


def _score_uses(
    run_dir: Path,
    info: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    data: Dataset,
    output: str,
    uses: Sequence[ir.MetricUse],
    boot: BootstrapSpec | None,
) -> RunScore:
    """Score a run with the metrics its ``score`` line names."""
    from chainlang.scoring import generic
    from chainlang.stdlib.metrics import metric_registry

    registry = metric_registry()
    ordered = sorted(records, key=lambda r: (str(r["id"]), int(r.get("sample", 0))))
    values: dict[str, MetricValue] = {}
    per_image: dict[str, PerImage] = {}
    notes: list[str] = []
    unscored: set[str] = set()
    for use in uses:
        found = registry.get(use.name)
        if found is None:
            raise ScoringError(f"{run_dir}: the chain scores with '{use.name}', an unknown metric")
        try:
            args = found.arguments(use.args)
            fn = found.resolve()
        except ChainlangError as err:
            raise ScoringError(f"{run_dir}: {err}") from err
        items = [_item_input(run_dir, r, data, use.truth, output) for r in ordered]
        key = _use_key(use, uses)
        res = generic.score_use(key, fn, args, found.higher_is_better, items, boot)
        values.update(res.values)
        per_image.update(res.per_image)
        notes.extend(res.notes)
        # finished items the metric could not score (their truth or answer unreadable)
        unscored.update(
            i.item_id for i in items if i.prediction is not None and i.item_id not in res.scored
        )
    acc, per_answer = answer_accuracy(records, bootstrap=boot)
    if acc is not None:
        values["answer_acc"] = acc
        ids = tuple(per_answer)
        per_image["answer_acc"] = PerImage(ids, np.array([per_answer[i] for i in ids]))
    if not any(k != "answer_acc" for k in values):
        raise ScoringError(f"{run_dir}: no item could be scored: " + "; ".join(notes[:3]))
    return _run_score(run_dir, info, records, output, values, per_image, unscored, notes)


def _run_score(
    run_dir: Path,
    info: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    output: str,
    values: dict[str, MetricValue],
    per_image: dict[str, PerImage],
    unscored: set[str],
    notes: list[str],
) -> RunScore:
    cov = Coverage(
        items=len(records),
        # failed in the run, or finished but without readable truth to score against
        items_failed=sum(r.get("status") != "ok" or str(r["id"]) in unscored for r in records),
        questions=sum(int(r.get("n_questions", 0)) for r in records),
        questions_failed=sum(int(r.get("n_failed", 0)) for r in records),
    )
    costs = [c for r in records if (c := r.get("cost_usd")) is not None]
    return RunScore(
        run=str(run_dir),
        chain=str(info.get("chain", "")),
        model=str(info.get("model", "")),
        output=output,
        metrics=values,
        per_image=per_image,
        coverage=cov,
        cost_usd=float(sum(costs)) if len(costs) == len(records) else None,
        notes=tuple(notes),
    )


def _use_key(use: ir.MetricUse, uses: Sequence[ir.MetricUse]) -> str:
    """The metric's name; its arguments and truth field are added only where uses would clash.

    >>> a = ir.MetricUse(name="pck", truth="centres")
    >>> b = ir.MetricUse(name="pck", truth="centres", args=(("r", 0.1),))
    >>> _use_key(a, [a]), _use_key(b, [a, b])
    ('pck', 'pck(r=0.1)')
    """
    key = use.name
    if sum(u.name == use.name for u in uses) > 1 and use.args:
        key += "(" + ", ".join(f"{k}={v}" for k, v in use.args) + ")"
    if sum(u.name == use.name and u.args == use.args for u in uses) > 1:
        key += f"[{use.truth}]"
    return key


def _item_input(
    run_dir: Path, record: Mapping[str, Any], data: Dataset, truth: str, output: str
) -> Any:
    """One item's prediction, truth and image size; an unreadable truth becomes a message."""
    from chainlang.scoring.generic import ItemInput

    item_id = str(record["id"])
    pred = _prediction(run_dir, record, output) if record.get("status") == "ok" else None
    try:
        item = data.get(item_id)
        if truth not in item.truth_names():
            known = ", ".join(item.truth_names()) or "none"
            raise DataError(f"has no truth '{truth}' (its truth fields: {known})")
        value = item.truth(truth)
    except DataError as err:
        return ItemInput(item_id, pred, None, None, f"truth.{truth}: {err}")
    return ItemInput(item_id, pred, value, _image_size(item.image_path))


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image header (None when it cannot be read)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return (int(im.width), int(im.height))
    except (OSError, UnidentifiedImageError):
        return None
