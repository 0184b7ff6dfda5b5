"""Shared fixtures of the scoring tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, fresh per test."""
    return np.random.default_rng(20250701)
