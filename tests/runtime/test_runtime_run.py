"""A whole run through the Python API with the scheduler's run-wide stops and checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from runtime_helpers import GPT4O, ScriptedProvider, reply

from chainlang.api import RunOptions, run
from chainlang.data.samples import write_samples
from chainlang.errors import RunError, UsageError
from chainlang.providers.base import ProviderError
from chainlang.runtime.runfolder import read_results
from chainlang.runtime.scheduler import ErrorBudget, Scheduler

LABEL = Path(__file__).resolve().parents[2] / "chains" / "examples" / "label.chain"


def test_a_spent_error_budget_stops_the_run(tmp_path: Path) -> None:
    # The label example asks one question per item, one item at a time: the second
    # failure spends a budget of one, and the third item's question stops the run
    # instead of being recorded as a failed item.
    data = write_samples(tmp_path / "samples")
    scheduler = Scheduler(
        {GPT4O: ScriptedProvider([ProviderError("bad_request", "HTTP 400")])},
        error_budget=ErrorBudget(max_failures=1),
    )
    out = tmp_path / "run"
    options = RunOptions(window=1, progress="none", cache=None)
    with pytest.raises(RunError, match="more than the error budget of 1"):
        run(LABEL, data, GPT4O, out=out, options=options, scheduler=scheduler)
    records = read_results(out)
    assert [r["error"]["kind"] for r in records] == ["bad_request", "bad_request"]


def test_run_options_refuse_a_max_tokens_below_one() -> None:
    with pytest.raises(UsageError, match="--max-tokens must be at least 1"):
        RunOptions(max_tokens=0)


def test_providers_are_closed_when_the_run_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chainlang.runtime.session as session

    data = write_samples(tmp_path / "samples")
    out = tmp_path / "run"
    options = RunOptions(progress="none", cache=None)
    run(LABEL, data, "oracle", out=out, options=options)
    made: list[ScriptedProvider] = []

    def providers(models: list, opts: RunOptions) -> dict:
        made.append(ScriptedProvider([]))
        return {models[0]: made[-1]}

    monkeypatch.setattr(session, "make_providers", providers)
    with pytest.raises(RunError, match="holds a different run"):
        run(LABEL, data, "random", out=out, options=options)  # the folder refuses it
    assert [p.closed for p in made] == [True]


def test_an_item_whose_questions_all_failed_is_a_failed_item(tmp_path: Path) -> None:
    # Every answer is outside the label set, so every question fails and the fallback
    # gives the item's output: the item must not count as ok.
    (tmp_path / "animals.labels").write_text(
        (LABEL.parent / "animals.labels").read_text(encoding="utf-8"), encoding="utf-8"
    )
    chain = tmp_path / "fallback.chain"
    chain.write_text(
        LABEL.read_text(encoding="utf-8").replace(
            "truth.label\n    }", 'truth.label\n    }\n    else { "cat" }'
        ),
        encoding="utf-8",
    )
    data = write_samples(tmp_path / "samples")
    scheduler = Scheduler({GPT4O: ScriptedProvider([reply('"unicorn"')])})
    out = tmp_path / "run"
    options = RunOptions(progress="none", cache=None)
    result = run(chain, data, GPT4O, out=out, options=options, scheduler=scheduler)
    records = read_results(out)
    assert [r["status"] for r in records] == ["failed"] * len(records)
    assert {r["error"]["kind"] for r in records} == {"all_questions_failed"}
    assert "invalid_answer" in records[0]["error"]["message"]
    assert result.summary.items_ok == 0
    assert result.summary.item_failures == {"all_questions_failed": len(records)}
