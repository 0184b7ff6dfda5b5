"""Shared fixtures for the chain-form tests: two small synthetic scenes and a runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chainforms_helpers import CHAINS, LABELS, FormRun, Runner

from chainlang.api import RunOptions, run
from chainlang.data.manifest import Dataset, load_dataset
from chainlang.data.synthetic import generate
from chainlang.scoring.score import score_run


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of two 320×240 synthetic scenes."""
    return generate(2, tmp_path_factory.mktemp("scenes"), size=(320, 240))


@pytest.fixture(scope="session")
def dataset(scenes: Path) -> Dataset:
    """The scenes as a dataset (for computing expected counts from the images)."""
    return load_dataset(scenes)


@pytest.fixture
def run_form(scenes: Path, tmp_path: Path) -> Runner:
    """Run ``chains/<chain>.chain`` on the scenes with a model and parameters, then score it."""
    counter = iter(range(1_000))

    def go(chain: str, model: str, **params: Any) -> FormRun:
        out = tmp_path / f"{chain}-{model}-{next(counter)}"
        options = RunOptions(
            params={
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()
            },
            labels=LABELS,
            cache=tmp_path / "cache.sqlite",
            progress="none",
        )
        result = run(CHAINS / f"{chain}.chain", scenes, model, out=out, options=options)
        assert result.summary.items_ok == result.summary.items == 2, result.summary
        lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
        records = {r["id"]: r for r in map(json.loads, lines) if "id" in r}
        score = score_run(out, n_boot=0)
        metrics = {name: m.value for name, m in score.metrics.items()}
        return FormRun(out, records, metrics)

    return go
