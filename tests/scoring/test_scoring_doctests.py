"""Run the doctests of the scoring modules (they are part of the contract)."""

from __future__ import annotations

import doctest

import pytest

from chainlang.scoring import (
    bootstrap,
    classification,
    dense,
    segmentation,
    specialists,
)

# the modules with examples in their docstrings (common and detection have none)
MODULES = [classification, dense, segmentation, bootstrap, specialists]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_doctests_pass(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
