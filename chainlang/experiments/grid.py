"""The grid of a sweep: experiments, their cells, experiment files and checks.

See :mod:`chainlang.experiments.sweep` for the whole story.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainlang.errors import RunError, UsageError
from chainlang.language.diagnostics import did_you_mean
from chainlang.language.params import parse_param_spec
from chainlang.runtime.session import RunOptions, load_chain, parse_model

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
        baseline_params: instead of one baseline cell, one per model and variants: the
            cell with these parameter values (``{strategy = "reference", calls = 200}``
            compares every cell with the reference at 200 calls under the same answerer).
        metrics: the metrics compared, each in its own table (empty: the headline).
        margin: a non-inferiority margin: a cell is non-inferior to its baseline when
            the lower end of the 95% interval of (cell − baseline) is at least −margin.
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
    baseline_params: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    margin: float | None = None

    def __post_init__(self) -> None:
        if self.baseline is not None and self.baseline_params:
            raise UsageError("give either a baseline cell or baseline_params, not both")
        if self.margin is not None and not self.margin >= 0:
            raise UsageError(f"margin must be a number >= 0, got {self.margin}")
        for name, value in self.baseline_params.items():
            if name not in self.params:
                raise UsageError(
                    f"baseline_params: {name!r} is not a swept parameter "
                    f"(swept: {', '.join(self.params) or 'none'})"
                )
            if _canon(value) not in set(map(_canon, self.params[name])):
                raise UsageError(
                    f"baseline_params: {name} = {_show(value)} is not one of its values "
                    f"{[_show(v) for v in self.params[name]]}"
                )
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
    known |= {"baseline_params", "metrics", "margin"}
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
        baseline_params=_table(doc, "baseline_params", path),
        metrics=tuple(_as_list(doc.get("metrics", []), "metrics", path, str)),
        margin=_margin(doc.get("margin"), path),
    )


def _margin(value: Any, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{path}: 'margin' must be a number, got {value!r}")
    return float(value)


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
            values are read as TOML values, and a bare word is a string
            (:func:`chainlang.language.params.parse_param_spec`).
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
            hint = did_you_mean(name, prompts)
            raise UsageError(
                f"--variants: no prompt {name!r} ({_prompts_hint(program)})"
                + (f"; {hint}" if hint else "")
            )
        known = [v.name for v in prompts[name].variants]
        unknown = [v for v in chosen if v not in known]
        if unknown:
            hint = did_you_mean(unknown[0], known)
            raise UsageError(
                f"--variants: prompt {name!r} has no variant {', '.join(map(repr, unknown))} "
                f"(it has {', '.join(known)})" + (f"; {hint}" if hint else "")
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


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned plain-text columns; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
