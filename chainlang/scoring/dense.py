"""Dense metrics: Spearman, depth alignment, δ and AbsRel, pairwise accuracy, normals and angles.

Part of :mod:`chainlang.scoring.metrics`, which re-exports every public name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from scipy.stats import rankdata

from chainlang.errors import ScoringError
from chainlang.scoring.bootstrap import BootstrapSpec
from chainlang.scoring.common import (
    _ANGLE_BINS,
    _ANGLE_THRESHOLDS,
    ANGLE_BIN_DEG,
    DEFAULT_BOOTSTRAP,
    MaskMode,
    MetricValue,
    NormalsRho,
    PairAnswers,
    Sample,
    _ci_mean,
    _ci_pooled,
    _CoverageCounter,
    _metric,
    _pooled_cell,
    _require_items,
)

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
    rule). A constant prediction also gets ``s = 0, t = mean(g)``, its
    least-squares optimum; the reference gives it ``(0, 0)`` instead (its 2×2
    system has determinant 0 and it leaves both unknowns at zero), which makes
    every aligned pixel 0: δ = 0 and AbsRel = 1 for that image. See docs/fidelity.md.

    >>> align_scale_shift(np.array([5.0, 5.0, 5.0]), np.array([1.0, 2.0, 6.0]))
    (0.0, 3.0)

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
    The pooled metrics carry each image's :func:`depth_pixel_stats` row
    (``MetricValue.pooled``) so that cells can be compared image by image.
    """
    cov = _CoverageCounter()
    ids: list[str] = []
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
        ids.append(s.item_id)
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
        fn = functools.partial(_depth_rows, k=k)
        ci = _ci_pooled(rows, fn, bootstrap)
        cell = _pooled_cell(ids, rows, fn)
        out[name] = _metric(name, tot[k] / tot[0], ci, len(rows), name != "absrel", c, (), cell)
    out["spearman"] = _metric(
        "spearman", float(np.mean(rhos)), _ci_mean(rhos, bootstrap), len(rhos), True, c, rhos
    )
    if accs:
        out["pairwise_acc"] = _metric(
            "pairwise_acc", float(np.mean(accs)), _ci_mean(accs, bootstrap), len(accs), True, c
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


def reference_levels(axis: np.ndarray) -> np.ndarray:
    """One axis of a normal prediction as the reference ranks it: min–max scaled to
    0..255 and truncated to integers (scores closer than one level tie).

    >>> reference_levels(np.array([0.0, 0.001, 0.5, 1.0])).tolist()
    [0, 0, 127, 255]
    """
    a = np.asarray(axis, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:  # a constant axis: the reference divides by zero; one level here
        return np.zeros(a.shape, dtype=np.int64)
    return ((a - lo) / (hi - lo) * 255).astype(np.int64)


def score_normals(
    samples: Iterable[Sample[np.ndarray, np.ndarray]],
    *,
    mask: MaskMode = "valid",
    bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP,
    rho: NormalsRho = "scores",
) -> dict[str, MetricValue]:
    """Per-axis global Spearman ρ (paper) and pooled angular errors (our addition).

    Prediction and truth are ``H × W × 3`` in the camera frame (+x right, +y
    up, +z towards the camera), so no axis is flipped. ρ per axis is computed
    over the pixels of one image and averaged over images; ``spearman_mean``
    is the mean of the three axes. Angular metrics pool all valid pixels.
    ``rho="reference"`` ranks each axis's 0..255 integer levels over the whole
    image (:func:`reference_levels`), as the reference does before its ρ; the
    default ranks the scores themselves.
    """
    if rho not in ("scores", "reference"):
        raise ScoringError(f"normals rho must be 'scores' or 'reference', got {rho!r}")
    cov = _CoverageCounter()
    ids: list[str] = []
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
        ranked = p
        if rho == "reference":  # levels of the whole image, as drawn, then the valid pixels
            ranked = np.stack([reference_levels(pred[..., a]) for a in range(3)], -1)[keep]
        rhos.append([spearman(ranked[:, a], g[:, a]) for a in range(3)])
        ids.append(s.item_id)
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
        ci = _ci_mean(list(vals), bootstrap)
        out[name] = _metric(name, vals.mean(), ci, len(vals), True, c, list(vals))
    tot = np.sum(rows, axis=0)[None]
    angular: list[tuple[str, Callable[[np.ndarray], np.ndarray], bool]] = [
        ("angle_mean", functools.partial(_angle_rows, k=1), False),
        ("angle_median", _median_rows, False),
        ("within_11.25", functools.partial(_angle_rows, k=2), True),
        ("within_22.5", functools.partial(_angle_rows, k=3), True),
        ("within_30", functools.partial(_angle_rows, k=4), True),
    ]
    # The paired comparisons keep the first five columns (count, angle sum, the three
    # threshold counts) of each image. The median needs the whole 3600-bin histogram,
    # about 29 kB an image for every cell of a sweep, so it is reported but not paired.
    head = np.asarray(rows)[:, :_ANGLE_HEAD]
    for name, fn, higher in angular:
        ci = _ci_pooled(rows, fn, bootstrap)
        cell = None if fn is _median_rows else _pooled_cell(ids, head, fn)
        out[name] = _metric(name, fn(tot)[0], ci, len(rows), higher, c, (), cell)
    return out


#: Leading columns of :func:`angle_stats` that the mean and the within-x shares read.
_ANGLE_HEAD = 2 + len(_ANGLE_THRESHOLDS)


def _angle_rows(m: np.ndarray, k: int) -> np.ndarray:
    """Column ``k`` of pooled angle statistics over the pixel count, per row."""
    return m[:, k] / m[:, 0]
