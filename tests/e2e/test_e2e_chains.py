"""Every paper chain, end to end, against each real provider's wire format and the simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import CHAINS, REAL_MODELS, image_count, results, run_chain

from chainlang.scoring.score import score_run
from chainlang.testing.fake_provider import FakeProviderServer

# chain -> (dataset fixture, small params, a metric the score must report)
CHAIN_CASES: dict[str, tuple[str, dict[str, str], str]] = {
    "depth": ("syn_manifest", {"pairs": "16", "segments": "30"}, "delta1"),
    "normals": ("syn_manifest", {"pairs": "16", "segments": "30"}, "angle_mean"),
    "segment": ("syn_manifest", {"segments": "30"}, "miou"),
    "group": ("syn_manifest", {"segments": "30"}, "miou"),
    "detect": ("photo_manifest", {"n_iters": "2"}, "ap"),
    "classify": ("photo_manifest", {"per_call": "2"}, "top1"),
}

MODELS = [*REAL_MODELS.values(), "oracle", "random"]
# Paths the SDKs must hit, per provider (the dialect the adapter speaks).
PATHS = {"openai": "/v1/", "anthropic": "/v1/messages", "gemini": ":generateContent"}


def _cases() -> list[Any]:
    return [
        pytest.param(chain, model, id=f"{chain}-{model}")
        for chain in CHAIN_CASES
        for model in MODELS
    ]


@pytest.mark.parametrize(("chain", "model"), _cases())
def test_chain_runs_end_to_end(
    chain: str,
    model: str,
    request: pytest.FixtureRequest,
    fake_env: FakeProviderServer,
    tmp_path: Path,
) -> None:
    data_fixture, params, metric = CHAIN_CASES[chain]
    data = request.getfixturevalue(data_fixture)
    out = tmp_path / "run"
    # The synthetic scenes name their own classes: rebind the chain's COCO label set to them.
    labels = (
        {"coco_stuff133": "synthetic"}
        if data_fixture == "syn_manifest" and chain == "segment"
        else {}
    )
    result = run_chain(CHAINS / f"{chain}.chain", data, model, out, params, labels=labels)

    records = results(out)
    errors = {k: r.get("error") for k, r in records.items() if r["status"] != "ok"}
    assert not errors, f"items failed: {errors}"
    assert result.summary.items == result.summary.items_ok == len(records) > 0
    assert result.summary.questions > 0
    assert not result.summary.failures

    score = score_run(out, n_boot=0)
    assert metric in score.metrics, sorted(score.metrics)
    assert score.coverage.items_failed == 0
    assert score.coverage.questions_failed == 0

    provider = model.split(":")[0]
    sent = fake_env.requests
    if provider in PATHS:
        # Cross-request sharing may merge questions, never invent calls.
        assert 0 < len(sent) <= result.summary.provider_calls
        assert all(PATHS[provider] in r.path for r in sent), {r.path for r in sent}
        assert all(image_count(r.json) >= 1 for r in sent), "a request without an image"
    else:
        assert sent == [], "a simulated answerer must not touch the network"
