"""Simulation checks that the paired statistics mean what they say.

Each test simulates many sweeps with a fixed seed and checks a rate against a
binomial band (0.1% in each tail) around its nominal value, so a wrong formula
fails while seed luck does not.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from chainlang.experiments.power import mde_mcnemar, mde_paired
from chainlang.experiments.stats import PerImage, compare, mcnemar

Band = Callable[[int, float], tuple[float, float]]
SIMS = 400
IDS = tuple(f"img{k:03d}" for k in range(200))


def _cells(a: np.ndarray, b: np.ndarray) -> tuple[PerImage, PerImage]:
    ids = IDS[: len(a)]
    return PerImage(ids, a), PerImage(ids, b)


def _simulate_means(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    """SIMS paired (a, b) tables: a shared image effect plus each cell's own noise."""
    image = rng.normal(0, 1, size=(SIMS, n))
    a = image + rng.normal(0, 0.5, size=(SIMS, n))
    b = image + shift + rng.normal(0, 0.5, size=(SIMS, n))
    return np.stack([a, b], axis=1)


def _iou(sums: np.ndarray) -> np.ndarray:
    return sums[..., 0] / sums[..., 1]


def test_permutation_test_rejects_at_nominal_rate_under_null(
    rng: np.random.Generator, binomial_band: Band
) -> None:
    tables = _simulate_means(rng, 40, 0.0)
    p = [compare(*_cells(a, b), n_boot=20, n_perm=400, rng=rng).p_value for a, b in tables]
    rate = float(np.mean(np.array(p) < 0.05))
    low, high = binomial_band(SIMS, 0.05)
    assert low <= rate <= high


def test_pooled_metric_test_is_calibrated_under_null(
    rng: np.random.Generator, binomial_band: Band
) -> None:
    # Pooled IoU: both cells draw intersections from the same per-image rate.
    n = 30
    union = rng.integers(20, 400, size=(SIMS, n)).astype(float)
    rate_img = rng.beta(4, 3, size=(SIMS, n))
    inter = rng.binomial(union.astype(int)[:, None], rate_img[:, None], size=(SIMS, 2, n))
    rejections = 0
    for s in range(SIMS):
        a = PerImage(IDS[:n], np.stack([inter[s, 0], union[s]], 1), _iou, batched=True)
        b = PerImage(IDS[:n], np.stack([inter[s, 1], union[s]], 1), _iou, batched=True)
        rejections += compare(a, b, n_boot=20, n_perm=400, rng=rng).p_value < 0.05
    low, high = binomial_band(SIMS, 0.05)
    assert low <= rejections / SIMS <= high


def test_permutation_test_detects_a_real_difference(rng: np.random.Generator) -> None:
    tables = _simulate_means(rng, 40, 0.5)
    p = [compare(*_cells(a, b), n_boot=20, n_perm=400, rng=rng).p_value for a, b in tables]
    assert np.mean(np.array(p) < 0.05) > 0.95


def test_bootstrap_interval_covers_true_difference(
    rng: np.random.Generator, binomial_band: Band
) -> None:
    shift = 0.3
    tables = _simulate_means(rng, 100, shift)
    covered = 0
    for a, b in tables:
        c = compare(*_cells(a, b), n_boot=1000, n_perm=1, rng=rng)
        covered += c.ci_low <= shift <= c.ci_high
    low, high = binomial_band(SIMS, 0.95)
    # The percentile bootstrap runs slightly short of nominal at n = 100.
    assert low - 0.01 <= covered / SIMS <= high


def test_mcnemar_rejects_at_most_nominal_rate_under_null(
    rng: np.random.Generator, binomial_band: Band
) -> None:
    n = 200
    accuracy = rng.uniform(0.3, 0.9, size=(SIMS, n))  # per-image difficulty, shared
    right = rng.uniform(size=(SIMS, 2, n)) < accuracy[:, None]
    rate = np.mean([mcnemar(r[0], r[1]).p_value < 0.05 for r in right])
    low, high = binomial_band(SIMS, 0.05)
    # McNemar with continuity correction is conservative: below 0.05 is fine, far below is not.
    assert 0.01 <= rate <= high
    assert rate >= low / 2


def test_power_at_paired_mde_is_nominal(rng: np.random.Generator, binomial_band: Band) -> None:
    n, sd = 60, 1.0
    effect = mde_paired(n, sd, alpha=0.05, power=0.8)
    a = rng.normal(0, 1, size=(SIMS, n))
    b = a + rng.normal(effect, sd, size=(SIMS, n))
    p = [
        compare(*_cells(x, y), n_boot=1, n_perm=400, rng=rng).p_value
        for x, y in zip(a, b, strict=True)
    ]
    low, high = binomial_band(SIMS, 0.8)
    assert low <= np.mean(np.array(p) < 0.05) <= high


def test_power_at_mcnemar_mde_is_nominal(rng: np.random.Generator, binomial_band: Band) -> None:
    n, psi = 300, 0.2
    delta = mde_mcnemar(n, discordance=psi, alpha=0.05, power=0.8)
    # Per image: only B right w.p. (ψ+δ)/2, only A right w.p. (ψ−δ)/2, else both agree.
    u = rng.uniform(size=(SIMS, n))
    only_b = u < (psi + delta) / 2
    only_a = (u >= (psi + delta) / 2) & (u < psi)
    both = rng.uniform(size=(SIMS, n)) < 0.5  # concordant pairs: both right or both wrong
    right_a = only_a | (~only_b & ~only_a & both)
    right_b = only_b | (~only_b & ~only_a & both)
    rate = np.mean([mcnemar(x, y).p_value < 0.05 for x, y in zip(right_a, right_b, strict=True)])
    low, high = binomial_band(SIMS, 0.8)
    # The continuity correction costs a little power against Connor's approximation.
    assert low - 0.03 <= rate <= high


@pytest.mark.parametrize("n", [5, 9])
def test_exact_permutation_is_valid_for_tiny_sweeps(
    n: int, rng: np.random.Generator, binomial_band: Band
) -> None:
    tables = _simulate_means(rng, n, 0.0)
    p = np.array([compare(*_cells(a, b), n_boot=1, rng=rng).p_value for a, b in tables])
    # Discrete exact p-values: never reject more often than α (up to noise).
    assert np.mean(p < 0.05) <= binomial_band(SIMS, 0.05)[1]
