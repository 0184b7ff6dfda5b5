"""Paired comparisons of pooled metrics (δ1, AbsRel, angular errors): issue 14.

A pooled metric is a function of per-image sufficient statistics summed over
images, so its paired bootstrap resamples images and recomputes each cell's
value from the summed rows of the drawn images. The checks below redo that
computation by hand, one resample at a time, from the same random draws.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from chainlang.experiments.analysis import CellComparison
from chainlang.experiments.stats import Comparison, PerImage, compare, paired_bootstrap
from chainlang.scoring import metrics


def _ratio(m: np.ndarray) -> np.ndarray:
    """hits / total per row of summed (hits, total) statistics."""
    return m[:, 0] / m[:, 1]


def _cells(
    seed: int, n: int = 12
) -> tuple[PerImage, PerImage, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Two cells of (hits, total) rows on the same images; B lists them in reverse order."""
    gen = np.random.default_rng(seed)
    ids = [f"img{i:02d}" for i in range(n)]
    total = gen.integers(50, 400, size=n).astype(float)
    rows_a = np.stack([np.floor(total * gen.uniform(0.3, 0.9, n)), total], axis=1)
    rows_b = np.stack([np.floor(total * gen.uniform(0.3, 0.9, n)), total], axis=1)
    a = PerImage(tuple(ids), rows_a, _ratio, batched=True)
    b = PerImage(tuple(reversed(ids)), rows_b[::-1], _ratio, batched=True)
    by_id_a = dict(zip(ids, rows_a, strict=True))
    by_id_b = dict(zip(ids, rows_b, strict=True))
    return a, b, by_id_a, by_id_b


def test_pooled_paired_bootstrap_matches_a_plain_loop() -> None:
    a, b, rows_a, rows_b = _cells(seed=4)
    n_boot, level, seed = 400, 0.9, 11
    diff, low, high = paired_bootstrap(
        a, b, n_boot=n_boot, level=level, rng=np.random.default_rng(seed)
    )

    # By hand: the same draws (one block of indices into the sorted common ids),
    # then for each resample both cells' hits and totals summed over the drawn images.
    ids = sorted(rows_a)
    picks = np.random.default_rng(seed).integers(0, len(ids), size=(n_boot, len(ids)))
    diffs = []
    for row in picks:
        hits_a = total_a = hits_b = total_b = 0.0
        for k in row:
            hits_a += rows_a[ids[k]][0]
            total_a += rows_a[ids[k]][1]
            hits_b += rows_b[ids[k]][0]
            total_b += rows_b[ids[k]][1]
        diffs.append(hits_b / total_b - hits_a / total_a)
    want_low, want_high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    pooled_a = sum(r[0] for r in rows_a.values()) / sum(r[1] for r in rows_a.values())
    pooled_b = sum(r[0] for r in rows_b.values()) / sum(r[1] for r in rows_b.values())

    assert diff == pytest.approx(pooled_b - pooled_a, abs=1e-12)
    assert (low, high) == pytest.approx((want_low, want_high), abs=1e-12)
    # A ratio of sums, not a mean of per-image ratios: the two differ here.
    per_image_mean = np.mean([r[0] / r[1] for r in rows_b.values()]) - np.mean(
        [r[0] / r[1] for r in rows_a.values()]
    )
    assert abs(diff - per_image_mean) > 1e-4


def test_pooled_permutation_p_matches_every_swap_by_hand() -> None:
    a, b, rows_a, rows_b = _cells(seed=9, n=8)
    result = compare(a, b, rng=np.random.default_rng(0))
    ids = sorted(rows_a)
    sa = np.array([rows_a[i] for i in ids])
    sb = np.array([rows_b[i] for i in ids])
    observed = abs(sb[:, 0].sum() / sb[:, 1].sum() - sa[:, 0].sum() / sa[:, 1].sum())
    hits = 0
    for swap in itertools.product([False, True], repeat=len(ids)):
        flip = np.array(swap)[:, None]
        xa, xb = np.where(flip, sb, sa), np.where(flip, sa, sb)
        d = xb[:, 0].sum() / xb[:, 1].sum() - xa[:, 0].sum() / xa[:, 1].sum()
        hits += abs(d) >= observed - 1e-9
    assert result.test_name == "paired permutation (exact)"
    assert result.p_value == pytest.approx(hits / 2 ** len(ids))
    assert result.n_images == len(ids) and result.n_dropped == 0


def test_identical_pooled_cells_differ_by_exactly_zero() -> None:
    a, _, _, _ = _cells(seed=2)
    same = PerImage(a.ids, a.stats.copy(), _ratio, batched=True)
    result = compare(a, same, rng=np.random.default_rng(5))
    assert result.diff == 0.0
    assert result.ci_low == 0.0 and result.ci_high == 0.0
    assert result.p_value == 1.0
    assert paired_bootstrap(a, same, n_boot=300, rng=np.random.default_rng(1)) == (0.0, 0.0, 0.0)


def test_depth_and_normals_scores_carry_their_pooled_rows() -> None:
    gen = np.random.default_rng(3)
    depth, normals = [], []
    for i in range(5):
        gt = gen.uniform(1.0, 10.0, size=(12, 16))
        depth.append(metrics.Sample(f"d{i}", gt + gen.normal(0, 1.5, gt.shape), gt))
        n_gt = gen.normal(size=(12, 16, 3))
        normals.append(metrics.Sample(f"n{i}", n_gt + gen.normal(0, 0.8, n_gt.shape), n_gt))
    depth.append(metrics.Sample("failed", None, gt))  # a failed item has no row
    d = metrics.score_depth(depth, bootstrap=None)
    for name in ("delta1", "delta2", "delta3", "absrel"):
        cell = d[name].pooled
        assert cell is not None and cell.ids == ("d0", "d1", "d2", "d3", "d4")
        assert cell.value() == pytest.approx(d[name].value, rel=1e-12)
    assert d["spearman"].pooled is None  # a mean: paired through its per-image values
    nm = metrics.score_normals(normals, bootstrap=None)
    for name in ("angle_mean", "within_11.25", "within_22.5", "within_30"):
        cell = nm[name].pooled
        assert cell is not None and cell.stats.shape == (5, 5)
        assert cell.value() == pytest.approx(nm[name].value, rel=1e-12)
    # The median needs each image's whole histogram: reported, not paired.
    assert nm["angle_median"].pooled is None


def test_non_inferiority_reads_the_end_of_the_interval_the_direction_picks() -> None:
    result = Comparison(0.004, -0.002, 0.012, 0.3, "t", 10, 0, 0.95, 0.1, 0.104)
    # Higher is better (δ1): B may be at most 0.01 lower; lower is better (AbsRel): higher.
    assert CellComparison("a", "b", "delta1", result).non_inferior(0.01)
    assert not CellComparison("a", "b", "absrel", result, higher_is_better=False).non_inferior(0.01)
    assert CellComparison("a", "b", "absrel", result, higher_is_better=False).non_inferior(0.02)
