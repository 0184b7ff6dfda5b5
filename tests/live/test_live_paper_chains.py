"""The paper's six chains on the real providers, opt in: ``pytest -m live tests/live``.

Each chain runs with its smallest parameters on two synthetic 320×240 scenes (label sets
rebound to the scenes' six classes, as ``chainlang demo`` does) against each provider
whose key is set, under a hard ``--max-cost`` per run. Every answer must have been
accepted by the API (no contract, auth or refusal failure), validated against its type
(re-asks allowed) and priced. The whole file costs a few cents per provider (see
``docs/providers.md``, *Live tests*). The models default to small ones and can be chosen
with ``CHAINLANG_LIVE_<PROVIDER>_MODEL``. CI deselects these tests (``-m "not live"``),
and without a key each one skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chainlang.api import RunOptions, run
from chainlang.data.synthetic import generate
from chainlang.runtime.runfolder import read_results

pytestmark = pytest.mark.live

CHAINS = Path(__file__).resolve().parents[2] / "chains"
MAX_COST = 0.10  # dollars per chain and provider: the run stops there, whatever happens
# An answer's worst case is what --max-cost reserves: 1,500 output tokens is room for any
# of these answers (reasoning included) and keeps a call's reservation small.
MAX_TOKENS = 1500
RELABEL = {"imagenet1k": "synthetic", "coco80": "synthetic", "coco_stuff133": "synthetic"}
# The smallest parameters that still exercise each chain's whole path.
PARAMS: dict[str, dict[str, str]] = {
    "classify": {"per_call": "2"},
    "detect": {"n_iters": "2"},
    "segment": {"segments": "20"},
    "group": {"segments": "12"},
    "depth": {"segments": "20", "pairs": "6"},
    "normals": {"segments": "20", "pairs": "6"},
}
PROVIDERS = {
    # provider: (key variables, default model)
    "openai": (("OPENAI_API_KEY",), "gpt-4o-mini"),
    "anthropic": (("ANTHROPIC_API_KEY",), "claude-haiku-4-5"),
    "gemini": (("GEMINI_API_KEY", "GOOGLE_API_KEY"), "gemini-2.5-flash"),
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(2, tmp_path_factory.mktemp("scenes"), seed=0, size=(320, 240))


def _model(provider: str) -> str:
    keys, default = PROVIDERS[provider]
    if not any(os.environ.get(k) for k in keys):
        pytest.skip(f"set {' or '.join(keys)} to run the live {provider} tests")
    return f"{provider}:{os.environ.get(f'CHAINLANG_LIVE_{provider.upper()}_MODEL', default)}"


@pytest.mark.parametrize("chain", sorted(PARAMS))
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_paper_chain_on_a_real_provider(
    provider: str, chain: str, scenes: Path, tmp_path: Path
) -> None:
    model = _model(provider)
    options = RunOptions(
        params=PARAMS[chain],
        labels=dict(RELABEL),
        cache=tmp_path / "cache.sqlite",
        progress="none",
        max_cost=MAX_COST,
        max_tokens=MAX_TOKENS,
    )
    out = tmp_path / "run"
    summary = run(CHAINS / f"{chain}.chain", scenes, model, out=out, options=options).summary
    assert summary.stopped is None, f"stopped: {summary.stopped}"
    assert summary.items_ok == summary.items == 2, summary
    assert not summary.failures, summary.failures
    questions = [q for record in read_results(out) for q in record["questions"]]
    assert questions and all(q["ok"] for q in questions), [
        q["failure_message"] for q in questions if not q["ok"]
    ]
    assert all(q["cost_usd"] is not None for q in questions), "every answer is priced"
    assert summary.cost_usd is not None and 0 < summary.cost_usd <= MAX_COST
    assert summary.input_tokens > 0 and summary.output_tokens > 0
