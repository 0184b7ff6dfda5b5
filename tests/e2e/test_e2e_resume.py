"""Kill-and-resume: a run killed with SIGKILL at random points finishes with the same results,
and answers that reached the process before a kill are never paid for twice."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_helpers import CHAINS, results

from chainlang.testing.fake_provider import FakeCall, FakeProviderServer

PARAMS = {"pairs": "24", "segments": "30"}
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


def content_answer(call: FakeCall) -> Any:
    """A deterministic answer per question: the enum value picked by the request's hash.

    Answers depend only on what was asked, so an interrupted run and an
    uninterrupted one must agree exactly, yet not every answer is the same.
    """
    schema = call.schema or {}
    near = schema.get("properties", {}).get("near", {})
    if "enum" not in near:
        return None
    digest = hashlib.sha256(_images(call.request.json)).digest()
    return {"near": near["enum"][digest[0] % len(near["enum"])]}


def _images(body: Any) -> bytes:
    """The image URLs of a request (the question's identity, independent of request ids)."""
    if isinstance(body, dict):
        url = body.get("url") if isinstance(body.get("url"), str) else ""
        return url.encode() + b"".join(_images(v) for v in body.values())
    if isinstance(body, list):
        return b"".join(_images(v) for v in body)
    return b""


def _start(script: Path, data: Path, out: Path, cache: Path, env: dict[str, str]) -> Any:
    args = [sys.executable, str(script), str(CHAINS / "depth.chain"), str(data), str(out)]
    args += [str(cache), str(CONCURRENCY)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _env(srv: FakeProviderServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=srv.openai_base_url,
        HF_HUB_OFFLINE="1",
    )
    return env


def _wait_for(srv: FakeProviderServer, target: int, proc: Any, limit_s: float = 60.0) -> None:
    """Block until the server has seen ``target`` requests or the process has ended."""
    deadline = time.monotonic() + limit_s
    while len(srv.requests) < target and proc.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no progress: {len(srv.requests)} of {target} requests")
        time.sleep(0.005)


def _finish(proc: Any) -> None:
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output.decode(errors="replace")


def _answers(out: Path) -> dict[str, dict[str, Any]]:
    """Answers by item and question key (questions are recorded in completion order)."""
    return {
        item: {q["key"]: q["answer"] for q in r["questions"]} for item, r in results(out).items()
    }


def _arrays(out: Path) -> dict[str, np.ndarray]:
    found = {}
    for item, r in results(out).items():
        with np.load(out / r["output"]["arrays"]) as z:
            found[item] = z["output"]
    return found


@pytest.mark.slow
def test_killed_run_resumes_to_identical_results(syn_manifest: Path, tmp_path: Path) -> None:
    script = tmp_path / "run_once.py"
    script.write_text(RUN_SCRIPT, encoding="utf-8")

    # Reference: one uninterrupted run with its own server, folder and cache.
    with FakeProviderServer(answer=content_answer) as ref_srv:
        ref_out = tmp_path / "reference"
        _finish(_start(script, syn_manifest, ref_out, tmp_path / "ref.sqlite", _env(ref_srv)))
        questions = len(ref_srv.requests)
    assert questions == 2 * int(PARAMS["pairs"])

    rng = random.Random(7)
    out, cache = tmp_path / "killed", tmp_path / "killed.sqlite"
    kills = 0
    with FakeProviderServer(answer=content_answer, latency=0.02) as srv:
        env = _env(srv)
        for _ in range(KILLS):
            proc = _start(script, syn_manifest, out, cache, env)
            # Kill after a random number of further requests (never past the end).
            target = len(srv.requests) + rng.randint(1, max(1, questions // (KILLS + 1)))
            _wait_for(srv, target, proc)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
        _finish(_start(script, syn_manifest, out, cache, env))
        sent = srv.requests

    assert kills == KILLS, "every kill should land while the run was still asking"
    distinct = Counter(hashlib.sha256(_images(r.json)).hexdigest() for r in sent)
    repeats = len(sent) - len(distinct)
    print(f"kill-and-resume: {kills} kills, {len(sent)} requests, {len(distinct)} distinct, "
          f"{repeats} repeated (bound {kills * CONCURRENCY})")  # fmt: skip
    assert len(distinct) == questions
    assert len(sent) <= questions + kills * CONCURRENCY

    reference = _answers(ref_out)
    assert {a["near"] for qs in reference.values() for a in qs.values()} == {"red", "blue"}
    assert _answers(out) == reference
    ref_arrays, arrays = _arrays(ref_out), _arrays(out)
    assert arrays.keys() == ref_arrays.keys()
    for item, array in arrays.items():
        np.testing.assert_array_equal(array, ref_arrays[item], err_msg=item)
