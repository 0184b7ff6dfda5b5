"""Per-answerer baselines (``baseline_params``), several metrics and a non-inferiority margin."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlang.errors import UsageError
from chainlang.experiments.analysis import CellComparison, _pairs_by_params, format_comparisons
from chainlang.experiments.grid import load_experiment
from chainlang.experiments.stats import Comparison

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
