"""Shared fixtures for the data tests: a small synthetic dataset rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlang.data.synthetic import generate


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 240×180 synthetic scenes (seed 7)."""
    out = tmp_path_factory.mktemp("synthetic")
    generate(4, out, seed=7, size=(240, 180))
    return out
