"""``chainlang sweep``, ``report`` and ``trace`` driven through ``chainlang.cli.app.main``.

Each test runs the command as a user would (argument strings in, exit code and
printed text out) on three tiny synthetic scenes answered by ``oracle:flip=P``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chainlang.cli.app import main
from chainlang.experiments.power import mde_mcnemar
from chainlang.experiments.sweep import sweep_cells

CHAIN = Path(__file__).parent / "chains" / "spot.chain"
MODELS = ["-m", "oracle:flip=0.1", "-m", "oracle:flip=0.5"]
CELLS = ("oracle-flip=0.1", "oracle-flip=0.5")


@pytest.fixture(scope="module")
def three_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 160×120 synthetic scenes."""
    from chainlang.data import synthetic

    return synthetic.generate(3, tmp_path_factory.mktemp("three"), seed=5, size=(160, 120))


def _sweep(scenes: Path, tmp: Path) -> list[str]:
    return ["sweep", str(CHAIN), "--data", str(scenes), *MODELS, "--cache", str(tmp / "c.sqlite")]


def _section(text: str, heading: str) -> list[str]:
    """The lines of the block that starts with ``heading`` (up to the next blank line)."""
    block = text.split(heading, 1)[1].split("\n\n", 1)[0]
    return block.splitlines()[1:]


def test_sweep_prints_plan_results_comparisons_and_variance(
    three_scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    argv = [*_sweep(three_scenes, tmp_path), "--samples", "2", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    # The plan: one row per cell, 3 images × 2 samples × 6 questions each.
    plan = _section(text, "plan: 2 cells (2 models), 2 samples per question, 3 images")
    assert [line.split()[0] for line in plan[2:4]] == list(CELLS)
    assert plan[4].split()[:2] == ["total", "72"]
    assert "minimum detectable difference: none (3 images are too few" in text
    # The results: both cells, every (image, sample) answered.
    results = _section(text, "results: top1 per cell")
    assert [r.split()[0] for r in results[2:]] == list(CELLS)
    assert all("6/6" in r for r in results[2:])
    # The comparison: B − A with its CI, p and q (one comparison, so q = p).
    comps = _section(text, "paired comparisons of top1")
    assert re.split(r"\s{2,}", comps[0])[:7] == ["B", "A", "metric", "B − A", "95% CI", "p", "q"]
    row = re.split(r"\s{2,}", comps[2])
    assert row[:3] == ["oracle-flip=0.5", "oracle-flip=0.1", "top1"]
    p, q = float(row[5]), float(row[6])
    assert 0 < p <= 1 and q == p
    # Two samples make sampling estimable: the variance shares are printed per model.
    variance = _section(text, "variance of top1 per model")
    assert [v.split()[0] for v in variance[2:]] == ["oracle:flip=0.1", "oracle:flip=0.5"]
    for line in variance[2:]:
        _, _, variants, interaction, sampling, n, shape = re.split(r"\s{2,}", line)
        assert variants == interaction == "n/a"  # one variant: not estimable
        # Which flips happen depends on the image bytes (the simulated answerer is
        # seeded by the request's hash), so an answerer may, rarely, never vary.
        assert re.fullmatch(r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\]|0 \(constant\)", sampling)
        assert (n, shape) == ("3", "1 × 2")
    assert {c.name for c in sweep_cells(out)} == set(CELLS)
    assert all((out / "cells" / c / "results.jsonl").exists() for c in CELLS)


@pytest.fixture(scope="module")
def forty_items(three_scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-item manifest reusing the three scenes' files (pricing only counts items)."""
    lines = three_scenes.read_text().splitlines()
    items = []
    for n in range(40):
        item = json.loads(lines[n % len(lines)])
        item["id"] = f"copy_{n:02d}"
        item["image"] = str(three_scenes.parent / item["image"])
        item["truth"] = {"label": item["truth"]["label"]}  # all that spot.chain reads
        items.append(json.dumps(item))
    out = tmp_path_factory.mktemp("forty") / "manifest.jsonl"
    out.write_text("\n".join(items) + "\n")
    return out


def test_plan_only_prints_the_mde_and_runs_nothing(
    forty_items: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    argv = [*_sweep(forty_items, tmp_path), "--variants", "name=terse,careful", "--plan-only"]
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert not out.exists() and not (tmp_path / "c.sqlite").exists()
    assert "plan: 4 cells" in text and "results:" not in text
    # 4 cells, all pairs compared: α is split six ways; spot.chain scores top-1 (McNemar).
    expected = mde_mcnemar(40, accuracy=0.8, alpha=0.05 / 6)
    line = next(x for x in text.splitlines() if x.startswith("minimum detectable"))
    assert f"difference: {expected:.3g} (mcnemar, 40 images, 6 comparisons" in line
    assert main([*argv, "--assume-accuracy", "0.6"]) == 0  # --out is optional here
    looser = capsys.readouterr().out
    assert f"{mde_mcnemar(40, accuracy=0.6, alpha=0.05 / 6):.3g} (mcnemar" in looser
    assert not out.exists()


def test_one_cell_has_nothing_to_compare(
    three_scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sweep", str(CHAIN), "--data", str(three_scenes), "-m", "oracle"]
    argv += ["--cache", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "one")]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "fewer than two cells have results; nothing to compare" in text
    assert "minimum detectable" not in text and "variance of" not in text


def test_report_writes_one_self_contained_file(
    finished_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "html" / "r.html"
    cache = finished_sweep.parent / "cache.sqlite"
    assert main(["report", str(finished_sweep), "--out", str(target), "--cache", str(cache)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]
    page = target.read_text(encoding="utf-8")
    for cell in sweep_cells(finished_sweep):
        assert cell.name in page
    assert "http://" not in page and "https://" not in page


def test_trace_prints_every_question_with_its_images(
    finished_sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = finished_sweep / "cells" / "oracle-flip=0.7__name-careful"
    assert main(["trace", str(run), "--item", "scene_00000"]) == 0
    text = capsys.readouterr().out
    record = next(
        json.loads(line)
        for line in (run / "results.jsonl").read_text().splitlines()
        if json.loads(line)["key"] == "scene_00000#0"
    )
    questions = record["questions"]
    assert f"{len(questions)} questions (0 failed), {len(questions)} images sent" in text
    steps = re.split(r"\n\n(?=\[\d+\] )", text)[1:]
    assert len(steps) == len(questions) == 6
    for i, (step, q) in enumerate(zip(steps, questions, strict=True), start=1):
        assert step.startswith(f"[{i}] name (variant careful)")
        assert len(re.findall(r"<image [0-9a-f]{12} \d+x\d+ low>", step)) == 1
        assert f"answer: {json.dumps(q['answer'])}" in step
    # The whole image comes last, after the five crops.
    assert "<image" in steps[-1] and " 160x120 low>" in steps[-1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            "sweep {chain} --data {data} -m oracle --variants name=terse,nope --plan-only",
            r"prompt 'name' has no variant 'nope' \(it has terse, careful\)",
        ),
        (
            "sweep {chain} --data {data} -m oracle --variants name=terse,carefull --plan-only",
            r"has no variant 'carefull' \(it has terse, careful\); did you mean 'careful'\?",
        ),
        (
            "sweep {chain} --data {data} -m oracle --variants which=a,b --plan-only",
            r"no prompt 'which' \(chain 'spot' has prompts with variants name: terse, careful\)",
        ),
        (
            "sweep {chain} --data {data} -m oracle --variants terse,careful --plan-only",
            "variants must look like prompt=v1,v2; got 'terse,careful'",
        ),
        ("sweep {chain} -m oracle --out {tmp}/o", "missing: --data"),
        ("sweep {chain} --data {data} --out {tmp}/o", "missing: -m"),
        ("sweep {chain} --data {data} -m oracle", "sweep needs --out FOLDER"),
        ("sweep {tmp}/nope.chain --data {data} -m oracle --plan-only", "does not exist"),
        ("sweep {chain} --data {tmp}/nodata -m oracle --plan-only", "dataset .* does not exist"),
        ("sweep {chain} --data {data} -m oracle --samples 0 --plan-only", "at least 1, got 0"),
        ("sweep {chain} --data {data} -m oracle -p size=[1,2] --plan-only", "no parameter 'size'"),
        ("sweep {chain} --data {data} -m nope:x --plan-only", "unknown provider 'nope'"),
        (
            "sweep {chain} --data {data} -m oracle -m random --baseline best --plan-only",
            "baseline 'best' is not a cell of the grid \\(cells: oracle, random\\)",
        ),
        ("sweep {chain} --experiment {tmp}/e.toml --plan-only", "drop CHAIN"),
        ("sweep {chain} --data {data} -m oracle --samples two", "invalid int value: 'two'"),
        ("report {tmp}/absent --out {tmp}/r.html", "absent does not exist"),
        ("report {sweep} --metric nope --out {tmp}/r.html", "no per-image metric 'nope'"),
        ("trace {sweep} --item scene_00000", "is a sweep folder; trace one of its cells"),
        ("trace {sweep}/cells/oracle-flip=0.1__name-terse --item x", "no result 'x#0'"),
        (
            "trace {sweep}/cells/oracle-flip=0.1__name-terse --item x --cache {tmp}/no.sqlite",
            "no journal at .*no.sqlite",
        ),
        ("report {sweep} --out {tmp}/r.html --cache {tmp}/no.sqlite", "no journal at .*no.sqlite"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: str,
    message: str,
    three_scenes: Path,
    finished_sweep: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    words = argv.format(chain=CHAIN, data=three_scenes, tmp=tmp_path, sweep=finished_sweep)
    assert main(words.split()) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_changed_chain_is_refused_until_force_new(
    three_scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = tmp_path / "spot.chain"
    chain.write_text(CHAIN.read_text())
    (tmp_path / "shapes.labels").write_text((CHAIN.parent / "shapes.labels").read_text())
    argv = ["sweep", str(chain), "--data", str(three_scenes), *MODELS]
    argv += ["--cache", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "sw")]
    assert main(argv) == 0
    chain.write_text(chain.read_text().replace("Which kind", "What kind"))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a different run" in err and "(1 other cell failed too)" in err
    assert "Traceback" not in err
    assert main([*argv, "--force-new"]) == 0


def test_experiment_file_with_a_baseline_from_the_command_line(
    forty_items: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "exp.toml"
    file.write_text(
        f'chain = "{CHAIN}"\ndata = "{forty_items}"\nmodels = ["oracle:flip=0.1", "oracle"]\n'
        '[variants]\nname = ["terse", "careful"]\n[options]\ncache = "c.sqlite"\n'
    )
    argv = ["sweep", "--experiment", str(file), "--plan-only"]
    assert main([*argv, "--baseline", "oracle__name-terse"]) == 0
    text = capsys.readouterr().out
    assert "plan: 4 cells (2 models x 2 name variants), 1 sample per question, 40 images" in text
    # Three cells against the baseline, not six pairs: α is split three ways.
    expected = mde_mcnemar(40, accuracy=0.8, alpha=0.05 / 3)
    assert f"difference: {expected:.3g} (mcnemar, 40 images, 3 comparisons" in text
    assert main([*argv, "-m", "random"]) == 2
    assert "--experiment declares the grid itself; drop -m" in capsys.readouterr().err
