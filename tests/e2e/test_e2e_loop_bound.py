"""A loop that ends because it ran out of rounds, not because its ``until`` held, is never
silent: the item's record lists it, the run's summary and CLI output count it, and
``chainlang trace`` shows it (issue 9, defect 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlang.cli.app import main

# Counts asks until it has asked `wanted` times, but may run only `rounds` rounds.
CHAIN = """labels animals = "animals.labels"

chain rounds "Asks until it has asked enough times, within a bound" {
  input image: Image
  truth label: Label
  output Label

  param rounds: Int = 2
  param wanted: Int = 3

  prompt which(view: Image, choices: [Label(animals)], round: Int) -> Label(animals) {
    system "Answer with one word from this list: {choices}"
    user [view high] "Which animal is this? (round {round})"
  }

  let asked = repeat with { n = 0 } up to rounds until n >= wanted {
    let a = ask which(view = image, choices = animals, round = n)
      oracle {
        truth.label
      }
    next { n = n + 1 }
  }
  return ask which(view = image, choices = animals, round = asked.n)
    oracle {
      truth.label
    }
}
"""


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """The chain beside the animals label set it names."""
    root = Path(__file__).resolve().parents[2] / "chains" / "examples"
    (tmp_path / "animals.labels").write_text((root / "animals.labels").read_text())
    path = tmp_path / "rounds.chain"
    path.write_text(CHAIN)
    return path


def _run(chain: Path, data: Path, out: Path, rounds: int) -> list[str]:
    return [
        "run", str(chain), "--data", str(data), "--model", "oracle", "--out", str(out),
        "--cache", str(out.parent / f"{out.name}.sqlite"), "--progress", "none",
        "-p", f"rounds={rounds}",
    ]  # fmt: skip


def test_a_loop_stopped_by_its_bound_is_recorded_counted_and_traced(
    chain: Path, sample_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "short"
    assert main(_run(chain, sample_manifest, out, rounds=2)) == 0
    text = capsys.readouterr().out
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    line = CHAIN.splitlines().index(next(x for x in CHAIN.splitlines() if "repeat" in x)) + 1
    loop = {"origin": f"{chain}:{line}:15", "bound": 2}
    assert records and all(r["loops_at_bound"] == [loop] for r in records)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["loops_at_bound"] == {loop["origin"]: len(records)}
    assert f"loops stopped by their bound before their `until` held: {len(records)}" in text

    assert main(["trace", str(out), "--item", records[0]["id"]]) == 0
    traced = capsys.readouterr().out
    assert f"loop at {loop['origin']} stopped at its bound (2 rounds)" in traced


def test_a_loop_whose_until_holds_is_not_reported(
    chain: Path, sample_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three rounds are exactly enough: the until holds when the bound is reached.
    out = tmp_path / "enough"
    assert main(_run(chain, sample_manifest, out, rounds=3)) == 0
    assert "loops stopped" not in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert records and all(r["loops_at_bound"] == [] for r in records)
    assert json.loads((out / "summary.json").read_text())["loops_at_bound"] == {}
