"""``chainlang score`` says why items were not scored (issue 12: metrics' per-item notes)."""

from __future__ import annotations

from chainlang.cli.commands import score_json, unscored_lines
from chainlang.scoring.score import RunScore


def _score(notes: tuple[str, ...]) -> RunScore:
    return RunScore(run="runs/count", chain="count", model="oracle", output="Int", metrics={},
                    notes=notes)  # fmt: skip


def test_reasons_are_listed_per_run_and_capped() -> None:
    notes = tuple(f"item {i}: truth 'count' is missing" for i in range(7))
    lines = unscored_lines([_score(notes), _score(())], most=5)
    assert lines[0] == "runs/count: 7 item(s) not scored:"
    assert lines[1:6] == [f"  {n}" for n in notes[:5]]
    assert lines[6] == "  (+2 more; `--json` lists them all)"
    assert len(lines) == 7  # a run with every item scored adds nothing


def test_json_lists_every_reason() -> None:
    notes = ("item a: truth 'count' is missing", "item b: answer 'x' is not a number")
    assert score_json(_score(notes))["unscored"] == list(notes)
