"""Bootstrap intervals: reproducible, correct pooled resampling, roughly nominal coverage."""

from __future__ import annotations

import numpy as np
import pytest

from chainlang.errors import ScoringError
from chainlang.scoring.bootstrap import (
    BootstrapSpec,
    bootstrap_mean,
    bootstrap_pooled,
    resample_counts,
)


def test_same_seed_same_interval_and_level_widens(rng: np.random.Generator) -> None:
    x = rng.normal(size=30)
    spec = BootstrapSpec(400, seed=3)
    assert bootstrap_mean(x, spec) == bootstrap_mean(x, spec)
    lo90, hi90 = bootstrap_mean(x, BootstrapSpec(400, level=0.9, seed=3))
    lo99, hi99 = bootstrap_mean(x, BootstrapSpec(400, level=0.99, seed=3))
    assert lo99 < lo90 < x.mean() < hi90 < hi99


def test_pooled_resampling_equals_explicit_resamples(rng: np.random.Generator) -> None:
    stats = rng.integers(0, 50, (12, 2)).astype(float) + np.array([0.0, 50.0])
    spec = BootstrapSpec(300, seed=9)
    counts = resample_counts(12, 300, spec.rng())
    explicit = []
    for row in counts:
        idx = np.repeat(np.arange(12), row)  # the images drawn in this resample
        pooled = stats[idx].sum(axis=0)
        explicit.append(pooled[0] / pooled[1])
    expected = np.quantile(explicit, [0.025, 0.975])
    got = bootstrap_pooled(stats, lambda m: m[:, 0] / m[:, 1], spec)
    assert got == pytest.approx(tuple(expected), abs=1e-12)


def test_mean_interval_covers_truth_at_nominal_rate() -> None:
    sim = np.random.default_rng(123)
    hits = 0
    reps = 300
    for r in range(reps):
        x = sim.exponential(1.0, 60)  # skewed on purpose; true mean 1
        lo, hi = bootstrap_mean(x, BootstrapSpec(400, seed=r))
        hits += lo <= 1.0 <= hi
    assert 0.88 <= hits / reps <= 0.98


def test_pooled_ratio_interval_covers_truth() -> None:
    sim = np.random.default_rng(7)
    hits = 0
    reps = 200
    for r in range(reps):
        n_pix = sim.integers(50, 200, 40).astype(float)
        p_img = np.clip(sim.normal(0.6, 0.1, 40), 0, 1)  # per-image rates around 0.6
        good = sim.binomial(n_pix.astype(int), p_img).astype(float)
        stats = np.stack([good, n_pix], axis=1)
        lo, hi = bootstrap_pooled(stats, lambda m: m[:, 0] / m[:, 1], BootstrapSpec(400, seed=r))
        hits += lo <= 0.6 <= hi
    assert 0.88 <= hits / reps <= 0.99


def test_bad_specs_and_degenerate_input() -> None:
    with pytest.raises(ScoringError, match="level"):
        BootstrapSpec(level=1.5)
    with pytest.raises(ScoringError, match="n_resamples"):
        BootstrapSpec(n_resamples=-1)
    with pytest.raises(ScoringError, match="empty"):
        resample_counts(0, 10, np.random.default_rng(0))
    with pytest.raises(ScoringError, match="NaN"):
        bootstrap_mean(np.array([1.0, np.nan]), BootstrapSpec())
    assert np.isnan(bootstrap_mean(np.array([1.0]), BootstrapSpec())).all()
    assert np.isnan(bootstrap_mean(np.array([1.0, 2.0]), BootstrapSpec(0))).all()
