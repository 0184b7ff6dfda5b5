"""``--dispatch batch`` end to end: the real SDKs, the fake server's batch endpoints.

A chain run through a provider's batch API must give the answers a synchronous
run gives, in one batch per stage, at the batch price; a run killed while its
batch is pending must, rerun, wait for that batch and submit nothing again.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_helpers import CHAINS, REAL_MODELS, results, run_chain
from resume_helpers import finish

from chainlang.testing.fake_provider import FakeProviderServer

LABEL = CHAINS / "examples" / "label.chain"
SYNC_PATHS = ("/chat/completions", "/responses", "/v1/messages", ":generateContent")
FAST = {"poll_s": 0.05, "flush_s": 0.1}


def _sync_calls(srv: FakeProviderServer) -> int:
    return sum(r.path.endswith(SYNC_PATHS) for r in srv.requests)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_batch_run_answers_like_a_sync_run_at_half_the_price(
    provider: str, fake_env: FakeProviderServer, sample_manifest: Path, tmp_path: Path
) -> None:
    model = REAL_MODELS[provider]
    sync = run_chain(LABEL, sample_manifest, model, tmp_path / "sync")
    sync_calls = _sync_calls(fake_env)
    fake_env.reset()
    fake_env.batches.polls_until_done = 3  # running for two looks, then done
    batch = run_chain(LABEL, sample_manifest, model, tmp_path / "batch", dispatch="batch", **FAST)
    assert batch.summary.items_ok == batch.summary.items == sync.summary.items
    assert fake_env.batches.submitted == 1, "one stage, one batch"
    (job,) = fake_env.batches.jobs.values()
    assert len(job.lines) == sync_calls
    assert _sync_calls(fake_env) == 0, "nothing went through the synchronous endpoints"
    got, want = results(tmp_path / "batch"), results(tmp_path / "sync")
    assert {k: r["output"] for k, r in got.items()} == {k: r["output"] for k, r in want.items()}
    assert sync.summary.cost_usd and batch.summary.cost_usd
    assert batch.summary.cost_usd == pytest.approx(sync.summary.cost_usd * 0.5, rel=1e-3)


def test_simulated_answerers_ignore_batch_dispatch(sample_manifest: Path, tmp_path: Path) -> None:
    out = run_chain(LABEL, sample_manifest, "oracle", tmp_path / "o", dispatch="batch", **FAST)
    assert out.summary.items_ok == out.summary.items


def test_openai_compatible_servers_have_no_batch_api(
    fake_env: FakeProviderServer, sample_manifest: Path, tmp_path: Path
) -> None:
    from chainlang.errors import UsageError

    model = f"openai-compat:qwen@{fake_env.openai_base_url}"
    with pytest.raises(UsageError, match="has no batch API"):
        run_chain(LABEL, sample_manifest, model, tmp_path / "c", dispatch="batch")


def _start(data: Path, out: Path, cache: Path, srv: FakeProviderServer) -> subprocess.Popen:
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1", OPENAI_API_KEY="test-key")
    env["OPENAI_BASE_URL"] = srv.openai_base_url
    args = [sys.executable, "-m", "chainlang", "run", str(LABEL), "--data", str(data)]
    args += ["--model", "openai:gpt-4o", "--out", str(out), "--cache", str(cache)]
    args += ["--dispatch", "batch", "--poll", "0.1", "--progress", "plain"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_until_polled(srv: FakeProviderServer, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not any(r.method == "GET" and "/batches/" in r.path for r in srv.requests):
        assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")
        assert time.monotonic() < deadline, "the run never polled its batch"
        time.sleep(0.02)


def test_ctrl_c_says_the_batch_keeps_running(sample_manifest: Path, tmp_path: Path) -> None:
    with FakeProviderServer() as srv:
        srv.batches.polls_until_done = 10**9
        proc = _start(sample_manifest, tmp_path / "run", tmp_path / "cache.sqlite", srv)
        _wait_until_polled(srv, proc)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 130, output
    assert "1 batch(es) still pending at the provider (batch_" in output
    assert "Traceback" not in output


def test_a_killed_batch_run_resumes_its_batch(sample_manifest: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    with FakeProviderServer() as srv:
        srv.batches.polls_until_done = 10**9  # the batch stays pending while we kill the run
        proc = _start(sample_manifest, out, cache, srv)
        _wait_until_polled(srv, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert srv.batches.submitted == 1
        (job,) = srv.batches.jobs.values()
        job.polls_left = 2  # it finishes while the run is down
        text = finish(_start(sample_manifest, out, cache, srv))
        assert srv.batches.submitted == 1, "the rerun waited for its batch, submitted none"
        assert "3/3 items ok" in text
        assert {r["status"] for r in results(out).values()} == {"ok"}


def test_plan_prices_batch_dispatch_at_the_batch_discount(
    sample_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from chainlang.cli.app import main

    base = ["plan", str(LABEL), "--data", str(sample_manifest), "--model", "openai:gpt-4o"]
    totals = {}
    for dispatch in ("sync", "batch"):
        assert main([*base, "--dispatch", dispatch, "--json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        totals[dispatch] = plan["total_usd"]
        notes = " ".join(plan["notes"])
        assert ("priced for the batch API (50%" in notes) == (dispatch == "batch")
    assert totals["batch"] == pytest.approx(totals["sync"] * 0.5)
