"""Sweeps: one chain and one dataset over a grid of models × prompt variants × parameters.

An :class:`Experiment` names the grid; :func:`cells` expands it into
:class:`Cell` values, each an ordinary run with its own folder
``OUT/cells/<name>/``. :func:`run_sweep` runs every cell concurrently through
*one* scheduler, so a model's rate limit and the cache are shared across the
whole sweep, and rerunning the same sweep into the same folder resumes every
cell (finished items are skipped, answered questions come from the journal).

An experiment can be committed next to its chain as a small TOML file::

    chain = "depth.chain"            # relative to this file
    data = "../data/syn"
    models = ["oracle:flip=0.1", "oracle:flip=0.3"]
    samples = 2                      # repeats of every question (distinct cache entries)
    baseline = ""                    # optional: compare every cell against this one

    [variants]                       # prompt name -> variants to try
    compare = ["brief_order", "careful"]

    [params]                         # a list is a grid axis, a scalar is fixed
    segments = 20
    pairs = [6, 12]

    [options]                        # RunOptions fields (cache, concurrency, rpm, ...)
    cache = ".chainlang/cache.sqlite"

After the runs, :func:`compare_cells` pairs cells on their common images
(paired bootstrap + permutation or McNemar, Benjamini–Hochberg across the
sweep), :func:`variance_by_model` splits each model's metric variance into
images, variants and sampling, and :func:`mde_before_run` says what difference
a grid of this size can detect before any money is spent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainlang.errors import ChainlangError, RunError, UsageError
from chainlang.experiments.analysis import (
    CellComparison,
    CellRow,
    CellScore,
    compare_cells,
    format_comparisons,
    format_sweep_table,
    format_variance,
    primary_metric,
    score_cell,
    score_sweep,
    sweep_rows,
    variance_by_model,
    variance_rows,
)
from chainlang.experiments.grid import (
    CELLS_DIR,
    SWEEP_FILE,
    SWEEP_FORMAT,
    Cell,
    Experiment,
    cells,
    check_experiment,
    experiment_from_args,
    format_table,
    load_experiment,
    parse_param_spec,
    parse_variant_spec,
    read_sweep,
    sweep_cells,
)
from chainlang.experiments.power import mde_mcnemar, mde_paired
from chainlang.runtime.session import load_chain, make_scheduler, parse_model

# --------------------------------------------------------------------------- pricing and MDE


async def price(experiment: Experiment, *, sample_items: int = 2) -> list[Any]:
    """Price every cell before it runs (one :class:`~chainlang.runtime.plan.Plan` per cell).

    The plans come back in the order of :func:`cells`; nothing is sent to any model.
    """
    from chainlang.data.manifest import load_dataset
    from chainlang.runtime.session import aplan

    check_experiment(experiment)
    dataset = load_dataset(experiment.data)
    # The chain goes by path so that its label files resolve next to it.
    return [
        await aplan(
            experiment.chain,
            dataset,
            cell.model,
            options=cell.options(experiment),
            sample_items=sample_items,
        )
        for cell in cells(experiment)
    ]


@dataclass(frozen=True)
class MinimumEffect:
    """What a sweep of this size can detect, per pair of cells compared.

    Attributes:
        n_images: images every cell runs on.
        comparisons: how many pairs of cells will be compared.
        alpha: the level of each test after a Bonferroni split, a conservative
            stand-in for the Benjamini–Hochberg correction applied afterwards.
        power: the wanted power.
        effect: the smallest difference detectable, in the metric's units.
        test: ``"mcnemar"`` (right/wrong metrics) or ``"paired"`` (continuous ones).
        assumption: the pilot figure the number rests on, in words.
        in_sd_units: the effect is in units of the per-image SD of the difference
            (no pilot SD was given), not in the metric's own units.
    """

    n_images: int
    comparisons: int
    alpha: float
    power: float
    effect: float
    test: str
    assumption: str
    in_sd_units: bool = False

    def describe(self) -> str:
        """One line for ``chainlang plan`` / ``sweep``."""
        unit = " × the per-image SD of B − A" if self.in_sd_units else ""
        return (
            f"minimum detectable difference: {self.effect:.3g}{unit} ({self.test}, "
            f"{self.n_images} images, {self.comparisons} comparison"
            f"{'s' if self.comparisons != 1 else ''} at α={self.alpha:.3g} "
            f"each, power {self.power:.0%}; assumes {self.assumption})"
        )


def mde_before_run(
    experiment: Experiment,
    n_images: int,
    *,
    accuracy: float | None = None,
    discordance: float | None = None,
    sd_diff: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> MinimumEffect:
    """The smallest difference between two cells this sweep can detect.

    For a right/wrong metric give ``accuracy`` (or the measured ``discordance``, the
    share of images where two cells disagree) and McNemar's test is sized; for a
    continuous metric give ``sd_diff``, the per-image SD of the difference between
    two cells from a pilot run, and the paired test is sized. ``alpha`` is split
    over the number of comparisons the sweep will make.

    Raises:
        UsageError: neither kind of pilot figure is given, or too few images.
    """
    n_cells = len(cells(experiment))
    pairs = n_cells - 1 if experiment.baseline else n_cells * (n_cells - 1) // 2
    pairs = max(1, pairs)
    each = alpha / pairs
    if sd_diff is not None:
        effect = mde_paired(n_images, sd_diff, alpha=each, power=power)
        return MinimumEffect(
            n_images, pairs, each, power, effect, "paired", f"per-image SD of differences {sd_diff}"
        )
    if accuracy is None and discordance is None:
        raise UsageError("give accuracy or discordance (right/wrong metrics) or sd_diff")
    effect = mde_mcnemar(
        n_images, accuracy=accuracy, discordance=discordance, alpha=each, power=power
    )
    what = (
        f"discordance {discordance}"
        if discordance is not None
        else f"accuracy {accuracy} with independent errors"
    )
    return MinimumEffect(n_images, pairs, each, power, effect, "mcnemar", what)


def planned_mde(
    experiment: Experiment,
    n_images: int,
    *,
    accuracy: float = 0.8,
    sd_diff: float | None = None,
    program: Any | None = None,
) -> MinimumEffect:
    """The minimum detectable effect of a sweep before it runs, sized from its chain.

    A chain whose output is a ``Label`` is scored right/wrong, so McNemar's test is
    sized from ``accuracy``. Any other output has a continuous metric: with a pilot
    ``sd_diff`` the effect is in the metric's units, without one it is given in
    units of that (still unknown) SD, which is what the image count alone decides.

    Args:
        experiment: the sweep.
        n_images: images every cell will run on.
        accuracy: assumed accuracy of right/wrong metrics (independent errors).
        sd_diff: per-image SD of the difference between two cells, from a pilot.
        program: the compiled chain, when the caller already has it.
    """
    program = program if program is not None else load_chain(experiment.chain)
    # ``output Label`` and ``output Label(set)`` both score top-1, right or wrong.
    right_wrong = program.output.show().split("(")[0] == "Label"
    if sd_diff is not None or right_wrong:
        return mde_before_run(experiment, n_images, accuracy=accuracy, sd_diff=sd_diff)
    unit = mde_before_run(experiment, n_images, sd_diff=1.0)
    return dataclasses.replace(
        unit,
        assumption="no pilot SD, so the effect is in SD units",
        in_sd_units=True,
    )


def format_plan_table(plans: Sequence[Any], names: Sequence[str] | None = None) -> str:
    """Plain-text table of a sweep's prices, one row per cell and a total.

    Args:
        plans: the plans from :func:`price`.
        names: the cell names (same order); the plans' model names when omitted.
    """
    names = list(names) if names is not None else [p.model for p in plans]
    if len(names) != len(plans):
        raise UsageError(f"{len(names)} names for {len(plans)} plans")
    rows = [["cell", "items", "samples", "calls/item", "calls", "expected $", "worst $"]]
    total_calls = 0.0
    total_usd: float | None = 0.0
    total_worst: float | None = 0.0
    for name, p in zip(names, plans, strict=True):
        exact = "" if p.exact else "≤"
        rows.append(
            [
                name,
                str(p.items),
                str(p.samples),
                f"{exact}{p.calls_per_item:g}",
                f"{exact}{p.total_calls:g}",
                _usd(p.total_usd),
                _usd(p.total_usd_worst),
            ]
        )
        total_calls += p.total_calls
        total_usd = _add(total_usd, p.total_usd)
        total_worst = _add(total_worst, p.total_usd_worst)
    rows.append(["total", "", "", "", f"{total_calls:g}", _usd(total_usd), _usd(total_worst)])
    return format_table(rows)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _usd(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.4f}"


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class CellResult:
    """One finished cell: where its run folder is and its run summary."""

    cell: Cell
    out: Path
    summary: Any


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its folder and every cell's result, in grid order."""

    out: Path
    cells: tuple[CellResult, ...]


async def run_sweep(
    experiment: Experiment,
    out: str | Path,
    *,
    on_cell_done: Callable[[CellResult], None] | None = None,
) -> SweepResult:
    """Run every cell of ``experiment`` into ``out/cells/<name>/``, all through one scheduler.

    ``out/sweep.json`` lists the cells first, so an interrupted sweep can be
    reported on and resumed: running the same experiment into the same folder
    again skips every finished item of every cell and serves every journaled
    answer from the cache.

    Raises:
        RunError: ``out`` holds a sweep of another chain or dataset.
        CompileError, DataError, UsageError: as for a single run.
    """
    from chainlang.data.manifest import load_dataset
    from chainlang.runtime.session import arun

    out = Path(out)
    program = load_chain(experiment.chain)
    check_experiment(experiment, program)
    dataset = load_dataset(experiment.data)
    grid = cells(experiment)
    _write_sweep_file(out, experiment, grid)
    refs = [parse_model(m) for m in experiment.models]
    scheduler = make_scheduler(refs, dataclasses.replace(experiment.options, progress="none"))
    results: dict[str, CellResult] = {}

    async def one(cell: Cell) -> None:
        options = dataclasses.replace(cell.options(experiment), progress="none")
        folder = out / CELLS_DIR / cell.name
        result = await arun(
            program,
            dataset,
            cell.model,
            out=folder,
            options=options,
            chain_path=experiment.chain,
            scheduler=scheduler,
        )
        results[cell.name] = CellResult(cell, folder, result.summary)
        if on_cell_done is not None:
            on_cell_done(results[cell.name])

    try:
        async with asyncio.TaskGroup() as tg:
            for cell in grid:
                tg.create_task(one(cell))
    except BaseExceptionGroup as group:
        # The task group wraps every cell's error; callers want the error itself.
        raise _one_error(group) from None
    finally:
        await scheduler.aclose()
    return SweepResult(out, tuple(results[c.name] for c in grid))


def _one_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first cell's error (naming how many others failed), or the group if not ours."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        else:
            leaves.append(e)

    walk(group)
    if not all(isinstance(e, ChainlangError) for e in leaves):
        return group  # a bug or an interrupt: keep every traceback
    first = leaves[0]
    if len(leaves) > 1 and isinstance(first, RunError):
        others = len(leaves) - 1
        return RunError(f"{first} ({others} other cell{'s' if others > 1 else ''} failed too)")
    return first


def _write_sweep_file(out: Path, experiment: Experiment, grid: Sequence[Cell]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": SWEEP_FORMAT,
        "chain": str(experiment.chain),
        "data": str(experiment.data),
        "models": list(experiment.models),
        "variants": {k: list(v) for k, v in experiment.variants.items()},
        "params": {k: list(v) for k, v in experiment.params.items()},
        "fixed": dict(experiment.fixed),
        "samples": experiment.samples,
        "baseline": experiment.baseline,
        "baseline_params": dict(experiment.baseline_params),
        "margin": experiment.margin,
        "metrics": list(experiment.metrics),
        "cells": [c.to_json() for c in grid],
    }
    file = out / SWEEP_FILE
    if file.exists():
        old = json.loads(file.read_text(encoding="utf-8"))
        for key in ("chain", "data"):
            if old.get(key) != doc[key]:
                raise RunError(
                    f"{out} holds a sweep of another {key} ({old.get(key)!r}, not "
                    f"{doc[key]!r}); use another output folder"
                )
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    tmp.replace(file)


__all__ = [
    "CELLS_DIR",
    "SWEEP_FILE",
    "SWEEP_FORMAT",
    "Cell",
    "CellComparison",
    "CellResult",
    "CellRow",
    "CellScore",
    "Experiment",
    "MinimumEffect",
    "SweepResult",
    "cells",
    "check_experiment",
    "compare_cells",
    "experiment_from_args",
    "format_comparisons",
    "format_plan_table",
    "format_sweep_table",
    "format_table",
    "format_variance",
    "load_experiment",
    "mde_before_run",
    "parse_param_spec",
    "parse_variant_spec",
    "planned_mde",
    "price",
    "primary_metric",
    "read_sweep",
    "run_sweep",
    "score_cell",
    "score_sweep",
    "sweep_cells",
    "sweep_rows",
    "variance_by_model",
    "variance_rows",
]
