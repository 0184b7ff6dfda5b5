"""Real providers, opt in: ``pytest -m live`` with the provider's key in the environment.

Each test runs the smallest example chain (one question per photo, three
bundled photos) against the real API and checks that every answer came back
valid and was priced. They cost a fraction of a cent each. The model can be
chosen with ``CHAINLANG_LIVE_<PROVIDER>_MODEL``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chainlang.api import RunOptions, run
from chainlang.data.samples import write_samples
from chainlang.scoring.score import score_run

pytestmark = pytest.mark.live

CHAIN = Path(__file__).resolve().parents[2] / "chains" / "examples" / "label.chain"
PROVIDERS = {
    # provider: (key variables, default model)
    "openai": (("OPENAI_API_KEY",), "gpt-4o-mini"),
    "anthropic": (("ANTHROPIC_API_KEY",), "claude-3-5-haiku-latest"),
    "gemini": (("GEMINI_API_KEY", "GOOGLE_API_KEY"), "gemini-2.0-flash"),
}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_label_chain_on_a_real_provider(provider: str, tmp_path: Path) -> None:
    keys, default = PROVIDERS[provider]
    if not any(os.environ.get(k) for k in keys):
        pytest.skip(f"set {' or '.join(keys)} to run the live {provider} test")
    model = os.environ.get(f"CHAINLANG_LIVE_{provider.upper()}_MODEL", default)
    data = write_samples(tmp_path / "samples")
    out = tmp_path / "run"
    options = RunOptions(cache=tmp_path / "cache.sqlite", progress="none", max_cost=0.05)
    result = run(CHAIN, data, f"{provider}:{model}", out=out, options=options)
    summary = result.summary
    assert summary.items_ok == summary.items == 3, summary
    assert not summary.failures
    assert summary.cost_usd is not None and 0 < summary.cost_usd <= 0.05
    assert summary.input_tokens > 0 and summary.output_tokens > 0
    assert score_run(out, n_boot=0).metrics["top1"].value >= 1 / 3
