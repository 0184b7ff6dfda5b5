"""Fixtures of the runtime tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def journal_path(tmp_path):
    return tmp_path / "cache.sqlite"
