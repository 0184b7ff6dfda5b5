"""Run the doctests of the compiler modules (their examples are part of the contract)."""

from __future__ import annotations

import doctest
import importlib
from types import ModuleType

import pytest

# the compiler modules whose docstrings hold examples
MODULES = [
    importlib.import_module(f"chainlang.{name}")
    for name in (
        "language.syntax.builder",
        "language.diagnostics",
        "language.labelsets",
        "language.source",
        "language.analysis.staticeval",
        "stdlib",
        "stdlib.core",
        "stdlib.sigparse",
        "stdlib.typenames",
        "language.types",
        "language.syntax.unparse",
    )
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_doctests_pass(module: ModuleType) -> None:
    result = doctest.testmod(module, raise_on_error=False)
    assert result.failed == 0
    assert result.attempted > 0
