"""Shared fixtures of the compiler tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from compiler_helpers import ROOT


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, so rendered paths are stable relative paths."""
    monkeypatch.chdir(ROOT)
    return ROOT
