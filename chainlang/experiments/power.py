"""Sizing a sweep before it runs: minimum detectable effects and image counts.

A sweep compares cells on the same images with the paired tests of
:mod:`chainlang.experiments.stats`. Before any money is spent, these functions
say how small a difference such a test can detect on ``n`` images
(``mde_*``), or how many images a given difference needs (``n_*``): the paired
test sized by the per-image SD of the difference, McNemar's test by the rate of
discordant pairs.
"""

from __future__ import annotations

import math

from scipy import optimize
from scipy import stats as sps

from chainlang.errors import UsageError


def _z(alpha: float, power: float) -> tuple[float, float]:
    """Normal quantiles for a two-sided level ``alpha`` and the given power."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise UsageError(f"alpha and power must be in (0, 1), got {alpha} and {power}")
    return float(sps.norm.ppf(1 - alpha / 2)), float(sps.norm.ppf(power))


def mde_paired(n: int, sd_diff: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest mean per-image difference a paired test detects with the given power.

    Normal approximation for a two-sided test at level ``alpha``:
    ``MDE = (z_{1−α/2} + z_power) · sd_diff / √n``, where ``sd_diff`` is the
    standard deviation across images of the per-image difference B − A (from a
    pilot run or a previous sweep).

    Args:
        n: number of images.
        sd_diff: per-image SD of the difference.
        alpha: two-sided significance level.
        power: wanted power.

    Returns:
        The minimum detectable effect, in the metric's units.

    >>> round(mde_paired(100, 0.5), 4)
    0.1401
    """
    if n < 2 or sd_diff <= 0:
        raise UsageError(f"need n >= 2 images and sd_diff > 0, got n={n}, sd_diff={sd_diff}")
    za, zb = _z(alpha, power)
    return (za + zb) * sd_diff / math.sqrt(n)


def n_paired(effect: float, sd_diff: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Images needed for a paired test to detect ``effect`` (inverse of :func:`mde_paired`).

    >>> n_paired(0.1401, 0.5)
    100
    """
    if effect == 0 or sd_diff <= 0:
        raise UsageError(f"need a non-zero effect and sd_diff > 0, got {effect}, {sd_diff}")
    za, zb = _z(alpha, power)
    return max(2, math.ceil(((za + zb) * sd_diff / abs(effect)) ** 2))


def _discordance(discordance: float | None, accuracy: float | None) -> float:
    """The discordant-pair rate ψ, given directly or from an accuracy."""
    if discordance is None:
        if accuracy is None:
            raise UsageError("give the discordance rate, or an accuracy to derive it from")
        if not 0 < accuracy < 1:
            raise UsageError(f"accuracy must be in (0, 1), got {accuracy}")
        # Independent errors: an upper bound in practice, because two cells run
        # on the same images tend to fail on the same ones.
        return 2 * accuracy * (1 - accuracy)
    if not 0 < discordance <= 1:
        raise UsageError(f"discordance must be in (0, 1], got {discordance}")
    return discordance


def n_mcnemar(
    effect: float,
    *,
    discordance: float | None = None,
    accuracy: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Images needed for McNemar's test to detect an accuracy difference ``effect``.

    Connor's (1987) normal approximation, with ψ the probability that the two
    cells disagree on an image and δ the accuracy difference:
    ``n = (z_{1−α/2} √ψ + z_power √(ψ − δ²))² / δ²``. Without ``discordance``,
    ψ is taken as ``2p(1 − p)`` from ``accuracy`` p (independent errors).

    >>> n_mcnemar(0.05, discordance=0.2)
    626
    """
    psi = _discordance(discordance, accuracy)
    delta = abs(effect)
    if not 0 < delta <= psi:
        raise UsageError(f"effect must be non-zero and at most the discordance {psi:.3g}")
    za, zb = _z(alpha, power)
    return max(2, math.ceil((za * math.sqrt(psi) + zb * math.sqrt(psi - delta**2)) ** 2 / delta**2))


def mde_mcnemar(
    n: int,
    *,
    discordance: float | None = None,
    accuracy: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Smallest accuracy difference McNemar's test detects on ``n`` images.

    Solves Connor's formula (see :func:`n_mcnemar`) for δ.

    Raises:
        UsageError: no difference up to ψ reaches the power with ``n`` images.

    >>> round(mde_mcnemar(626, discordance=0.2), 3)
    0.05
    """
    psi = _discordance(discordance, accuracy)
    za, zb = _z(alpha, power)
    if n < 2:
        raise UsageError(f"need n >= 2 images, got {n}")

    def gap(delta: float) -> float:
        return delta * math.sqrt(n) - za * math.sqrt(psi) - zb * math.sqrt(psi - delta**2)

    if gap(psi) < 0:
        raise UsageError(f"{n} images are too few: no difference up to {psi:.3g} is detectable")
    return float(optimize.brentq(gap, 0.0, psi, xtol=1e-12))
