"""The running side of the ``chainlang`` command: plan, run, score, data, cache, demo.

Registered by :mod:`chainlang.cli.app`. Every heavy import happens inside the
command that needs it, so ``chainlang check`` stays fast and light.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainlang.cli import experiment_commands as commands_experiments
from chainlang.cli.run_flags import add_run_flags, option_values
from chainlang.cli.support import (
    EXIT_BUDGET,
    EXIT_BUSY,
    EXIT_DIAGNOSTICS,
    EXIT_FAILED,
    EXIT_OK,
    Interrupted,
    Sub,
    exit_code,
    guard,
    run_until_stopped,
)
from chainlang.errors import UsageError


def register(sub: Sub) -> None:
    """Add the running commands to the CLI's subparsers."""
    _add_plan(sub)
    _add_run(sub)
    _add_score(sub)
    _add_data(sub)
    _add_cache(sub)
    _add_demo(sub)
    commands_experiments.register(sub)


# ---- shared options -------------------------------------------------------------------


def _run_options(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("chain", type=Path, help="the .chain file")
    p.add_argument("--data", required=True, help="manifest.jsonl, a folder with one, or images")
    p.add_argument(
        "-m",
        "--model",
        required=True,
        help="openai:gpt-4o, anthropic:…, gemini:…, "
        "openai-compat:MODEL@URL, oracle, oracle:flip=0.3, random",
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter; variant.PROMPT=NAME picks a prompt variant",
    )
    add_run_flags(p, command)  # every RunOptions flag of this command, declared once


def _options(args: argparse.Namespace, command: str) -> Any:
    from chainlang.api import RunOptions
    from chainlang.language.params import parse_overrides

    return RunOptions(params=parse_overrides(args.param), **option_values(args, command))


# ---- plan ------------------------------------------------------------------------------


def _add_plan(sub: Sub) -> None:
    p = sub.add_parser(
        "plan",
        help="price a run before paying for it",
        description="Calls, tokens and dollars per item and in total; "
        "nothing is sent to any provider.",
    )
    _run_options(p, "plan")
    p.add_argument("--sample-items", type=int, default=2, help="items to dry-run (default 2)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=guard(cmd_plan))


def cmd_plan(args: argparse.Namespace) -> int:
    from chainlang.api import plan

    result = plan(
        args.chain,
        args.data,
        args.model,
        options=_options(args, "plan"),
        sample_items=args.sample_items,
    )
    report = result.contract
    refused = report is not None and not report.ok
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return EXIT_DIAGNOSTICS if refused else EXIT_OK
    print(format_plan(result))
    if report is not None:
        for line in report.lines():
            # adaptations are part of the plan; warnings and broken limits go to stderr
            print(line, file=sys.stdout if line.startswith("adapted: ") else sys.stderr)
    if refused:
        print(f"refused: {len(report.violations)} request limit(s) of {result.model} broken; "
              "a run would pay for requests the provider rejects", file=sys.stderr)  # fmt: skip
        return EXIT_DIAGNOSTICS
    return EXIT_OK


def format_plan(plan: Any) -> str:
    """The plan as a short plain-text table."""
    per = plan.per_call
    money = "unknown" if plan.usd_per_item is None else f"${plan.usd_per_item:.4f}"
    worst = "unknown" if plan.usd_worst_per_item is None else f"${plan.usd_worst_per_item:.4f}"
    total = "unknown" if plan.total_usd is None else f"${plan.total_usd:.2f}"
    total_worst = "unknown" if plan.total_usd_worst is None else f"${plan.total_usd_worst:.2f}"
    kind = "exactly" if plan.exact else "at most" if plan.bounded else "about"
    lines = [
        f"chain  {plan.chain}   model  {plan.model}",
        f"items  {plan.items}   samples  {plan.samples}",
        f"calls per item   {kind} {plan.calls_per_item:g}   ({plan.formula})",
    ]
    if per:
        lines.append(
            f"per call         ~{per['input_tokens']:.0f} input tokens "
            f"({per['image_tokens']:.0f} image), ~{per['output_tokens']:.0f} output "
            f"(max {per['max_output_tokens']:.0f})"
        )
    lines += _cache_lines(plan)
    lines += [
        f"per item         {money} expected, {worst} worst case",
        f"total            {plan.total_calls:g} calls, {total} expected, {total_worst} worst case",
    ]
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)


def _cache_lines(plan: Any) -> list[str]:
    """The prompt-cache line of a plan: tokens read and written per call, and the saving."""
    per = plan.per_call
    read, written = per.get("cached_tokens", 0.0), per.get("cache_write_tokens", 0.0)
    if not (read or written):
        return []
    line = f"prompt cache     ~{read:.0f} input tokens per call read from the cache"
    if written:
        line += f", ~{written:.0f} written"
    before, after = plan.total_usd_uncached, plan.total_usd
    if before is not None and after is not None and before > 0:
        line += f"; saves ${before - after:.2f} of ${before:.2f} ({(before - after) / before:.0%})"
    return [line]


# ---- run -------------------------------------------------------------------------------


def _add_run(sub: Sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a chain over a dataset (resumes when rerun)",
        description="Run a chain. Rerunning the same command into the same "
        "--out folder resumes and pays for nothing twice.",
    )
    _run_options(p, "run")
    p.add_argument("--out", required=True, type=Path, help="the run folder")
    p.set_defaults(func=guard(cmd_run))


def cmd_run(args: argparse.Namespace) -> int:
    from chainlang.api import arun
    from chainlang.runtime.runfolder import FolderInUse

    options = _options(args, "run")
    try:
        result = run_until_stopped(
            arun(args.chain, args.data, args.model, out=args.out, options=options)
        )
    except KeyboardInterrupt as stopped:  # Interrupted; plain where no handler could be set
        return _interrupted(args, options, stopped)
    except FolderInUse as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BUSY
    s, now = result.summary, result.session
    cost = "unknown" if s.cost_usd is None else f"${s.cost_usd:.4f}"
    print(f"{s.items_ok}/{s.items} items ok, {s.questions} questions, {cost} in all -> {args.out}")
    if now is not None:
        print(
            f"this time: {now.done} questions, {now.cached} from the journal, "
            f"{now.done - now.cached} answered now, ${now.cost_usd:.4f}"
        )
    if s.stopped and s.stopped.startswith("budget"):
        print("\n".join(_budget_lines(args, options, s)), file=sys.stderr)
        return EXIT_BUDGET
    for line in _failure_lines(Path(args.out), s) + _bound_lines(s) + _identical_lines(s):
        print(line)
    return EXIT_OK if s.items_failed == 0 else EXIT_FAILED


def _budget_lines(args: argparse.Namespace, options: Any, s: Any) -> list[str]:
    """Why the run stopped for budget, what is left, and the rerun that continues it."""
    from chainlang.data.manifest import load_dataset

    left = len(load_dataset(args.data).ids()) * options.samples - s.items_ok
    paid = "an unknown amount" if s.paid_now_usd is None else f"${s.paid_now_usd:.4f}"
    return [
        f"stopped for budget: {left} item(s) not done; {paid} paid in this invocation, "
        f"--max-cost ${args.max_cost:.2f}",
        f"  ({s.stopped.removeprefix('budget: ')})",
        f"rerun the same command with a higher --max-cost (e.g. --max-cost "
        f"{max(2 * args.max_cost, 0.01):.2f}) to continue into {args.out}; "
        "answers already paid for are reused",
    ]


def _interrupted(args: argparse.Namespace, options: Any, stopped: KeyboardInterrupt) -> int:
    """Say that the run stopped and how to resume it; the exit code is 128 + the signal."""
    how = "interrupted"
    if isinstance(stopped, Interrupted) and stopped.signum != signal.SIGINT:
        how = f"stopped by {signal.Signals(stopped.signum).name}"
    print(f"\n{how}; rerun the same command to resume into {args.out}", file=sys.stderr)
    during = stopped.during if isinstance(stopped, Interrupted) else None
    if during is not None:
        print(f"(while stopping: {type(during).__name__}: {during})", file=sys.stderr)
    if options.dispatch == "batch":
        print(_pending_batches(args.model, options.cache), file=sys.stderr)
    return exit_code(stopped)


def _pending_batches(model: str, cache: Path) -> str:
    """What an interrupted batch run leaves at the provider (it keeps working)."""
    from chainlang.api import parse_model
    from chainlang.runtime.batchstore import BatchStore

    store = BatchStore(cache)
    try:
        pending = store.open_batches(str(parse_model(model)))
    finally:
        store.close()
    if not pending:
        return "no batch is pending at the provider"
    return (
        f"{len(pending)} batch(es) still pending at the provider ({', '.join(pending)}); "
        "they keep running, and the rerun collects them instead of submitting again"
    )


def _failure_lines(out: Path, s: Any, shown: int = 5) -> list[str]:
    """What failed, by cause, and the first few failed items with their messages."""
    from chainlang.runtime.runfolder import iter_results

    lines = []
    if s.failures:
        lines.append(f"failed questions: {sum(s.failures.values())} ({_by_kind(s.failures)})")
    if not s.item_failures:
        return lines
    lines.append(f"failed items: {sum(s.item_failures.values())} ({_by_kind(s.item_failures)})")
    failed = (r for r in iter_results(out) if r.get("status") == "failed")
    for n, record in enumerate(failed):
        if n == shown:
            lines.append(f"  ... the rest are in {out / 'results.jsonl'}")
            break
        err = record.get("error") or {}
        where = f" at {err['origin']}" if err.get("origin") else ""
        lines.append(f"  {record['key']}: {err.get('kind', '?')}{where}: {err.get('message', '')}")
    lines.append("rerun the same command to retry them; answers already paid for are reused")
    return lines


def _bound_lines(s: Any) -> list[str]:
    """Loops the bound stopped before their ``until`` held: their results may be cut short."""
    at_bound = getattr(s, "loops_at_bound", None) or {}
    if not at_bound:
        return []
    where = ", ".join(f"{origin} {n}x" for origin, n in sorted(at_bound.items()))
    return [
        f"loops stopped by their bound before their `until` held: {sum(at_bound.values())} "
        f"({where}); see 'loops_at_bound' in results.jsonl and `chainlang trace`"
    ]


def _identical_lines(s: Any) -> list[str]:
    """Asks of an item that were one request: the copies got the first one's answer."""
    same = getattr(s, "identical_asks", None) or {}
    if not same:
        return []
    where = ", ".join(f"{origin} {n}x" for origin, n in sorted(same.items()))
    return [
        f"note: identical asks within an item share one answer: {sum(same.values())} "
        f"asks repeated an earlier ask of their item ({where}; e.g. a pair sampled twice); "
        "to ask one question K times, write `ask p(...) samples K` (K distinct samples); "
        "see 'identical_asks' in results.jsonl"
    ]


def _by_kind(counts: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


# ---- score -----------------------------------------------------------------------------


def _add_score(sub: Sub) -> None:
    p = sub.add_parser(
        "score",
        help="score runs against truth, side by side",
        description="The chain's metrics with coverage and 95% intervals; one row per run.",
    )
    p.add_argument("runs", nargs="+", type=Path, help="run folders")
    p.add_argument("--data", help="the dataset (default: the one the run names)")
    p.add_argument(
        "--baselines",
        default="",
        help="comma list of answerers run through the first run's chain: oracle, random, "
        "oracle:flip=P, specialist:SPEC (e.g. specialist:folder:DIR); a specialist also "
        "gets a row scoring its own predictions directly",
    )
    p.add_argument(
        "--mask",
        choices=("valid", "all"),
        default="valid",
        help="depth/normals pixels: valid truth only, or all (reference)",
    )
    p.add_argument(
        "--normals-rho",
        choices=("scores", "reference"),
        default="scores",
        help="normals ρ over the predicted scores, or over the reference's 0..255 integer "
        "levels per axis (to reproduce its published ρ)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", action="store_true")
    p.set_defaults(func=guard(cmd_score))


def cmd_score(args: argparse.Namespace) -> int:
    from chainlang.providers.registry import parse_model
    from chainlang.providers.specs import answers_from
    from chainlang.runtime.runfolder import read_run
    from chainlang.scoring.score import score_run, score_specialist

    runs = list(args.runs) + _baseline_runs(args)
    rho = args.normals_rho
    scores = [score_run(r, dataset=args.data, mask=args.mask, normals_rho=rho) for r in runs]
    # "SPEC (direct)": each specialist's own predictions, scored like the chain's output
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    specialists = [b for b in baselines if answers_from(b.partition(":")[0]) == "predictions"]
    if specialists:
        dataset = args.data or read_run(args.runs[0])["dataset"]
        for name in specialists:
            spec = parse_model(name).model
            scores.append(
                score_specialist(spec, dataset, scores[0].output, mask=args.mask, normals_rho=rho)
            )
    if args.json:
        print(json.dumps([score_json(s) for s in scores], indent=2))
    elif args.csv:
        print(score_csv(scores))
    else:
        print(score_table(scores))
    for line in unscored_lines(scores):
        print(line, file=sys.stderr)
    return EXIT_OK


def unscored_lines(scores: Sequence[Any], most: int = 5) -> list[str]:
    """Why items of each run could not be scored (a missing or malformed truth value, an
    answer the metric cannot read): the first ``most`` reasons of each run."""
    lines = []
    for s in scores:
        notes = s.notes
        if not notes:
            continue
        lines.append(f"{s.run}: {len(notes)} item(s) not scored:")
        lines += [f"  {note}" for note in notes[:most]]
        if len(notes) > most:
            lines.append(f"  (+{len(notes) - most} more; `--json` lists them all)")
    return lines


def _baseline_runs(args: argparse.Namespace) -> list[Path]:
    """Run each baseline answerer through the first run's chain (from the journal if done).

    Chain, parameters, label bindings, dataset and journal come from the first
    run's ``run.json`` (``--data`` overrides the dataset). Each baseline run goes
    to a sibling folder ``RUN--NAME``; rerunning reuses it.
    """
    import hashlib
    import re

    from chainlang.api import DEFAULT_CACHE, RunOptions, run
    from chainlang.runtime.runfolder import read_run

    names = [b.strip() for b in args.baselines.split(",") if b.strip()]
    if not names:
        return []
    first = Path(args.runs[0])
    info = read_run(first)
    cache = info.get("cache", DEFAULT_CACHE)
    options = RunOptions(
        params=info.get("params", {}),
        labels=info.get("labels", {}),
        cache=Path(cache) if cache else None,
        progress="none",
    )
    out = []
    for name in names:
        slug = re.sub(r"[^A-Za-z0-9_.=-]+", "-", name).strip("-")
        if len(slug) > 60:  # long specialist paths: keep the folder name short but unique
            slug = f"{slug[:50]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        folder = first.parent / f"{first.name}--{slug}"
        run(info["chain"], args.data or info["dataset"], name, out=folder, options=options)
        out.append(folder)
    return out


def score_json(s: Any) -> dict[str, Any]:
    """A run's score as JSON."""
    return {
        "run": s.run,
        "chain": s.chain,
        "model": s.model,
        "output": s.output,
        "metrics": {
            k: {"value": m.value, "ci": [m.ci_low, m.ci_high], "n": m.n_items}
            for k, m in s.metrics.items()
        },
        "coverage": {
            "items": s.coverage.items,
            "items_failed": s.coverage.items_failed,
            "questions": s.coverage.questions,
            "questions_failed": s.coverage.questions_failed,
        },
        "cost_usd": s.cost_usd,
        "unscored": list(s.notes),
    }


def _columns(scores: Sequence[Any]) -> list[str]:
    cols: list[str] = []
    for s in scores:
        for name in s.headline():
            if name not in cols and not name.endswith("_with_failures"):
                cols.append(name)
    return cols


def score_csv(scores: Sequence[Any]) -> str:
    """Runs as rows, metrics as columns (value and interval columns)."""
    cols = _columns(scores)
    head = ["run", "model", "items", "items_failed", "questions_failed", "cost_usd"]
    head += [f"{c}{suffix}" for c in cols for suffix in ("", "_lo", "_hi")]
    rows = [",".join(head)]
    for s in scores:
        row = [
            s.run,
            s.model,
            str(s.coverage.items),
            str(s.coverage.items_failed),
            str(s.coverage.questions_failed),
            "" if s.cost_usd is None else f"{s.cost_usd}",
        ]
        for c in cols:
            m = s.metrics.get(c)
            row += (
                ["", "", ""]
                if m is None
                else [f"{m.value:.6g}", f"{m.ci_low:.6g}", f"{m.ci_high:.6g}"]
            )
        rows.append(",".join(row))
    return "\n".join(rows)


def score_table(scores: Sequence[Any]) -> str:
    """Runs as rows, metrics as columns, ``value [lo, hi]`` cells, coverage at the end."""
    cols = _columns(scores)
    header = ["run", *cols, "items ok", "q failed", "cost"]
    rows = [header]
    for s in scores:
        cells = [Path(s.run).name]
        for c in cols:
            m = s.metrics.get(c)
            cells.append("–" if m is None else _cell(m))
        cov = s.coverage
        cells += [
            f"{cov.items_scored}/{cov.items}",
            str(cov.questions_failed),
            "?" if s.cost_usd is None else f"${s.cost_usd:.2f}",
        ]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(m: Any) -> str:
    import math

    if math.isnan(m.ci_low):
        return f"{m.value:.3f}"
    return f"{m.value:.3f} [{m.ci_low:.2f},{m.ci_high:.2f}]"


# ---- data ------------------------------------------------------------------------------


def _add_data(sub: Sub) -> None:
    p = sub.add_parser("data", help="make or convert datasets")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="KIND")
    syn = dsub.add_parser("synthetic", help="render 3D scenes with exact truth for all tasks")
    syn.add_argument("--n", type=int, default=16, help="scenes (default 16)")
    syn.add_argument("--out", type=Path, required=True)
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    syn.set_defaults(func=guard(cmd_data_synthetic))
    samples = dsub.add_parser(
        "samples", help="a few bundled photos for chains/examples/label.chain"
    )
    samples.add_argument("--out", type=Path, required=True)
    samples.set_defaults(func=guard(cmd_data_samples))
    _add_converters(dsub)


def _add_converters(dsub: Sub) -> None:
    """``chainlang data coco|panoptic|imagenet|imagenet-val|depth|folder``."""
    c = dsub.add_parser("coco", help="COCO instances JSON + images -> boxes manifest")
    c.add_argument("annotations", type=Path)
    c.add_argument("images", type=Path)
    c.add_argument(
        "--single-instance",
        action="store_true",
        help="keep images with at most one box per class (the paper's subset)",
    )
    c.set_defaults(convert="coco")
    p = dsub.add_parser("panoptic", help="COCO panoptic JSON + PNGs -> semantic masks")
    p.add_argument("panoptic_json", type=Path)
    p.add_argument("panoptic_pngs", type=Path)
    p.add_argument("images", type=Path)
    p.set_defaults(convert="panoptic")
    i = dsub.add_parser("imagenet", help="class folders (ImageNet style) -> labels")
    i.add_argument("root", type=Path)
    i.set_defaults(convert="imagenet")
    v = dsub.add_parser("imagenet-val", help="flat validation folder + label file")
    v.add_argument("images", type=Path)
    v.add_argument("labels", type=Path)
    v.set_defaults(convert="imagenet-val")
    d = dsub.add_parser("depth", help="images + depth/normal PNGs (Hypersim/Omnidata)")
    d.add_argument("images", type=Path)
    d.add_argument("--depth", type=Path)
    d.add_argument("--normals", type=Path)
    d.add_argument("--depth-scale", type=float, default=1 / 512, help="metres per unit")
    d.set_defaults(convert="depth")
    f = dsub.add_parser("folder", help="a plain folder of images (no truth)")
    f.add_argument("images", type=Path)
    f.set_defaults(convert="folder")
    for sp in (c, p, i, v, d, f):
        sp.add_argument("--out", type=Path, required=True)
        sp.set_defaults(func=guard(cmd_data_convert))


def cmd_data_synthetic(args: argparse.Namespace) -> int:
    from chainlang.data.synthetic import generate

    w, sep, h = args.size.partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise UsageError(f"--size expects WIDTHxHEIGHT, e.g. 640x480, got {args.size!r}")
    manifest = generate(args.n, args.out, seed=args.seed, size=(int(w), int(h)))
    print(f"{args.n} scenes -> {manifest}")
    return EXIT_OK


def cmd_data_samples(args: argparse.Namespace) -> int:
    from chainlang.data.samples import write_samples

    print(f"sample photos -> {write_samples(args.out)}")
    return EXIT_OK


def cmd_data_convert(args: argparse.Namespace) -> int:
    from chainlang.data import convert as cv

    kind, out = args.convert, args.out
    if kind == "coco":
        path = cv.convert_coco_instances(
            args.annotations, args.images, out, single_instance=args.single_instance
        )
    elif kind == "panoptic":
        path = cv.convert_coco_panoptic(args.panoptic_json, args.panoptic_pngs, args.images, out)
    elif kind == "imagenet":
        path = cv.convert_imagenet_folders(args.root, out)
    elif kind == "imagenet-val":
        path = cv.convert_imagenet_val(args.images, args.labels, out)
    elif kind == "depth":
        path = cv.convert_depth_normals(
            args.images, out, depth=args.depth, normals=args.normals, depth_scale=args.depth_scale
        )
    else:
        path = cv.convert_folder(args.images, out)
    print(f"manifest -> {path}")
    return EXIT_OK


# ---- cache -----------------------------------------------------------------------------


def _add_cache(sub: Sub) -> None:
    p = sub.add_parser("cache", help="inspect or clear the journal")
    p.add_argument("action", choices=("stats", "clear"))
    p.add_argument("--cache", type=Path, default=Path(".chainlang/cache.sqlite"))
    p.add_argument("--model", help="clear only this model's entries")
    p.add_argument("--older-than-days", type=float, help="clear only entries older than this")
    p.set_defaults(func=guard(cmd_cache))


def cmd_cache(args: argparse.Namespace) -> int:
    from chainlang.runtime.cache import cache_clear, cache_stats

    if not args.cache.exists():
        raise UsageError(f"no journal at {args.cache}")
    if args.action == "clear":
        older = args.older_than_days * 86400 if args.older_than_days else None
        n = cache_clear(args.cache, older_than=older, model=args.model)
        print(f"removed {n} entries from {args.cache}")
        return EXIT_OK
    st = cache_stats(args.cache)
    print(f"{st.path}: {st.size_bytes / 1e6:.1f} MB, {st.answers} answers, {st.failures} failures")
    for model, m in st.by_model.items():
        print(f"  {model}: {m.answers} answers, {m.failures} failures, ${m.cost_usd:.4f}")
    return EXIT_OK


# ---- demo ------------------------------------------------------------------------------


def _add_demo(sub: Sub) -> None:
    p = sub.add_parser(
        "demo",
        help="all six chains offline on synthetic scenes",
        description="Generates (or reuses) synthetic scenes, runs every chain "
        "with simulated answerers, scores them and writes an HTML page.",
    )
    p.add_argument("--out", type=Path, default=Path("demo-out"))
    p.add_argument("--n", type=int, default=4, help="scenes (default 4)")
    p.add_argument("--tasks", default="", help="comma list (default: all nine)")
    p.set_defaults(func=guard(cmd_demo))


def cmd_demo(args: argparse.Namespace) -> int:
    from chainlang.cli.demo import run_demo

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] or None
    return run_demo(args.out, n=args.n, tasks=tasks)
