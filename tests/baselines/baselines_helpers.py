"""Helpers of the baseline tests: the chains, small parameters and run shortcuts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from chainlang.api import RunOptions, RunResult, run

REPO = Path(__file__).resolve().parents[2]
DEPTH = REPO / "chains" / "depth.chain"
NORMALS = REPO / "chains" / "normals.chain"
CLASSIFY = REPO / "chains" / "classify.chain"
SCENES = 3
# small enough for seconds per run, large enough that noise flips some pairs
DEPTH_PARAMS = {"segments": "40", "pairs": "80"}


class Folders(NamedTuple):
    """The prediction folders of the ``folders`` fixture."""

    exact: Path
    noisy: Path
    inverse: Path
    labels: Path


def run_chain(
    chain: Path,
    data: Path,
    model: str,
    out: Path,
    *,
    params: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> RunResult:
    """Run ``chain`` quietly, with a journal inside ``out``'s parent."""
    options = RunOptions(
        params=params if params is not None else DEPTH_PARAMS,
        labels=labels or {},
        cache=out.parent / "cache.sqlite",
        progress="none",
    )
    return run(chain, data, model, out=out, options=options)


def records(out: Path) -> list[dict[str, Any]]:
    """The run's item records, by item id."""
    lines = (out / "results.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda r: r["id"])


def output_arrays(out: Path) -> list[np.ndarray]:
    """Every item's output map, in item order."""
    arrays = []
    for r in records(out):
        with np.load(out / r["output"]["arrays"]) as z:
            arrays.append(z["output"])
    return arrays


def answers(out: Path) -> list[Any]:
    """Every recorded answer, in item and question order."""
    return [q["answer"] for r in records(out) for q in r["questions"]]
