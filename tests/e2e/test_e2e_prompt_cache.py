"""Prompt caching end to end: the segment chain through the real SDKs and the fake server.

Every request of an item repeats the same static prefix (schema, system text with the
label list, the full image) byte for byte, the Anthropic bodies mark it with
``cache_control``, the OpenAI bodies name it with ``prompt_cache_key``, the fake server
reports the cache hits the real APIs would, and the run prices them at the cached rates.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import CHAINS, run_chain

from chainlang.api import RunOptions, plan
from chainlang.providers.base import ModelRef, Usage
from chainlang.runtime.cost import PriceTable
from chainlang.testing.fake_provider import FakeProviderServer

SEGMENT = CHAINS / "segment.chain"
PARAMS = {"segments": "40", "per_call": "8"}


def _by_item(bodies: list[dict[str, Any]], full_image: Any) -> dict[str, list[dict[str, Any]]]:
    """Requests grouped by the full image they show (one group per item)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for body in bodies:
        groups[json.dumps(full_image(body))].append(body)
    return groups


def _priced(fake: FakeProviderServer, model: str) -> tuple[float, float]:
    """What the server billed, at the cached rates and as if nothing had been cached."""
    prices, ref = PriceTable.load(), ModelRef(*model.split(":", 1))
    cached = plain = 0.0
    for inp, out, read, written in fake.billed:
        cached += prices.price(ref, Usage(inp, out, read, 0, written)) or 0.0
        plain += prices.price(ref, Usage(inp, out)) or 0.0
    return cached, plain


def test_anthropic_requests_mark_and_repeat_their_static_prefix(
    fake_env: FakeProviderServer, photo_manifest: Path, tmp_path: Path
) -> None:
    model = "anthropic:claude-sonnet-4-5"
    out = run_chain(SEGMENT, photo_manifest, model, tmp_path / "a", params=PARAMS)
    assert out.summary.items_ok == out.summary.items == 4
    bodies = [r.json for r in fake_env.requests if r.path.endswith("/v1/messages")]
    assert len(bodies) >= 6
    for body in bodies:
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        content = body["messages"][0]["content"]
        marked = [i for i, block in enumerate(content) if "cache_control" in block]
        # one more breakpoint, closing the shared part every request of the item shows:
        # "The whole image, for context:" [full image] "Next come 8 marked regions ..."
        assert marked == [2] and content[1]["type"] == "image"
    groups = _by_item(bodies, lambda b: b["messages"][0]["content"][1]["source"]["data"])
    assert len(groups) == 4
    for requests in groups.values():
        widest = max(len(json.dumps(b["tools"])) for b in requests)
        prefixes = {
            json.dumps([b["tools"], b["system"], b["messages"][0]["content"][:3]])
            for b in requests
            if len(json.dumps(b["tools"])) == widest  # a short last batch has fewer keys
        }
        assert len(prefixes) == 1, "the static prefix is byte-identical across the item"
    billed = fake_env.billed
    assert sum(w for *_, w in billed) > 0 and sum(r for _, _, r, _ in billed) > 0
    cached, plain = _priced(fake_env, model)
    assert out.summary.cost_usd == pytest.approx(cached, rel=1e-6)
    assert cached < plain


def test_openai_requests_name_their_prefix_and_get_cached_tokens(
    fake_env: FakeProviderServer, photo_manifest: Path, tmp_path: Path
) -> None:
    model = "openai:gpt-4o"
    out = run_chain(SEGMENT, photo_manifest, model, tmp_path / "o", params=PARAMS)
    assert out.summary.items_ok == 4
    bodies = [r.json for r in fake_env.requests if r.path.endswith("/chat/completions")]
    groups = _by_item(bodies, lambda b: b["messages"][1]["content"][1]["image_url"]["url"])
    assert len(groups) == 4
    keys = [{b["prompt_cache_key"] for b in group} for group in groups.values()]
    assert all(len(k) <= 2 for k in keys)  # one key per item (a short last batch: its own)
    assert not set.intersection(*keys)  # items with different images route apart
    for requests in groups.values():
        widest = max(len(json.dumps(b["response_format"])) for b in requests)
        prefixes = {
            json.dumps([b["response_format"], b["messages"][0], b["messages"][1]["content"][:3]])
            for b in requests
            if len(json.dumps(b["response_format"])) == widest
        }
        assert len(prefixes) == 1, "schema, system text and full image repeat byte for byte"
    assert sum(read for _, _, read, _ in fake_env.billed) > 0
    cached, plain = _priced(fake_env, model)
    assert out.summary.cost_usd == pytest.approx(cached, rel=1e-6) and cached < plain


def test_gemini_reports_implicit_cache_hits_that_are_priced(
    fake_env: FakeProviderServer, photo_manifest: Path, tmp_path: Path
) -> None:
    model = "gemini:gemini-2.5-flash"
    out = run_chain(SEGMENT, photo_manifest, model, tmp_path / "g", params=PARAMS)
    assert out.summary.items_ok == 4
    assert sum(read for _, _, read, _ in fake_env.billed) > 0  # usageMetadata.cachedContent…
    cached, plain = _priced(fake_env, model)
    assert out.summary.cost_usd == pytest.approx(cached, rel=1e-6) and cached < plain


def test_plan_prices_the_cache_hits_and_shows_the_saving(photo_manifest: Path) -> None:
    options = RunOptions(params=dict(PARAMS))
    planned = plan(SEGMENT, photo_manifest, "anthropic:claude-sonnet-4-5", options=options)
    assert planned.per_call["cached_tokens"] > 0 and planned.per_call["cache_write_tokens"] > 0
    assert planned.total_usd is not None and planned.total_usd_uncached is not None
    assert planned.total_usd < planned.total_usd_uncached
    # a model without a cache (Gemini 2.0) plans no hit and no saving
    flash = plan(SEGMENT, photo_manifest, "gemini:gemini-2.0-flash", options=options)
    assert flash.per_call["cached_tokens"] == 0 and flash.total_usd == flash.total_usd_uncached


def test_a_packed_chain_plans_its_shared_label_list_as_cached(photo_manifest: Path) -> None:
    # one full chunk of 4 images: the next chunk repeats the schema and the 1,000-label
    # system text (well over OpenAI's 1,024-token minimum) around its own images
    options = RunOptions(params={"per_call": "4"})
    planned = plan(CHAINS / "classify.chain", photo_manifest, "openai:gpt-4o", options=options)
    assert planned.items_per_batch == 4 and planned.total_calls == 1
    assert planned.per_call["cached_tokens"] >= 1024
    assert planned.total_usd < planned.total_usd_uncached
