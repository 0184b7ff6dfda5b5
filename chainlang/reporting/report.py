"""A static HTML report of a run or a sweep: one file, no server, nothing fetched.

:func:`render_report` writes a single HTML page with everything inlined (CSS in
a ``<style>`` block, pictures as base64 PNG data URLs, plots as inline SVG
drawn here), so it can be mailed, committed or opened offline. Sections:

1. results: a row per cell (or the one run), each metric with its CI, and coverage;
2. paired comparisons with a forest plot of the differences (sweeps only);
   then, for a sweep with a numeric swept parameter (such as ``calls``), quality per
   call: per model, each compared metric against it, one line per combination of the
   other choices, and the cheapest cell non-inferior to the baseline
   (:mod:`chainlang.reporting.curves`);
3. the variance decomposition per model as stacked bars (sweeps with variants or repeats);
4. sensitivity: per model, the metric of each cell with its CI;
5. parameters: each cell's resolved parameters and variants, as ``run.json`` records
   them (values set by ``defaults for`` blocks included);
6. cost and coverage: calls, cache hits, tokens, dollars, failures by cause, fallbacks;
7. pictures: input | each cell's prediction | truth for chosen images;
8. a per-question trace of one item (the images the model was sent, its answers).

A section that cannot be computed (a run that cannot be scored, too few
images for a decomposition) says why in the page instead of failing the report.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from chainlang.errors import ChainlangError, RunError
from chainlang.experiments.analysis import margin_text
from chainlang.experiments.sweep import (
    CELLS_DIR,
    SWEEP_FILE,
    Cell,
    CellComparison,
    CellScore,
    compare_cells,
    primary_metric,
    read_sweep,
    score_cell,
    sweep_cells,
    variance_by_model,
)
from chainlang.experiments.variance import COMPONENTS, VarianceDecomposition
from chainlang.language.params import recorded_choices
from chainlang.reporting import pictures as viz
from chainlang.runtime.runfolder import RESULTS_FILE, RUN_FILE, iter_results, read_run

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#885;font-style:italic}.step{border-left:3px solid #ccd;padding-left:10px;margin:12px 0}
.msg{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px;margin:2px 0}
img.pic{max-width:100%;border:1px solid #ddd}
img.sent{max-height:220px;border:1px solid #ccc;margin:4px}
"""
_COLOURS = {
    "images": "#4e79a7",
    "variants": "#f28e2b",
    "interaction": "#b07aa1",
    "sampling": "#59a14f",
}


@dataclass(frozen=True)
class _Source:
    """What the report is about: a sweep's cells or one run, with their folders."""

    path: Path
    is_sweep: bool
    cells: tuple[Cell, ...]
    folders: Mapping[str, Path]


def render_report(
    path: str | Path,
    out: str | Path,
    images: Sequence[str] | None = None,
    *,
    item: str | None = None,
    metric: str | None = None,
    cache: str | Path | None = None,
    max_images: int = 2,
) -> Path:
    """Write the HTML report of a run folder or a sweep folder.

    Args:
        path: a run folder (``run.json``) or a sweep folder (``sweep.json``).
        out: the HTML file to write.
        images: item ids to show side by side (default: the first ``max_images``).
        item: the item whose questions are traced (default: the first image shown).
        metric: the metric compared and plotted (default: the task's headline metric).
        cache: the journal the runs used, for the trace (see :func:`trace_item`).
        max_images: how many images to show when ``images`` is not given.

    Returns:
        The path written.

    Raises:
        RunError: ``path`` is neither a run nor a sweep folder.
    """
    src = _source(Path(path))
    scores, errors = _scores(src)
    chosen = _metric(scores, metric)
    ids = list(images) if images else _first_ids(src, max_images)
    parts = [
        f"<h1>chainlang report: {_e(src.path.name or str(src.path))}</h1>",
        f"<p>{'Sweep' if src.is_sweep else 'Run'} folder <code>{_e(str(src.path))}</code>; "
        f"{len(src.cells)} {'cells' if src.is_sweep else 'run'}.</p>",
        _section("Results", lambda: _results(src, scores, errors)),
    ]
    if src.is_sweep:
        compared = _compared_metrics(src, metric, chosen)
        compare = _memo_compare(src, scores)
        parts.append(
            _section("Paired comparisons", lambda: _comparisons(src, scores, compared, compare))
        )
        quality = _quality(src, scores, compared, compare)
        if quality is not None:  # only sweeps with a numeric swept parameter have curves
            parts.append(quality)
        parts.append(_section("Variance decomposition", lambda: _variance(src, scores, chosen)))
        parts.append(_section("Sensitivity per model", lambda: _sensitivity(src, scores, chosen)))
    parts.append(_section("Parameters", lambda: _parameters(src)))
    parts.append(_section("Cost and coverage", lambda: _cost(src)))
    parts.append(_section("Predictions side by side", lambda: _pictures(src, ids)))
    trace_id = item or (ids[0] if ids else None)
    parts.append(_section("Question trace", lambda: _trace(src, trace_id, cache)))
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>chainlang report</title><style>{_CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


# --------------------------------------------------------------------------- sources and scores


def _source(path: Path) -> _Source:
    if (path / SWEEP_FILE).exists():
        grid = tuple(sweep_cells(path))
        return _Source(path, True, grid, {c.name: path / CELLS_DIR / c.name for c in grid})
    if (path / RUN_FILE).exists():
        run = read_run(path)
        cell = Cell(path.name or "run", str(run.get("model", "")), run.get("variants", {}), {})
        return _Source(path, False, (cell,), {cell.name: path})
    raise RunError(f"{path} is neither a run folder ({RUN_FILE}) nor a sweep folder ({SWEEP_FILE})")


def _scores(src: _Source) -> tuple[dict[str, CellScore], dict[str, str]]:
    scores: dict[str, CellScore] = {}
    errors: dict[str, str] = {}
    for cell in src.cells:
        folder = src.folders[cell.name]
        if not (folder / RESULTS_FILE).exists():
            errors[cell.name] = "not run yet"
            continue
        try:
            scores[cell.name] = score_cell(folder)
        except ChainlangError as err:
            errors[cell.name] = f"not scored: {err}"
    return scores, errors


def _metric(scores: Mapping[str, CellScore], metric: str | None) -> str | None:
    """The metric compared; an unknown ``metric`` is an error, not an empty report."""
    if not scores:
        return metric
    first = next(iter(scores.values()))
    if metric is not None:
        return primary_metric(first, metric)  # raises ScoringError naming the metrics
    try:
        return primary_metric(first, None)
    except ChainlangError:
        return None


def _first_ids(src: _Source, n: int) -> list[str]:
    for cell in src.cells:
        folder = src.folders[cell.name]
        if (folder / RESULTS_FILE).exists():
            return sorted({str(r["id"]) for r in iter_results(folder)})[:n]
    return []


def _section(title: str, body: Callable[[], str]) -> str:
    """A titled section; an error inside it becomes a note, not a failed report."""
    try:
        content = body()
    except ChainlangError as err:
        content = _note(str(err))
    return f"<section><h2>{_e(title)}</h2>{content}</section>"


# --------------------------------------------------------------------------- tables


def _results(src: _Source, scores: Mapping[str, CellScore], errors: Mapping[str, str]) -> str:
    names: list[str] = []
    for score in scores.values():
        for m in (*score.order, *score.metrics):
            if m not in names:
                names.append(m)
    head = ["cell", "model", "choices", *names, "items scored", "questions failed"]
    rows = []
    for cell in src.cells:
        s = scores.get(cell.name)
        if s is None:
            rows.append([cell.name, cell.model, cell.label, _note(errors.get(cell.name, ""))])
            continue
        values = [_metric_cell(s.metrics.get(m)) for m in names]
        cov = _coverage(s)
        rows.append([cell.name, cell.model, cell.label, *values, *cov])
    return _table(head, rows)


def _metric_cell(mv: Any) -> str:
    if mv is None:
        return ""
    text = f"{mv.value:.4f}"
    if not (math.isnan(mv.ci_low) or math.isnan(mv.ci_high)):
        text += f" <small>[{mv.ci_low:.3f}, {mv.ci_high:.3f}]</small>"
    return _Html(text)


def _coverage(score: CellScore) -> list[str]:
    mv = next(iter(score.metrics.values()), None)
    cov = getattr(mv, "coverage", None)
    if cov is None:
        return ["", ""]
    return [f"{cov.items_scored}/{cov.items}", f"{cov.questions_failed}/{cov.questions}"]


def _parameters(src: _Source) -> str:
    """Each cell's resolved parameters and variants as its ``run.json`` records them,
    so a value set by a ``defaults for`` block shows, not only the swept ones."""
    rows = []
    for cell in src.cells:
        folder = src.folders[cell.name]
        if not (folder / RUN_FILE).exists():
            rows.append([cell.name, cell.model, _note("not run yet")])
            continue
        rows.append([cell.name, cell.model, recorded_choices(read_run(folder))])
    return _table(["cell", "model", "parameters and variants (resolved)"], rows)


def _cost(src: _Source) -> str:
    from chainlang.runtime.execute import summarise

    head = [
        "cell",
        "items ok",
        "questions",
        "provider calls",
        "cache hits",
        "tokens in",
        "tokens out",
        "$",
        "failed questions by cause",
        "failed items by cause",
        "fallbacks",
    ]
    rows = []
    for cell in src.cells:
        folder = src.folders[cell.name]
        s = summarise(iter_results(folder), 0.0)
        rows.append(
            [
                cell.name,
                f"{s.items_ok}/{s.items}",
                str(s.questions),
                str(s.provider_calls),
                str(s.cache_hits),
                str(s.input_tokens),
                str(s.output_tokens),
                "unknown" if s.cost_usd is None else f"{s.cost_usd:.4f}",
                _counts(s.failures),
                _counts(s.item_failures),
                str(s.fallbacks),
            ]
        )
    return _table(head, rows)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


class _Html(str):
    """Markup that is already safe (everything else put in a table is escaped)."""


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, _Html) else _e(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


# --------------------------------------------------------------------------- comparisons


def _compared_metrics(src: _Source, metric: str | None, chosen: str | None) -> list[str | None]:
    """The metrics compared: ``metric`` if named, else the sweep's own list, else the default.

    ``sweep.json`` keeps the experiment's ``metrics`` (sweeps written before it did have
    none), so the report compares what ``chainlang sweep`` compared, pooled metrics included.
    """
    if metric is not None:
        return [chosen]
    listed = read_sweep(src.path).get("metrics") or []
    return [str(m) for m in listed] or [chosen]


def _memo_compare(
    src: _Source, scores: Mapping[str, CellScore]
) -> Callable[[str | None], Sequence[CellComparison]]:
    """``compare_cells`` of the sweep per metric, computed once: the comparison and the
    quality-per-call sections read the same bootstrap."""
    done: dict[str | None, Sequence[CellComparison]] = {}

    def compare(metric: str | None) -> Sequence[CellComparison]:
        if metric not in done:
            done[metric] = compare_cells(src.path, metric, scores=scores)
        return done[metric]

    return compare


def _quality(
    src: _Source,
    scores: Mapping[str, CellScore],
    metrics: Sequence[str | None],
    compare: Callable[[str | None], Sequence[CellComparison]],
) -> str | None:
    """The "Quality per call" section, or None for a sweep without a numeric parameter."""
    from chainlang.reporting.curves import quality_section

    title = "Quality per call"
    try:
        body = quality_section(src.path, src.cells, scores, metrics, compare)
    except ChainlangError as err:
        message = str(err)  # ``err`` is unbound once the except block ends
        return _section(title, lambda: _note(message))
    return None if body is None else _section(title, lambda: body)


def _comparisons(
    src: _Source,
    scores: Mapping[str, CellScore],
    metrics: Sequence[str | None],
    compare: Callable[[str | None], Sequence[CellComparison]] | None = None,
) -> str:
    """One forest plot and table per compared metric; a metric that cannot be paired
    gets a note in its place and does not hide the others."""
    if len(scores) < 2:
        return _note("fewer than two cells have scores; nothing to compare")
    parts = []
    for metric in metrics:
        try:
            parts.append(_comparison_block(src, scores, metric, compare))
        except ChainlangError as err:
            parts.append(_note(f"{metric or 'the default metric'}: not available: {err}"))
    return "".join(parts)


def _comparison_block(
    src: _Source,
    scores: Mapping[str, CellScore],
    metric: str | None,
    compare: Callable[[str | None], Sequence[CellComparison]] | None = None,
) -> str:
    comps = (
        compare(metric) if compare is not None else compare_cells(src.path, metric, scores=scores)
    )
    margin = read_sweep(src.path).get("margin")  # a non-inferiority margin, if the sweep has one
    head = ["B", "A", "B − A", "95% CI", "p", "q (BH)", "images", "test"]
    head += [] if margin is None else [f"non-inferior ({margin_text(comps, margin)})"]
    rows = [
        [
            c.b,
            c.a,
            f"{c.result.diff:+.4f}",
            f"[{c.result.ci_low:+.4f}, {c.result.ci_high:+.4f}]",
            f"{c.result.p_value:.4g}",
            f"{c.result.q_value:.4g}",
            str(c.result.n_images),
            c.result.test_name,
            *([] if margin is None else ["yes" if c.non_inferior(margin) else "no"]),
        ]
        for c in comps
    ]
    name = comps[0].metric
    cell = scores[comps[0].a].per_image.get(name)
    how = (
        " Pooled over images: each bootstrap resample draws the same images for both"
        " cells and recomputes each cell's value from its summed per-image statistics."
        if cell is not None and cell.metric is not None
        else ""
    )
    title = f"<p>Metric <b>{_e(name)}</b>, paired on the images both cells share.{how}</p>"
    return title + _forest_svg(comps) + _table(head, rows)


def _forest_svg(comps: Sequence[CellComparison]) -> str:
    """Each difference with its CI on one horizontal axis; zero is marked."""
    labels = [f"{c.b}  vs  {c.a}" for c in comps]
    # Room for the longest label at 11 px (about 6.5 px a character): never cut a name.
    label_w, plot_w, row_h, top = max(200, int(6.5 * max(map(len, labels))) + 12), 420, 22, 24
    lows = [c.result.ci_low for c in comps] + [c.result.diff for c in comps] + [0.0]
    highs = [c.result.ci_high for c in comps] + [c.result.diff for c in comps] + [0.0]
    lo, hi = _padded(min(lows), max(highs))

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    height = top + row_h * len(comps) + 24
    out = [_svg_open(label_w + plot_w + 20, height, "Forest plot of paired differences")]
    out.append(_line(x(0), top - 6, x(0), height - 20, "#999", dash=True))
    for i, c in enumerate(comps):
        y = top + i * row_h + row_h / 2
        r = c.result
        colour = "#c0392b" if r.q_value is not None and r.q_value < 0.05 else "#2c3e50"
        out.append(_text(4, y + 4, labels[i], size=11))
        out.append(_line(x(r.ci_low), y, x(r.ci_high), y, colour))
        out.append(f"<circle cx='{x(r.diff):.1f}' cy='{y:.1f}' r='4' fill='{colour}'/>")
    out.append(_axis(lo, hi, x, height - 16))
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------- variance and sensitivity


def _variance(src: _Source, scores: Mapping[str, CellScore], metric: str | None) -> str:
    parts = variance_by_model(src.path, metric, scores=scores)
    rows = [
        [
            model,
            *(_share(d, k) for k in COMPONENTS),
            str(d.n_images),
            str(d.n_variants),
            str(d.n_repeats),
            d.dominant or "-",
        ]
        for model, d in parts.items()
    ]
    head = ["model", *COMPONENTS, "images", "variants", "repeats", "dominant"]
    return _variance_svg(parts) + _table(head, rows)


def _share(d: VarianceDecomposition, k: str) -> str:
    v = d.shares.get(k, float("nan"))
    if not np.isfinite(v):
        return "n/a"
    lo, hi = d.share_ci.get(k, (float("nan"), float("nan")))
    return f"{v:.0%} [{lo:.0%}, {hi:.0%}]"


def _variance_svg(parts: Mapping[str, VarianceDecomposition]) -> str:
    label_w, bar_w, row_h, top = 260, 500, 26, 30
    height = top + row_h * len(parts) + 10
    out = [_svg_open(label_w + bar_w + 20, height, "Variance shares per model")]
    for j, k in enumerate(COMPONENTS):  # legend
        out.append(
            f"<rect x='{label_w + j * 120}' y='6' width='12' height='12' fill='{_COLOURS[k]}'/>"
        )
        out.append(_text(label_w + j * 120 + 16, 16, k, size=11))
    for i, (model, d) in enumerate(parts.items()):
        y = top + i * row_h
        out.append(_text(4, y + 15, model[:40], size=11))
        x = float(label_w)
        for k in COMPONENTS:
            share = d.shares.get(k, float("nan"))
            if np.isfinite(share) and share > 0:
                w = share * bar_w
                out.append(
                    f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{row_h - 6}' "
                    f"fill='{_COLOURS[k]}'><title>{_e(k)} {share:.0%}</title></rect>"
                )
                x += w
    out.append("</svg>")
    return "".join(out)


def _sensitivity(src: _Source, scores: Mapping[str, CellScore], metric: str | None) -> str:
    if metric is None:
        return _note("no metric to plot")
    by_model: dict[str, list[tuple[str, Any]]] = {}
    for cell in src.cells:
        s = scores.get(cell.name)
        mv = s.metrics.get(metric) if s is not None else None
        if mv is not None:
            by_model.setdefault(cell.model, []).append((cell.label, mv))
    if not by_model:
        return _note(f"no cell has the metric {metric!r}")
    return "".join(
        f"<h3>{_e(model)}</h3>" + _points_svg(points, metric) for model, points in by_model.items()
    )


def _points_svg(points: Sequence[tuple[str, Any]], metric: str) -> str:
    """The metric of each cell of one model with its CI, one row per cell."""
    label_w, plot_w, row_h, top = 300, 420, 22, 10
    values = [v for _, mv in points for v in (mv.value, mv.ci_low, mv.ci_high) if np.isfinite(v)]
    lo, hi = _padded(min(values), max(values))

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    height = top + row_h * len(points) + 24
    out = [_svg_open(label_w + plot_w + 20, height, f"{metric} per variant")]
    for i, (label, mv) in enumerate(points):
        y = top + i * row_h + row_h / 2
        out.append(_text(4, y + 4, label[:48], size=11))
        if np.isfinite(mv.ci_low) and np.isfinite(mv.ci_high):
            out.append(_line(x(mv.ci_low), y, x(mv.ci_high), y, "#2c3e50"))
        out.append(f"<circle cx='{x(mv.value):.1f}' cy='{y:.1f}' r='4' fill='#2c3e50'/>")
    out.append(_axis(lo, hi, x, height - 16))
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- pictures


def _pictures(src: _Source, ids: Sequence[str]) -> str:
    from chainlang.data.manifest import load_dataset

    if not ids:
        return _note("no finished items to show")
    ran = [src.folders[c.name] for c in src.cells if (src.folders[c.name] / RUN_FILE).exists()]
    first = ran[0] if ran else None
    if first is None:
        return _note("no cell has run yet")
    dataset = load_dataset(read_run(first)["dataset"])
    # Only the pictured items' records are kept, not every record of every cell.
    shown = set(ids)
    records = {
        c.name: {
            (str(r["id"]), int(r.get("sample", 0))): r
            for r in iter_results(src.folders[c.name])
            if str(r["id"]) in shown
        }
        for c in src.cells
    }
    out = []
    for item_id in ids:
        item = dataset.get(item_id)
        image = item.image().pixels
        panels: list[tuple[str, Image.Image]] = [("input", Image.fromarray(image))]
        kind = None
        for cell in src.cells:
            rec = records[cell.name].get((item_id, 0))
            if rec is None or rec.get("status") != "ok":
                continue
            kind = rec["output"]["kind"]
            panels.append(_prediction_panel(cell.name, rec, src.folders[cell.name], image))
        if kind is not None:
            panels.append(_truth_panel(kind, item, image))
        png = viz.to_png(viz.side_by_side(panels))
        out.append(
            f"<h3>{_e(item_id)}</h3>{_img(png, 'pic', f'{item_id}: input, predictions, truth')}"
        )
    return "".join(out)


def _prediction_panel(
    name: str, rec: Mapping[str, Any], folder: Path, image: np.ndarray
) -> tuple[str, Image.Image]:
    out = rec["output"]
    kind = out["kind"]
    if kind == "Label":
        return f"{name}: {out.get('value')}", Image.fromarray(image)
    if kind == "Boxes":
        boxes = [(b["label"], *map(int, b["box"])) for b in out.get("boxes", [])]
        return name, viz.output_image(kind, boxes, image)
    with np.load(folder / out["arrays"]) as z:
        array = z["output"]
    return name, viz.output_image(kind, array, image, prediction=True)


def _truth_panel(kind: str, item: Any, image: np.ndarray) -> tuple[str, Image.Image]:
    from chainlang.scoring.score import TRUTH_FOR_OUTPUT

    truth = item.truth(TRUTH_FOR_OUTPUT[kind])
    if kind == "Label":
        return f"truth: {truth}", Image.fromarray(image)
    return "truth", viz.output_image(kind, truth, image)


# --------------------------------------------------------------------------- trace


def _trace(src: _Source, item_id: str | None, cache: str | Path | None) -> str:
    from chainlang.reporting.trace import trace_item

    if item_id is None:
        return _note("no item to trace")
    cell = next((c for c in src.cells if (src.folders[c.name] / RESULTS_FILE).exists()), None)
    if cell is None:
        return _note("no cell has run yet")
    t = trace_item(src.folders[cell.name], item_id, 0, cache=cache)
    out = [
        f"<p>Cell <b>{_e(cell.name)}</b>, item <b>{_e(item_id)}</b>, sample 0: "
        f"{len(t.steps)} questions; output {_e(str(t.output))}.</p>"
    ]
    for s in t.steps:
        cost = "?" if s.cost_usd is None else f"${s.cost_usd:.5f}"
        msgs = [_message_html(m) for m in s.messages]
        result = _answer_html(s.answer) if s.ok else f"failed: {_e(s.failure or '')}"
        out.append(
            f"<div class='step'><div><b>[{s.index + 1}] {_e(s.prompt)}</b> "
            f"(variant {_e(s.variant)}) at <code>{_e(s.origin)}</code></div>{''.join(msgs)}"
            f"<div class='msg'>raw: {_e(s.raw or '')}</div><div>{result}; tokens in/out "
            f"{s.input_tokens}/{s.output_tokens}, cost {cost}, attempts {s.attempts}</div></div>"
        )
    if t.note:
        out.append(_note(t.note))
    return "".join(out)


def _message_html(m: Any) -> str:
    """One message, its text and images in the order they were sent."""
    from chainlang.providers.base import ImagePart

    out = []
    for part in m.in_order():
        if isinstance(part, ImagePart):
            w, h = part.image.size
            alt = f"image {part.image.digest[:12]} {w}x{h} {part.detail}"
            png = viz.to_png(Image.fromarray(part.image.pixels))
            out.append(
                f"<div class='msg'><b>{_e(m.role)}:</b> {_img(png, 'sent', alt)} "
                f"<small>{_e(alt)}</small></div>"
            )
        elif part.text:
            out.append(f"<div class='msg'><b>{_e(m.role)}:</b> {_e(part.text)}</div>")
    return "".join(out)


def _answer_html(answer: Any) -> str:
    """The answer: JSON in bold, or an image answer shown as the picture it is."""
    from chainlang.image import ImageData

    if not isinstance(answer, ImageData):
        return f"answer <b>{_e(_json(answer))}</b>"
    w, h = answer.size
    alt = f"image answer {answer.digest[:12]} {w}x{h}"
    png = viz.to_png(Image.fromarray(answer.pixels))
    return f"answer {_img(png, 'sent', alt)} <small>{_e(alt)}</small>"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON-able: its repr still says what it is
        return repr(value)


# ------------------------------------------------------------- small SVG/HTML helpers


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _note(text: str) -> str:
    return _Html(f"<p class='note'>{_e(text)}</p>")


def _img(png: bytes, cls: str, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img class='{cls}' alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _svg_open(width: float, height: float, title: str) -> str:
    return (
        # Inline SVG in HTML needs no namespace; leaving it out keeps the page free of URLs.
        f"<svg width='{width:.0f}' height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}' role='img'><title>{_e(title)}</title>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, *, dash: bool = False) -> str:
    extra = " stroke-dasharray='4 3'" if dash else ""
    return (
        f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
        f"stroke='{colour}' stroke-width='2'{extra}/>"
    )


def _text(x: float, y: float, text: str, *, size: int = 12) -> str:
    return f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' fill='#222'>{_e(text)}</text>"


def _axis(lo: float, hi: float, x: Callable[[float], float], y: float) -> str:
    ticks = np.linspace(lo, hi, 5)
    out = [_line(x(lo), y - 8, x(hi), y - 8, "#666")]
    for t in ticks:
        out.append(_text(x(float(t)) - 14, y + 6, f"{t:.3g}", size=10))
    return "".join(out)


def _padded(lo: float, hi: float) -> tuple[float, float]:
    """A plotting range around [lo, hi] that is never empty."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return -1.0, 1.0
    span = hi - lo
    pad = 0.08 * span if span > 0 else max(abs(lo) * 0.1, 0.05)
    return lo - pad, hi + pad


__all__ = ["render_report"]
