"""After a sweep: scores per cell, paired comparisons, variance shares and the tables.

See :mod:`chainlang.experiments.sweep` for the whole story.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainlang.errors import ChainlangError, ScoringError, UsageError
from chainlang.experiments.grid import (
    CELLS_DIR,
    Cell,
    _show,
    format_table,
    read_sweep,
    sweep_cells,
)
from chainlang.experiments.stats import (
    Comparison,
    PerImage,
    TestName,
    adjust_comparisons,
    compare,
)
from chainlang.experiments.variance import VarianceDecomposition, decompose
from chainlang.runtime.runfolder import RESULTS_FILE

# --------------------------------------------------------------------------- scoring adapter


@dataclass(frozen=True)
class CellScore:
    """What the report and the statistics need from scoring one run folder.

    Attributes:
        metrics: metric name → ``MetricValue`` (value, CI, coverage).
        per_image: metric name → per-image contributions (rows may repeat an
            image id, once per sample, in sample order): values of per-image-mean
            metrics, sufficient statistics of pooled ones (δ1, AbsRel, ...).
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

    Without ``metric``, a per-image-mean metric (ρ, top-1) is preferred to a
    pooled one (δ1): the variance shares need one value per image, and a sweep
    compares the same metric by default as before pooled metrics could be paired.

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
    means = [m for m in ranked if score.per_image[m].metric is None]
    return (means or ranked)[0]


# --------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class CellComparison:
    """Cell ``b`` compared with cell ``a`` on one metric (``result.diff`` = b − a).

    ``higher_is_better`` is the metric's direction (False for AbsRel, angle errors):
    it decides which end of the interval a non-inferiority margin is read at.
    """

    a: str
    b: str
    metric: str
    result: Comparison
    higher_is_better: bool = True

    def non_inferior(self, margin: float) -> bool:
        """Whether B is at most ``margin`` worse than A with the interval's confidence.

        Higher-is-better: the interval's lower end is at least −margin;
        lower-is-better: its upper end is at most +margin.
        """
        if self.higher_is_better:
            return self.result.ci_low >= -margin
        return self.result.ci_high <= margin


def score_sweep(path: str | Path) -> dict[str, CellScore]:
    """Score every cell of a sweep folder that has results; cell name → score."""
    out: dict[str, CellScore] = {}
    for cell in sweep_cells(path):
        folder = Path(path) / CELLS_DIR / cell.name
        if (folder / RESULTS_FILE).exists():
            out[cell.name] = score_cell(folder)
    return out


def compare_cells(
    sweep_dir: str | Path,
    metric: str | None = None,
    *,
    baseline: str | None = None,
    baseline_params: Mapping[str, Any] | None = None,
    scores: Mapping[str, CellScore] | None = None,
    n_boot: int = 2000,
    n_perm: int = 10_000,
    seed: int = 0,
) -> list[CellComparison]:
    """Compare cells of a sweep on their common images, with BH-adjusted q-values.

    Every pair of cells is compared (B against A, in grid order), or every cell
    against ``baseline`` (default: the sweep's own ``baseline``), or, with
    ``baseline_params`` (default: the sweep's own), every cell against the cell of the
    same model and variants whose parameters are its own updated with ``baseline_params``.

    Raises:
        UsageError: the baseline is not a cell, or fewer than two cells have results.
        ScoringError: a cell cannot be scored or lacks the metric.
    """
    doc = read_sweep(sweep_dir)
    scores = dict(scores) if scores is not None else score_sweep(sweep_dir)
    names = [c["name"] for c in doc["cells"] if c["name"] in scores]
    if len(names) < 2:
        raise UsageError(f"{sweep_dir}: fewer than two cells have results to compare")
    if baseline is None and baseline_params is None:  # the sweep's own choice, if any
        baseline_params = doc.get("baseline_params")
    baseline = baseline or doc.get("baseline")
    if baseline is not None and baseline not in names:
        raise UsageError(f"baseline {baseline!r} is not a cell with results; cells: {names}")
    if baseline_params:
        pairs = _pairs_by_params(doc["cells"], names, baseline_params)
        if not pairs:
            raise UsageError(f"no cell with results has a baseline cell {dict(baseline_params)}")
    elif baseline:
        pairs = [(baseline, n) for n in names if n != baseline]
    else:
        pairs = list(itertools.combinations(names, 2))
    rng = np.random.default_rng(seed)
    chosen = primary_metric(scores[names[0]], metric)
    known = scores[names[0]].metrics.get(chosen)
    higher = bool(getattr(known, "higher_is_better", True))
    raw = []
    for a, b in pairs:
        pa = scores[a].per_image.get(chosen)
        pb = scores[b].per_image.get(chosen)
        if pa is None or pb is None:
            raise ScoringError(f"cell {a if pa is None else b} has no per-image {chosen!r}")
        test: TestName = "auto" if _one_per_image(pa) and _one_per_image(pb) else "permutation"
        raw.append(compare(pa, pb, test=test, n_boot=n_boot, n_perm=n_perm, rng=rng))
    adjusted = adjust_comparisons(raw)
    return [
        CellComparison(a, b, chosen, c, higher) for (a, b), c in zip(pairs, adjusted, strict=True)
    ]


def _pairs_by_params(
    cells: Sequence[Mapping[str, Any]], names: Sequence[str], wanted: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(baseline, cell) for each cell with results whose baseline cell has results too."""

    def key(c: Mapping[str, Any], params: Mapping[str, Any]) -> str:
        return json.dumps([c["model"], c["variants"], dict(params)], sort_keys=True, default=str)

    by_key = {key(c, c["params"]): c["name"] for c in cells if c["name"] in names}
    pairs = []
    for c in cells:
        base = by_key.get(key(c, {**c["params"], **wanted}))
        if c["name"] in names and base is not None and base != c["name"]:
            pairs.append((base, c["name"]))
    return pairs


def _one_per_image(p: PerImage) -> bool:
    # McNemar applies to one right/wrong value per image; repeats make averages.
    return len(set(p.ids)) == len(p.ids)


def format_comparisons(comparisons: Sequence[CellComparison], margin: float | None = None) -> str:
    """Plain-text table of comparisons: difference, CI, p and q values, test; with a
    ``margin``, whether B is non-inferior to A (the CI's lower end >= −margin, or its
    upper end <= +margin for a lower-is-better metric such as AbsRel)."""
    head = ["B", "A", "metric", "B − A", "95% CI", "p", "q", "images", "test"]
    if margin is not None:
        head.append(f"non-inferior ({margin_text(comparisons, margin)})")
    rows = [head]
    for c in comparisons:
        verdict = [] if margin is None else ["yes" if c.non_inferior(margin) else "no"]
        rows.append([*_comparison_cells(c), *verdict])
    return format_table(rows)


def margin_text(comparisons: Sequence[CellComparison], margin: float) -> str:
    """The margin as the bound it sets on B − A: ``−0.01`` for a higher-is-better
    metric, ``+0.01`` when every metric compared is lower-is-better (AbsRel, angles)."""
    lower = bool(comparisons) and not any(c.higher_is_better for c in comparisons)
    return f"{'+' if lower else '−'}{margin:g}"


def _comparison_cells(c: CellComparison) -> list[str]:
    r = c.result
    return [
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
        if per.stats.ndim != 1:
            raise ScoringError("variance needs one value per image (a per-image-mean metric)")
        group = cell.model
        if cell.params:
            group += " [" + ", ".join(f"{k}={_show(v)}" for k, v in cell.params.items()) + "]"
        variant = ", ".join(f"{p}={v}" for p, v in cell.variants.items()) or "default"
        seen: dict[str, int] = {}
        for image, value in zip(per.ids, per.stats, strict=True):
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
    with one sample) shows ``n/a``. A model whose metric never varied (every
    image, variant and sample scored the same) has no shares to split: its
    estimable components show ``0 (constant)`` rather than a misleading ``n/a``.
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
        # A finite component with no finite share means the total variance is 0.
        return "0 (constant)" if math.isfinite(d.components.get(key, math.nan)) else "n/a"
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
    from chainlang.runtime.runfolder import iter_results

    rows = []
    for cell in sweep_cells(sweep_dir):
        folder = Path(sweep_dir) / CELLS_DIR / cell.name
        s = summarise(iter_results(folder), 0.0)  # streams; a cell not started has no records
        name = value = ci = None
        note = "" if s.items else "not run yet"
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
