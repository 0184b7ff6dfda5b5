"""Run the doctests of the scoring modules (they are part of the contract)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import chainlang.scoring

# every module of the package is run, so no module's examples can be skipped by omission
MODULES = [
    importlib.import_module(f"chainlang.scoring.{info.name}")
    for info in pkgutil.iter_modules(chainlang.scoring.__path__)
]
# the modules with examples in their docstrings
WITH_EXAMPLES = {
    "bootstrap",
    "classification",
    "dense",
    "detection",
    "generic",
    "score",
    "segmentation",
    "specialists",
}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_doctests_pass(module: ModuleType) -> None:
    result = doctest.testmod(module, raise_on_error=False)
    assert result.failed == 0
    assert (result.attempted > 0) == (module.__name__.rsplit(".", 1)[1] in WITH_EXAMPLES)
