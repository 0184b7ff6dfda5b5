"""The experiment commands of ``chainlang``: sweep, report, trace.

Registered by :func:`chainlang.cli.commands.register`; heavy imports happen inside
each command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chainlang.cli.run_flags import add_run_flags, option_values
from chainlang.cli.support import EXIT_DIAGNOSTICS, EXIT_FAILED, EXIT_OK, Sub, guard, pairs
from chainlang.errors import UsageError


def register(sub: Sub) -> None:
    """Add sweep, report and trace to the CLI's subparsers."""
    _add_sweep(sub)
    _add_report(sub)
    _add_trace(sub)


# ---- sweep, report, trace -------------------------------------------------------------


def _add_sweep(sub: Sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="variants x models x parameters x repeats, with paired statistics",
        description="Run a grid of cells through one scheduler (shared limits and cache), "
        "price it first, compare cells on the same images. Rerun to resume.",
        epilog="example: chainlang sweep chains/depth.chain --data data/syn "
        "-m oracle:flip=0.1 -m oracle:flip=0.3 --variants compare=brief_order,careful "
        "-p pairs=[20,40] --samples 2 --out sweeps/depth",
    )
    p.add_argument("chain", type=Path, nargs="?", help="the .chain file (or use --experiment)")
    p.add_argument("--experiment", type=Path, help="a TOML file declaring the whole grid")
    p.add_argument("--data", help="the dataset: manifest.jsonl or its folder")
    p.add_argument("-m", "--model", action="append", default=[], help="a model; repeat per model")
    p.add_argument(
        "--variants",
        action="append",
        default=[],
        metavar="PROMPT=V1,V2",
        help="variants of a prompt to try; repeat per prompt",
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=[A,B]",
        help="a list sweeps a parameter, a single value fixes it for every cell",
    )
    p.add_argument("--baseline", help="compare every cell with this cell (default: all pairs)")
    p.add_argument("--metric", help="the metric compared (default: the chain's headline)")
    add_run_flags(p, "sweep")  # the run flags, declared once for run, plan and sweep
    p.add_argument("--out", type=Path, help="the sweep folder (not needed with --plan-only)")
    p.add_argument("--plan-only", action="store_true", help="price the grid and stop")
    p.add_argument(
        "--assume-accuracy",
        type=float,
        default=0.8,
        help="accuracy assumed by the minimum detectable effect of right/wrong metrics",
    )
    p.add_argument(
        "--assume-sd",
        type=float,
        help="per-image SD of a difference between cells (from a pilot), for continuous metrics",
    )
    p.set_defaults(func=guard(cmd_sweep))


def cmd_sweep(args: argparse.Namespace) -> int:
    """``chainlang sweep``: plan and MDE, then (unless --plan-only) run, results, statistics."""
    from chainlang.api import run_sync
    from chainlang.experiments import sweep

    exp = _experiment(args)
    if args.out is None and not args.plan_only:
        raise UsageError("sweep needs --out FOLDER (only --plan-only runs without one)")
    plans = run_sync(sweep.price(exp))  # checks the grid against the chain and data first
    grid = sweep.cells(exp)
    print(f"plan: {_grid_words(exp, len(grid))}, {plans[0].items} images; nothing sent yet")
    print(sweep.format_plan_table(plans, [c.name for c in grid]))
    if len(grid) > 1:
        _print_mde(exp, plans[0].items, args)
    if not _contracts_kept(plans, [c.name for c in grid]):
        return EXIT_DIAGNOSTICS  # no cell runs: one would pay for requests that are refused
    if args.plan_only:
        return EXIT_OK
    try:
        result = run_sync(sweep.run_sweep(exp, args.out, on_cell_done=_cell_done))
    except KeyboardInterrupt:
        print(f"\ninterrupted; rerun the same command to resume into {args.out}", file=sys.stderr)
        return 130
    _print_sweep_results(args.out, exp, args.metric)
    failed = sum(c.summary.items_failed for c in result.cells)
    return EXIT_FAILED if failed else EXIT_OK


def _contracts_kept(plans: list[Any], names: list[str]) -> bool:
    """Print each cell's adaptations, warnings and broken provider limits; False if any
    cell would send a request its provider's documented limits refuse."""
    ok = True
    for plan, name in zip(plans, names, strict=True):
        report = plan.contract
        if report is None:
            continue
        for line in report.lines():
            out = sys.stdout if line.startswith("adapted: ") else sys.stderr
            print(f"{name}: {line}", file=out)
        ok = ok and report.ok
    if not ok:
        print("refused: request limits broken (above); no cell was run", file=sys.stderr)
    return ok


def _print_mde(exp: Any, n_images: int, args: argparse.Namespace) -> None:
    """The smallest difference the grid can detect, or why no difference is detectable."""
    from chainlang.experiments import sweep

    try:
        mde = sweep.planned_mde(
            exp, n_images, accuracy=args.assume_accuracy, sd_diff=args.assume_sd
        )
    except UsageError as err:  # too few images: say so, it is what the user needs to know
        print(f"minimum detectable difference: none ({err}); add images before trusting a result")
        return
    print(mde.describe())


def _experiment(args: argparse.Namespace) -> Any:
    """The experiment from --experiment or from the grid flags (never a mix of both)."""
    import dataclasses

    from chainlang.api import DEFAULT_CACHE, RunOptions
    from chainlang.experiments import sweep

    grid_flags = {
        "CHAIN": args.chain,
        "--data": args.data,
        "-m": args.model,
        "--variants": args.variants,
        "-p": args.param,
        "--labels": args.labels,
        "--samples": args.samples is not None,
    }
    # Every run flag given on the command line; --samples and --labels belong to the grid.
    limits = option_values(args, "sweep")
    limits.pop("samples", None)
    labels = limits.pop("labels", {})
    if args.experiment:
        given = [flag for flag, value in grid_flags.items() if value]
        if given:
            raise UsageError(f"--experiment declares the grid itself; drop {', '.join(given)}")
        exp = sweep.load_experiment(args.experiment)
        options = dataclasses.replace(exp.options, **limits, progress="none")
        return dataclasses.replace(exp, options=options, baseline=args.baseline or exp.baseline)
    missing = [f for f in ("CHAIN", "--data", "-m") if not grid_flags[f]]
    if missing:
        raise UsageError(
            f"sweep needs a chain, --data and at least one -m MODEL (or --experiment FILE); "
            f"missing: {', '.join(missing)}"
        )
    if not args.chain.is_file():
        raise UsageError(f"chain file {args.chain} does not exist")
    limits.setdefault("cache", DEFAULT_CACHE)
    options = RunOptions(labels=labels, progress="none", **limits)
    return sweep.experiment_from_args(
        args.chain,
        args.data,
        args.model,
        variants=args.variants,
        params=args.param,
        samples=1 if args.samples is None else args.samples,
        options=options,
        baseline=args.baseline,
    )


def _grid_words(exp: Any, n_cells: int) -> str:
    """``4 cells (2 models x 2 compare variants), 2 samples per question``."""
    axes = [f"{len(exp.models)} model{'s' if len(exp.models) > 1 else ''}"]
    axes += [f"{len(v)} {p} variants" for p, v in exp.variants.items()]
    axes += [f"{len(v)} {name} values" for name, v in exp.params.items()]
    samples = f"{exp.samples} sample{'s' if exp.samples > 1 else ''} per question"
    return f"{n_cells} cell{'s' if n_cells > 1 else ''} ({' x '.join(axes)}), {samples}"


def _cell_done(cell: Any) -> None:
    s = cell.summary
    cost = "?" if s.cost_usd is None else f"${s.cost_usd:.4f}"
    print(
        f"  {cell.cell.name}: {s.items_ok}/{s.items} items ok, {s.questions} questions "
        f"({s.cache_hits} from the journal), {cost}",
        file=sys.stderr,
    )


def _print_sweep_results(out: Path, exp: Any, metric: str | None) -> None:
    """The results table, the paired comparisons and, when estimable, the variance shares."""
    from chainlang.errors import ChainlangError
    from chainlang.experiments import sweep

    scores = {}
    for cell in sweep.cells(exp):
        try:  # a cell whose every item failed cannot be scored; its row says why
            scores[cell.name] = sweep.score_cell(out / sweep.CELLS_DIR / cell.name)
        except ChainlangError:
            continue
    # --metric overrides the experiment's metrics; each metric gets its own tables
    metrics: list[str | None] = [metric] if metric else [*exp.metrics] or [None]
    names = [_print_comparisons(out, exp, each, scores) for each in metrics]
    chosen = names[0]
    metric = metrics[0]
    if exp.samples < 2 and all(len(v) < 2 for v in exp.variants.values()):
        return
    print(f"\nvariance of {chosen} per model: shares of images, variants, sampling (95% CI)")
    try:
        print(sweep.format_variance(sweep.variance_by_model(out, metric, scores=scores)))
    except ChainlangError as err:
        print(f"not available: {err}")


def _print_comparisons(out: Path, exp: Any, metric: str | None, scores: dict[str, Any]) -> str:
    """The results table and the paired comparisons of one metric; the metric's name."""
    from chainlang.errors import ChainlangError
    from chainlang.experiments import sweep

    rows = sweep.sweep_rows(out, metric, scores=scores)
    chosen = next((r.metric for r in rows if r.metric), metric or "-")
    print(f"\nresults: {chosen} per cell, 95% CI over images")
    print(sweep.format_sweep_table(rows))
    if len(scores) < 2:
        print("\ncomparisons: fewer than two cells have results; nothing to compare")
        return chosen
    try:
        comps = sweep.compare_cells(
            out,
            metric,
            baseline=exp.baseline,
            baseline_params=exp.baseline_params,
            scores=scores,
        )
    except ChainlangError as err:  # e.g. angle_median (pooled, not paired) or an unknown metric
        print(f"\npaired comparisons of {chosen}: not available: {err}")
        return chosen
    print(
        f"\npaired comparisons of {chosen}: B − A on the images both cells share; "
        f"q = Benjamini–Hochberg over {len(comps)} comparison{'s' if len(comps) > 1 else ''}"
    )
    print(sweep.format_comparisons(comps, margin=exp.margin))
    return chosen


def _add_report(sub: Sub) -> None:
    p = sub.add_parser(
        "report",
        help="one static HTML file for a run or a sweep",
        description="Write one self-contained HTML page (nothing is fetched when it opens): "
        "results, comparisons, variance, cost, pictures and a question trace.",
    )
    p.add_argument("path", type=Path, help="a run folder or a sweep folder")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="default report.html")
    p.add_argument("--image", action="append", default=[], help="an item id to picture; repeat")
    p.add_argument("--item", help="the item whose questions are traced (default: first pictured)")
    p.add_argument("--metric", help="the metric compared (default: the chain's headline)")
    p.add_argument("--cache", type=Path, help="the journal (default: the one the run used)")
    p.add_argument(
        "--curves-svg",
        type=Path,
        metavar="DIR",
        help="instead of the HTML page, write the quality-per-call charts of a sweep as "
        "DIR/<sweep>_<metric>.svg (one panel per model)",
    )
    p.set_defaults(func=guard(cmd_report))


def cmd_report(args: argparse.Namespace) -> int:
    """``chainlang report``: one self-contained HTML page for a run or a sweep."""
    from chainlang.reporting.report import render_report

    _must_exist(args.path)
    if args.curves_svg is not None:
        from chainlang.reporting.curves import write_curve_svgs

        metrics = [args.metric] if args.metric else None
        for file in write_curve_svgs(args.path, args.curves_svg, metrics):
            print(f"wrote {file} ({file.stat().st_size / 1000:.0f} kB)")
        return EXIT_OK
    page = render_report(
        args.path,
        args.out,
        args.image or None,
        item=args.item,
        metric=args.metric,
        cache=_journal(args.cache),
    )
    print(f"wrote {page} ({page.stat().st_size / 1000:.0f} kB, self-contained)")
    return EXIT_OK


def _add_trace(sub: Sub) -> None:
    p = sub.add_parser(
        "trace",
        help="every question of one item: images, prompt, answer, cost",
        description="Replay one item of a run from its records and journal (never asking a "
        "model) and print each question: messages, images sent, raw and parsed answer.",
    )
    p.add_argument("run", type=Path, help="the run folder (a sweep's cell: SWEEP/cells/NAME)")
    p.add_argument("--item", required=True, help="the item id, e.g. scene_00000")
    p.add_argument("--sample", type=int, default=0, help="which sample (default 0)")
    p.add_argument("--cache", type=Path, help="the journal (default: the one the run used)")
    p.add_argument("--chain", type=Path, help="the chain file, if it moved since the run")
    p.add_argument("--labels", action="append", default=[], metavar="ALIAS=SET")
    p.add_argument("--save-images", type=Path, help="write the images sent as PNG files here")
    p.set_defaults(func=guard(cmd_trace))


def cmd_trace(args: argparse.Namespace) -> int:
    """``chainlang trace``: every question of one item, replayed without asking a model."""
    from chainlang.reporting.trace import format_trace, save_trace_images, trace_item

    _must_exist(args.run)
    trace = trace_item(
        args.run,
        args.item,
        args.sample,
        cache=_journal(args.cache),
        chain=args.chain,
        labels=pairs(args.labels, "--labels") or None,
    )
    saved = save_trace_images(trace, args.save_images) if args.save_images else None
    print(format_trace(trace, saved))
    return EXIT_OK


def _must_exist(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path} does not exist")


def _journal(cache: Path | None) -> Path | None:
    """``--cache`` as given; None lets the run's own journal be used.

    A journal named on the command line that is not there is a mistake to report,
    not a reason to fall back to another file.
    """
    if cache is not None and not cache.exists():
        raise UsageError(f"no journal at {cache}")
    return cache
