"""Detection metrics: COCO AP via pycocotools, single-instance (paper) and multi-instance.

Part of :mod:`chainlang.scoring.metrics`, which re-exports every public name.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainlang.errors import ScoringError
from chainlang.scoring.common import (
    _NO_CI,
    COCO_IOU_THRESHOLDS,
    BoxLike,
    MetricValue,
    Sample,
    _CoverageCounter,
    _metric,
    _require_items,
)

# ---------------------------------------------------------------------------
# Detection (pycocotools, in memory)
# ---------------------------------------------------------------------------


def first_box_per_label(boxes: Sequence[BoxLike]) -> list[BoxLike]:
    """Keep only the first box of each label, as the paper's single-instance eval.

    >>> from chainlang.scoring.common import ScoredBox
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
    anns: list[dict[str, Any]] = []
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

    >>> from chainlang.scoring.common import ScoredBox
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
            preds.append(s.pred)  # type: ignore[arg-type]  # see() is True only with a pred
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
