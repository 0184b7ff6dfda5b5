"""Rerunning a finished run is free; a different run into the same folder is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import CHAINS, results, run_chain

from chainlang.errors import RunError
from chainlang.testing.fake_provider import FakeProviderServer

# sample_pairs never asks fewer pairs than it needs to connect the regions (about 14 for
# 30 segments), so small counts are raised; 16 and 20 are taken as given.
PARAMS = {"pairs": "16", "segments": "30"}
MODEL = "openai:gpt-4o"


def test_rerun_of_finished_run_makes_no_calls(
    syn_manifest: Path, fake_env: FakeProviderServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = run_chain(CHAINS / "depth.chain", syn_manifest, MODEL, out, PARAMS)
    sent = len(fake_env.requests)
    assert sent == first.summary.questions == 32
    before = results(out)

    again = run_chain(CHAINS / "depth.chain", syn_manifest, MODEL, out, PARAMS)
    assert len(fake_env.requests) == sent, "a finished run must not ask again"
    assert again.summary.items_ok == again.summary.items == 2
    assert results(out) == before


def test_changed_parameter_is_refused_unless_force_new(
    syn_manifest: Path, fake_env: FakeProviderServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run_chain(CHAINS / "depth.chain", syn_manifest, MODEL, out, PARAMS)
    sent = len(fake_env.requests)

    with pytest.raises(RunError, match=r"different run \(changed: params\).*force-new"):
        run_chain(CHAINS / "depth.chain", syn_manifest, MODEL, out, {**PARAMS, "pairs": "20"})
    assert len(fake_env.requests) == sent

    fresh = run_chain(
        CHAINS / "depth.chain", syn_manifest, MODEL, out, {**PARAMS, "pairs": "20"}, force_new=True
    )
    assert fresh.summary.questions == 40
    assert all(len(r["questions"]) == 20 for r in results(out).values())


def test_changed_chain_is_refused(
    syn_manifest: Path, fake_env: FakeProviderServer, tmp_path: Path
) -> None:
    chain = tmp_path / "depth.chain"
    chain.write_text((CHAINS / "depth.chain").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "run"
    run_chain(chain, syn_manifest, MODEL, out, PARAMS)
    sent = len(fake_env.requests)

    chain.write_text(
        chain.read_text(encoding="utf-8").replace("sigma = 5.0", "sigma = 3.0"), encoding="utf-8"
    )
    with pytest.raises(RunError, match=r"changed: chain_sha256"):
        run_chain(chain, syn_manifest, MODEL, out, PARAMS)
    assert len(fake_env.requests) == sent
