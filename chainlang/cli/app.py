"""The ``chainlang`` command.

Each command is one short function registered on an argparse subparser, so
later commands (plan, run, score, demo, data, sweep, report, trace, cache) are
added the same way. Exit codes: 0 clean, 1 diagnostics (or files that need
formatting), 2 usage errors. This is the only module that imports rich, and
it colours output only when the terminal supports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from chainlang.cli import commands
from chainlang.cli.support import (
    EXIT_DIAGNOSTICS,
    EXIT_OK,
    EXIT_USAGE,
    exit_code,
    ignore_stop_signals,
    stop_signals,
)
from chainlang.errors import ChainlangError, UsageError, io_reason
from chainlang.language.analysis.bounds import show
from chainlang.language.compiler import Result, check_file
from chainlang.language.diagnostics import Diagnostics, Severity, render_all, to_json
from chainlang.language.source import SourceFile
from chainlang.language.syntax import nodes
from chainlang.language.syntax.parser import parse
from chainlang.language.syntax.unparse import unparse

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code.

    SIGINT and SIGTERM stop a command cleanly (exit 130 and 143; ``run`` says how
    to resume). Called as the program (``argv`` None), a stop signal that comes
    after the command has finished is ignored: the process is exiting with the
    command's own status.
    """
    with stop_signals():
        code = _main(argv)
    if argv is None:
        ignore_stop_signals()
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except ChainlangError as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        # A path the user gave (an --out whose parent is a file, a folder that
        # cannot be written) that no command checked first: say which and why.
        where = f" {exc.filename}" if exc.filename else ""
        _err(f"error: cannot use{where}: {io_reason(exc)}")
        return EXIT_USAGE
    except KeyboardInterrupt as stopped:  # a stop signal in a command that does not say more
        _err("\ninterrupted")
        return exit_code(stopped)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="chainlang",
        description="Evaluate vision-language models on vision tasks by prompt chaining.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_check(sub)
    _add_fmt(sub)
    _add_dump(sub)
    _add_lsp(sub)
    commands.register(sub)
    return parser


# ---- check ----


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="check .chain files and report every problem",
        description="Check .chain files: syntax, names, types, prompts, "
        "parameters, loop bounds and imports.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="PATH", help=".chain files or folders")
    p.add_argument(
        "--explain",
        action="store_true",
        help="also print each chain's model calls per item (formula or upper bound)",
    )
    p.add_argument("--json", action="store_true", help="print diagnostics as JSON")
    p.add_argument(
        "-m",
        "--model",
        action="append",
        default=[],
        metavar="MODEL",
        help="also check every request the chain would send MODEL (with its 'defaults for') "
        "against the provider's documented limits: a dry run on synthetic scenes, or on "
        "--data; nothing is sent (repeatable)",
    )
    p.add_argument("--data", type=Path, help="the dataset --model's dry run uses")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """``chainlang check FILE...``."""
    args.files = chain_files(args.files)
    results = [check_file(f) for f in args.files]
    diags = [d for r in results for d in r.diagnostics]
    if args.json:
        print(to_json(diags))
    elif diags:
        sources = {k: v for r in results for k, v in r.sources.items()}
        _print_diagnostics(render_all(diags, sources))
    if args.explain and not args.json:
        for f, r in zip(args.files, results, strict=True):
            _explain(f, r)
    if not diags and not args.json:
        # Silence would not tell a clean check from one that looked at nothing.
        chains = sum(r.program is not None for r in results)
        print(f"ok ({_count(len(results), 'file')}, {_count(chains, 'chain')} checked)")
    errors = any(d.severity is Severity.ERROR for d in diags)
    if args.model and not errors and not _contracts_ok(args, results):
        return EXIT_DIAGNOSTICS
    return EXIT_DIAGNOSTICS if errors else EXIT_OK  # warnings alone do not fail a check


def _contracts_ok(args: argparse.Namespace, results: Sequence[Result]) -> bool:
    """``check --model``: every request of every chain against each model's contract."""
    import tempfile

    from chainlang.data.manifest import load_dataset
    from chainlang.runtime.contract_check import check_chain
    from chainlang.runtime.session import run_sync

    ok = True
    with tempfile.TemporaryDirectory(prefix="chainlang-check-") as tmp:
        data = load_dataset(args.data or _scenes(Path(tmp)))
        for f, r in zip(args.files, results, strict=True):
            if r.program is None:
                continue
            for model in args.model:
                report = run_sync(check_chain(r.program, data, model))
                for line in report.lines():
                    out = sys.stdout if line.startswith("adapted: ") else sys.stderr
                    print(f"{f}: {model}: {line}" if line.startswith("warning") else line,
                          file=out)  # fmt: skip
                if report.ok:
                    print(f"{f}: {model}: every request within the provider's limits")
                ok = ok and report.ok
    return ok


def _scenes(folder: Path) -> Path:
    """Two synthetic scenes at 640x480, listed 100 times over (a packed chain's chunk)."""
    from chainlang.data.synthetic import generate

    generate(2, folder, seed=0, size=(640, 480))
    items = [json.loads(x) for x in (folder / "manifest.jsonl").read_text().splitlines()]
    many = [{**items[i % len(items)], "id": f"item_{i:03d}"} for i in range(100)]
    (folder / "hundred.jsonl").write_text("".join(json.dumps(x) + "\n" for x in many))
    return folder / "hundred.jsonl"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def chain_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a folder stands for every ``*.chain`` file below it."""
    out: list[Path] = []
    for p in paths:
        found = sorted(p.rglob("*.chain")) if p.is_dir() else [p]
        if not found:
            # A wrong folder in CI must not pass as "nothing to complain about".
            raise UsageError(f"{p} holds no .chain files")
        out.extend(found)
    return out


def _explain(path: Path, r: Result) -> None:
    if r.program is None or r.program.bounds is None:
        return
    b = r.program.bounds
    print(f"{path}: chain {r.program.name}: {b.show()} per item")
    for s in b.symbols:
        est = f" (estimate: {show(s.estimate)})" if s.estimate is not None else ""
        print(f"  {s.name}: {s.doc}{est}")


# ---- fmt ----


def _add_fmt(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fmt",
        help="rewrite .chain files in the canonical layout",
        description="Rewrite .chain files in place in the canonical layout.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="PATH", help=".chain files or folders")
    p.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any file is not formatted"
    )
    p.set_defaults(func=cmd_fmt)


def cmd_fmt(args: argparse.Namespace) -> int:
    """``chainlang fmt [--check] FILE...``."""
    status = EXIT_OK
    for path in chain_files(args.files):
        src, text = _format(path)
        if text is None:
            status = EXIT_DIAGNOSTICS
        elif text != src.text:
            if args.check:
                print(f"{path}: would reformat")
                status = EXIT_DIAGNOSTICS
            elif _write(path, text):
                print(f"{path}: reformatted")
            else:
                status = EXIT_DIAGNOSTICS
    return status


def _write(path: Path, text: str) -> bool:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _err(f"{path}: cannot write: {io_reason(exc)}")
        return False
    return True


def _format(path: Path) -> tuple[SourceFile, str | None]:
    try:
        src = SourceFile.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        _err(f"{path}: cannot read: {io_reason(exc)}")
        return SourceFile.of(str(path), ""), None
    diags = Diagnostics()
    module = parse(src, diags)
    if module is None or diags.has_errors():
        # Never rewrite a file the parser objected to: the layout would hide the error.
        _print_diagnostics(render_all(diags, {src.name: src}))
        return src, None
    return src, unparse(module)


# ---- dump ----


def _add_dump(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "dump",
        help="print a file's AST or IR as JSON",
        description="Print an intermediate form of a .chain file as JSON.",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--stage", choices=["ast", "ir"], default="ir", help="which form (default: ir)")
    p.set_defaults(func=cmd_dump)


def cmd_dump(args: argparse.Namespace) -> int:
    """``chainlang dump --stage ast|ir FILE``."""
    result = check_file(args.file)
    if args.stage == "ast" and result.module is not None:
        print(json.dumps(nodes.to_data(result.module), indent=1))
        return EXIT_OK
    if args.stage == "ir" and result.program is not None:
        print(result.program.model_dump_json(indent=1))
        return EXIT_OK
    _print_diagnostics(result.render())
    return EXIT_DIAGNOSTICS


# ---- lsp ----


def _add_lsp(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "lsp",
        help="run the language server for editors (stdio)",
        description="Serve the Language Server Protocol over stdin/stdout: diagnostics, "
        "hover, definitions, references, completion, formatting, outline and call bounds "
        "(docs/editors.md).",
    )
    p.set_defaults(func=cmd_lsp)


def cmd_lsp(args: argparse.Namespace) -> int:
    """``chainlang lsp``: the language server on stdin/stdout."""
    try:
        from chainlang.lsp.server import main as serve
    except ImportError as exc:  # pygls is an optional extra
        _err(f"error: chainlang lsp needs pygls ({exc}); pip install 'chainlang[lsp]'")
        return EXIT_USAGE
    return serve()


# ---- output ----


def _print_diagnostics(text: str) -> None:
    if not sys.stderr.isatty():
        print(text, file=sys.stderr)
        return
    from rich.console import Console
    from rich.text import Text

    styled = Text(text)
    styled.highlight_regex(r"error\[E\d+\]", "bold red")
    styled.highlight_regex(r"\^+", "red")
    Console(stderr=True, highlight=False).print(styled)


def _err(message: str) -> None:
    print(message, file=sys.stderr)
