"""Run the doctests of the scoring modules (they are part of the contract)."""

from __future__ import annotations

import doctest

import pytest

from chainlang.scoring import bootstrap, metrics, specialists


@pytest.mark.parametrize("module", [metrics, bootstrap, specialists])
def test_doctests_pass(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
