"""Kill-and-resume through the command line: ``chainlang run`` killed with SIGKILL at seeded
random points and rerun until it exits cleanly gives the results of an uninterrupted run,
and re-asks at most the questions that were in flight at each kill."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import CHAINS
from resume_helpers import (
    assert_same_outputs,
    content_answer,
    finish,
    question_digest,
    subprocess_env,
    wait_for,
)

from chainlang.testing.fake_provider import FakeProviderServer

PARAMS = ("pairs=24", "segments=30")
CONCURRENCY = 4
MAX_STARTS = 12  # kills are attempted until the run outlives its target once


def _start(data: Path, out: Path, cache: Path, env: dict[str, str]) -> Any:
    args = [sys.executable, "-m", "chainlang", "run", str(CHAINS / "depth.chain")]
    args += ["--data", str(data), "--model", "openai:gpt-4o", "--out", str(out)]
    args += ["--cache", str(cache), "--concurrency", str(CONCURRENCY), "--timeout", "30"]
    args += ["--progress", "plain"]
    for p in PARAMS:
        args += ["-p", p]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_cli_run_killed_and_rerun_until_done(syn_manifest: Path, tmp_path: Path) -> None:
    with FakeProviderServer(answer=content_answer) as ref_srv:
        ref_out = tmp_path / "reference"
        env = subprocess_env(ref_srv)
        finish(_start(syn_manifest, ref_out, tmp_path / "ref.sqlite", env))
        questions = len(ref_srv.requests)
    assert questions == 2 * 24

    rng = random.Random(11)
    out, cache = tmp_path / "killed", tmp_path / "killed.sqlite"
    kills, last_output = 0, ""
    with FakeProviderServer(answer=content_answer, latency=0.02) as srv:
        env = subprocess_env(srv)
        for _ in range(MAX_STARTS):
            proc = _start(syn_manifest, out, cache, env)
            # Up to a third of the questions further on; a target past the end lets it finish.
            target = len(srv.requests) + rng.randint(1, questions // 3)
            wait_for(srv, target, proc)
            if proc.poll() is not None:
                last_output = finish(proc)
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
        else:
            pytest.fail(f"the run did not finish within {MAX_STARTS} starts")
        sent = srv.requests

    assert kills >= 2, f"only {kills} kills landed; the test would prove little"
    assert "2/2 items ok" in last_output, last_output
    distinct = Counter(question_digest(r.json) for r in sent)
    repeats = len(sent) - len(distinct)
    print(f"CLI kill-and-resume: {kills} kills, {len(sent)} requests, {repeats} repeated "
          f"(bound {kills * CONCURRENCY})")  # fmt: skip
    assert len(distinct) == questions
    assert repeats <= kills * CONCURRENCY
    assert_same_outputs(out, ref_out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["items_ok"] == 2 and summary["questions"] == questions
