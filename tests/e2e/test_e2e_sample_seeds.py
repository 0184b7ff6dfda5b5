"""Samples that differ for the right reason (issue 13, point 6): each sample sends its own
provider seed, derived from the sample's indices, on the wire of the providers that take one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import CHAINS, run_chain
from test_e2e_ask_samples import _chain

from chainlang.runtime.sampling import sample_seed
from chainlang.testing.fake_provider import FakeProviderServer

LABEL = CHAINS / "examples" / "label.chain"
PATHS = {"openai": "/chat/completions", "gemini": ":generateContent", "anthropic": "/messages"}
MODELS = {
    "openai": "openai:gpt-4o",
    "gemini": "gemini:gemini-2.5-flash",
    "anthropic": "anthropic:claude-sonnet-4-5",
}


def _seeds(fake: FakeProviderServer, provider: str) -> list[Any]:
    """The seed of every request the provider's endpoint got (None: no seed sent)."""
    out = []
    for r in fake.requests:
        if not r.path.endswith(PATHS[provider]):
            continue
        body = r.json
        config = body.get("generationConfig") or {}
        out.append(body.get("seed", config.get("seed")))
    return out


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_each_run_sample_sends_its_own_seed_and_a_rerun_sends_the_same(
    provider: str, fake_env: FakeProviderServer, sample_manifest: Path, tmp_path: Path
) -> None:
    run_chain(LABEL, sample_manifest, MODELS[provider], tmp_path / "a", samples=2)
    first = _seeds(fake_env, provider)
    assert set(first) == {sample_seed(None, 0, 0), sample_seed(None, 1, 0)}
    fake_env.reset()
    run_chain(LABEL, sample_manifest, MODELS[provider], tmp_path / "b", samples=2)
    assert sorted(_seeds(fake_env, provider)) == sorted(first)  # reproducible draws
    fake_env.reset()
    run_chain(LABEL, sample_manifest, MODELS[provider], tmp_path / "c", samples=2, seed=7)
    assert set(_seeds(fake_env, provider)) == {sample_seed(7, 0, 0), sample_seed(7, 1, 0)}


def test_a_run_without_samples_sends_no_seed(
    fake_env: FakeProviderServer, sample_manifest: Path, tmp_path: Path
) -> None:
    run_chain(LABEL, sample_manifest, MODELS["openai"], tmp_path / "a")
    assert set(_seeds(fake_env, "openai")) == {None}


def test_anthropic_has_no_seed_to_send(
    fake_env: FakeProviderServer, sample_manifest: Path, tmp_path: Path
) -> None:
    run_chain(LABEL, sample_manifest, MODELS["anthropic"], tmp_path / "a", samples=2)
    assert set(_seeds(fake_env, "anthropic")) == {None}


def test_an_asks_samples_send_one_seed_each(
    fake_env: FakeProviderServer, sample_manifest: Path, tmp_path: Path
) -> None:
    run_chain(_chain(tmp_path), sample_manifest, MODELS["openai"], tmp_path / "a")
    seeds = _seeds(fake_env, "openai")
    # per item: the three samples of `which ... samples k`, and the `careful` ask (no seed)
    assert {sample_seed(None, 0, j) for j in range(3)} <= set(seeds)
    assert None in seeds
