"""The one mapping from :class:`~chainlang.runtime.session.RunOptions` to command-line flags.

Every run option is declared once here (flag, type, help, the ``RunOptions``
field it sets, and which commands take it); ``plan``, ``run`` and ``sweep`` add
their flags with :func:`add_run_flags` and read them back with
:func:`option_values`, so a new option reaches all three commands at once.

Flags default to None ("not given"): ``RunOptions`` holds the defaults, and a
sweep's experiment file keeps its ``[options]`` unless a flag overrides them.
This module imports nothing heavy (the parser is built for ``chainlang check`` too).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainlang.cli.support import pairs

PLAN = frozenset({"plan", "run", "sweep"})  # what the price depends on
RUN = frozenset({"run", "sweep"})  # how the questions are sent
RUN_ONLY = frozenset({"run"})  # a sweep draws no progress display

# RunOptions fields that no flag of this table sets, and why.
NOT_FLAGS = {
    "params": "-p NAME=VALUE, parsed by chainlang.language.params (a sweep takes lists)",
    "flush_s": "internal: the batch dispatcher's idle flush delay",
}


@dataclass(frozen=True)
class RunFlag:
    """One command-line flag of a run option.

    Attributes:
        flag: the option string, e.g. ``--max-cost``.
        field: the ``RunOptions`` field it sets.
        type: converts the flag's text (None: a switch that is on when given).
        help: the help line.
        commands: the commands that take it.
        choices: the values allowed, if only a few are.
        metavar: the placeholder shown in the help.
        repeat: the flag may be repeated as ``NAME=VALUE`` pairs (a mapping field).
    """

    flag: str
    field: str
    type: Callable[[str], Any] | None
    help: str
    commands: frozenset[str]
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    repeat: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


RUN_FLAGS: tuple[RunFlag, ...] = (
    RunFlag(
        "--labels",
        "labels",
        str,
        "rebind a label set (built-in name or file), e.g. coco80=synthetic; repeat per set",
        PLAN,
        metavar="ALIAS=SET",
        repeat=True,
    ),
    RunFlag("--samples", "samples", int, "independent answers per question (default 1)", PLAN),
    RunFlag(
        "--temperature",
        "temperature",
        float,
        "sampling temperature (default 0; raise it with --samples > 1)",
        PLAN,
    ),
    RunFlag("--max-tokens", "max_tokens", int, "answer token cap per call (default 4000)", PLAN),
    RunFlag("--seed", "seed", int, "sampling seed sent to providers that take one", PLAN),
    RunFlag("--config", "config", Path, "TOML with [limits], [prices], provider keys", PLAN),
    RunFlag(
        "--cache",
        "cache",
        Path,
        "the journal shared by runs (default: .chainlang/cache.sqlite)",
        PLAN,
    ),
    RunFlag(
        "--dispatch",
        "dispatch",
        str,
        "batch: send through the providers' batch APIs at their batch price "
        "(answers take minutes to hours; rerunning resumes the waiting); default sync",
        PLAN,
        choices=("sync", "batch"),
    ),
    RunFlag("--concurrency", "concurrency", int, "requests in flight per model", RUN),
    RunFlag("--rpm", "rpm", float, "requests per minute per model (default: adapt)", RUN),
    RunFlag("--tpm", "tpm", float, "tokens per minute per model", RUN),
    RunFlag("--max-cost", "max_cost", float, "dollars never to exceed (a sweep: in all)", RUN),
    RunFlag("--max-failures", "max_failures", int, "stop after this many failed questions", RUN),
    RunFlag("--timeout", "timeout_s", float, "seconds per call (default 120)", RUN),
    RunFlag(
        "--max-retry-wait",
        "max_retry_wait_s",
        float,
        "longest Retry-After to wait; a question asked to wait longer fails (default 120)",
        RUN,
        metavar="SECONDS",
    ),
    RunFlag(
        "--force-new",
        "force_new",
        None,
        "start a run folder afresh even if it holds a different run (e.g. the chain changed)",
        RUN,
    ),
    RunFlag(
        "--window",
        "window",
        int,
        "dataset items in flight per run (default 4; 64 with --dispatch batch)",
        RUN,
    ),
    RunFlag(
        "--workers",
        "workers",
        int,
        "processes for the image work (default: one per core; 1: all in the run's process)",
        RUN,
    ),
    RunFlag(
        "--poll",
        "poll_s",
        float,
        "with --dispatch batch: seconds between looks at a running batch (default 60)",
        RUN,
    ),
    RunFlag(
        "--engine",
        "engine",
        str,
        "ray: spread the items over a Ray cluster's workers, with one shared rate limit, "
        "journal and budget (needs chainlang[ray]; docs/scale.md); default local",
        RUN,
        choices=("local", "ray"),
    ),
    RunFlag(
        "--address",
        "address",
        str,
        "with --engine ray: the cluster to join, e.g. auto (the one started on this "
        "machine) or HOST:6379 (default: start a local cluster)",
        RUN,
    ),
    RunFlag(
        "--progress",
        "progress",
        str,
        "auto: a live display on a terminal, plain lines otherwise (default auto)",
        RUN_ONLY,
        choices=("auto", "plain", "none"),
    ),
)


def flags_for(command: str) -> tuple[RunFlag, ...]:
    """The run flags ``command`` takes."""
    return tuple(f for f in RUN_FLAGS if command in f.commands)


def add_run_flags(p: argparse.ArgumentParser, command: str) -> None:
    """Add every run flag ``command`` takes to its parser (each defaults to None)."""
    for f in flags_for(command):
        if f.type is None:
            p.add_argument(f.flag, action="store_true", default=None, help=f.help)
        elif f.repeat:
            p.add_argument(f.flag, action="append", default=[], metavar=f.metavar, help=f.help)
        else:
            kwargs: dict[str, Any] = {"type": f.type, "help": f.help}
            if f.choices:
                kwargs["choices"] = f.choices
            if f.metavar:
                kwargs["metavar"] = f.metavar
            p.add_argument(f.flag, **kwargs)


def option_values(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The ``RunOptions`` fields set on the command line, by field name (flags not
    given are left out, so ``RunOptions`` or an experiment file supplies them)."""
    values: dict[str, Any] = {}
    for f in flags_for(command):
        value = getattr(args, f.dest)
        if f.repeat:
            if value:
                values[f.field] = pairs(value, f.flag)
        elif value is not None:
            values[f.field] = value
    return values
