"""The built-in metrics a chain's ``score`` line names (signatures in chainlang.stdlib.metrics).

Each per-item metric is ``fn(prediction, truth, *, image_size, **args) -> float``:
one item's value, or ``ValueError`` with a message when the item cannot be
scored (the message reaches the run's notes and the item counts against
coverage). The run's value is the mean of the item values, passed through the
function's ``finish`` attribute when it has one (``rmse`` takes the root of
the mean squared error). A function whose ``pooled`` attribute is true (``ap``)
is instead called once with all predictions and truths.

:func:`score_uses` turns a program's ``scores`` into :class:`MetricValue`\\ s
with bootstrap intervals and :class:`PerImage` cells, so coverage, baselines,
paired statistics and the report treat them as the paper's metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainlang.language.labelsets import normalise  # the one spelling rule for labels
from chainlang.scoring.bootstrap import PerImage
from chainlang.scoring.common import (
    _NO_CI,
    BootstrapSpec,
    BoxLike,
    Coverage,
    MetricValue,
    ScoredBox,
    _ci_mean,
    _metric,
)
from chainlang.scoring.detection import detection_ap

ImageSize = tuple[int, int]

# ---------------------------------------------------------------------------
# Reading values
# ---------------------------------------------------------------------------


def _canon(value: Any) -> Any:
    """A JSON-like value with tuples and arrays as lists and whole floats as ints."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"the {what} {value!r} is not a number")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"the {what} {value!r} is not a finite number")
    return out


def _points(value: Any, what: str) -> np.ndarray:
    """A point ``[x, y]`` or a list of points as a ``k × 2`` array."""
    if hasattr(value, "x") and hasattr(value, "y"):  # a TruthPoint or similar
        value = [value.x, value.y]
    if isinstance(value, Mapping) and "x" in value and "y" in value:
        value = [value["x"], value["y"]]
    try:
        arr = np.asarray(
            [[p.x, p.y] if hasattr(p, "x") else p for p in value]
            if isinstance(value, (list, tuple)) and value and not _is_number(value[0])
            else value,
            dtype=np.float64,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {what} {value!r} is not a point or a list of points") from exc
    if arr.ndim == 1 and arr.shape == (2,):
        arr = arr[None]
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
        raise ValueError(f"the {what} {value!r} is not a point or a list of [x, y] points")
    return arr


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _ranking(value: Any, what: str) -> list[str]:
    """A ranking's ids in one spelling: whole numbers as text (``3``, ``3.0`` and ``"3"``
    are one id) and text as labels compare (case, ``_``/``-``/space folded)."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"the {what} {value!r} is not a ranking (a list of ids or labels)")
    return [normalise(str(_canon(v))) for v in value]


# ---------------------------------------------------------------------------
# Per-item metrics
# ---------------------------------------------------------------------------


def exact(prediction: Any, truth: Any, *, image_size: ImageSize | None = None) -> float:
    """1 when the answer equals the truth (tuples, lists and ``3.0``/``3`` compare equal).

    >>> exact([1, 2], (1, 2)), exact(3.0, 3), exact("cat", "Cat")
    (1.0, 1.0, 0.0)
    """
    return float(_canon(prediction) == _canon(truth))


def mae(prediction: Any, truth: Any, *, image_size: ImageSize | None = None) -> float:
    """The absolute error of one item.

    >>> mae(3, 5.5)
    2.5
    """
    return abs(_number(prediction, "prediction") - _number(truth, "truth"))


def rmse(prediction: Any, truth: Any, *, image_size: ImageSize | None = None) -> float:
    """The squared error of one item (the run's value is the root of their mean).

    >>> rmse(3, 5)
    4.0
    """
    return (_number(prediction, "prediction") - _number(truth, "truth")) ** 2


rmse.finish = math.sqrt  # type: ignore[attr-defined]  # the run's value: sqrt of the mean


def _diagonal(image_size: ImageSize | None) -> float:
    if image_size is None:
        raise ValueError("the image size is unknown, so pixel distances cannot be normalised")
    return float(math.hypot(*image_size))


def matched_distances(prediction: Any, truth: Any) -> tuple[np.ndarray, int]:
    """Distances of the truth points matched to predictions, and the unmatched truth count.

    Points are matched one to one by the Hungarian algorithm on Euclidean
    distance (``scipy.optimize.linear_sum_assignment``); extra predictions are
    left unmatched.

    >>> d, missed = matched_distances([[0, 0], [10, 0]], [[9, 0], [1, 0], [50, 50]])
    >>> d.tolist(), missed
    ([1.0, 1.0], 1)
    """
    from scipy.optimize import linear_sum_assignment

    pred, true = _points(prediction, "prediction"), _points(truth, "truth")
    if len(true) == 0:
        raise ValueError("the truth has no points to score against")
    if len(pred) == 0:
        return np.zeros(0), len(true)
    cost = np.linalg.norm(true[:, None, :] - pred[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols], len(true) - len(rows)


def point_error(prediction: Any, truth: Any, *, image_size: ImageSize | None = None) -> float:
    """Mean pixel distance of the truth points to their matched predictions.

    A truth point without a matched prediction counts as the image diagonal
    (the largest error the image allows).

    >>> point_error([[0, 0]], [[3, 4], [100, 0]], image_size=(60, 80))
    52.5
    """
    dists, missed = matched_distances(prediction, truth)
    total = float(dists.sum()) + (missed * _diagonal(image_size) if missed else 0.0)
    return total / (len(dists) + missed)


point_error.summaries = {"median": np.median}  # type: ignore[attr-defined]  # also reported


def pck(
    prediction: Any, truth: Any, *, image_size: ImageSize | None = None, r: float = 0.05
) -> float:
    """Fraction of truth points with a matched prediction within ``r`` × the image diagonal.

    >>> pck([[0, 0], [10, 0]], [[3, 4], [10, 20]], image_size=(60, 80), r=0.1)
    0.5
    """
    if not 0 < r <= 1:
        raise ValueError(f"pck: r = {r} is outside (0, 1]")
    dists, missed = matched_distances(prediction, truth)
    hits = int((dists <= r * _diagonal(image_size)).sum())
    return hits / (len(dists) + missed)


def _rank_pair(prediction: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Truth positions and predicted positions of the truth's ids.

    An id the prediction leaves out ranks after every id it names (all such
    ids tie); ids the truth does not have and repeats are ignored.
    """
    true = _ranking(truth, "truth")
    if len(set(true)) != len(true):
        raise ValueError(f"the truth ranking {truth!r} repeats an id")
    if len(true) < 2:
        raise ValueError("the truth ranking has fewer than two ids; a rank correlation needs two")
    order: dict[str, int] = {}
    for v in _ranking(prediction, "prediction"):
        if v in true and v not in order:
            order[v] = len(order)
    if not order:
        raise ValueError(f"the predicted ranking {prediction!r} names none of the truth's ids")
    pred_pos = np.array([order.get(v, len(order)) for v in true], dtype=np.float64)
    return np.arange(len(true), dtype=np.float64), pred_pos


def _correlation(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} is undefined: the predicted ranking ties every truth id")
    return float(value)


def kendall_tau(prediction: Any, truth: Any, *, image_size: ImageSize | None = None) -> float:
    """Kendall's tau-b between the predicted and the true order of the truth's ids.

    >>> round(kendall_tau(["b", "a", "c"], ["a", "b", "c"]), 4)
    0.3333
    """
    from scipy.stats import kendalltau

    t, p = _rank_pair(prediction, truth)
    return _correlation(kendalltau(t, p).statistic, "Kendall's tau")


def spearman(prediction: Any, truth: Any, *, image_size: ImageSize | None = None) -> float:
    """Spearman's rho between the predicted and the true order of the truth's ids.

    >>> spearman(["b", "a", "c"], ["a", "b", "c"])
    0.5
    """
    from scipy.stats import spearmanr

    t, p = _rank_pair(prediction, truth)
    return _correlation(spearmanr(t, p).statistic, "Spearman's rho")


# ---------------------------------------------------------------------------
# Pooled metrics
# ---------------------------------------------------------------------------


def _boxes(value: Any, what: str) -> list[BoxLike]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"the {what} {value!r} is not a list of boxes")
    out: list[BoxLike] = []
    for b in value:
        if isinstance(b, Mapping):
            try:
                x0, y0, x1, y1 = (float(c) for c in b["box"])
                b = ScoredBox(str(b["label"]), x0, y0, x1, y1, float(b.get("score", 1.0)))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"the {what} box {b!r} is malformed") from exc
        if not all(hasattr(b, k) for k in ("label", "x0", "y0", "x1", "y1")):
            raise ValueError(f"the {what} box {b!r} is malformed")
        out.append(b)
    return out


def ap(predictions: Sequence[Any], truths: Sequence[Any]) -> float:
    """COCO AP over IoU 0.50:0.95, every box with its score (several instances per class).

    Scored once over the run (pycocotools' COCOeval, as ``ap_multi`` of the
    paper's detection scoring): AP is not a mean over images.
    """
    preds = [_boxes(p, "prediction") for p in predictions]
    truths_ = [_boxes(t, "truth") for t in truths]
    return detection_ap(preds, truths_, single_instance=False)["ap"]


def _check_boxes(prediction: Any, truth: Any) -> None:
    """Raise ``ValueError`` when one item's boxes are unreadable (before pooling)."""
    _boxes(prediction, "prediction")
    _boxes(truth, "truth")


ap.pooled = True  # type: ignore[attr-defined]  # called once with every item
ap.check = _check_boxes  # type: ignore[attr-defined]  # per item, so one bad item is a note


# ---------------------------------------------------------------------------
# Scoring a run's uses
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemInput:
    """One item to score: its prediction (None: the item failed), truth and image size.

    ``truth_error`` holds the message when the truth could not be read.
    """

    item_id: str
    prediction: Any
    truth: Any
    image_size: ImageSize | None = None
    truth_error: str | None = None


@dataclass(frozen=True)
class UseResult:
    """One metric use's values, per-image cells, the items it scored and per-item notes."""

    values: dict[str, MetricValue]
    per_image: dict[str, PerImage]
    notes: list[str]
    scored: frozenset[str] = frozenset()


def score_use(
    key: str,
    fn: Callable[..., Any],
    args: Mapping[str, Any],
    higher_is_better: bool,
    items: Sequence[ItemInput],
    bootstrap: BootstrapSpec | None,
) -> UseResult:
    """Score one metric use over the items; failed or unreadable items count against coverage."""
    notes: list[str] = []
    ids: list[str] = []
    values: list[float] = []
    preds: list[Any] = []
    truths: list[Any] = []
    pooled = bool(getattr(fn, "pooled", False))
    for it in items:
        if it.truth_error is not None:
            notes.append(f"{key}: item {it.item_id}: {it.truth_error}")
            continue
        if it.prediction is None:
            continue
        try:
            if pooled:
                check = getattr(fn, "check", None)
                if check is not None:
                    check(it.prediction, it.truth)
                preds.append(it.prediction)
                truths.append(it.truth)
            else:
                values.append(float(fn(it.prediction, it.truth, image_size=it.image_size, **args)))
        except (ValueError, TypeError) as exc:
            notes.append(f"{key}: item {it.item_id}: {exc}")
            continue
        ids.append(it.item_id)
    cov = Coverage(items=len(items), items_failed=len(items) - len(ids))
    if not ids:
        notes.append(f"{key}: no item could be scored")
        return UseResult({}, {}, notes)
    if pooled:
        value = float(fn(preds, truths, **args))
        metric = _metric(key, value, _NO_CI, len(ids), higher_is_better, cov)
        return UseResult({key: metric}, {}, notes, frozenset(ids))
    return _per_item_result(key, fn, values, ids, higher_is_better, cov, bootstrap, notes)


def _per_item_result(
    key: str,
    fn: Callable[..., Any],
    values: list[float],
    ids: list[str],
    higher: bool,
    cov: Coverage,
    bootstrap: BootstrapSpec | None,
    notes: list[str],
) -> UseResult:
    finish: Callable[[float], float] | None = getattr(fn, "finish", None)
    arr = np.asarray(values, dtype=np.float64)
    lo, hi = _ci_mean(values, bootstrap)
    if finish is None:
        cell = PerImage(tuple(ids), arr)
        out = {key: _metric(key, float(arr.mean()), (lo, hi), len(ids), higher, cov, values)}
    else:
        # The finish is monotone, so the interval of the mean maps to the interval of the value.
        def metric(sums: np.ndarray) -> float:
            return float(finish(sums[0] / sums[1]))

        cell = PerImage(tuple(ids), np.stack([arr, np.ones_like(arr)], axis=1), metric)
        ci = (finish(lo), finish(hi)) if math.isfinite(lo) else _NO_CI
        out = {key: _metric(key, finish(float(arr.mean())), ci, len(ids), higher, cov)}
    for label, summary in getattr(fn, "summaries", {}).items():
        name = f"{key}_{label}"
        out[name] = _metric(name, float(summary(arr)), _NO_CI, len(ids), higher, cov)
    return UseResult(out, {key: cell}, notes, frozenset(ids))
