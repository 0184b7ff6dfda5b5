"""The image bootstrap: resampling whole images, for every interval chainlang reports.

The image is the unit of resampling everywhere: questions about one image are
correlated, so resampling questions (or pixels) would overstate the evidence.
This module holds the unit that is resampled, :class:`PerImage` (one cell's
per-image contributions to a metric: scoring builds one per metric of a run,
:mod:`chainlang.experiments.stats` compares two), and is the one place that
draws image resamples:

* :func:`resample_counts` (multinomial counts per image) for the intervals of
  one run's metrics (:func:`bootstrap_pooled`, :func:`bootstrap_mean`);
* :func:`resample_indices` (which images each resample picks, in
  memory-bounded chunks) for the paired comparisons of
  :mod:`chainlang.experiments.stats` (turned into counts by
  :func:`pick_counts`) and the variance shares of
  :mod:`chainlang.experiments.variance`.

The two draws have the same distribution; each caller keeps the one it has
always used, so a given seed gives the same interval as before.

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

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from chainlang.errors import ScoringError, UsageError

#: Resamples drawn when the caller does not say.
DEFAULT_RESAMPLES = 1000
#: Two-sided coverage of the interval when the caller does not say.
DEFAULT_LEVEL = 0.95
#: Values of resampled data drawn at once by :func:`resample_indices`: bounds the
#: memory of a bootstrap to a few tens of MB however many images a run has.
CHUNK_VALUES = 4_000_000


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


#: Statistics summed over images → the metric's value (a stack of sums → one value
#: each, as an array, for a ``batched`` metric).
Metric = Callable[[np.ndarray], float | np.ndarray]


@dataclass(frozen=True, eq=False)
class PerImage:
    """One cell's per-image contributions to one metric.

    Attributes:
        ids: the image id of each row. An id may appear several times (repeated
            samples of the same image); repeats are averaged before comparing.
        stats: one row per id. 1-D (the image's value) when ``metric`` is None;
            otherwise ``(n, *shape)`` sufficient statistics that add up across
            images.
        metric: None for a per-image-mean metric. Otherwise a function from the
            statistics *summed over images* (shape ``stats.shape[1:]``) to the
            metric value.
        batched: when True, ``metric`` accepts a stack ``(k, *shape)`` and
            returns ``k`` values, which makes resampling much faster.

    Raises:
        UsageError: lengths disagree, statistics are not finite numbers, or a
            per-image-mean cell has more than one value per row.

    >>> cell = PerImage(("a", "b", "b"), np.array([1.0, 0.0, 1.0]))
    >>> cell.collapsed().ids, cell.value()
    (('a', 'b'), 0.75)
    """

    ids: tuple[str, ...]
    stats: np.ndarray
    metric: Metric | None = None
    batched: bool = False

    def __post_init__(self) -> None:
        ids = tuple(self.ids)
        try:
            stats = np.array(self.stats, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"PerImage stats must be numbers: {exc}") from exc
        if stats.ndim == 0 or stats.shape[0] != len(ids):
            raise UsageError(
                f"PerImage has {len(ids)} ids but stats of shape {stats.shape}; "
                "expected one row per id"
            )
        if not all(isinstance(i, str) for i in ids):
            raise UsageError("PerImage ids must be strings (image ids)")
        if not np.all(np.isfinite(stats)):
            bad = ids[int(np.argwhere(~np.isfinite(stats))[0][0])]
            raise UsageError(f"PerImage stats are not finite for image {bad!r}")
        if self.metric is None and stats.ndim != 1:
            raise UsageError(
                f"stats of shape {stats.shape} need a metric that turns summed "
                "statistics into a value; give one, or pass one value per image"
            )
        stats.setflags(write=False)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "stats", stats)

    @property
    def n_images(self) -> int:
        """Number of distinct images."""
        return len(set(self.ids))

    def collapsed(self) -> PerImage:
        """Average repeated rows of each image; ids come back sorted and unique."""
        unique, inverse = np.unique(np.asarray(self.ids, dtype=object), return_inverse=True)
        if len(unique) == len(self.ids) and list(unique) == list(self.ids):
            return self
        flat = self.stats.reshape(len(self.ids), -1)
        sums = np.zeros((len(unique), flat.shape[1]))
        np.add.at(sums, inverse, flat)
        counts = np.bincount(inverse, minlength=len(unique))[:, None]
        stats = (sums / counts).reshape((len(unique), *self.stats.shape[1:]))
        return PerImage(tuple(str(u) for u in unique), stats, self.metric, self.batched)

    def value(self) -> float:
        """The cell's metric over all its images (repeats averaged first)."""
        cell = self.collapsed()
        n = len(cell.ids)
        if n == 0:
            raise UsageError("PerImage has no images")
        sums = cell.stats.sum(axis=0)[None]
        return float(evaluate_metric(cell.metric, cell.batched, sums, n)[0])


def evaluate_metric(metric: Metric | None, batched: bool, sums: np.ndarray, n: int) -> np.ndarray:
    """Apply a cell's metric to a stack of statistics, each summed over ``n`` images.

    Raises:
        UsageError: the metric returned the wrong number of values, or a
            non-finite one (say, a class absent from a resample).
    """
    if metric is None:
        values = sums.reshape(len(sums)) / n
    else:
        # A 0/0 inside the metric becomes NaN and is reported below, by name,
        # instead of surfacing as a bare numpy warning.
        with np.errstate(divide="ignore", invalid="ignore"):
            if batched:
                values = np.asarray(metric(sums), dtype=np.float64).reshape(-1)
            else:
                values = np.fromiter((metric(s) for s in sums), np.float64, count=len(sums))
        if values.shape != (len(sums),):
            raise UsageError(f"the metric returned {values.shape[0]} values for {len(sums)} inputs")
    if not np.all(np.isfinite(values)):
        raise UsageError(
            "the metric returned a non-finite value for some set of images; "
            "make it defined for any non-empty resample (e.g. skip absent classes)"
        )
    return values


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


def chunk_bounds(total: int, width: int) -> list[tuple[int, int]]:
    """Split ``total`` rows of ``width`` values each into memory-bounded ``(start, stop)`` slices.

    >>> chunk_bounds(5, 2_000_000)
    [(0, 2), (2, 4), (4, 5)]
    """
    step = max(1, CHUNK_VALUES // max(width, 1))
    return [(s, min(s + step, total)) for s in range(0, total, step)]


def resample_indices(
    n_items: int, n_resamples: int, rng: np.random.Generator, *, width: int | None = None
) -> Iterator[np.ndarray]:
    """Resamples of ``n_items`` images drawn with replacement, as rows of image indices.

    Yields ``(k, n_items)`` int64 blocks, ``n_resamples`` rows in all. Each block
    is one draw from ``rng``, sized so that a block's resampled data (``width``
    values per resample; ``n_items`` when not given) stays within
    :data:`CHUNK_VALUES`. The chunking is part of the result: the same seed and
    width give the same resamples.

    >>> [b.shape for b in resample_indices(4, 3, np.random.default_rng(0))]
    [(3, 4)]
    """
    if n_items <= 0:
        raise ScoringError("cannot bootstrap an empty set of images")
    for start, stop in chunk_bounds(n_resamples, n_items if width is None else width):
        yield rng.integers(0, n_items, size=(stop - start, n_items))


def pick_counts(picks: np.ndarray, n_items: int) -> np.ndarray:
    """How often each image is picked in each row of ``picks`` (a ``k × n_items`` matrix).

    >>> pick_counts(np.array([[0, 0, 2], [1, 2, 2]]), 3).tolist()
    [[2, 0, 1], [0, 1, 2]]
    """
    k = len(picks)
    offsets = picks + n_items * np.arange(k)[:, None]
    return np.bincount(offsets.ravel(), minlength=k * n_items).reshape(k, n_items)


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
