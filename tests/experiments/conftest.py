"""Shared fixtures for the experiment-statistics tests.

Helpers are handed out as fixtures (not imported from this file) because every
test area has a ``conftest.py`` and a plain import would be ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats as sps


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, fixed-seed generator per test."""
    return np.random.default_rng(20250701)


@pytest.fixture
def binomial_band() -> Callable[[int, float], tuple[float, float]]:
    """Rates a Binomial(n, p) count stays between with probability 0.999."""

    def band(n: int, p: float) -> tuple[float, float]:
        return float(sps.binom.ppf(0.0005, n, p)) / n, float(sps.binom.isf(0.0005, n, p)) / n

    return band
