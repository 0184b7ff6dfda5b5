"""The docstring examples of the statistics modules are tests too."""

from __future__ import annotations

import doctest

import pytest

from chainlang.experiments import power, stats, variance


@pytest.mark.parametrize("module", [power, stats, variance], ids=lambda m: m.__name__)
def test_doctests_pass(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
