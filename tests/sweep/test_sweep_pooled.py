"""A sweep compares a pooled metric (δ1) with a paired, image-clustered interval (issue 14).

Two strategies of ``chains/depth_strategies.chain`` at a tiny budget on the four
session scenes, under one noisy answerer: the command's tables, ``compare_cells``
and the report each pair the cells on ρ and on δ1.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import pytest

from chainlang.cli.app import main
from chainlang.experiments.analysis import compare_cells
from chainlang.reporting.report import render_report

CHAIN = Path(__file__).parents[2] / "chains" / "depth_strategies.chain"


@pytest.fixture(scope="module")
def depth_sweep(scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished two-cell depth sweep (reference vs listwise) and what it printed."""
    root = tmp_path_factory.mktemp("pooled")
    exp = root / "exp.toml"
    exp.write_text(
        f'chain = "{CHAIN.as_posix()}"\n'
        f'data = "{scenes.as_posix()}"\n'
        'models = ["oracle:flip=0.2"]\n'
        'metrics = ["spearman", "delta1"]\n'
        "margin = 0.01\n"
        '[baseline_params]\nstrategy = "reference"\n'
        '[params]\nstrategy = ["reference", "listwise"]\ncalls = 12\nsegments = 30\n'
        f'[options]\ncache = "{(root / "c.sqlite").as_posix()}"\nprogress = "none"\n',
        encoding="utf-8",
    )
    out = root / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # capsys is per test; this fixture is per module
        assert main(["sweep", "--experiment", str(exp), "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_the_sweep_prints_delta1_compared_with_an_interval(depth_sweep: tuple[Path, str]) -> None:
    _, text = depth_sweep
    assert "not available" not in text
    block = text.split("paired comparisons of delta1", 1)[1].split("\n\n", 1)[0]
    row = re.split(r"\s{2,}", block.splitlines()[3])
    assert row[:3] == [
        "oracle-flip=0.2__strategy-listwise",
        "oracle-flip=0.2__strategy-reference",
        "delta1",
    ]
    diff = float(row[3])
    low, high = (float(v) for v in row[4].strip("[]").split(", "))
    assert low <= diff <= high and low < high
    assert row[-2] == "paired permutation (exact)" and row[-1] in ("yes", "no")


def test_compare_cells_pairs_delta1_on_the_images(depth_sweep: tuple[Path, str]) -> None:
    out, _ = depth_sweep
    (comp,) = compare_cells(out, "delta1")  # the sweep's own baseline_params
    r = comp.result
    assert comp.metric == "delta1" and comp.higher_is_better
    assert r.n_images == 4 and r.n_dropped == 0
    assert r.diff == pytest.approx(r.value_b - r.value_a)
    assert all(math.isfinite(v) for v in (r.ci_low, r.ci_high, r.p_value))
    assert r.ci_low <= r.diff <= r.ci_high
    (again,) = compare_cells(out, "delta1")  # the same seed gives the same interval
    assert (again.result.ci_low, again.result.ci_high) == (r.ci_low, r.ci_high)


def test_the_report_shows_every_metric_of_the_sweep(
    depth_sweep: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = depth_sweep
    assert json.loads((out / "sweep.json").read_text(encoding="utf-8"))["metrics"] == [
        "spearman",
        "delta1",
    ]
    page = render_report(out, tmp_path / "r.html").read_text(encoding="utf-8")
    section = page.split("Paired comparisons", 1)[1].split("Variance decomposition", 1)[0]
    assert "Metric <b>spearman</b>" in section and "Metric <b>delta1</b>" in section
    assert "Pooled over images" in section and section.count("non-inferior (−0.01)") == 2
