"""Percentile bootstrap confidence intervals, resampling whole images.

Every metric in :mod:`chainlang.scoring.metrics` is either a mean of per-image
values (classification accuracy, Spearman ρ, pairwise accuracy) or a function
of sums of per-image *sufficient statistics* (mIoU from per-class intersect and
union counts, δ1 from per-image pixel counts, grouping mIoU from per-image IoU
sums and instance counts). Both cases are served by one routine: draw ``B``
resamples of the images as multinomial *counts* (a ``B × n`` matrix), so each
resample's pooled statistics are one matrix product ``counts @ stats``. This
never materialises resampled arrays and costs ``O(B · n · k)``.

Randomness always comes from a caller-supplied, seeded
:class:`numpy.random.Generator`, so intervals are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chainlang.errors import ScoringError

#: Resamples drawn when the caller does not say.
DEFAULT_RESAMPLES = 1000
#: Two-sided coverage of the interval when the caller does not say.
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class BootstrapSpec:
    """How to bootstrap: number of resamples, interval level and the seed.

    Attributes:
        n_resamples: resamples drawn (0 turns intervals off).
        level: two-sided coverage, e.g. 0.95.
        seed: seed of the :class:`numpy.random.Generator` (a fresh generator
            is made per metric, so adding a metric never shifts another's CI).
    """

    n_resamples: int = DEFAULT_RESAMPLES
    level: float = DEFAULT_LEVEL
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_resamples < 0:
            raise ScoringError(f"n_resamples must be >= 0, got {self.n_resamples}")
        if not 0.0 < self.level < 1.0:
            raise ScoringError(f"level must lie strictly between 0 and 1, got {self.level}")

    def rng(self) -> np.random.Generator:
        """A fresh generator seeded with ``seed``."""
        return np.random.default_rng(self.seed)


def resample_counts(n_items: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n_items`` images is drawn in each resample.

    Args:
        n_items: number of images in the dataset.
        n_resamples: number of bootstrap resamples ``B``.
        rng: the seeded generator.

    Returns:
        A ``B × n_items`` int64 matrix whose rows each sum to ``n_items``.

    >>> c = resample_counts(5, 3, np.random.default_rng(0))
    >>> c.shape, c.sum(axis=1).tolist()
    ((3, 5), [5, 5, 5])
    """
    if n_items <= 0:
        raise ScoringError("cannot bootstrap an empty set of images")
    probs = np.full(n_items, 1.0 / n_items)
    return rng.multinomial(n_items, probs, size=n_resamples).astype(np.int64)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates.

    Replicates that are NaN (the statistic was undefined on that resample)
    are dropped; if all are NaN the interval is (nan, nan).

    >>> [round(v, 6) for v in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    finite = samples[~np.isnan(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_pooled(
    stats: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    spec: BootstrapSpec,
) -> tuple[float, float]:
    """CI of a statistic computed from per-image sufficient statistics summed over images.

    Args:
        stats: ``n × k`` per-image sufficient statistics (row i = image i).
        statistic: maps a ``B × k`` matrix of pooled sums to ``B`` values; it
            must be vectorised over rows (the point estimate is
            ``statistic(stats.sum(0)[None])[0]``).
        spec: resamples, level and seed.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when intervals are off or there are fewer
        than two images.

    >>> s = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 2.0]])  # (hits, total) per image
    >>> lo, hi = bootstrap_pooled(s, lambda m: m[:, 0] / m[:, 1], BootstrapSpec(200))
    >>> 0.0 <= lo <= 0.5 <= hi <= 1.0
    True
    """
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim == 1:
        stats = stats[:, None]
    n = stats.shape[0]
    if spec.n_resamples == 0 or n < 2:
        return float("nan"), float("nan")
    counts = resample_counts(n, spec.n_resamples, spec.rng()).astype(np.float64)
    replicates = np.asarray(statistic(counts @ stats), dtype=np.float64)
    return percentile_interval(replicates, spec.level)


def bootstrap_mean(values: np.ndarray, spec: BootstrapSpec) -> tuple[float, float]:
    """CI of the mean of per-image values (NaN values are not allowed).

    >>> lo, hi = bootstrap_mean(np.array([0.0, 1.0, 1.0, 0.0]), BootstrapSpec(200, seed=1))
    >>> 0.0 <= lo <= 0.5 <= hi <= 1.0
    True
    """
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        raise ScoringError("bootstrap_mean got NaN per-image values")
    stats = np.stack([values, np.ones_like(values)], axis=1)
    return bootstrap_pooled(stats, lambda m: m[:, 0] / m[:, 1], spec)
