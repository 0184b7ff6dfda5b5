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
import hashlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainlang.api import RunOptions, load_chain, make_scheduler, parse_model
from chainlang.errors import ChainlangError, RunError, ScoringError, UsageError
from chainlang.experiments.stats import (
    Comparison,
    PerImage,
    adjust_comparisons,
    compare,
    mde_mcnemar,
    mde_paired,
)
from chainlang.experiments.variance import VarianceDecomposition, decompose

SWEEP_FILE = "sweep.json"
CELLS_DIR = "cells"
SWEEP_FORMAT = 1
_MAX_NAME = 72  # cell folder names stay readable and well under path limits
# RunOptions fields an experiment file may set (params come from [params]).
_OPTION_FIELDS = frozenset(f.name for f in dataclasses.fields(RunOptions)) - {"params", "samples"}
_PATH_OPTIONS = frozenset({"cache", "config"})


# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Experiment:
    """One chain on one dataset over a grid of models, prompt variants and parameters.

    Attributes:
        chain: the ``.chain`` file.
        data: the dataset (manifest or folder).
        models: model specs, e.g. ``"openai:gpt-4o"`` or ``"oracle:flip=0.1"``.
        variants: prompt name → the variants of that prompt to try (a grid axis each).
        params: parameter name → the values to try (a grid axis each).
        fixed: parameter values shared by every cell.
        samples: repeats of every question (each with its own cache entry).
        options: run options shared by every cell (its ``params`` and ``samples``
            are ignored: they come from the fields above).
        baseline: a cell name every other cell is compared with (None: all pairs).
    """

    chain: Path
    data: Path
    models: tuple[str, ...]
    variants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    params: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    samples: int = 1
    options: RunOptions = field(default_factory=RunOptions)
    baseline: str | None = None

    def __post_init__(self) -> None:
        if not self.models:
            raise UsageError("an experiment needs at least one model")
        if self.samples < 1:
            raise UsageError(f"samples must be at least 1, got {self.samples}")
        for kind, axes in (("variants of prompt", self.variants), ("values of", self.params)):
            for name, values in axes.items():
                if not values:
                    raise UsageError(f"the {kind} {name!r} is an empty list")
                if len(set(map(_canon, values))) != len(values):
                    raise UsageError(f"the {kind} {name!r} repeat a value: {list(values)}")
        if len(set(self.models)) != len(self.models):
            raise UsageError(f"a model is listed twice: {list(self.models)}")
        overlap = set(self.params) & set(self.fixed)
        if overlap:
            raise UsageError(f"parameters both fixed and swept: {sorted(overlap)}")
        for spec in self.models:
            parse_model(spec)  # an unknown provider is reported before anything runs


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a model, a variant per swept prompt, a value per swept parameter.

    Attributes:
        name: stable short name, also the folder ``OUT/cells/<name>/``.
        model: the model spec.
        variants: prompt → chosen variant (swept prompts only).
        params: parameter → chosen value (swept parameters only).
    """

    name: str
    model: str
    variants: Mapping[str, str]
    params: Mapping[str, Any]

    def options(self, experiment: Experiment) -> RunOptions:
        """The run options of this cell: shared options, fixed and swept values, variants."""
        params: dict[str, Any] = {**experiment.fixed, **self.params}
        params.update({f"variant.{p}": v for p, v in self.variants.items()})
        return dataclasses.replace(experiment.options, params=params, samples=experiment.samples)

    @property
    def label(self) -> str:
        """The cell's variant and parameter choices in words (the model left out)."""
        parts = [f"{p}={v}" for p, v in self.variants.items()]
        parts += [f"{k}={_show(v)}" for k, v in self.params.items()]
        return ", ".join(parts) or "defaults"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "variants": dict(self.variants),
            "params": dict(self.params),
            "folder": f"{CELLS_DIR}/{self.name}",
        }


def cells(experiment: Experiment) -> list[Cell]:
    """Expand the grid: models × variant choices × parameter values, in declaration order.

    Raises:
        UsageError: two cells would get the same folder name (cannot happen for
            distinct values unless names are truncated and their hashes collide).
    """
    v_axes = list(experiment.variants.items())
    p_axes = list(experiment.params.items())
    out: list[Cell] = []
    for model in experiment.models:
        for vs in itertools.product(*(vals for _, vals in v_axes)):
            for ps in itertools.product(*(vals for _, vals in p_axes)):
                variants = {name: str(v) for (name, _), v in zip(v_axes, vs, strict=True)}
                params = {name: v for (name, _), v in zip(p_axes, ps, strict=True)}
                out.append(Cell(_cell_name(model, variants, params), model, variants, params))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise UsageError(f"two cells share a folder name: {names}")
    return out


def _cell_name(model: str, variants: Mapping[str, str], params: Mapping[str, Any]) -> str:
    """``<model>__<prompt>-<variant>__<param>-<value>``, made file-safe and short."""
    parts = [model, *(f"{p}-{v}" for p, v in variants.items())]
    parts += [f"{k}-{_show(v)}" for k, v in params.items()]
    slugs = [re.sub(r"[^A-Za-z0-9.=-]+", "-", part).strip("-.") for part in parts]
    name = "__".join(s for s in slugs if s) or "cell"
    if len(name) <= _MAX_NAME:
        return name
    # Too long: keep a readable prefix and make it unique with a content hash.
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - 9].rstrip('-_.')}-{digest}"


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --------------------------------------------------------------------------- building experiments


def load_experiment(path: str | Path) -> Experiment:
    """Read an experiment TOML file (see the module docstring for its keys).

    Paths inside the file (``chain``, ``data``, ``options.cache``, ``options.config``)
    are relative to the file's folder.

    Raises:
        UsageError: the file is missing, not TOML, or has unknown or ill-typed keys.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"experiment file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"experiment file {path} is not valid TOML: {err}") from None
    known = {"chain", "data", "models", "samples", "baseline", "variants", "params", "options"}
    unknown = set(doc) - known
    if unknown:
        raise UsageError(f"{path}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    for key in ("chain", "data", "models"):
        if key not in doc:
            raise UsageError(f"{path}: missing key {key!r}")
    base = path.parent
    models = doc["models"]
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise UsageError(f"{path}: 'models' must be a list of model specs")
    variants = _table(doc, "variants", path)
    params = _table(doc, "params", path)
    return Experiment(
        chain=_relative(base, doc["chain"], "chain", path),
        data=_relative(base, doc["data"], "data", path),
        models=tuple(models),
        variants={k: tuple(_as_list(v, f"variants.{k}", path, str)) for k, v in variants.items()},
        params={k: tuple(v) for k, v in params.items() if isinstance(v, list)},
        fixed={k: v for k, v in params.items() if not isinstance(v, list)},
        samples=_int(doc.get("samples", 1), "samples", path),
        options=_options(_table(doc, "options", path), base, path),
        baseline=doc.get("baseline") or None,
    )


def experiment_from_args(
    chain: str | Path,
    data: str | Path,
    models: Sequence[str],
    *,
    variants: Sequence[str] = (),
    params: Sequence[str] = (),
    samples: int = 1,
    options: RunOptions | None = None,
    baseline: str | None = None,
) -> Experiment:
    """Build an experiment from command-line values.

    Args:
        chain: the chain file.
        data: the dataset.
        models: model specs (``-m`` repeated).
        variants: ``prompt=v1,v2`` strings (``--variants`` repeated).
        params: ``name=[a,b]`` (swept) or ``name=a`` (fixed) strings (``-p`` repeated);
            values are read as TOML values, and a bare word is a string.
        samples: repeats of every question.
        options: shared run options.
        baseline: the cell every other is compared with.

    Raises:
        UsageError: a spec is malformed or names a prompt or parameter twice.
    """
    swept: dict[str, tuple[Any, ...]] = {}
    fixed: dict[str, Any] = {}
    for spec in params:
        name, value = parse_param_spec(spec)
        if name in swept or name in fixed:
            raise UsageError(f"parameter {name!r} is given twice")
        if isinstance(value, list):
            swept[name] = tuple(value)
        else:
            fixed[name] = value
    chosen: dict[str, tuple[str, ...]] = {}
    for spec in variants:
        if "=" not in spec and Path(chain).is_file():
            # Name the chain's prompts: the fix is to put one of them in front.
            raise UsageError(
                f"variants must look like prompt=v1,v2; got {spec!r} "
                f"({_prompts_hint(load_chain(chain))})"
            )
        prompt, names = parse_variant_spec(spec)
        if prompt in chosen:
            raise UsageError(f"prompt {prompt!r} is given twice")
        chosen[prompt] = names
    return Experiment(
        chain=Path(chain),
        data=Path(data),
        models=tuple(models),
        variants=chosen,
        params=swept,
        fixed=fixed,
        samples=samples,
        options=options or RunOptions(),
        baseline=baseline,
    )


def parse_variant_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"compare=brief,careful"`` → ``("compare", ("brief", "careful"))``.

    Raises:
        UsageError: no ``=``, an empty prompt name, or an empty variant name.
    """
    prompt, sep, rest = spec.partition("=")
    names = tuple(n.strip() for n in rest.split(","))
    if not sep or not prompt.strip() or not all(names):
        raise UsageError(f"variants must look like prompt=v1,v2; got {spec!r}")
    return prompt.strip(), names


def parse_param_spec(spec: str) -> tuple[str, Any]:
    """``"pairs=[6,12]"`` → ``("pairs", [6, 12])``; ``"marker=point"`` → ``("marker", "point")``.

    Raises:
        UsageError: no ``=`` or an empty name.
    """
    name, sep, text = spec.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"parameters must look like name=value or name=[a,b]; got {spec!r}")
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if text.startswith("["):
            # A list of bare words: [point, curve]
            value = [w.strip() for w in text.strip("[]").split(",") if w.strip()]
        else:
            value = text
    return name.strip(), value


def _table(doc: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"{path}: [{key}] must be a table")
    return value


def _as_list(value: Any, key: str, path: Path, kind: type) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, kind) for v in items):
        raise UsageError(f"{path}: {key} must be a list of {kind.__name__} values")
    return items


def _int(value: Any, key: str, path: Path) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"{path}: {key} must be a whole number, got {value!r}")
    return value


def _relative(base: Path, value: Any, key: str, path: Path) -> Path:
    if not isinstance(value, str):
        raise UsageError(f"{path}: {key} must be a path string")
    p = Path(value)
    return p if p.is_absolute() else base / p


def _options(table: Mapping[str, Any], base: Path, path: Path) -> RunOptions:
    unknown = set(table) - _OPTION_FIELDS
    if unknown:
        raise UsageError(f"{path}: unknown [options] {sorted(unknown)}")
    values = dict(table)
    for key in _PATH_OPTIONS & set(values):
        values[key] = _relative(base, values[key], f"options.{key}", path)
    return RunOptions(**values)


# --------------------------------------------------------------------------- checking


def check_experiment(experiment: Experiment, program: Any | None = None) -> None:
    """Reject a grid that names what the chain or the dataset lacks, before anything runs.

    Checks that the chain file and the dataset exist, that every swept prompt and
    variant is in the chain, and that the baseline (if any) is a cell of the grid.
    Parameter names and values are checked when each cell is priced.

    Args:
        experiment: the experiment to check.
        program: the compiled chain, when the caller already has it.

    Raises:
        UsageError: a missing file, an unknown prompt, variant or baseline.
        CompileError: the chain does not compile.
    """
    if not Path(experiment.chain).is_file():
        raise UsageError(f"chain file {experiment.chain} does not exist")
    if not Path(experiment.data).exists():
        raise UsageError(f"dataset {experiment.data} does not exist")
    program = program if program is not None else load_chain(experiment.chain)
    prompts = {p.name: p for p in program.prompts}
    for name, chosen in experiment.variants.items():
        if name not in prompts:
            raise UsageError(f"--variants: no prompt {name!r} ({_prompts_hint(program)})")
        known = [v.name for v in prompts[name].variants]
        unknown = [v for v in chosen if v not in known]
        if unknown:
            raise UsageError(
                f"--variants: prompt {name!r} has no variant {', '.join(map(repr, unknown))} "
                f"(it has {', '.join(known)})"
            )
    names = [c.name for c in cells(experiment)]
    if experiment.baseline is not None and experiment.baseline not in names:
        raise UsageError(
            f"baseline {experiment.baseline!r} is not a cell of the grid "
            f"(cells: {', '.join(names)})"
        )


def _prompts_hint(program: Any) -> str:
    """The chain's prompts with their variants, for error messages."""
    if not program.prompts:
        return f"chain {program.name!r} has no prompts"
    shown = "; ".join(f"{p.name}: {', '.join(v.name for v in p.variants)}" for p in program.prompts)
    return f"chain {program.name!r} has prompts with variants {shown}"


# --------------------------------------------------------------------------- pricing and MDE


async def price(experiment: Experiment, *, sample_items: int = 2) -> list[Any]:
    """Price every cell before it runs (one :class:`~chainlang.runtime.plan.Plan` per cell).

    The plans come back in the order of :func:`cells`; nothing is sent to any model.
    """
    from chainlang.api import aplan
    from chainlang.data.manifest import load_dataset

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


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned plain-text columns; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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
    from chainlang.api import arun
    from chainlang.data.manifest import load_dataset

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


def read_sweep(path: str | Path) -> dict[str, Any]:
    """Read ``sweep.json`` of a sweep folder.

    Raises:
        RunError: ``path`` is not a sweep folder.
    """
    file = Path(path) / SWEEP_FILE
    if not file.exists():
        raise RunError(f"{path} is not a sweep folder (no {SWEEP_FILE})")
    return json.loads(file.read_text(encoding="utf-8"))


def sweep_cells(path: str | Path) -> list[Cell]:
    """The cells listed in a sweep folder's ``sweep.json``."""
    doc = read_sweep(path)
    return [Cell(c["name"], c["model"], c["variants"], c["params"]) for c in doc["cells"]]


# --------------------------------------------------------------------------- scoring adapter


@dataclass(frozen=True)
class CellScore:
    """What the report and the statistics need from scoring one run folder.

    Attributes:
        metrics: metric name → ``MetricValue`` (value, CI, coverage).
        per_image: metric name → per-image contributions (rows may repeat an
            image id, once per sample, in sample order).
        order: metric names in display order (the task's headline metrics first).
    """

    metrics: Mapping[str, Any]
    per_image: Mapping[str, PerImage]
    order: tuple[str, ...] = ()


def score_cell(run_dir: str | Path) -> CellScore:
    """Score one run folder: the one place that knows ``chainlang.scoring.score``'s names.

    Raises:
        ScoringError: the run cannot be scored.
    """
    from chainlang.scoring.score import score_run

    result = score_run(Path(run_dir))
    return CellScore(result.metrics, result.per_image, tuple(result.headline()))


def primary_metric(score: CellScore, metric: str | None = None) -> str:
    """``metric`` if the score has it, else the first metric with per-image data.

    Raises:
        ScoringError: ``metric`` is unknown, or there is no per-image metric.
    """
    if metric is not None:
        if metric not in score.per_image:
            raise ScoringError(f"no per-image metric {metric!r}; have {sorted(score.per_image)}")
        return metric
    ranked = [m for m in score.order if m in score.per_image] + list(score.per_image)
    if not ranked:
        raise ScoringError("the run has no per-image metric to compare")
    return ranked[0]


# --------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class CellComparison:
    """Cell ``b`` compared with cell ``a`` on one metric (``result.diff`` = b − a)."""

    a: str
    b: str
    metric: str
    result: Comparison


def score_sweep(path: str | Path) -> dict[str, CellScore]:
    """Score every cell of a sweep folder that has results; cell name → score."""
    out: dict[str, CellScore] = {}
    for cell in sweep_cells(path):
        folder = Path(path) / CELLS_DIR / cell.name
        if (folder / "results.jsonl").exists():
            out[cell.name] = score_cell(folder)
    return out


def compare_cells(
    sweep_dir: str | Path,
    metric: str | None = None,
    *,
    baseline: str | None = None,
    scores: Mapping[str, CellScore] | None = None,
    n_boot: int = 2000,
    n_perm: int = 10_000,
    seed: int = 0,
) -> list[CellComparison]:
    """Compare cells of a sweep on their common images, with BH-adjusted q-values.

    Every pair of cells is compared (B against A, in grid order), or every cell
    against ``baseline`` (default: the sweep's own ``baseline``).

    Raises:
        UsageError: the baseline is not a cell, or fewer than two cells have results.
        ScoringError: a cell cannot be scored or lacks the metric.
    """
    doc = read_sweep(sweep_dir)
    scores = dict(scores) if scores is not None else score_sweep(sweep_dir)
    names = [c["name"] for c in doc["cells"] if c["name"] in scores]
    if len(names) < 2:
        raise UsageError(f"{sweep_dir}: fewer than two cells have results to compare")
    baseline = baseline or doc.get("baseline")
    if baseline is not None and baseline not in names:
        raise UsageError(f"baseline {baseline!r} is not a cell with results; cells: {names}")
    pairs = (
        [(baseline, n) for n in names if n != baseline]
        if baseline
        else list(itertools.combinations(names, 2))
    )
    rng = np.random.default_rng(seed)
    chosen = primary_metric(scores[names[0]], metric)
    raw = []
    for a, b in pairs:
        pa = scores[a].per_image.get(chosen)
        pb = scores[b].per_image.get(chosen)
        if pa is None or pb is None:
            raise ScoringError(f"cell {a if pa is None else b} has no per-image {chosen!r}")
        test = "auto" if _one_per_image(pa) and _one_per_image(pb) else "permutation"
        raw.append(compare(pa, pb, test=test, n_boot=n_boot, n_perm=n_perm, rng=rng))
    adjusted = adjust_comparisons(raw)
    return [CellComparison(a, b, chosen, c) for (a, b), c in zip(pairs, adjusted, strict=True)]


def _one_per_image(p: PerImage) -> bool:
    # McNemar applies to one right/wrong value per image; repeats make averages.
    return len(set(p.ids)) == len(p.ids)


def format_comparisons(comparisons: Sequence[CellComparison]) -> str:
    """Plain-text table of comparisons: difference, CI, p and q values, test."""
    rows = [["B", "A", "metric", "B − A", "95% CI", "p", "q", "images", "test"]]
    for c in comparisons:
        r = c.result
        rows.append(
            [
                c.b,
                c.a,
                c.metric,
                f"{r.diff:+.4f}",
                f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
                f"{r.p_value:.4g}",
                "" if r.q_value is None else f"{r.q_value:.4g}",
                str(r.n_images),
                r.test_name,
            ]
        )
    return format_table(rows)


# --------------------------------------------------------------------------- variance


def variance_rows(
    sweep_dir: str | Path,
    metric: str | None = None,
    *,
    scores: Mapping[str, CellScore] | None = None,
) -> list[dict[str, Any]]:
    """The long table ``decompose`` reads: one row per (cell, image, sample).

    The ``model`` key groups cells that differ only in their prompt variants
    (the model plus any swept parameter values); ``variant`` names the variant
    choices; ``repeat`` is the sample index.
    """
    scores = dict(scores) if scores is not None else score_sweep(sweep_dir)
    rows: list[dict[str, Any]] = []
    for cell in sweep_cells(sweep_dir):
        if cell.name not in scores:
            continue
        per = scores[cell.name].per_image[primary_metric(scores[cell.name], metric)]
        group = cell.model
        if cell.params:
            group += " [" + ", ".join(f"{k}={_show(v)}" for k, v in cell.params.items()) + "]"
        variant = ", ".join(f"{p}={v}" for p, v in cell.variants.items()) or "default"
        seen: dict[str, int] = {}
        for image, value in zip(per.ids, per.stats, strict=True):
            if per.stats.ndim != 1:
                raise ScoringError("variance needs one value per image (a per-image-mean metric)")
            repeat = seen.get(image, 0)
            seen[image] = repeat + 1
            rows.append(
                {
                    "model": group,
                    "variant": variant,
                    "repeat": str(repeat),
                    "image": image,
                    "value": float(value),
                }
            )
    return rows


def variance_by_model(
    sweep_dir: str | Path,
    metric: str | None = None,
    *,
    scores: Mapping[str, CellScore] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, VarianceDecomposition]:
    """Split each model's metric variance into images, variants, interaction and sampling.

    Raises:
        UsageError: a model has fewer than two images complete over every cell.
    """
    rows = variance_rows(sweep_dir, metric, scores=scores)
    return decompose(rows, n_boot=n_boot, rng=np.random.default_rng(seed))


def format_variance(parts: Mapping[str, VarianceDecomposition]) -> str:
    """Plain-text table of variance shares per model, each with its 95% interval.

    A component that cannot be estimated (variants with one variant, sampling
    with one sample) shows ``n/a``.
    """
    rows = [
        ["model", "images", "variants", "interaction", "sampling", "n images", "variants × repeats"]
    ]
    for model, d in parts.items():
        shares = [_share_text(d, k) for k in ("images", "variants", "interaction", "sampling")]
        rows.append([model, *shares, str(d.n_images), f"{d.n_variants} × {d.n_repeats}"])
    return format_table(rows)


def _share_text(d: VarianceDecomposition, key: str) -> str:
    share = d.shares.get(key, math.nan)
    if not math.isfinite(share):
        return "n/a"
    lo, hi = d.share_ci.get(key, (math.nan, math.nan))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{share:.2f}"
    return f"{share:.2f} [{lo:.2f}, {hi:.2f}]"


# --------------------------------------------------------------------------- the sweep table


@dataclass(frozen=True)
class CellRow:
    """One line of the sweep table: a cell's metric and what it cost."""

    cell: Cell
    metric: str | None
    value: float | None
    ci: tuple[float, float] | None
    items_ok: int
    items: int
    calls: int
    cache_hits: int
    cost_usd: float | None
    failures: Mapping[str, int]
    note: str = ""


def sweep_rows(
    sweep_dir: str | Path,
    metric: str | None = None,
    *,
    scores: Mapping[str, CellScore] | None = None,
) -> list[CellRow]:
    """A row per cell of a sweep folder (cells without results get an explanatory note)."""
    from chainlang.runtime.execute import summarise
    from chainlang.runtime.runfolder import read_results

    rows = []
    for cell in sweep_cells(sweep_dir):
        folder = Path(sweep_dir) / CELLS_DIR / cell.name
        records = read_results(folder) if folder.exists() else []
        s = summarise(records, 0.0)
        name = value = ci = None
        note = "" if records else "not run yet"
        try:
            score = scores.get(cell.name) if scores is not None else None
            # A cell missing from ``scores`` is scored here so its row says why it failed.
            score = score if score is not None else score_cell(folder)
            name = primary_metric(score, metric)
            mv = score.metrics.get(name)
            if mv is not None:
                value, ci = float(mv.value), (float(mv.ci_low), float(mv.ci_high))
        except (ChainlangError, KeyError) as err:
            note = note or f"not scored: {err}"
        rows.append(
            CellRow(
                cell,
                name,
                value,
                ci,
                s.items_ok,
                s.items,
                s.provider_calls,
                s.cache_hits,
                s.cost_usd,
                dict(s.failures),
                note,
            )
        )
    return rows


def format_sweep_table(rows: Iterable[CellRow]) -> str:
    """Plain-text table of a sweep: metric with CI, items, calls, cache hits, dollars."""
    table = [
        [
            "cell",
            "model",
            "choices",
            "metric",
            "value",
            "95% CI",
            "items ok",
            "calls",
            "cached",
            "$",
            "failures",
        ]
    ]
    for r in rows:
        ci = "" if r.ci is None or any(map(math.isnan, r.ci)) else f"[{r.ci[0]:.3f}, {r.ci[1]:.3f}]"
        fails = ", ".join(f"{k}:{v}" for k, v in sorted(r.failures.items())) or "-"
        table.append(
            [
                r.cell.name,
                r.cell.model,
                r.cell.label,
                r.metric or "-",
                "-" if r.value is None else f"{r.value:.4f}",
                ci or r.note,
                f"{r.items_ok}/{r.items}",
                str(r.calls),
                str(r.cache_hits),
                "-" if r.cost_usd is None else f"{r.cost_usd:.4f}",
                fails,
            ]
        )
    return format_table(table)


__all__ = [
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
    "read_sweep",
    "run_sweep",
    "score_cell",
    "score_sweep",
    "sweep_cells",
    "sweep_rows",
    "variance_by_model",
    "variance_rows",
]
