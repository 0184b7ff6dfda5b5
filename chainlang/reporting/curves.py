"""Quality per call: a sweep's metric against a numeric swept parameter, per model.

When a sweep sweeps a parameter whose values are all numbers (a budget such as
``calls``), each model gets one line chart: the parameter on x, a compared metric on
y, one line per combination of the other swept choices (parameters and prompt
variants), each point with its CI as a thin vertical bar, and the baseline cell's
value as a dashed horizontal line. Under the charts, a table names per model and
metric the *cheapest non-inferior* cell: the smallest value of the numeric parameter
among the cells whose paired comparison with their baseline is non-inferior at the
sweep's margin (ties broken by cell name).

:func:`quality_section` is the HTML report's section; :func:`curve_svgs` and
:func:`write_curve_svgs` give the same charts as standalone SVG files, one per metric
with a panel per model (``chainlang report SWEEP --curves-svg DIR``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainlang.errors import ChainlangError, UsageError
from chainlang.experiments.analysis import CellComparison, CellScore, score_sweep
from chainlang.experiments.grid import Cell, read_sweep, sweep_cells

# Tableau 10: distinct on screen and in grey print; lines past ten reuse them dashed.
_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
_BASELINE_COLOUR = "#555"

Compare = Callable[[str | None], Sequence[CellComparison]]


# --------------------------------------------------------------------------- the data


def numeric_parameter(params: Mapping[str, Sequence[Any]]) -> str | None:
    """The swept parameter the curves are drawn against, or None.

    A candidate has at least two values, all numbers (booleans are not numbers here).
    Among several, ``calls`` wins, else the first in declaration order.
    """

    def numeric(values: Sequence[Any]) -> bool:
        return len(values) >= 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
        )

    found = [name for name, values in params.items() if numeric(values)]
    if not found:
        return None
    return "calls" if "calls" in found else found[0]


@dataclass(frozen=True)
class Point:
    """One cell on a curve: the numeric parameter's value and the metric with its CI."""

    cell: str
    x: float
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Curve:
    """The cells of one model that share every swept choice but the numeric one."""

    label: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Cheapest:
    """The cheapest non-inferior cell of one model on one metric (``cell`` None: none).

    ``bound`` is the end of the interval the margin is read at: the lower end for a
    higher-is-better metric, the upper end otherwise (``higher_is_better``).
    """

    model: str
    metric: str
    cell: str | None = None
    label: str = ""
    x: float | None = None
    diff: float = math.nan
    bound: float = math.nan
    higher_is_better: bool = True
    ties: tuple[str, ...] = ()
    qualifying: int = 0
    compared: int = 0


def _others(cell: Cell, param: str) -> str:
    """The cell's choices with the numeric parameter left out: the name of its line."""
    parts = [f"{p}={v}" for p, v in cell.variants.items()]
    parts += [f"{k}={v}" for k, v in cell.params.items() if k != param]
    return ", ".join(parts) or "all cells"


def curves(
    cells: Sequence[Cell], scores: Mapping[str, CellScore], param: str, metric: str
) -> dict[str, list[Curve]]:
    """Model → its curves of ``metric`` against ``param``, in grid order of first cell.

    Cells without a score or without the metric are left out; a curve keeps its
    points sorted by the parameter's value.
    """
    grouped: dict[str, dict[str, list[Point]]] = {}
    for cell in cells:
        score = scores.get(cell.name)
        mv = score.metrics.get(metric) if score is not None else None
        if mv is None or param not in cell.params or not np.isfinite(mv.value):
            continue
        point = Point(cell.name, float(cell.params[param]), mv.value, mv.ci_low, mv.ci_high)
        grouped.setdefault(cell.model, {}).setdefault(_others(cell, param), []).append(point)
    return {
        model: [Curve(label, tuple(sorted(pts, key=lambda p: p.x))) for label, pts in lines.items()]
        for model, lines in grouped.items()
    }


def baseline_cells(doc: Mapping[str, Any], cells: Sequence[Cell]) -> dict[str, list[Cell]]:
    """Model → the cells its others are compared with: those matching ``baseline_params``
    (one per variant choice), or the sweep's one ``baseline`` cell for every model."""
    wanted = doc.get("baseline_params") or {}
    named = doc.get("baseline")
    out: dict[str, list[Cell]] = {}
    for cell in cells:
        if wanted:
            if all(cell.params.get(k) == v for k, v in wanted.items()):
                out.setdefault(cell.model, []).append(cell)
    if not wanted and named:
        base = [c for c in cells if c.name == named]
        for model in dict.fromkeys(c.model for c in cells):
            out[model] = base
    return out


def cheapest_non_inferior(
    cells: Sequence[Cell],
    comparisons: Sequence[CellComparison],
    param: str,
    margin: float,
) -> dict[str, Cheapest]:
    """Model → the cell with the smallest ``param`` whose comparison is non-inferior.

    Only comparisons of a cell with its baseline count (the sweep's ``baseline`` or
    ``baseline_params`` pairing, as :func:`compare_cells` makes them); a model whose
    cells all fail gets a :class:`Cheapest` with ``cell`` None. Ties on the value are
    broken by cell name; the other tied cells are kept in ``ties``.
    """
    by_name = {c.name: c for c in cells}
    out: dict[str, Cheapest] = {}
    grouped: dict[str, list[CellComparison]] = {}
    for comp in comparisons:
        cell = by_name.get(comp.b)
        if cell is not None and param in cell.params:
            grouped.setdefault(cell.model, []).append(comp)
    for model, comps in grouped.items():
        metric = comps[0].metric
        ok = [c for c in comps if c.non_inferior(margin)]
        if not ok:
            out[model] = Cheapest(model, metric, compared=len(comps))
            continue
        ok.sort(key=lambda c: (float(by_name[c.b].params[param]), c.b))
        best = ok[0]
        cell = by_name[best.b]
        x = float(cell.params[param])
        ties = tuple(c.b for c in ok[1:] if float(by_name[c.b].params[param]) == x)
        r = best.result
        out[model] = Cheapest(
            model,
            metric,
            best.b,
            cell.label,
            x,
            r.diff,
            r.ci_low if best.higher_is_better else r.ci_high,
            best.higher_is_better,
            ties,
            len(ok),
            len(comps),
        )
    return out


# --------------------------------------------------------------------------- drawing


def chart_svg(
    model: str,
    lines: Sequence[Curve],
    param: str,
    metric: str,
    baselines: Sequence[tuple[str, float]] = (),
    *,
    legend: bool = True,
    namespace: bool = False,
) -> str:
    """One model's curves as an SVG line chart.

    Args:
        model: the chart's title.
        lines: the curves (colours follow their order).
        param: the x axis's name.
        metric: the y axis's name.
        baselines: (label, value) of each baseline cell, drawn as dashed horizontal lines.
        legend: draw the legend to the right of the plot.
        namespace: add the SVG namespace (a standalone file needs it; inline HTML does not).
    """
    from chainlang.reporting.report import _e, _line, _padded, _svg_open, _text

    left, top, plot_w, plot_h, bottom = 56, 40, 360, 200, 42
    legend_w = 0
    if legend:
        names = [c.label for c in lines] + [f"baseline: {b}" for b, _ in baselines]
        legend_w = 24 + max((int(6.2 * len(n)) for n in names), default=0)
    width, height = left + plot_w + 16 + legend_w, top + plot_h + bottom
    xs = sorted({p.x for c in lines for p in c.points})
    ys = [
        v for c in lines for p in c.points for v in (p.value, p.ci_low, p.ci_high) if np.isfinite(v)
    ]
    ys += [v for _, v in baselines if np.isfinite(v)]
    y_lo, y_hi = _padded(min(ys, default=0.0), max(ys, default=1.0))
    if len(xs) >= 2:
        x_lo, x_hi = xs[0], xs[-1]
    else:  # one value (or none): a unit-wide axis around it
        x_lo, x_hi = (xs[0] - 1, xs[0] + 1) if xs else (0.0, 1.0)
    x_pad = 0.06 * (x_hi - x_lo)

    def x(v: float) -> float:
        return left + (v - x_lo + x_pad) / (x_hi - x_lo + 2 * x_pad) * plot_w

    def y(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * plot_h

    out = [_svg_open(width, height, f"{metric} against {param}: {model}")]
    if namespace:
        out[0] = out[0].replace("<svg ", "<svg xmlns='http://www.w3.org/2000/svg' ", 1)
    out.append(_text(left, 14, model, size=13))
    # Axes with ticks: y at five even values, x at each swept value.
    out.append(_thin(left, top, left, top + plot_h, "#666"))
    out.append(_thin(left, top + plot_h, left + plot_w, top + plot_h, "#666"))
    for t in _ticks(y_lo, y_hi):
        ty = y(t)
        out.append(_thin(left - 4, ty, left, ty, "#666"))
        out.append(_thin(left, ty, left + plot_w, ty, "#eee"))
        out.append(_text(4, ty + 4, f"{t:.4g}", size=10))
    for v in xs:
        out.append(_thin(x(v), top + plot_h, x(v), top + plot_h + 4, "#666"))
        out.append(_text(x(v) - 8, top + plot_h + 16, f"{v:g}", size=10))
    out.append(_text(left + plot_w / 2 - 3 * len(param), top + plot_h + 34, param, size=11))
    out.append(_text(4, top - 8, metric, size=10))
    for _, value in baselines:
        out.append(_line(left, y(value), left + plot_w, y(value), _BASELINE_COLOUR, dash=True))
    # Lines at one x are nudged apart a few pixels so their CI bars do not hide each other.
    spread = min(3.0, 40.0 / max(len(lines), 1))
    for i, curve in enumerate(lines):
        colour = _PALETTE[i % len(_PALETTE)]
        dash = " stroke-dasharray='6 3'" if i >= len(_PALETTE) else ""
        dx = (i - (len(lines) - 1) / 2) * spread
        pts = [(x(p.x) + dx, y(p.value), p) for p in curve.points]
        if len(pts) >= 2:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts)
            out.append(
                f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'{dash}/>"
            )
        for px, py, p in pts:
            if np.isfinite(p.ci_low) and np.isfinite(p.ci_high):
                out.append(_thin(px, y(p.ci_low), px, y(p.ci_high), colour))
            out.append(
                f"<circle cx='{px:.1f}' cy='{py:.1f}' r='3.5' fill='{colour}'>"
                f"<title>{_e(p.cell)}: {p.value:.4f}</title></circle>"
            )
    if legend:
        entries = [(c.label, _PALETTE[i % len(_PALETTE)], False) for i, c in enumerate(lines)]
        entries += [(f"baseline: {b}", _BASELINE_COLOUR, True) for b, _ in baselines]
        out.append(_legend(entries, left + plot_w + 16, top))
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float) -> list[float]:
    """Round tick values inside [lo, hi]: a step of 1, 2, 2.5 or 5 times a power of ten,
    four to eight ticks."""
    span = hi - lo
    if not (np.isfinite(span) and span > 0):
        return [lo]
    raw = span / 6  # at least four ticks, at most about eight
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    count = math.floor((hi - first) / step + 1e-9) + 1
    # Rounding keeps 0.9 from printing as 0.8999999999999999.
    return [round(first + i * step, 12) for i in range(count)]


def _thin(x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    return (
        f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
        f"stroke='{colour}' stroke-width='1'/>"
    )


def _legend(entries: Sequence[tuple[str, str, bool]], x0: float, y0: float) -> str:
    from chainlang.reporting.report import _line, _text

    out = []
    for j, (label, colour, dashed) in enumerate(entries):
        ly = y0 + 8 + j * 16
        out.append(_line(x0, ly, x0 + 18, ly, colour, dash=dashed))
        out.append(_text(x0 + 24, ly + 4, label, size=11))
    return "".join(out)


# --------------------------------------------------------------------------- assembled


@dataclass(frozen=True)
class _Plan:
    """What the charts need that does not depend on the metric."""

    doc: Mapping[str, Any]
    cells: tuple[Cell, ...]
    param: str
    bases: Mapping[str, Sequence[Cell]]


def _plan(path: Path, cells: Sequence[Cell]) -> _Plan | None:
    doc = read_sweep(path)
    param = numeric_parameter(doc.get("params") or {})
    if param is None:
        return None
    return _Plan(doc, tuple(cells), param, baseline_cells(doc, cells))


def _baseline_values(
    plan: _Plan, model: str, scores: Mapping[str, CellScore], metric: str
) -> list[tuple[str, float]]:
    out = []
    for cell in plan.bases.get(model, ()):
        score = scores.get(cell.name)
        mv = score.metrics.get(metric) if score is not None else None
        if mv is not None and np.isfinite(mv.value):
            out.append((cell.label, float(mv.value)))
    return out


def quality_section(
    path: Path,
    cells: Sequence[Cell],
    scores: Mapping[str, CellScore],
    metrics: Sequence[str | None],
    compare: Compare,
) -> str | None:
    """The report's "Quality per call" section, or None when no swept parameter is numeric.

    Args:
        path: the sweep folder.
        cells: its cells.
        scores: the cells' scores.
        metrics: the compared metrics (None: the default metric).
        compare: metric → the sweep's paired comparisons (shared with the comparison
            section, so each bootstrap runs once).
    """
    from chainlang.reporting.report import _e, _Html, _note, _table

    plan = _plan(path, cells)
    if plan is None:
        return None
    margin = plan.doc.get("margin")
    parts = [
        f"<p>Each compared metric against <b>{_e(plan.param)}</b>, one chart per model: one "
        "line per combination of the other swept choices, each point with its 95% CI as a "
        "thin bar; the dashed line is the baseline cell's value.</p>"
    ]
    rows: list[list[str]] = []
    notes: list[str] = []
    for metric in metrics:
        name = metric or _default_metric(scores)
        if name is None:
            notes.append(_note("no metric to plot"))
            continue
        by_model = curves(plan.cells, scores, plan.param, name)
        if not by_model:
            notes.append(_note(f"no cell has the metric {name!r}"))
            continue
        for model, lines in by_model.items():
            base = _baseline_values(plan, model, scores, name)
            parts.append(f"<h3>{_e(model)}: {_e(name)}</h3>")
            parts.append(chart_svg(model, lines, plan.param, name, base))
        if margin is None or not plan.bases:
            continue
        try:
            best = cheapest_non_inferior(plan.cells, compare(metric), plan.param, margin)
        except ChainlangError as err:
            notes.append(_note(f"{name}: no comparisons: {err}"))
            continue
        for model in by_model:
            b = best.get(model)
            rows.append(_cheapest_row(model, name, b, plan.param, margin))
    if margin is None:
        parts.append(
            _note(
                "The sweep sets no non-inferiority margin (margin in the experiment file), "
                "so no cell is called non-inferior and the cheapest-cell table is left out."
            )
        )
    elif not plan.bases:
        parts.append(
            _note(
                "The sweep names no baseline (baseline or [baseline_params]), so there is "
                "nothing to be non-inferior to and the cheapest-cell table is left out."
            )
        )
    elif rows:
        parts.append(
            f"<p>Cheapest non-inferior cell per model and metric: the smallest "
            f"<b>{_e(plan.param)}</b> among the cells whose paired difference with their "
            f"baseline is non-inferior at margin {margin:g} (ties broken by cell name).</p>"
        )
        head = [
            "model",
            "metric",
            "cheapest non-inferior cell",
            "choices",
            plan.param,
            "B − baseline",
            "CI end vs margin",
            "tied with",
            "non-inferior / compared",
        ]
        parts.append(_table(head, rows))
    return _Html("".join(parts + notes))


def _cheapest_row(
    model: str, metric: str, b: Cheapest | None, param: str, margin: float
) -> list[str]:
    if b is None:
        return [model, metric, "none", "no comparison with a baseline", "", "", "", "", ""]
    if b.cell is None:
        return [model, metric, "none", "", "", "", "", "", f"0 / {b.compared}"]
    end = "lower" if b.higher_is_better else "upper"
    return [
        model,
        metric,
        b.cell,
        b.label,
        f"{b.x:g}",
        f"{b.diff:+.4f}",
        f"{b.bound:+.4f} ({end})",
        ", ".join(b.ties) or "-",
        f"{b.qualifying} / {b.compared}",
    ]


def _default_metric(scores: Mapping[str, CellScore]) -> str | None:
    from chainlang.experiments.analysis import primary_metric

    if not scores:
        return None
    try:
        return primary_metric(next(iter(scores.values())), None)
    except ChainlangError:
        return None


def curve_svgs(
    sweep_dir: str | Path,
    metrics: Sequence[str] | None = None,
    *,
    scores: Mapping[str, CellScore] | None = None,
    columns: int = 2,
) -> dict[str, str]:
    """The quality-per-call charts of a sweep as standalone SVG documents, one per metric.

    Each document has a panel per model (``columns`` to a row, each panel with its own
    y range) and one legend above them. No fonts or images are embedded.

    Args:
        sweep_dir: the sweep folder.
        metrics: the metrics (default: the sweep's compared ``metrics``, else the default).
        scores: the cells' scores if already computed (default: score every cell).
        columns: panels per row.

    Returns:
        metric → SVG text.

    Raises:
        UsageError: no swept parameter has only numbers, or no cell has a metric asked for.
    """
    from chainlang.reporting.report import _svg_open

    path = Path(sweep_dir)
    plan = _plan(path, sweep_cells(path))
    if plan is None:
        raise UsageError(f"{path}: no swept parameter has two or more numeric values to plot")
    scores = scores if scores is not None else score_sweep(path)
    listed = list(metrics) if metrics else [str(m) for m in plan.doc.get("metrics") or []]
    if not listed:
        default = _default_metric(scores)
        listed = [default] if default else []
    out: dict[str, str] = {}
    for metric in listed:
        by_model = curves(plan.cells, scores, plan.param, metric)
        if not by_model:
            raise UsageError(f"{path}: no cell has the metric {metric!r}")
        panels = [
            chart_svg(
                model,
                lines,
                plan.param,
                metric,
                _baseline_values(plan, model, scores, metric),
                legend=False,
            )
            for model, lines in by_model.items()
        ]
        first = next(iter(by_model.values()))
        base_labels = {b.label for bs in plan.bases.values() for b in bs}
        entries = [(c.label, _PALETTE[i % len(_PALETTE)], False) for i, c in enumerate(first)]
        entries += [(f"baseline: {b}", _BASELINE_COLOUR, True) for b in sorted(base_labels)]
        pw, ph = _size(panels[0])
        cols = max(1, min(columns, len(panels)))
        legend_h = 16 + 16 * math.ceil(len(entries) / cols)
        width, height = pw * cols, legend_h + ph * math.ceil(len(panels) / cols)
        doc = [
            _svg_open(width, height, f"{metric} against {plan.param} per model").replace(
                "<svg ", "<svg xmlns='http://www.w3.org/2000/svg' font-family='sans-serif' ", 1
            ),
            f"<rect width='{width}' height='{height}' fill='#fff'/>",
        ]
        per_col = math.ceil(len(entries) / cols)
        for c in range(cols):
            doc.append(_legend(entries[c * per_col : (c + 1) * per_col], 56 + c * pw, 0))
        for i, panel in enumerate(panels):
            px, py = (i % cols) * pw, legend_h + (i // cols) * ph
            doc.append(f"<g transform='translate({px},{py})'>{panel}</g>")
        doc.append("</svg>")
        out[metric] = "".join(doc)
    return out


def _size(svg: str) -> tuple[int, int]:
    """The width and height ``_svg_open`` wrote at the start of ``svg``."""
    head = svg[: svg.index(">")]
    width = head.split("width='", 1)[1].split("'", 1)[0]
    height = head.split("height='", 1)[1].split("'", 1)[0]
    return int(width), int(height)


def write_curve_svgs(
    sweep_dir: str | Path,
    out_dir: str | Path,
    metrics: Sequence[str] | None = None,
    *,
    prefix: str | None = None,
) -> list[Path]:
    """Write :func:`curve_svgs` as ``OUT_DIR/<prefix>_<metric>.svg`` (prefix: the sweep
    folder's name) and return the paths written."""
    path = Path(sweep_dir)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    stem = prefix or path.resolve().name
    written = []
    for metric, svg in curve_svgs(path, metrics).items():
        file = target / f"{stem}_{metric}.svg"
        file.write_text(svg + "\n", encoding="utf-8")
        written.append(file)
    return written


__all__ = [
    "Cheapest",
    "Curve",
    "Point",
    "chart_svg",
    "cheapest_non_inferior",
    "curve_svgs",
    "curves",
    "numeric_parameter",
    "quality_section",
    "write_curve_svgs",
]
