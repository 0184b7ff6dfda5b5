"""Shared fixtures for the sweep, report and trace tests.

The fixtures build a tiny world once per session: four synthetic scenes at
160×120 and a six-question chain (``chains/spot.chain``: one crop question per
quadrant and centre, then one about the whole image), answered by
``oracle:flip=P`` so the runs are offline, free and of known accuracy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from chainlang.api import RunOptions
from chainlang.experiments.sweep import Experiment, experiment_from_args, run_sweep

HERE = Path(__file__).parent
CHAIN = HERE / "chains" / "spot.chain"
QUESTIONS_PER_ITEM = 6  # 5 quadrant/centre crops + the whole image
N_SCENES = 4


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small synthetic scenes with their manifest."""
    from chainlang.data import synthetic

    return synthetic.generate(N_SCENES, tmp_path_factory.mktemp("scenes"), seed=3, size=(160, 120))


@pytest.fixture
def make_experiment(scenes: Path, tmp_path: Path) -> Callable[..., Experiment]:
    """An experiment over two oracle answerers with its own cache in ``tmp_path``."""

    def make(**kwargs: object) -> Experiment:
        options = kwargs.pop("options", None) or RunOptions(cache=tmp_path / "cache.sqlite")
        args: dict[str, object] = {
            "models": ["oracle:flip=0.1", "oracle:flip=0.7"],
            "options": options,
        }
        args.update(kwargs)
        return experiment_from_args(CHAIN, scenes, **args)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def finished_sweep(scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2 models × 2 variants × 2 samples sweep (shared by read-only tests)."""
    root = tmp_path_factory.mktemp("sweep")
    exp = experiment_from_args(
        CHAIN,
        scenes,
        ["oracle:flip=0.1", "oracle:flip=0.7"],
        variants=["name=terse,careful"],
        samples=2,
        options=RunOptions(cache=root / "cache.sqlite"),
    )
    asyncio.run(run_sweep(exp, root / "out"))
    return root / "out"


@pytest.fixture(scope="session")
def world() -> dict[str, object]:
    """The constants of the test world (fixtures, since test files cannot import conftest)."""
    return {"chain": CHAIN, "scenes": N_SCENES, "questions": QUESTIONS_PER_ITEM}
