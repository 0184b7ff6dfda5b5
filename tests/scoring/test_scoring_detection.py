"""Detection AP cross-checked against pycocotools runs from files (the reference procedure)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from chainlang.errors import ScoringError
from chainlang.scoring.metrics import Sample, ScoredBox, detection_ap, score_detection

LABELS = ["cat", "dog", "car", "bus", "cup"]


def _random_dataset(
    rng: np.random.Generator, n: int, multi: bool
) -> tuple[list[list[ScoredBox]], list[list[ScoredBox]]]:
    truths, preds = [], []
    for _ in range(n):
        t, p = [], []
        for lab in rng.choice(LABELS, size=rng.integers(1, 4), replace=False):
            for _ in range(rng.integers(1, 3) if multi else 1):
                x0, y0 = rng.uniform(0, 80, 2)
                w, h = rng.uniform(5, 40, 2)
                t.append(ScoredBox(str(lab), x0, y0, x0 + w, y0 + h))
                if rng.random() < 0.85:  # sometimes missed
                    j = rng.normal(0, 0.15 * min(w, h), 4)
                    score = float(rng.random()) if multi else 1.0
                    p.append(
                        ScoredBox(
                            str(lab), x0 + j[0], y0 + j[1], x0 + w + j[2], y0 + h + j[3], score
                        )
                    )
        if rng.random() < 0.3:  # a false positive, sometimes of a class absent from the GT
            p.append(ScoredBox(str(rng.choice([*LABELS, "zebra"])), 1, 1, 30, 30, 0.5))
        truths.append(t)
        preds.append(p)
    return preds, truths


def _write_files(
    tmp: Path, preds: list[list[ScoredBox]], truths: list[list[ScoredBox]]
) -> tuple[COCO, COCO]:
    """Write COCO json files the way the reference does, then load them with pycocotools."""
    cats = {lab: i + 1 for i, lab in enumerate(sorted({b.label for t in truths for b in t}))}
    anns = [
        {
            "id": k,
            "image_id": img,
            "category_id": cats[b.label],
            "iscrowd": 0,
            "bbox": [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0],
            "area": (b.x1 - b.x0) * (b.y1 - b.y0),
        }
        for k, (img, b) in enumerate(((i + 1, b) for i, t in enumerate(truths) for b in t), start=1)
    ]
    gt_file = tmp / "gt.json"
    gt_file.write_text(
        json.dumps(
            {
                "images": [{"id": i + 1} for i in range(len(truths))],
                "annotations": anns,
                "categories": [{"id": v, "name": k} for k, v in cats.items()],
            }
        )
    )
    dets = [
        {
            "image_id": i + 1,
            "category_id": cats[b.label],
            "score": b.score,
            "bbox": [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0],
        }
        for i, p in enumerate(preds)
        for b in p
        if b.label in cats
    ]
    dt_file = tmp / "dt.json"
    dt_file.write_text(json.dumps(dets))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        dt = gt.loadRes(str(dt_file))
    return gt, dt


def _stats0(gt: COCO, dt: COCO, thr: float | None) -> float:
    ev = COCOeval(gt, dt, "bbox")
    if thr is not None:
        ev.params.iouThrs = np.array([thr])
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def test_single_instance_ap_matches_reference_procedure(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    preds, truths = _random_dataset(rng, 40, multi=False)
    ours = detection_ap(preds, truths)
    gt, dt = _write_files(tmp_path, preds, truths)
    thresholds = np.linspace(0.5, 0.95, 10)
    per_thr = [_stats0(gt, dt, float(t)) for t in thresholds]  # one COCOeval per threshold
    assert ours["ap"] == pytest.approx(np.mean(per_thr), abs=1e-9)
    assert ours["ap50"] == pytest.approx(per_thr[0], abs=1e-9)
    assert ours["ap75"] == pytest.approx(per_thr[5], abs=1e-9)
    assert ours["ap10"] == pytest.approx(_stats0(gt, dt, 0.1), abs=1e-9)
    # ... and the mean over thresholds equals a standard COCOeval run's stats[0].
    assert ours["ap"] == pytest.approx(_stats0(gt, dt, None), abs=1e-9)
    assert 0.0 < ours["ap"] < ours["ap50"] <= ours["ap10"] <= 1.0


def test_multi_instance_ap_matches_standard_cocoeval(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    preds, truths = _random_dataset(rng, 40, multi=True)
    ours = detection_ap(preds, truths, single_instance=False)
    gt, dt = _write_files(tmp_path, preds, truths)
    ev = COCOeval(gt, dt, "bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert [ours["ap"], ours["ap50"], ours["ap75"]] == pytest.approx(list(ev.stats[:3]), abs=1e-9)


def test_single_instance_keeps_first_box_per_label() -> None:
    truth = [[ScoredBox("cat", 0, 0, 10, 10), ScoredBox("cat", 50, 50, 60, 60)]]
    # A perfect second-cat prediction is ignored in single-instance mode.
    pred = [[ScoredBox("cat", 50, 50, 60, 60), ScoredBox("cat", 0, 0, 10, 10)]]
    assert detection_ap(pred, truth)["ap50"] == 0.0
    assert detection_ap(pred, truth, single_instance=False)["ap50"] == pytest.approx(1.0)


def test_detection_failures_empty_predictions_and_bad_input(tmp_path: Path) -> None:
    box = ScoredBox("cat", 0, 0, 10, 10)
    samples = [Sample("a", [box], [box]), Sample("b", None, [box])]
    out = score_detection(samples)
    assert out["ap"].value == pytest.approx(1.0)
    # recall 0.5 at precision 1: COCO's 101-point interpolation gives 51/101
    assert out["ap50_with_failures"].value == pytest.approx(51 / 101)
    assert out["ap_multi"].value == pytest.approx(1.0)
    assert out["ap"].coverage.items_failed == 1
    assert detection_ap([[]], [[box]]) == {"ap": 0.0, "ap50": 0.0, "ap75": 0.0, "ap10": 0.0}
    with pytest.raises(ScoringError, match="no boxes"):
        detection_ap([[box]], [[]])
    with pytest.raises(ScoringError, match="malformed box"):
        detection_ap([[ScoredBox("cat", 5, 0, 1, 10)]], [[box]])
    assert not list(Path.cwd().glob("dataset_*.json"))  # nothing written to the CWD
