"""Cross-item batching: ``batch items = B`` packs B dataset items into one request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e_helpers import CHAINS, image_count, provider_env, results, run_chain

from chainlang.testing.fake_provider import FakeCall, FakeProviderServer

# Distinct valid ImageNet-1k labels, handed out by position inside each request.
BY_POSITION = ["tabby", "espresso"]


def by_position(call: FakeCall) -> Any:
    """Answer the request's k-th keyed question with ``BY_POSITION[k]``."""
    keys = list((call.schema or {}).get("properties", {}))
    return {key: BY_POSITION[i] for i, key in enumerate(keys)}


def test_two_items_per_request(photo_manifest: Path, tmp_path: Path, monkeypatch: Any) -> None:
    with FakeProviderServer(answer=by_position) as srv:
        provider_env(monkeypatch, srv)
        out = tmp_path / "run"
        result = run_chain(
            CHAINS / "classify.chain", photo_manifest, "openai:gpt-4o", out, {"per_call": "2"}
        )
        sent = srv.requests

    assert result.summary.items_ok == result.summary.items == 4
    assert len(sent) == 2, "4 items at 2 per request make exactly 2 requests"
    assert [image_count(r.json) for r in sent] == [2, 2]
    records = results(out)
    # Manifest order astronaut, coffee | chelsea, rocket: each item has its own answer.
    got = {item: r["output"]["value"] for item, r in records.items()}
    assert got == {
        "astronaut": "tabby",
        "coffee": "espresso",
        "chelsea": "tabby",
        "rocket": "espresso",
    }
    for r in records.values():
        assert len(r["questions"]) == 1
        assert r["questions"][0]["share"] == 0.5
