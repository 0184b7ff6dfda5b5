"""Kill-and-resume: a run killed with SIGKILL at random points finishes with the same results,
and answers that reached the process before a kill are never paid for twice."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
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

PARAMS = {"pairs": "24", "segments": "30", "form": "near"}
CONCURRENCY = 4
KILLS = 3

# The run, as a separate process so that SIGKILL hits a real interpreter mid-flight.
RUN_SCRIPT = textwrap.dedent(
    """
    import sys
    from chainlang.api import RunOptions, run

    chain, data, out, cache, concurrency = sys.argv[1:6]
    options = RunOptions(
        params={params!r}, cache=cache, concurrency=int(concurrency), progress="none",
        timeout_s=30.0,
    )
    result = run(chain, data, "openai:gpt-4o", out=out, options=options)
    assert result.summary.items_ok == result.summary.items, result.summary
    """
).format(params=PARAMS)


def _start(script: Path, data: Path, out: Path, cache: Path, env: dict[str, str]) -> Any:
    args = [sys.executable, str(script), str(CHAINS / "depth.chain"), str(data), str(out)]
    args += [str(cache), str(CONCURRENCY)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_killed_run_resumes_to_identical_results(syn_manifest: Path, tmp_path: Path) -> None:
    script = tmp_path / "run_once.py"
    script.write_text(RUN_SCRIPT, encoding="utf-8")

    # Reference: one uninterrupted run with its own server, folder and cache.
    with FakeProviderServer(answer=content_answer) as ref_srv:
        ref_out = tmp_path / "reference"
        env = subprocess_env(ref_srv)
        finish(_start(script, syn_manifest, ref_out, tmp_path / "ref.sqlite", env))
        questions = len(ref_srv.requests)
    assert questions == 2 * int(PARAMS["pairs"])

    rng = random.Random(7)
    out, cache = tmp_path / "killed", tmp_path / "killed.sqlite"
    kills = 0
    with FakeProviderServer(answer=content_answer, latency=0.02) as srv:
        env = subprocess_env(srv)
        for _ in range(KILLS):
            proc = _start(script, syn_manifest, out, cache, env)
            # Kill after a random number of further requests (never past the end).
            target = len(srv.requests) + rng.randint(1, max(1, questions // (KILLS + 1)))
            wait_for(srv, target, proc)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
        finish(_start(script, syn_manifest, out, cache, env))
        sent = srv.requests

    assert kills == KILLS, "every kill should land while the run was still asking"
    distinct = Counter(question_digest(r.json) for r in sent)
    repeats = len(sent) - len(distinct)
    print(f"kill-and-resume: {kills} kills, {len(sent)} requests, {len(distinct)} distinct, "
          f"{repeats} repeated (bound {kills * CONCURRENCY})")  # fmt: skip
    assert len(distinct) == questions
    assert len(sent) <= questions + kills * CONCURRENCY
    assert_same_outputs(out, ref_out)
