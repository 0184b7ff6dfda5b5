"""Per-answerer baselines (``baseline_params``), several metrics and a non-inferiority margin."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chainlang.api import RunOptions
from chainlang.errors import UsageError
from chainlang.experiments.analysis import (
    CellComparison,
    _pairs_by_params,
    compare_cells,
    format_comparisons,
)
from chainlang.experiments.grid import Experiment, load_experiment
from chainlang.experiments.stats import Comparison
from chainlang.experiments.sweep import run_sweep
from chainlang.reporting.curves import write_curve_svgs
from chainlang.reporting.report import render_report

CHAIN = Path(__file__).parent / "chains" / "spot.chain"


def _cell(name: str, model: str, **params: object) -> dict[str, object]:
    return {"name": name, "model": model, "variants": {}, "params": params}


def test_each_cell_is_paired_with_its_answerers_baseline() -> None:
    cells = [
        _cell(f"{m}-{s}-{c}", m, strategy=s, calls=c)
        for m in ("oracle", "flip")
        for s in ("reference", "listwise")
        for c in (50, 200)
    ]
    names = [str(c["name"]) for c in cells if c["name"] != "flip-listwise-50"]  # no results
    pairs = _pairs_by_params(cells, names, {"strategy": "reference", "calls": 200})
    assert pairs == [
        ("oracle-reference-200", "oracle-reference-50"),
        ("oracle-reference-200", "oracle-listwise-50"),
        ("oracle-reference-200", "oracle-listwise-200"),
        ("flip-reference-200", "flip-reference-50"),
        ("flip-reference-200", "flip-listwise-200"),
    ]


def test_non_inferiority_is_the_lower_end_against_the_margin() -> None:
    def comp(low: float) -> CellComparison:
        result = Comparison(
            diff=low + 0.01,
            ci_low=low,
            ci_high=low + 0.02,
            p_value=0.5,
            test_name="paired permutation",
            n_images=32,
            n_dropped=0,
            level=0.95,
            value_a=0.9,
            value_b=0.9 + low + 0.01,
        )
        return CellComparison("base", f"cell{low}", "spearman", result)

    table = format_comparisons([comp(-0.005), comp(-0.02)], margin=0.01)
    lines = table.splitlines()
    assert "non-inferior (−0.01)" in lines[0]
    assert lines[2].rstrip().endswith("yes") and lines[3].rstrip().endswith("no")
    assert "non-inferior" not in format_comparisons([comp(-0.005)])


def test_experiment_file_keys(tmp_path: Path, scenes: Path) -> None:
    file = tmp_path / "exp.toml"
    head = f'chain = "{CHAIN}"\ndata = "{scenes}"\nmodels = ["oracle", "oracle:flip=0.2"]\n'
    file.write_text(
        head + 'metrics = ["top1"]\nmargin = 0.01\n'
        "[baseline_params]\nwindow = 2\n[params]\nwindow = [1, 2]\n"
    )
    exp = load_experiment(file)
    assert exp.baseline_params == {"window": 2} and exp.metrics == ("top1",)
    assert exp.margin == 0.01
    file.write_text(head + "[baseline_params]\nwindow = 3\n[params]\nwindow = [1, 2]\n")
    with pytest.raises(UsageError, match="window = 3 is not one of its values"):
        load_experiment(file)
    file.write_text(head + "[baseline_params]\nsize = 3\n[params]\nwindow = [1, 2]\n")
    with pytest.raises(UsageError, match="'size' is not a swept parameter"):
        load_experiment(file)
    file.write_text(head + 'margin = "small"\n')
    with pytest.raises(UsageError, match="'margin' must be a number"):
        load_experiment(file)


async def test_the_sweep_keeps_its_baselines_and_margin_for_the_report(
    tmp_path: Path, scenes: Path
) -> None:
    # A parameter the chain does not read, so the cells differ only by name and journal.
    chain = tmp_path / "spot.chain"
    text = CHAIN.read_text(encoding="utf-8").replace(
        "  output Label\n", '  output Label\n  param window: Int = 1 "unused"\n', 1
    )
    chain.write_text(text, encoding="utf-8")
    (tmp_path / "shapes.labels").write_text(
        (CHAIN.parent / "shapes.labels").read_text(encoding="utf-8"), encoding="utf-8"
    )
    exp = Experiment(
        chain=chain,
        data=scenes,
        models=("oracle:flip=0.1", "oracle:flip=0.7"),
        params={"window": (1, 2)},
        options=RunOptions(cache=tmp_path / "c.sqlite", progress="none"),
        baseline_params={"window": 2},
        margin=0.01,
    )
    await run_sweep(exp, tmp_path / "out")
    comps = compare_cells(tmp_path / "out")  # the sweep's own baseline_params
    assert sorted((c.a, c.b) for c in comps) == [
        ("oracle-flip=0.1__window-2", "oracle-flip=0.1__window-1"),
        ("oracle-flip=0.7__window-2", "oracle-flip=0.7__window-1"),
    ]
    page = render_report(tmp_path / "out", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "non-inferior (−0.01)" in page
    # window is a numeric swept parameter: quality per call, a chart per answerer.
    quality = page.split("<h2>Quality per call</h2>", 1)[1].split("</section>", 1)[0]
    assert quality.count("<svg") == 2 and "cheapest non-inferior cell" in quality
    written = write_curve_svgs(tmp_path / "out", tmp_path / "svg")
    assert [f.name for f in written] == ["out_top1.svg"]
    ET.parse(written[0])  # a well-formed standalone document
