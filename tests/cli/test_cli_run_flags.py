"""One declaration per run option: ``run``, ``plan`` and ``sweep`` take the same flags."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from chainlang.cli.app import build_parser
from chainlang.cli.experiment_commands import _experiment
from chainlang.cli.run_flags import NOT_FLAGS, RUN_FLAGS
from chainlang.runtime.session import RunOptions

CHAIN = Path(__file__).parents[1] / "sweep" / "chains" / "spot.chain"
# A value for each flag, and the RunOptions value it must give.
SAMPLE = {
    "--labels": (["shapes=synthetic"], {"shapes": "synthetic"}),
    "--samples": (["3"], 3),
    "--temperature": (["0.5"], 0.5),
    "--max-tokens": (["300"], 300),
    "--seed": (["7"], 7),
    "--config": (["c.toml"], Path("c.toml")),
    "--cache": (["j.sqlite"], Path("j.sqlite")),
    "--dispatch": (["batch"], "batch"),
    "--concurrency": (["3"], 3),
    "--rpm": (["30"], 30.0),
    "--tpm": (["9000"], 9000.0),
    "--max-cost": (["1.5"], 1.5),
    "--max-failures": (["4"], 4),
    "--timeout": (["30"], 30.0),
    "--max-retry-wait": (["15"], 15.0),
    "--force-new": ([], True),
    "--window": (["2"], 2),
    "--workers": (["2"], 2),
    "--poll": (["5"], 5.0),
    "--progress": (["plain"], "plain"),
    "--engine": (["local"], "local"),  # ray would refuse --dispatch batch above
    "--address": (["auto"], "auto"),
}


def _options_of(parser: argparse.ArgumentParser, command: str) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {s for a in sub.choices[command]._actions for s in a.option_strings}


def test_every_run_option_has_one_flag_or_a_reason() -> None:
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    declared = [f.field for f in RUN_FLAGS]
    assert len(declared) == len(set(declared))  # declared once
    assert set(declared) | set(NOT_FLAGS) == fields
    assert set(SAMPLE) == {f.flag for f in RUN_FLAGS}


def test_sweep_and_plan_take_every_run_flag_that_applies() -> None:
    parser = build_parser()
    run = _options_of(parser, "run")
    # A sweep draws no progress display; every other run flag applies to its cells.
    assert run - _options_of(parser, "sweep") == {"--progress"}
    for flag in ("--tpm", "--temperature", "--seed", "--timeout"):
        assert flag in _options_of(parser, "sweep")
    plan = _options_of(parser, "plan")
    assert {"--samples", "--temperature", "--max-tokens", "--seed", "--dispatch"} <= plan


@pytest.mark.parametrize("command", ["run", "plan"])
def test_run_and_plan_flags_reach_run_options(command: str) -> None:
    from chainlang.cli.commands import _options

    parser = build_parser()
    head = [command, "x.chain", "--data", "d", "--model", "oracle", "--out", "o"]
    if command == "plan":
        head = head[:-2]
    taken = [f for f in RUN_FLAGS if command in f.commands]
    argv = [*head, *(w for f in taken for w in (f.flag, *SAMPLE[f.flag][0]))]
    options = _options(parser.parse_args(argv), command)
    for f in taken:
        assert getattr(options, f.field) == SAMPLE[f.flag][1], f.flag
    assert _options(parser.parse_args(head), command) == RunOptions()  # defaults: RunOptions'


def test_sweep_flags_reach_every_cell(tmp_path: Path) -> None:
    parser = build_parser()
    taken = [f for f in RUN_FLAGS if "sweep" in f.commands]
    argv = ["sweep", str(CHAIN), "--data", str(tmp_path), "-m", "oracle"]
    argv += [w for f in taken for w in (f.flag, *SAMPLE[f.flag][0])]
    exp = _experiment(parser.parse_args(argv))
    assert exp.samples == 3
    for f in taken:
        if f.field != "samples":
            assert getattr(exp.options, f.field) == SAMPLE[f.flag][1], f.flag
    assert exp.options.progress == "none"
