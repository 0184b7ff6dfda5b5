"""A batched ask over the provider's images-per-request limit: the plan counts (and
prices) every split request, and that count is what the run sends to the fake server."""

from __future__ import annotations

from pathlib import Path

from e2e_helpers import run_chain

from chainlang.api import RunOptions, plan
from chainlang.testing.fake_provider import FakeProviderServer

# 230 views in batches of 125: asks of 125 and 105 images; Anthropic accepts 100 per
# request, so they are split into 63 + 62 and 53 + 52 keys: 4 requests per item
CHAIN = """chain views "name many views of one image" {
  input image: Image
  truth count: Int
  output Int
  score exact(truth.count)
  param n: Int = 230
  param per_call: Int = 125
  answer Named {
    name: Text
  }
  prompt name_all(each view: Image) -> Named {
    system "Name what each view shows."
    each user "View {key}:" [view low]
  }
  let got = for i in range(n) batch per_call {
    ask name_all(view = image)
  }
  return len(got.name)
}
"""
MODEL = "anthropic:claude-sonnet-4-5"


def test_plan_counts_the_requests_a_split_ask_sends(
    fake_env: FakeProviderServer, syn_manifest: Path, tmp_path: Path
) -> None:
    chain = tmp_path / "views.chain"
    chain.write_text(CHAIN)
    planned = plan(chain, syn_manifest, MODEL, options=RunOptions(), sample_items=1)
    assert planned.contract is not None and planned.contract.ok
    assert planned.calls_per_item == 4 and planned.exact
    assert planned.total_calls == 4 * planned.items
    assert any("the dry run's 2 asks sent 4 requests" in n for n in planned.notes)
    assert "x 4/2 split" in planned.formula
    out = run_chain(chain, syn_manifest, MODEL, tmp_path / "run")
    assert out.summary.items_ok == out.summary.items == planned.items
    sent = [r for r in fake_env.requests if r.path.endswith("/v1/messages")]
    assert len(sent) == planned.total_calls  # the fake accepted every one (<= 100 images)
