"""Paired, image-clustered statistics for comparing cells of an experiment.

Two cells of a sweep (two prompt variants, two models, two settings) are run on
the *same* images, so their results are paired: an image that is hard for one
cell is usually hard for the other. Treating the cells as independent samples
wastes that pairing and, worse, treating questions inside one image as
independent overstates the evidence. Everything here therefore resamples or
permutes whole images.

The unit of data is :class:`~chainlang.scoring.bootstrap.PerImage` (defined in
scoring, which builds it for every metric of a run; re-exported here): one row
per image (or per image and sample, when a cell was run ``K`` times) holding
either

* the image's value of a per-image-mean metric (accuracy of one answer, the
  image's δ1, ...): the cell's metric is the mean over images; or
* the image's *sufficient statistics* of a pooled metric (intersections and
  unions per class for mIoU, counts for pooled δ1, sums for AbsRel, matches
  for AP): the cell's metric is ``metric(sum of the rows)``.

:func:`compare` aligns two cells on their common images, averages repeats
within each image (the image stays the cluster), and returns the difference
B − A with a paired-bootstrap interval and a paired test (sign-flip
permutation, or McNemar for right/wrong outcomes); the resamples come from the
one image bootstrap, :mod:`chainlang.scoring.bootstrap`. :func:`adjust_bh` corrects
the p-values of a whole sweep. Sizing a run before any money is spent (the
``mde_*`` / ``n_*`` functions) lives in :mod:`chainlang.experiments.power` and
is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats as sps

from chainlang.errors import UsageError
from chainlang.experiments.power import mde_mcnemar, mde_paired, n_mcnemar, n_paired
from chainlang.scoring.bootstrap import (
    Metric,
    PerImage,
    chunk_bounds,
    evaluate_metric,
    pick_counts,
    resample_indices,
)

TestName = Literal["auto", "permutation", "mcnemar"]


@dataclass(frozen=True)
class Comparison:
    """The difference B − A between two cells on their common images.

    Attributes:
        diff: metric(B) − metric(A) on the common images.
        ci_low, ci_high: paired-bootstrap percentile interval of ``diff``.
        p_value: two-sided p-value of the paired test named in ``test_name``.
        test_name: which test gave ``p_value`` (and how).
        n_images: images in both cells (the clusters).
        n_dropped: images present in only one of the cells (left out).
        level: confidence level of the interval.
        value_a, value_b: each cell's metric on the common images.
        q_value: Benjamini–Hochberg adjusted p-value, once
            :func:`adjust_comparisons` has run over a sweep.
    """

    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    test_name: str
    n_images: int
    n_dropped: int
    level: float
    value_a: float
    value_b: float
    q_value: float | None = None


@dataclass(frozen=True)
class McNemar:
    """Result of McNemar's test on paired right/wrong outcomes.

    Attributes:
        only_a: pairs A got right and B got wrong.
        only_b: pairs B got right and A got wrong.
        statistic: the continuity-corrected chi-square statistic (also
            reported, for reference, when the exact test was used).
        p_value: two-sided p-value.
        exact: True when the exact binomial test gave ``p_value``.
    """

    only_a: int
    only_b: int
    statistic: float
    p_value: float
    exact: bool


@dataclass(frozen=True)
class _Paired:
    """Two cells aligned on their common images (repeats averaged)."""

    ids: tuple[str, ...]
    a: np.ndarray  # (n, d) statistics flattened per image
    b: np.ndarray
    shape: tuple[int, ...]  # per-image statistic shape before flattening
    metric: Metric | None
    batched: bool
    n_dropped: int

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def width(self) -> int:
        """Values per resample that bound a chunk: images, or statistics if there are more."""
        return max(self.n, self.a.shape[1])

    def evaluate(self, sums: np.ndarray) -> np.ndarray:
        """Metric of each row of ``sums`` ((k, d) sums over ``n`` images)."""
        return evaluate_metric(self.metric, self.batched, sums.reshape((-1, *self.shape)), self.n)


def _pair(a: PerImage, b: PerImage) -> _Paired:
    """Align two cells on the images both have, after averaging repeats."""
    if (a.metric is None) != (b.metric is None) or a.stats.shape[1:] != b.stats.shape[1:]:
        raise UsageError(
            "the two cells do not describe the same metric: statistics of shape "
            f"{a.stats.shape[1:]} vs {b.stats.shape[1:]}"
        )
    ca, cb = a.collapsed(), b.collapsed()
    common = sorted(set(ca.ids) & set(cb.ids))
    if len(common) < 2:
        raise UsageError(
            f"the two cells share {len(common)} image(s); a paired comparison needs at least 2"
        )
    pos_a = {i: k for k, i in enumerate(ca.ids)}
    pos_b = {i: k for k, i in enumerate(cb.ids)}
    rows_a = ca.stats[[pos_a[i] for i in common]].reshape(len(common), -1)
    rows_b = cb.stats[[pos_b[i] for i in common]].reshape(len(common), -1)
    dropped = len(ca.ids) + len(cb.ids) - 2 * len(common)
    shape = a.stats.shape[1:]
    return _Paired(tuple(common), rows_a, rows_b, shape, a.metric, a.batched, dropped)


def _bootstrap_diffs(p: _Paired, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Differences B − A over ``n_boot`` resamples of whole images."""
    out = np.empty(n_boot)
    start = 0
    for picks in resample_indices(p.n, n_boot, rng, width=p.width):
        # The same resampled images for A and B is what makes the bootstrap paired; a
        # pooled metric sums each arm's rows of those images (counts @ rows) and applies
        # its function to the sums, so the image stays the cluster.
        counts = pick_counts(picks, p.n)
        out[start : start + len(picks)] = p.evaluate(counts @ p.b) - p.evaluate(counts @ p.a)
        start += len(picks)
    return out


def _flip_patterns(n: int, n_perm: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """All 2**n swap patterns when that is at most ``n_perm``, else random ones."""
    if n < 63 and 2**n <= n_perm:
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        return ((codes >> np.arange(n)) & 1).astype(np.float64), True
    return rng.integers(0, 2, size=(n_perm, n)).astype(np.float64), False


def _permutation_p(p: _Paired, n_perm: int, rng: np.random.Generator) -> tuple[float, bool]:
    """Two-sided p-value of swapping A and B within images."""
    sum_a, sum_b = p.a.sum(axis=0), p.b.sum(axis=0)
    observed = abs(p.evaluate(sum_b[None])[0] - p.evaluate(sum_a[None])[0])
    # Guard against float noise turning an exact tie into a "smaller" value.
    threshold = observed - 1e-9 * max(1.0, observed)
    flips, exact = _flip_patterns(p.n, n_perm, rng)
    delta = p.b - p.a
    hits = 0
    for start, stop in chunk_bounds(len(flips), p.width):
        moved = flips[start:stop] @ delta  # what swapping the flipped images moves A → B
        diffs = p.evaluate(sum_b - moved) - p.evaluate(sum_a + moved)
        hits += int(np.sum(np.abs(diffs) >= threshold))
    if exact:
        return hits / len(flips), True
    return (hits + 1) / (len(flips) + 1), False


def paired_bootstrap(
    a: PerImage,
    b: PerImage,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """Difference B − A with a paired, image-clustered percentile bootstrap interval.

    Each resample draws the common images with replacement, once for both cells.
    For a per-image-mean metric each cell's value is the mean of the drawn
    images' values; for a pooled metric (``PerImage.metric`` set) it is the
    metric of the drawn images' summed sufficient statistics, so a ratio such
    as δ1 is recomputed on every resample rather than averaged per image.

    Args:
        a: the baseline cell.
        b: the cell compared with it.
        n_boot: number of resamples of the common images.
        level: confidence level of the interval.
        rng: the random generator (seeded by the caller).

    Returns:
        ``(diff, low, high)``.

    Raises:
        UsageError: the cells share fewer than 2 images or disagree on the metric.

    >>> rng = np.random.default_rng(0)
    >>> a = PerImage(("x", "y", "z"), np.array([0.0, 1.0, 0.0]))
    >>> b = PerImage(("x", "y", "z"), np.array([1.0, 1.0, 1.0]))
    >>> diff, low, high = paired_bootstrap(a, b, n_boot=500, rng=rng)
    >>> round(diff, 3), low <= diff <= high
    (0.667, True)
    """
    _check_counts(n_boot=n_boot, level=level)
    p = _pair(a, b)
    diff = _observed_diff(p)
    low, high = np.quantile(_bootstrap_diffs(p, n_boot, rng), [(1 - level) / 2, (1 + level) / 2])
    return diff, float(low), float(high)


def paired_permutation(
    a: PerImage, b: PerImage, *, n_perm: int = 10_000, rng: np.random.Generator
) -> tuple[float, bool]:
    """Two-sided p-value for "A and B are exchangeable within each image".

    Each permutation swaps the two cells' results on a random subset of the
    common images; the statistic is |metric(B) − metric(A)|. When ``2**n`` is at
    most ``n_perm`` every swap pattern is enumerated and the p-value is exact;
    otherwise it is the Monte-Carlo estimate ``(hits + 1) / (n_perm + 1)``.

    Args:
        a: the baseline cell.
        b: the cell compared with it.
        n_perm: permutations to draw (or the enumeration limit).
        rng: the random generator (seeded by the caller).

    Returns:
        ``(p_value, exact)``.

    >>> a = PerImage(("x", "y", "z"), np.array([0.0, 0.0, 0.0]))
    >>> b = PerImage(("x", "y", "z"), np.array([1.0, 1.0, 1.0]))
    >>> paired_permutation(a, b, rng=np.random.default_rng(0))
    (0.25, True)
    """
    _check_counts(n_perm=n_perm)
    return _permutation_p(_pair(a, b), n_perm, rng)


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, *, exact_below: int = 25) -> McNemar:
    """McNemar's test on paired right/wrong outcomes.

    With fewer than ``exact_below`` discordant pairs the p-value is the exact
    two-sided binomial test of the discordant counts against 1/2; otherwise it
    is the chi-square test with continuity correction,
    ``(|b − c| − 1)² / (b + c)`` on 1 degree of freedom.

    Args:
        correct_a: whether cell A got each unit right (0/1 or bool).
        correct_b: the same for cell B, in the same order.
        exact_below: discordant-pair count from which the chi-square form is used.

    Returns:
        The counts, statistic and p-value.

    Raises:
        UsageError: arrays of different length or values other than 0/1.

    >>> r = mcnemar(np.array([1] * 2 + [0] * 8), np.array([0] * 2 + [1] * 8))
    >>> r.only_a, r.only_b, r.p_value, r.exact
    (2, 8, 0.109375, True)
    """
    xa, xb = _binary(correct_a, "correct_a"), _binary(correct_b, "correct_b")
    if xa.shape != xb.shape:
        raise UsageError(f"McNemar needs paired outcomes: {xa.shape[0]} vs {xb.shape[0]}")
    only_a = int(np.sum(xa & ~xb))
    only_b = int(np.sum(~xa & xb))
    discordant = only_a + only_b
    if discordant == 0:
        return McNemar(0, 0, 0.0, 1.0, True)
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    if discordant < exact_below:
        p = float(min(1.0, 2 * sps.binom.cdf(min(only_a, only_b), discordant, 0.5)))
        return McNemar(only_a, only_b, float(statistic), p, True)
    return McNemar(only_a, only_b, float(statistic), float(sps.chi2.sf(statistic, 1)), False)


def compare(
    a: PerImage,
    b: PerImage,
    *,
    test: TestName = "auto",
    n_boot: int = 2000,
    n_perm: int = 10_000,
    level: float = 0.95,
    rng: np.random.Generator,
) -> Comparison:
    """Compare cell B with cell A on the images both have.

    Repeats of an image are averaged first, so the image is the cluster in both
    the bootstrap and the test. Images present in only one cell are dropped and
    counted in ``n_dropped``. The metric of ``a`` is used for both cells.

    Args:
        a: the baseline cell.
        b: the cell compared with it.
        test: ``"permutation"`` (paired sign-flip test), ``"mcnemar"`` (right/wrong
            outcomes, one 0/1 value per image), or ``"auto"``: McNemar when both
            cells hold 0/1 per-image values, the permutation test otherwise.
        n_boot: bootstrap resamples for the interval.
        n_perm: permutations for the test.
        level: confidence level of the interval.
        rng: the random generator (seeded by the caller).

    Returns:
        The :class:`Comparison`.

    Raises:
        UsageError: fewer than 2 common images, mismatched metrics, or McNemar
            asked for on values that are not 0/1 (e.g. averaged repeats).

    >>> ids = tuple("abcdefghij")
    >>> a = PerImage(ids, np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 1]))
    >>> b = PerImage(ids, np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1]))
    >>> c = compare(a, b, rng=np.random.default_rng(1))
    >>> c.diff, c.test_name, round(c.p_value, 4), c.n_images
    (0.4, 'mcnemar (exact binomial)', 0.125, 10)
    """
    _check_counts(n_boot=n_boot, n_perm=n_perm, level=level)
    if test not in ("auto", "permutation", "mcnemar"):
        raise UsageError(f"unknown test {test!r}; use 'auto', 'permutation' or 'mcnemar'")
    p = _pair(a, b)
    use_mcnemar = test == "mcnemar" or (test == "auto" and _is_binary_pair(p))
    if use_mcnemar:
        if not _is_binary_pair(p):
            raise UsageError(
                "McNemar needs one right/wrong (0/1) value per image in both cells; "
                "averaged repeats or pooled statistics need test='permutation'"
            )
        result = mcnemar(p.a[:, 0], p.b[:, 0])
        p_value = result.p_value
        name = "mcnemar (exact binomial)" if result.exact else "mcnemar (chi-square, corrected)"
    else:
        p_value, exact = _permutation_p(p, n_perm, rng)
        name = "paired permutation (exact)" if exact else f"paired permutation ({n_perm} draws)"
    boots = _bootstrap_diffs(p, n_boot, rng)
    low, high = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    value_a = float(p.evaluate(p.a.sum(axis=0)[None])[0])
    value_b = float(p.evaluate(p.b.sum(axis=0)[None])[0])
    return Comparison(
        diff=value_b - value_a,
        ci_low=float(low),
        ci_high=float(high),
        p_value=float(p_value),
        test_name=name,
        n_images=p.n,
        n_dropped=p.n_dropped,
        level=level,
        value_a=value_a,
        value_b=value_b,
    )


def adjust_bh(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (false discovery rate adjusted p-values).

    ``q_(i) = min over j ≥ i of p_(j) · m / j`` for the p-values sorted
    ascending, capped at 1, returned in the input order. Rejecting every
    hypothesis with ``q ≤ α`` controls the FDR at α for independent or
    positively dependent tests.

    Args:
        pvalues: the p-values of all comparisons in a sweep.

    Returns:
        The q-values, same order and length.

    Raises:
        UsageError: a value is outside [0, 1] or not a number.

    >>> adjust_bh([0.01, 0.04, 0.03, 0.20]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.2]
    """
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise UsageError("p-values must be numbers between 0 and 1")
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    q = np.empty(m)
    q[order] = q_sorted
    return q


def adjust_comparisons(comparisons: Sequence[Comparison]) -> tuple[Comparison, ...]:
    """Attach Benjamini–Hochberg q-values across all comparisons of a sweep."""
    q = adjust_bh([c.p_value for c in comparisons])
    return tuple(replace(c, q_value=float(qi)) for c, qi in zip(comparisons, q, strict=True))


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (sound near 0 and 1, unlike p ± z·se).

    >>> tuple(round(x, 4) for x in wilson_interval(0, 10))
    (0.0, 0.2775)
    """
    if n <= 0 or not 0 <= successes <= n:
        raise UsageError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    _check_counts(level=level)
    z = float(sps.norm.ppf((1 + level) / 2))
    phat = successes / n
    centre = (phat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def clustered_mean(ids: Sequence[str], values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean of per-question values with a standard error clustered by image.

    Questions about one image are correlated, so the usual ``sd/√N`` is too
    small. This is the cluster-robust (CR1) SE: ``√(G/(G−1) Σ_g e_g²) / N`` with
    ``e_g`` the summed residuals of image g and G images.

    >>> mean, se = clustered_mean(["a", "a", "b", "b"], [1.0, 1.0, 0.0, 0.0])
    >>> mean, round(se, 4)
    (0.5, 0.5)
    """
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(ids) != len(y) or len(y) == 0 or not np.all(np.isfinite(y)):
        raise UsageError("clustered_mean needs one finite value per id and at least one value")
    _, groups = np.unique(np.asarray(ids, dtype=object), return_inverse=True)
    g = int(groups.max()) + 1
    if g < 2:
        raise UsageError("a clustered standard error needs at least 2 images")
    mean = float(y.mean())
    resid = np.bincount(groups, weights=y - mean, minlength=g)
    return mean, float(math.sqrt(g / (g - 1) * np.sum(resid**2)) / len(y))


def _binary(x: np.ndarray, name: str) -> np.ndarray:
    """A 1-D bool array from 0/1 values, or a UsageError naming the input."""
    arr = np.asarray(x).reshape(-1)
    if not np.all((arr == 0) | (arr == 1)):
        raise UsageError(f"{name} must hold right/wrong outcomes (0/1 or bool)")
    return arr.astype(bool)


def _is_binary_pair(p: _Paired) -> bool:
    """Whether both cells hold one 0/1 value per image."""
    if p.metric is not None or p.a.shape[1] != 1:
        return False
    return bool(np.all((p.a == 0) | (p.a == 1)) and np.all((p.b == 0) | (p.b == 1)))


def _observed_diff(p: _Paired) -> float:
    """metric(B) − metric(A) on all common images."""
    return float(p.evaluate(p.b.sum(axis=0)[None])[0] - p.evaluate(p.a.sum(axis=0)[None])[0])


def _check_counts(*, n_boot: int = 1, n_perm: int = 1, level: float = 0.5) -> None:
    """Reject resample counts and levels that cannot give a meaningful answer."""
    if n_boot < 1 or n_perm < 1:
        raise UsageError(f"n_boot and n_perm must be positive, got {n_boot} and {n_perm}")
    if not 0 < level < 1:
        raise UsageError(f"level must be in (0, 1), got {level}")


__all__ = [
    "Comparison",
    "McNemar",
    "PerImage",
    "adjust_bh",
    "adjust_comparisons",
    "clustered_mean",
    "compare",
    "mcnemar",
    "mde_mcnemar",
    "mde_paired",
    "n_mcnemar",
    "n_paired",
    "paired_bootstrap",
    "paired_permutation",
    "wilson_interval",
]
