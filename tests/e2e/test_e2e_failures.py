"""A question that cannot be answered is reported, never replaced by a silent default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import results, run_chain

from chainlang.scoring.score import score_run
from chainlang.testing.fake_provider import FakeProviderServer

REASK_LIMIT = 2  # the scheduler's default: one answer plus two re-asks

CHAIN = """\
labels animals = "animals.labels"

chain which_animal "One question per image" {{
  input image: Image
  truth label: Label
  output Label

  prompt which(view: Image, choices: [Label(animals)]) -> Label(animals) {{
    system "Answer with one word from this list: {{choices}}"
    user [view high] "Which animal is this?"
  }}

  return ask which(view = image, choices = animals){fallback}
}}
"""


def _chain(tmp_path: Path, fallback: str = "") -> Path:
    (tmp_path / "animals.labels").write_text("cat\ndog\nhorse\n", encoding="utf-8")
    path = tmp_path / "which.chain"
    path.write_text(CHAIN.format(fallback=fallback), encoding="utf-8")
    return path


def _run(tmp_path: Path, data: Path, chain: Path) -> Any:
    # One item and one call at a time, so the injected faults hit one known item.
    out = tmp_path / "run"
    run_chain(chain, data, "openai:gpt-4o", out, window=1, concurrency=1)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return out, summary


@pytest.mark.parametrize(
    ("fault", "count", "kind"),
    [
        ("400", 1, "bad_request"),
        ("refusal", 1, "refused"),
        ("invalid", 1 + REASK_LIMIT, "invalid_answer"),
    ],
)
def test_failed_question_is_reported(
    fault: str, count: int, kind: str, photo_manifest: Path, fake_env: FakeProviderServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    fake_env.faults.push(fault, count=count)
    out, summary = _run(tmp_path, photo_manifest, _chain(tmp_path))

    assert summary["failures"] == {kind: 1}
    assert summary["items_failed"] == 1 and summary["items_ok"] == 3
    assert summary["fallbacks"] == 0
    failed = [r for r in results(out).values() if r["status"] != "ok"]
    assert len(failed) == 1
    assert failed[0]["error"]["kind"] == kind
    assert "output" not in failed[0], "a failed item must not carry a made-up answer"
    assert failed[0]["questions"][0]["ok"] is False

    coverage = score_run(out, n_boot=0).coverage
    assert (coverage.items, coverage.items_failed) == (4, 1)
    assert coverage.questions_failed == 1


def test_explicit_else_counts_as_fallback(
    photo_manifest: Path, fake_env: FakeProviderServer, tmp_path: Path
) -> None:
    fake_env.faults.push("400")
    chain = _chain(tmp_path, fallback="\n    else { at(animals, 2) }")
    out, summary = _run(tmp_path, photo_manifest, chain)

    # The chain asks one question per item: the item whose only question failed answered
    # nothing, so its fallback output does not make it ok (it fails, and says why).
    assert summary["items_ok"] == 3
    assert summary["item_failures"] == {"all_questions_failed": 1}
    assert summary["fallbacks"] == 1
    assert summary["failures"] == {"bad_request": 1}, "the fallback hides nothing"
    outputs = [r["output"]["value"] for r in results(out).values() if r["status"] == "ok"]
    # The schema example answers "cat" for the three items that were answered.
    assert sorted(outputs) == ["cat", "cat", "cat"]
    fallback_q = [q for r in results(out).values() for q in r["questions"] if q["fallback"]]
    assert len(fallback_q) == 1 and fallback_q[0]["ok"] is False
    assert score_run(out, n_boot=0).coverage.questions_failed == 1
