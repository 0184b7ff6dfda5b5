"""Identical asks of one item share one answer, and the run says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from e2e_helpers import CHAINS, results, run_chain

from chainlang.testing.fake_provider import FakeProviderServer

AGREE = """labels animals = "animals.labels"

chain agree "The same question three times, meant as three attempts" {
  input image: Image
  truth label: Label
  output Label

  prompt which(view: Image, choices: [Label(animals)]) -> Label(animals) {
    system "Answer with one word from this list: {choices}"
    user [view high] "Which animal is this?"
  }

  let a = ask which(view = image, choices = animals) oracle { truth.label }
  let b = ask which(view = image, choices = animals) oracle { truth.label }
  let c = ask which(view = image, choices = animals) oracle { truth.label }
  return if a == b then a else c
}
"""


def _chain(tmp_path: Path) -> Path:
    labels = (CHAINS / "examples" / "animals.labels").read_text(encoding="utf-8")
    (tmp_path / "animals.labels").write_text(labels, encoding="utf-8")
    chain = tmp_path / "agree.chain"
    chain.write_text(AGREE, encoding="utf-8")
    return chain


def test_identical_asks_are_recorded_and_summarised(
    sample_manifest: Path, tmp_path: Path, fake_env: FakeProviderServer
) -> None:
    out = tmp_path / "run"
    result = run_chain(_chain(tmp_path), sample_manifest, "openai:gpt-4o", out)
    records = results(out)
    # One request per item reached the provider: the copies shared its answer.
    assert len(fake_env.requests) == len(records)
    for r in records.values():
        assert r["status"] == "ok"
        [same] = r["identical_asks"]
        assert same["times"] == 3 and len(same["origins"]) == 3
        assert len({q["key"] for q in r["questions"]}) == 1
    assert sum(result.summary.identical_asks.values()) == 2 * len(records)


def test_run_prints_a_warning_for_identical_asks(sample_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "chainlang", "run", str(_chain(tmp_path))]
    cmd += ["--data", str(sample_manifest), "--model", "oracle", "--out", str(out)]
    cmd += ["--cache", str(tmp_path / "cache.sqlite"), "--progress", "none"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert "identical asks" in text and "samples K" in text
