"""Fixtures of the paper-chain tests: small synthetic scenes and memoised simulated runs.

Runs are session-scoped and memoised by (dataset, chain, model, params): the
call-count and ceiling tests read the same run folders instead of paying for
a run twice. Every run has its own cache file, so nothing is shared between
runs unless a test asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from chains_helpers import RELABEL, RunChain

from chainlang.api import RunOptions, run
from chainlang.data.synthetic import generate


@pytest.fixture(scope="session")
def two_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small synthetic scenes (the call-count tests)."""
    return generate(2, tmp_path_factory.mktemp("two"), seed=0, size=(256, 192))


@pytest.fixture(scope="session")
def three_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic scenes at 320x240 (the ceiling tests)."""
    return generate(3, tmp_path_factory.mktemp("three"), seed=0, size=(320, 240))


@pytest.fixture(scope="session")
def run_chain(tmp_path_factory: pytest.TempPathFactory) -> RunChain:
    """``run_chain(data, chain, model, params=None, tag="")`` → the run folder (memoised)."""
    root = tmp_path_factory.mktemp("runs")
    done: dict[tuple[str, str, str, str, str], Path] = {}

    def go(
        data: Path,
        chain: Path,
        model: str,
        params: Mapping[str, Any] | None = None,
        tag: str = "",
    ) -> Path:
        key = (str(data), str(chain), model, repr(sorted((params or {}).items())), tag)
        if key not in done:
            out = root / f"run{len(done)}"
            options = RunOptions(
                params=dict(params or {}),
                labels=RELABEL,
                cache=root / f"run{len(done)}.sqlite",
                progress="none",
            )
            result = run(chain, data, model, out=out, options=options)
            assert result.summary.items_ok == result.summary.items, f"{chain} {model} failed"
            done[key] = out
        return done[key]

    return go
