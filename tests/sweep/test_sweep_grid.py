"""The grid: experiment files, command-line specs, cell names, pricing, MDE."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlang.errors import UsageError
from chainlang.experiments.sweep import (
    cells,
    format_plan_table,
    load_experiment,
    mde_before_run,
    parse_param_spec,
    parse_variant_spec,
    price,
)


def test_cells_cover_the_grid_with_stable_distinct_names(make_experiment) -> None:
    exp = make_experiment(variants=["name=terse,careful"], params=["window=[1,2]"])
    grid = cells(exp)
    assert len(grid) == 2 * 2 * 2
    assert len({c.name for c in grid}) == len(grid)
    assert [c.name for c in grid] == [c.name for c in cells(exp)]
    first = grid[0]
    assert first.name == "oracle-flip=0.1__name-terse__window-1"
    assert first.options(exp).params == {"window": 1, "variant.name": "terse"}


def test_long_names_are_shortened_but_stay_distinct(make_experiment) -> None:
    long = "x" * 90
    exp = make_experiment(params=[f'tag=["{long}a", "{long}b"]'])
    names = [c.name for c in cells(exp)]
    assert all(len(n) <= 72 for n in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("pairs=[6, 12]", ("pairs", [6, 12])),
        ("marker=point", ("marker", "point")),
        ("marker=[point, curve]", ("marker", ["point", "curve"])),
        ("smooth=2.5", ("smooth", 2.5)),
    ],
)
def test_param_specs(spec: str, expected: tuple[str, object]) -> None:
    assert parse_param_spec(spec) == expected


def test_bad_specs_are_named() -> None:
    with pytest.raises(UsageError, match="prompt=v1,v2"):
        parse_variant_spec("compare")
    with pytest.raises(UsageError, match="name=value"):
        parse_param_spec("=3")
    assert parse_variant_spec("compare=a, b") == ("compare", ("a", "b"))


def test_experiment_rejects_inconsistent_grids(make_experiment) -> None:
    with pytest.raises(UsageError, match="repeat a value"):
        make_experiment(variants=["name=terse,terse"])
    with pytest.raises(UsageError, match="given twice"):
        make_experiment(params=["a=1", "a=[2,3]"])
    with pytest.raises(UsageError, match="at least one model"):
        make_experiment(models=[])


def test_experiment_file(tmp_path: Path, scenes: Path) -> None:
    chain = Path(__file__).parent / "chains" / "spot.chain"
    file = tmp_path / "exp.toml"
    file.write_text(
        f'chain = "{chain}"\ndata = "{scenes}"\nmodels = ["oracle:flip=0.2"]\nsamples = 3\n'
        '[variants]\nname = ["terse", "careful"]\n[params]\nwindow = [1, 2]\nother = 5\n'
        '[options]\ncache = "c.sqlite"\nconcurrency = 4\n'
    )
    exp = load_experiment(file)
    assert exp.samples == 3 and exp.fixed == {"other": 5}
    assert exp.params == {"window": (1, 2)}
    assert exp.options.cache == tmp_path / "c.sqlite" and exp.options.concurrency == 4
    assert len(cells(exp)) == 4


def test_experiment_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_experiment(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('chain = "a"\ndata = "b"\nmodels = ["oracle"]\ncolour = 1\n')
    with pytest.raises(UsageError, match="unknown keys"):
        load_experiment(bad)
    bad.write_text('chain = "a"\ndata = "b"\nmodels = ["oracle"]\n[options]\nspeed = 1\n')
    with pytest.raises(UsageError, match="unknown \\[options\\]"):
        load_experiment(bad)


async def test_price_every_cell(make_experiment) -> None:
    exp = make_experiment(variants=["name=terse,careful"], samples=2)
    plans = await price(exp)
    assert len(plans) == 4
    assert all(p.calls_per_item == 6 and p.samples == 2 and p.items == 4 for p in plans)
    table = format_plan_table(plans, [c.name for c in cells(exp)])
    assert "oracle-flip=0.7__name-careful" in table
    assert table.splitlines()[-1].split()[:2] == ["total", "192"]


def test_mde_shrinks_with_images_and_grows_with_comparisons(make_experiment) -> None:
    small = mde_before_run(make_experiment(), 100, accuracy=0.7)
    large = mde_before_run(make_experiment(), 400, accuracy=0.7)
    many = mde_before_run(make_experiment(variants=["name=terse,careful"]), 100, accuracy=0.7)
    assert large.effect < small.effect < many.effect
    assert small.comparisons == 1 and many.comparisons == 6
    paired = mde_before_run(make_experiment(), 100, sd_diff=0.2)
    assert paired.test == "paired" and "minimum detectable" in paired.describe()
    with pytest.raises(UsageError, match="accuracy"):
        mde_before_run(make_experiment(), 100)
