"""Semantic segmentation (dataset-level mIoU, pixel accuracy) and grouping (mean instance IoU).

Part of :mod:`chainlang.scoring.metrics`, which re-exports every public name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainlang.errors import ScoringError
from chainlang.scoring.bootstrap import BootstrapSpec
from chainlang.scoring.common import (
    COCO_SEMANTIC_CLASSES,
    DEFAULT_BOOTSTRAP,
    IGNORE_INDEX,
    MetricValue,
    Sample,
    _ci_pooled,
    _CoverageCounter,
    _metric,
    _require_items,
)

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
                every.add_stats(ok.add(s.pred, s.truth))  # type: ignore[arg-type]  # see(): a pred
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
            ci = _ci_pooled(stats, fn, bootstrap)
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
        preds = list(s.pred)  # type: ignore[arg-type]  # see() is True only with a pred
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
