"""The paper's metrics, computed exactly as the reference evaluation does.

Two layers live here:

* **pure functions** on one image or one dataset (``spearman``, ``mask_iou``,
  ``align_scale_shift``, ``detection_ap``, ...), each doctested and
  cross-checked against an independent formulation in ``tests/scoring``;
* **per-task scorers** (``score_classification`` ... ``score_normals``) that
  stream over :class:`Sample` values (one per dataset item), keep only
  per-image sufficient statistics (never whole prediction maps), and return a
  ``dict[str, MetricValue]`` with coverage and a per-image bootstrap CI.

Conventions that differ from the reference evaluation are opt-in or reported
under a separate name (see ``docs/scoring.md``): normalised label match,
multi-instance AP, valid-pixel masks, angular normal errors, and the
``*_with_failures`` variants that count failed items instead of dropping them.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np
from scipy.stats import rankdata

from chainlang.errors import ScoringError
from chainlang.scoring.bootstrap import BootstrapSpec, bootstrap_mean, bootstrap_pooled

P = TypeVar("P")
T = TypeVar("T")

MaskMode = Literal["valid", "all"]
IGNORE_INDEX = 255
#: COCO-stuff panoptic classes used by the paper's segmentation eval.
COCO_SEMANTIC_CLASSES = 133
#: The paper's single-instance detection thresholds: AP@0.1, then COCO's 0.5:0.95.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
#: Bin width (degrees) of the angular-error histogram used for the pooled median.
ANGLE_BIN_DEG = 0.05
_ANGLE_BINS = round(180.0 / ANGLE_BIN_DEG)
_ANGLE_THRESHOLDS = (11.25, 22.5, 30.0)
#: Intervals used when a scorer is not told otherwise (frozen, so safe to share).
DEFAULT_BOOTSTRAP = BootstrapSpec()


# ---------------------------------------------------------------------------
# Result and input types
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a run could be scored.

    Attributes:
        items: items seen.
        items_failed: items without a prediction (their chain failed).
        questions: model questions asked over all items.
        questions_failed: questions that failed (counted by the executor).
    """

    items: int = 0
    items_failed: int = 0
    questions: int = 0
    questions_failed: int = 0

    @property
    def items_scored(self) -> int:
        """Items that had a prediction."""
        return self.items - self.items_failed


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One metric over a dataset, with its bootstrap interval and coverage.

    Attributes:
        name: metric name, e.g. ``"miou"`` or ``"delta1"``.
        value: the point estimate (fractions, not percent; degrees for angles).
        ci_low: lower end of the percentile bootstrap CI (NaN when not computed).
        ci_high: upper end of the CI (NaN when not computed).
        n_items: images the value is computed over.
        higher_is_better: the direction of the metric.
        coverage: items and questions seen and failed.
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    n_items: int
    higher_is_better: bool
    coverage: Coverage = field(default_factory=Coverage)


@dataclass(frozen=True, slots=True)
class PairAnswers:
    """A depth chain's raw pairwise answers for one image.

    Attributes:
        regions: ``H × W`` integer region map (superpixels) the pairs index into.
        pairs: ``(a, b)`` region ids; ``a`` wears the red marker, ``b`` the blue.
        answers: per pair ``"red"`` (a is nearer), ``"blue"`` (b is nearer) or
            None (the question failed; it is not counted).
    """

    regions: np.ndarray
    pairs: Sequence[tuple[int, int]]
    answers: Sequence[str | None]


@dataclass(frozen=True, slots=True)
class Sample(Generic[P, T]):
    """One dataset item: the chain's prediction (None if it failed) and the truth.

    Attributes:
        item_id: the dataset item id (used in error messages).
        pred: the prediction in the truth's in-memory form, or None.
        truth: the ground truth (see ``docs/architecture.md``, "Dataset items").
        questions: questions the chain asked for this item.
        questions_failed: of which failed.
        answers: depth only, the raw pairwise answers for pairwise accuracy.
    """

    item_id: str
    pred: P | None
    truth: T
    questions: int = 0
    questions_failed: int = 0
    answers: PairAnswers | None = None


class BoxLike(Protocol):
    """A labelled pixel box ``[x0, x1) × [y0, y1)``; ``score`` is optional (default 1)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True, slots=True)
class ScoredBox:
    """A labelled detection with a confidence (a :class:`BoxLike`)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0


class _CoverageCounter:
    """Counts items and questions while a scorer streams over samples."""

    def __init__(self) -> None:
        self.items = 0
        self.failed = 0
        self.questions = 0
        self.questions_failed = 0

    def see(self, sample: Sample[Any, Any]) -> bool:
        """Record a sample; True when it has a prediction to score."""
        self.items += 1
        self.questions += sample.questions
        self.questions_failed += sample.questions_failed
        if sample.pred is None:
            self.failed += 1
            return False
        return True

    def result(self) -> Coverage:
        return Coverage(self.items, self.failed, self.questions, self.questions_failed)


def _metric(
    name: str,
    value: float,
    ci: tuple[float, float],
    n_items: int,
    higher: bool,
    coverage: Coverage,
) -> MetricValue:
    return MetricValue(name, float(value), ci[0], ci[1], n_items, higher, coverage)


_NO_CI = (float("nan"), float("nan"))


def _ci_pooled(
    rows: list[np.ndarray], fn: Callable[[np.ndarray], np.ndarray], spec: BootstrapSpec | None
) -> tuple[float, float]:
    if spec is None or not rows:
        return _NO_CI
    return bootstrap_pooled(np.stack(rows), fn, spec)


def _ci_mean(values: Sequence[float], spec: BootstrapSpec | None) -> tuple[float, float]:
    if spec is None or not values:
        return _NO_CI
    return bootstrap_mean(np.asarray(values, dtype=np.float64), spec)


def _require_items(n: int, task: str) -> None:
    if n == 0:
        raise ScoringError(f"{task}: no item has a prediction to score")


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def exact_match(pred: str, truth: str) -> bool:
    """The reference's top-1 test: ``pred.strip() == truth`` (case-sensitive).

    >>> exact_match(" tabby cat ", "tabby cat"), exact_match("Tabby cat", "tabby cat")
    (True, False)
    """
    return pred.strip() == truth


def normalise_label(text: str) -> str:
    """Lower-case, treat ``_`` and ``-`` as spaces, collapse and trim whitespace.

    >>> normalise_label("  Great_White-Shark \\n")
    'great white shark'
    """
    return " ".join(re.sub(r"[_\-]", " ", text).lower().split())


def label_match(pred: str, truth: str) -> bool:
    """Label equality after :func:`normalise_label` on both sides (our addition).

    >>> label_match("Tabby_Cat", "tabby cat")
    True
    """
    return normalise_label(pred) == normalise_label(truth)


def score_classification(
    samples: Iterable[Sample[str, str]], *, bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP
) -> dict[str, MetricValue]:
    """Top-1 accuracy, exact (reference) and normalised, over and with failures.

    Args:
        samples: predicted label (or None) against the true label name.
        bootstrap: CI settings, or None for no intervals.

    Returns:
        ``top1``, ``top1_normalised`` over items with a prediction (the paper's
        convention) and ``top1_with_failures``, ``top1_normalised_with_failures``
        where failed items count as wrong.
    """
    cov = _CoverageCounter()
    exact: list[float] = []
    norm: list[float] = []
    for s in samples:
        if not isinstance(s.truth, str):
            raise ScoringError(f"item {s.item_id}: label truth must be a string")
        if not cov.see(s):
            continue
        if not isinstance(s.pred, str):
            raise ScoringError(f"item {s.item_id}: label prediction must be a string")
        exact.append(float(exact_match(s.pred, s.truth)))
        norm.append(float(label_match(s.pred, s.truth)))
    _require_items(len(exact), "classification")
    c = cov.result()
    zeros = [0.0] * c.items_failed
    out: dict[str, MetricValue] = {}
    for name, vals in (("top1", exact), ("top1_normalised", norm)):
        out[name] = _metric(name, np.mean(vals), _ci_mean(vals, bootstrap), len(vals), True, c)
        allv = vals + zeros
        wname = f"{name}_with_failures"
        out[wname] = _metric(wname, np.mean(allv), _ci_mean(allv, bootstrap), len(allv), True, c)
    return out


# ---------------------------------------------------------------------------
# Detection (pycocotools, in memory)
# ---------------------------------------------------------------------------


def first_box_per_label(boxes: Sequence[BoxLike]) -> list[BoxLike]:
    """Keep only the first box of each label, as the paper's single-instance eval.

    >>> [b.x0 for b in first_box_per_label([ScoredBox("a", 0, 0, 1, 1), ScoredBox("a", 5, 5, 6, 6),
    ...                                    ScoredBox("b", 2, 2, 3, 3)])]
    [0, 2]
    """
    seen: set[str] = set()
    kept = []
    for b in boxes:
        if b.label not in seen:
            seen.add(b.label)
            kept.append(b)
    return kept


def _xywh(b: BoxLike, where: str) -> list[float]:
    x0, y0, x1, y1 = float(b.x0), float(b.y0), float(b.x1), float(b.y1)
    if not (np.isfinite([x0, y0, x1, y1]).all() and x1 >= x0 and y1 >= y0):
        raise ScoringError(f"{where}: malformed box {(x0, y0, x1, y1)} (need x0<=x1, y0<=y1)")
    return [x0, y0, x1 - x0, y1 - y0]


def _coco_pair(preds: Sequence[Sequence[BoxLike]], truths: Sequence[Sequence[BoxLike]]) -> Any:
    """Build in-memory pycocotools GT and detection objects (image ids 1..n in order)."""
    from pycocotools.coco import COCO  # local: pycocotools prints and is only needed here

    labels = sorted({b.label for boxes in truths for b in boxes})
    if not labels:
        raise ScoringError("detection: the ground truth holds no boxes")
    cat = {lab: i + 1 for i, lab in enumerate(labels)}
    anns = []
    for img, boxes in enumerate(truths, start=1):
        for b in boxes:
            xywh = _xywh(b, f"truth of image {img}")
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img,
                    "category_id": cat[b.label],
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": 0,
                }
            )
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i} for i in range(1, len(truths) + 1)],
        "annotations": anns,
        "categories": [{"id": i, "name": n} for n, i in cat.items()],
    }
    dets = [
        {
            "image_id": img,
            "category_id": cat[b.label],
            "bbox": _xywh(b, f"prediction {img}"),
            "score": float(getattr(b, "score", 1.0)),
        }
        for img, boxes in enumerate(preds, start=1)
        for b in boxes
        if b.label in cat  # classes absent from the GT are ignored, as in the reference
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dets) if dets else None
    return gt, dt


def _coco_precision(gt: Any, dt: Any, thresholds: np.ndarray) -> np.ndarray:
    """COCOeval's precision array ``T × R × K`` at area=all, maxDets=100."""
    from pycocotools.cocoeval import COCOeval

    ev = COCOeval(gt, dt, "bbox")
    ev.params.iouThrs = np.asarray(thresholds, dtype=np.float64)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    return ev.eval["precision"][:, :, :, 0, -1]


def _mean_valid(p: np.ndarray) -> float:
    valid = p[p > -1]
    return float(valid.mean()) if valid.size else 0.0


def detection_ap(
    preds: Sequence[Sequence[BoxLike]],
    truths: Sequence[Sequence[BoxLike]],
    *,
    single_instance: bool = True,
) -> dict[str, float]:
    """COCO box AP over a dataset (image ``i`` of ``preds`` pairs with ``truths[i]``).

    Single-instance (the paper): keep the first box per label per image on both
    sides; AP at each IoU threshold is ``stats[0]`` of a COCOeval restricted to
    that one threshold; ``ap`` is the mean over 0.5:0.95; ``ap10`` is AP@0.1.
    Matching at different thresholds is independent in COCOeval, so one run
    with all eleven thresholds gives the same numbers as eleven runs.

    Multi-instance: every box with its score, standard COCOeval ``stats[0:3]``.

    The category set is the labels present in the truth; predicted labels
    outside it are ignored. Predictions with equal scores rank in input order.

    >>> t = [[ScoredBox("cat", 0, 0, 10, 10)], [ScoredBox("dog", 0, 0, 10, 10)]]
    >>> p = [[ScoredBox("cat", 0, 0, 10, 7)], [ScoredBox("dog", 20, 20, 30, 30)]]
    >>> {k: round(v, 4) for k, v in detection_ap(p, t).items()}
    {'ap': 0.25, 'ap50': 0.5, 'ap75': 0.0, 'ap10': 0.5}
    """
    if len(preds) != len(truths):
        raise ScoringError(f"detection: {len(preds)} predictions for {len(truths)} truths")
    if single_instance:
        preds = [first_box_per_label(b) for b in preds]
        truths = [first_box_per_label(b) for b in truths]
    gt, dt = _coco_pair(preds, truths)
    if dt is None:  # nothing predicted for any GT class: AP is 0 everywhere
        names = ("ap", "ap50", "ap75", "ap10") if single_instance else ("ap", "ap50", "ap75")
        return dict.fromkeys(names, 0.0)
    if not single_instance:
        prec = _coco_precision(gt, dt, COCO_IOU_THRESHOLDS)
        return {"ap": _mean_valid(prec), "ap50": _mean_valid(prec[0]), "ap75": _mean_valid(prec[5])}
    prec = _coco_precision(gt, dt, np.concatenate([[0.1], COCO_IOU_THRESHOLDS]))
    per_thr = [_mean_valid(prec[t]) for t in range(prec.shape[0])]
    return {
        "ap": float(np.mean(per_thr[1:])),
        "ap50": per_thr[1],
        "ap75": per_thr[6],
        "ap10": per_thr[0],
    }


def score_detection(
    samples: Iterable[Sample[Sequence[BoxLike], Sequence[BoxLike]]],
    *,
    multi_instance: bool = True,
) -> dict[str, MetricValue]:
    """Single-instance AP (paper) and optionally multi-instance AP.

    Failed items are dropped for ``ap``, ``ap50``, ... (the paper's
    convention); ``*_with_failures`` keeps their truth with no detections. AP
    is not a sum over images, so no bootstrap CI is given (NaN).

    Returns:
        ``ap``, ``ap50``, ``ap75``, ``ap10``; with ``multi_instance`` also
        ``ap_multi``, ``ap50_multi``, ``ap75_multi``; and each again with the
        suffix ``_with_failures``.
    """
    cov = _CoverageCounter()
    preds: list[Sequence[BoxLike]] = []
    truths: list[Sequence[BoxLike]] = []
    failed_truths: list[Sequence[BoxLike]] = []
    for s in samples:
        if cov.see(s):
            preds.append(s.pred)  # type: ignore[arg-type]
            truths.append(s.truth)
        else:
            failed_truths.append(s.truth)
    _require_items(len(preds), "detection")
    c = cov.result()
    out: dict[str, MetricValue] = {}
    modes = [(True, "")] + ([(False, "_multi")] if multi_instance else [])
    for single, suffix in modes:
        ok = detection_ap(preds, truths, single_instance=single)
        every = (
            ok
            if not failed_truths
            else detection_ap(
                preds + [[] for _ in failed_truths], truths + failed_truths, single_instance=single
            )
        )
        for key, val in ok.items():
            name = f"{key}{suffix}"
            out[name] = _metric(name, val, _NO_CI, len(preds), True, c)
            wname = f"{name}_with_failures"
            out[wname] = _metric(wname, every[key], _NO_CI, c.items, True, c)
    return out


# ---------------------------------------------------------------------------
# Semantic segmentation (mmseg-style, dataset level)
# ---------------------------------------------------------------------------


def segmentation_stats(
    pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Per-class (intersect, union, pred area, gt area) of one image, shape ``4 × C``.

    Pixels whose truth is ``ignore_index`` are dropped. Predicted values outside
    ``0..C-1`` (e.g. 255) fall outside every bin: never a false positive, but
    the pixel still counts in the truth's area.

    >>> s = segmentation_stats(np.array([[0, 1], [255, 1]]), np.array([[0, 0], [1, 255]]), 2)
    >>> s.tolist()
    [[1, 0], [2, 2], [1, 1], [2, 1]]
    """
    if pred.shape != gt.shape:
        raise ScoringError(f"segmentation: prediction {pred.shape} and truth {gt.shape} differ")
    keep = gt != ignore_index
    p = pred[keep].astype(np.int64)
    g = gt[keep].astype(np.int64)

    def area(v: np.ndarray) -> np.ndarray:
        v = v[(v >= 0) & (v < num_classes)]
        return np.bincount(v, minlength=num_classes)[:num_classes]

    inter = area(p[p == g])
    ap, ag = area(p), area(g)
    return np.stack([inter, ap + ag - inter, ap, ag])


def _miou_rows(stats: np.ndarray) -> np.ndarray:
    """mIoU for each row of pooled ``B × 4C`` stats: nanmean over classes with union > 0."""
    c = stats.shape[1] // 4
    inter, union = stats[:, :c], stats[:, c : 2 * c]
    has = union > 0
    iou = np.where(has, inter / np.where(has, union, 1), 0.0)
    n = has.sum(axis=1)
    return np.where(n > 0, iou.sum(axis=1) / np.maximum(n, 1), np.nan)


def _pixacc_rows(stats: np.ndarray) -> np.ndarray:
    c = stats.shape[1] // 4
    total = stats[:, 3 * c :].sum(axis=1)
    return np.where(total > 0, stats[:, :c].sum(axis=1) / np.maximum(total, 1), np.nan)


class SegAccumulator:
    """Dataset-level mIoU and pixel accuracy, accumulated image by image.

    Only ``4 × C`` counts per image are kept (for the bootstrap), never maps.

    >>> acc = SegAccumulator(num_classes=2)
    >>> _ = acc.add(np.array([[0, 1], [1, 1]]), np.array([[0, 0], [1, 1]]))
    >>> r = acc.result()
    >>> round(r["miou"], 4), r["pixel_acc"]
    (0.5833, 0.75)
    """

    def __init__(
        self, num_classes: int = COCO_SEMANTIC_CLASSES, ignore_index: int = IGNORE_INDEX
    ) -> None:
        if num_classes <= 0:
            raise ScoringError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._rows: list[np.ndarray] = []

    def add(self, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """Add one image; returns its ``4 × C`` statistics."""
        s = segmentation_stats(
            np.asarray(pred), np.asarray(gt), self.num_classes, self.ignore_index
        )
        self._rows.append(s.reshape(-1))
        return s

    def add_stats(self, stats: np.ndarray) -> None:
        """Add one image's precomputed ``4 × C`` statistics (see :func:`segmentation_stats`)."""
        stats = np.asarray(stats)
        if stats.shape != (4, self.num_classes):
            want = f"4×{self.num_classes}"
            raise ScoringError(f"segmentation stats must be {want}, got {stats.shape}")
        self._rows.append(stats.reshape(-1))

    def add_failed(self, gt: np.ndarray) -> None:
        """Add an image with no prediction: every labelled pixel is a miss."""
        self.add(np.full(np.shape(gt), self.ignore_index, dtype=np.int64), gt)

    @property
    def n_images(self) -> int:
        """Images added so far."""
        return len(self._rows)

    def per_image(self) -> np.ndarray:
        """``n × 4C`` per-image statistics (for bootstrapping)."""
        return np.stack(self._rows) if self._rows else np.zeros((0, 4 * self.num_classes))

    def result(self) -> dict[str, Any]:
        """``miou``, ``pixel_acc`` and ``per_class_iou`` (NaN where union is 0)."""
        if not self._rows:
            raise ScoringError("segmentation: no images were added")
        tot = self.per_image().sum(axis=0, keepdims=True)
        c = self.num_classes
        union = tot[0, c : 2 * c]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class = np.where(union > 0, tot[0, :c] / union, np.nan)
        return {
            "miou": float(_miou_rows(tot)[0]),
            "pixel_acc": float(_pixacc_rows(tot)[0]),
            "per_class_iou": per_class,
        }


def score_segmentation(
    samples: Iterable[Sample[np.ndarray, np.ndarray]],
    *,
    num_classes: int = COCO_SEMANTIC_CLASSES,
    ignore_index: int = IGNORE_INDEX,
    bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP,
) -> dict[str, MetricValue]:
    """``miou`` and ``pixel_acc`` (paper), and both ``*_with_failures``."""
    cov = _CoverageCounter()
    ok = SegAccumulator(num_classes, ignore_index)
    every = SegAccumulator(num_classes, ignore_index)
    for s in samples:
        if cov.see(s):
            try:
                every.add_stats(ok.add(s.pred, s.truth))  # type: ignore[arg-type]
            except ScoringError as e:
                raise ScoringError(f"item {s.item_id}: {e}") from None
        else:
            every.add_failed(s.truth)
    _require_items(ok.n_images, "segmentation")
    c = cov.result()
    out: dict[str, MetricValue] = {}
    for acc, suffix in ((ok, ""), (every, "_with_failures")):
        stats = acc.per_image()
        res = acc.result()
        for key, fn in (("miou", _miou_rows), ("pixel_acc", _pixacc_rows)):
            ci = _NO_CI if bootstrap is None else bootstrap_pooled(stats, fn, bootstrap)
            out[key + suffix] = _metric(key + suffix, res[key], ci, acc.n_images, True, c)
    return out


# ---------------------------------------------------------------------------
# Grouping
# ---------------------------------------------------------------------------


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """|P ∧ G| / |P ∨ G| of two boolean masks (the truth must not be empty).

    >>> mask_iou(np.array([1, 1, 0, 0], bool), np.array([0, 1, 1, 0], bool))
    0.3333333333333333
    """
    if pred.shape != gt.shape:
        raise ScoringError(f"grouping: prediction {pred.shape} and truth {gt.shape} differ")
    p, g = pred.astype(bool), gt.astype(bool)
    union = np.count_nonzero(p | g)
    if not g.any():
        raise ScoringError("grouping: the true instance mask is empty")
    return float(np.count_nonzero(p & g) / union)


def instance_masks_for_points(
    instances: np.ndarray, points: Sequence[Sequence[float]]
) -> list[np.ndarray]:
    """The true mask of the instance under each query point.

    Args:
        instances: ``H × W`` instance ids (0 = background).
        points: ``(x, y)`` or ``(x, y, instance_id)``; without an id, the id is
            read from ``instances`` at the (rounded-down) point.

    >>> inst = np.array([[1, 1, 2], [0, 2, 2]], np.int32)
    >>> [m.astype(int).tolist() for m in instance_masks_for_points(inst, [(0, 0), (2, 1)])]
    [[[1, 1, 0], [0, 0, 0]], [[0, 0, 1], [0, 1, 1]]]
    """
    h, w = instances.shape
    masks = []
    for pt in points:
        if len(pt) >= 3:
            ident = int(pt[2])
        else:
            x, y = int(pt[0]), int(pt[1])
            if not (0 <= x < w and 0 <= y < h):
                raise ScoringError(f"grouping: point {(x, y)} lies outside the {w}×{h} image")
            ident = int(instances[y, x])
        if ident <= 0:
            raise ScoringError(f"grouping: point {tuple(pt)} is on background (instance 0)")
        masks.append(instances == ident)
    return masks


def score_grouping(
    samples: Iterable[Sample[Sequence[np.ndarray | None], Sequence[np.ndarray]]],
    *,
    bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP,
) -> dict[str, MetricValue]:
    """Plain mean IoU over all (image, point) instances, as the paper's "mIoU".

    ``sample.pred`` is one predicted mask per query point (None where that
    point's chain failed); ``sample.truth`` the true masks in the same order.
    ``miou`` averages over instances with a prediction; ``miou_with_failures``
    counts failed instances (and failed items) as IoU 0.
    """
    cov = _CoverageCounter()
    ok_rows: list[np.ndarray] = []
    all_rows: list[np.ndarray] = []
    for s in samples:
        n_true = len(s.truth)
        if not cov.see(s):
            all_rows.append(np.array([0.0, n_true]))
            continue
        preds = list(s.pred)  # type: ignore[arg-type]
        if len(preds) != n_true:
            raise ScoringError(f"item {s.item_id}: {len(preds)} masks for {n_true} points")
        try:
            ious = [mask_iou(p, g) for p, g in zip(preds, s.truth, strict=True) if p is not None]
        except ScoringError as e:
            raise ScoringError(f"item {s.item_id}: {e}") from None
        ok_rows.append(np.array([sum(ious), len(ious)]))
        all_rows.append(np.array([sum(ious), n_true]))
    ok_stats = np.stack(ok_rows) if ok_rows else np.zeros((0, 2))
    if ok_stats[:, 1].sum() == 0:
        raise ScoringError("grouping: no instance has a prediction to score")
    c = cov.result()
    out = {}
    for name, rows in (("miou", ok_rows), ("miou_with_failures", all_rows)):
        st = np.stack(rows)
        value = st[:, 0].sum() / st[:, 1].sum()
        ci = _ci_pooled(rows, _ratio_rows, bootstrap)
        out[name] = _metric(name, value, ci, len(rows), True, c)
    return out


def _ratio_rows(m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m[:, 1] > 0, m[:, 0] / np.where(m[:, 1] > 0, m[:, 1], 1), np.nan)


# ---------------------------------------------------------------------------
# Correlation and depth
# ---------------------------------------------------------------------------


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ: Pearson correlation of average ranks (ties share their mean rank).

    A constant input carries no ordering, so ρ is defined as 0 there (scipy
    would return NaN and poison the mean over images).

    >>> spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0, 30.0, 40.0]))
    1.0
    >>> spearman(np.array([1.0, 2.0, 2.0]), np.array([3.0, 2.0, 1.0]))
    -0.8660254037844387
    """
    a, b = np.ravel(a), np.ravel(b)
    if a.shape != b.shape:
        raise ScoringError(f"spearman: inputs have {a.size} and {b.size} values")
    if a.size < 2:
        raise ScoringError("spearman: needs at least two values")
    ra = rankdata(a) - (a.size + 1) / 2.0  # centred ranks
    rb = rankdata(b) - (b.size + 1) / 2.0
    den = np.sqrt(np.dot(ra, ra) * np.dot(rb, rb))
    return float(np.dot(ra, rb) / den) if den > 0 else 0.0


def align_scale_shift(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Closed-form least squares ``s, t = argmin Σ (s·p + t − g)²``.

    A negative scale is replaced by ``s = 0, t = mean(g)`` (the reference's
    rule); a constant prediction gets the same (its least-squares optimum).

    >>> align_scale_shift(np.array([1.0, 2.0, 3.0]), np.array([3.0, 5.0, 7.0]))
    (2.0, 1.0)
    >>> align_scale_shift(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    (0.0, 2.0)
    """
    p = np.ravel(pred).astype(np.float64)
    g = np.ravel(gt).astype(np.float64)
    if p.size == 0:
        raise ScoringError("depth alignment: no pixels")
    pm, gm = p.mean(), g.mean()
    dp = p - pm
    var = np.dot(dp, dp)
    s = np.dot(dp, g - gm) / var if var > 0 else 0.0
    if s <= 0:
        return 0.0, float(gm)
    return float(s), float(gm - s * pm)


def depth_pixel_stats(aligned: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-image sufficient statistics ``[n, δ1 count, δ2 count, δ3 count, Σ|p−g|/g]``.

    δk counts pixels with ``max(p/g, g/p) < 1.25**k`` exactly as written in the
    reference (so pixels where both ratios are negative count as inside).

    >>> depth_pixel_stats(np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 1.0])).tolist()
    [3.0, 1.0, 1.0, 1.0, 4.0]
    """
    p = np.ravel(aligned).astype(np.float64)
    g = np.ravel(gt).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(p / g, g / p)
        absrel = np.abs(p - g) / g
    counts = [np.count_nonzero(ratio < 1.25**k) for k in (1, 2, 3)]
    return np.array([p.size, *counts, absrel.sum()], dtype=np.float64)


def pairwise_depth_accuracy(
    answers: PairAnswers, depth: np.ndarray, valid: np.ndarray | None = None
) -> tuple[int, int]:
    """``(correct, counted)`` raw pairwise answers against per-region mean true depth.

    The right answer is ``"red"`` when region a's mean depth is strictly
    smaller, else ``"blue"`` (so a GT tie counts "red" as wrong, as in the
    reference). Failed answers and regions without valid pixels are not counted.

    >>> regions = np.array([[1, 1, 2, 2]])
    >>> pa = PairAnswers(regions, [(1, 2), (2, 1), (1, 2)], ["red", "red", None])
    >>> pairwise_depth_accuracy(pa, np.array([[1.0, 1.0, 5.0, 5.0]]))
    (1, 2)
    """
    regions = np.asarray(answers.regions)
    if regions.shape != depth.shape:
        raise ScoringError(f"pairwise accuracy: regions {regions.shape} vs depth {depth.shape}")
    if len(answers.pairs) != len(answers.answers):
        raise ScoringError("pairwise accuracy: pairs and answers differ in length")
    keep = np.ones(depth.shape, bool) if valid is None else valid
    lab = regions[keep].astype(np.int64)
    if lab.size and lab.min() < 0:
        raise ScoringError("pairwise accuracy: region ids must be non-negative")
    size = int(regions.max()) + 1 if regions.size else 0
    sums = np.bincount(lab, weights=depth[keep].astype(np.float64), minlength=size)
    counts = np.bincount(lab, minlength=size)
    correct = counted = 0
    for (a, b), ans in zip(answers.pairs, answers.answers, strict=True):
        if ans is None:
            continue
        if ans not in ("red", "blue"):
            raise ScoringError(f"pairwise accuracy: answer {ans!r} is neither 'red' nor 'blue'")
        if not (0 <= a < size and 0 <= b < size) or counts[a] == 0 or counts[b] == 0:
            continue
        right = "red" if sums[a] / counts[a] < sums[b] / counts[b] else "blue"
        correct += ans == right
        counted += 1
    return correct, counted


def _valid_mask(gt: np.ndarray, mode: MaskMode, item: str, task: str) -> np.ndarray:
    """Pixels to score: all (reference) or those with finite, non-zero truth."""
    finite = np.isfinite(gt) if gt.ndim == 2 else np.isfinite(gt).all(axis=-1)
    if mode == "all":
        if not finite.all():
            raise ScoringError(f"item {item}: {task} truth has NaN/inf pixels; use mask='valid'")
        return np.ones(finite.shape, bool)
    if mode != "valid":
        raise ScoringError(f"mask must be 'valid' or 'all', got {mode!r}")
    nonzero = gt != 0 if gt.ndim == 2 else np.any(gt != 0, axis=-1)
    return finite & nonzero


def _check_pred(pred: Any, truth: np.ndarray, item: str, task: str) -> np.ndarray:
    arr = np.asarray(pred, dtype=np.float64)
    if arr.shape != truth.shape:
        raise ScoringError(f"item {item}: {task} prediction {arr.shape} vs truth {truth.shape}")
    if not np.isfinite(arr).all():
        raise ScoringError(f"item {item}: {task} prediction has NaN/inf values")
    return arr


def _depth_rows(m: np.ndarray, k: int) -> np.ndarray:
    return m[:, k] / m[:, 0]


def score_depth(
    samples: Iterable[Sample[np.ndarray, np.ndarray]],
    *,
    mask: MaskMode = "valid",
    bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP,
) -> dict[str, MetricValue]:
    """δ1–δ3 and AbsRel (pooled over pixels), Spearman ρ and pairwise accuracy (per image).

    Each prediction is a depth map (larger = farther). It is aligned to the
    truth per image by least-squares scale and shift; ρ uses the raw
    prediction (ranks ignore positive affine maps). ``mask="all"`` is the
    reference mode (every pixel); ``"valid"`` drops truth that is 0 or NaN.
    """
    cov = _CoverageCounter()
    rows: list[np.ndarray] = []
    rhos: list[float] = []
    accs: list[float] = []
    for s in samples:
        if not cov.see(s):
            continue
        gt = np.asarray(s.truth, dtype=np.float64)
        pred = _check_pred(s.pred, gt, s.item_id, "depth")
        keep = _valid_mask(gt, mask, s.item_id, "depth")
        if keep.sum() < 2:
            raise ScoringError(f"item {s.item_id}: fewer than two valid depth pixels")
        p, g = pred[keep], gt[keep]
        sc, sh = align_scale_shift(p, g)
        rows.append(depth_pixel_stats(sc * p + sh, g))
        rhos.append(spearman(p, g))
        if s.answers is not None:
            correct, counted = pairwise_depth_accuracy(s.answers, gt, keep)
            if counted:
                accs.append(correct / counted)
    _require_items(len(rows), "depth")
    c = cov.result()
    out: dict[str, MetricValue] = {}
    tot = np.sum(rows, axis=0)
    for k, name in ((1, "delta1"), (2, "delta2"), (3, "delta3"), (4, "absrel")):
        ci = _ci_pooled(rows, lambda m, k=k: _depth_rows(m, k), bootstrap)
        out[name] = _metric(name, tot[k] / tot[0], ci, len(rows), name != "absrel", c)
    out["spearman"] = _metric(
        "spearman", np.mean(rhos), _ci_mean(rhos, bootstrap), len(rhos), True, c
    )
    if accs:
        out["pairwise_acc"] = _metric(
            "pairwise_acc", np.mean(accs), _ci_mean(accs, bootstrap), len(accs), True, c
        )
    return out


# ---------------------------------------------------------------------------
# Surface normals
# ---------------------------------------------------------------------------


def angular_error_deg(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Angle in degrees between ``… × 3`` vectors (need not be unit length).

    Uses ``atan2(|p × g|, p · g)``, accurate near 0° unlike ``arccos``. A zero
    predicted vector has no direction and counts as 90°.

    >>> angular_error_deg(np.array([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 0]]),
    ...                   np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1.0]])).tolist()
    [0.0, 90.0, 90.0]
    """
    cross = np.linalg.norm(np.cross(pred, gt), axis=-1)
    dot = np.sum(pred * gt, axis=-1)
    ang = np.degrees(np.arctan2(cross, dot))
    return np.where(np.any(pred != 0, axis=-1), ang, 90.0)


def angle_stats(angles: np.ndarray) -> np.ndarray:
    """Per-image sufficient statistics of angular errors.

    ``[n, Σ angle, #<11.25°, #<22.5°, #<30°, histogram of ANGLE_BIN_DEG bins …]``;
    the histogram gives the pooled median to within half a bin.

    >>> angle_stats(np.array([5.0, 20.0, 40.0]))[:5].tolist()
    [3.0, 65.0, 1.0, 2.0, 2.0]
    """
    a = np.ravel(angles).astype(np.float64)
    within = [np.count_nonzero(a < t) for t in _ANGLE_THRESHOLDS]
    hist = np.bincount(
        np.minimum((a / ANGLE_BIN_DEG).astype(np.int64), _ANGLE_BINS - 1), minlength=_ANGLE_BINS
    )
    return np.concatenate([[a.size, a.sum(), *within], hist]).astype(np.float64)


def _median_rows(m: np.ndarray) -> np.ndarray:
    """Median angle per row of pooled stats, to within half a histogram bin.

    The median is the mean of the order statistics at 0-based ranks
    ``floor((n-1)/2)`` and ``ceil((n-1)/2)`` (as ``numpy.median``); each is
    located in its histogram bin and taken at the bin centre.
    """
    hist = m[:, 5:]
    cum = np.cumsum(hist, axis=1)
    n = m[:, 0]
    ranks = [np.floor((n - 1) / 2), np.ceil((n - 1) / 2)]
    centres = [((cum <= r[:, None]).sum(axis=1) + 0.5) * ANGLE_BIN_DEG for r in ranks]
    return np.where(n > 0, (centres[0] + centres[1]) / 2, np.nan)


def score_normals(
    samples: Iterable[Sample[np.ndarray, np.ndarray]],
    *,
    mask: MaskMode = "valid",
    bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP,
) -> dict[str, MetricValue]:
    """Per-axis global Spearman ρ (paper) and pooled angular errors (our addition).

    Prediction and truth are ``H × W × 3`` in the camera frame (+x right, +y
    up, +z towards the camera), so no axis is flipped. ρ per axis is computed
    over the pixels of one image and averaged over images; ``spearman_mean``
    is the mean of the three axes. Angular metrics pool all valid pixels.
    """
    cov = _CoverageCounter()
    rhos: list[list[float]] = []
    rows: list[np.ndarray] = []
    for s in samples:
        if not cov.see(s):
            continue
        gt = np.asarray(s.truth, dtype=np.float64)
        if gt.ndim != 3 or gt.shape[-1] != 3:
            raise ScoringError(f"item {s.item_id}: normal truth must be H×W×3, got {gt.shape}")
        pred = _check_pred(s.pred, gt, s.item_id, "normals")
        keep = _valid_mask(gt, mask, s.item_id, "normals")
        if keep.sum() < 2:
            raise ScoringError(f"item {s.item_id}: fewer than two valid normal pixels")
        p, g = pred[keep], gt[keep]
        rhos.append([spearman(p[:, a], g[:, a]) for a in range(3)])
        rows.append(angle_stats(angular_error_deg(p, g)))
    _require_items(len(rows), "normals")
    c = cov.result()
    out: dict[str, MetricValue] = {}
    per_axis = np.asarray(rhos)
    cols = [
        ("spearman_x", per_axis[:, 0]),
        ("spearman_y", per_axis[:, 1]),
        ("spearman_z", per_axis[:, 2]),
        ("spearman_mean", per_axis.mean(axis=1)),
    ]
    for name, vals in cols:
        out[name] = _metric(name, vals.mean(), _ci_mean(list(vals), bootstrap), len(vals), True, c)
    tot = np.sum(rows, axis=0)[None]
    angular: list[tuple[str, Callable[[np.ndarray], np.ndarray], bool]] = [
        ("angle_mean", lambda m: m[:, 1] / m[:, 0], False),
        ("angle_median", _median_rows, False),
        ("within_11.25", lambda m: m[:, 2] / m[:, 0], True),
        ("within_22.5", lambda m: m[:, 3] / m[:, 0], True),
        ("within_30", lambda m: m[:, 4] / m[:, 0], True),
    ]
    for name, fn, higher in angular:
        out[name] = _metric(name, fn(tot)[0], _ci_pooled(rows, fn, bootstrap), len(rows), higher, c)
    return out
