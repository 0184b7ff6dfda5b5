"""Helpers of the end-to-end tests: tiny datasets, provider environment, run shortcuts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chainlang.api import RunOptions, RunResult, run
from chainlang.testing.fake_provider import FakeCall, FakeProviderServer

REPO = Path(__file__).resolve().parents[2]
CHAINS = REPO / "chains"

# One model per real provider, each priced in models.toml (so plans and costs are defined).
REAL_MODELS = {
    "openai": "openai:gpt-4o",
    "anthropic": "anthropic:claude-3-5-sonnet-20241022",
    "gemini": "gemini:gemini-1.5-pro",
}

# scikit-image's bundled photos, halved, with an ImageNet-1k label and COCO boxes
# (boxes are rough hand-drawn hulls in the halved pixel grid; the e2e tests only
# need them to be valid truth, not precise).
PHOTOS: dict[str, dict[str, Any]] = {
    "astronaut": {"label": "space shuttle", "boxes": [("person", 40, 10, 230, 256)]},
    "coffee": {"label": "espresso", "boxes": [("cup", 25, 10, 275, 190)]},
    "chelsea": {"label": "tabby", "boxes": [("cat", 30, 5, 225, 150)]},
    "rocket": {"label": "missile", "boxes": [("person", 5, 150, 40, 213)]},
}


def build_photo_dataset(root: Path) -> Path:
    """Write the bundled photos as PNG plus a manifest; return the manifest path."""
    from skimage import data

    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for name, truth in PHOTOS.items():
        pixels = np.asarray(getattr(data, name)())
        if pixels.ndim == 2:  # grayscale photos become RGB, as the loader expects
            pixels = np.stack([pixels] * 3, axis=-1)
        Image.fromarray(pixels[::2, ::2, :3]).save(root / "images" / f"{name}.png")
        boxes = [
            dict(zip(("label", "x0", "y0", "x1", "y1"), b, strict=True)) for b in truth["boxes"]
        ]
        item = {
            "id": name,
            "image": f"images/{name}.png",
            "truth": {"label": truth["label"], "boxes": boxes},
        }
        lines.append(json.dumps(item))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def provider_env(monkeypatch: pytest.MonkeyPatch, srv: FakeProviderServer) -> None:
    """Point all three real providers' SDKs at ``srv`` with dummy keys."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("GEMINI_BASE_URL", srv.base_url)


def run_chain(
    chain: Path | str,
    data: Path,
    model: str,
    out: Path,
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> RunResult:
    """Run a chain quietly with its own cache file next to the run folder."""
    opts = RunOptions(
        params=dict(params or {}),
        cache=options.pop("cache", out.parent / f"{out.name}.sqlite"),
        progress="none",
        timeout_s=options.pop("timeout_s", 20.0),
        **options,
    )
    return run(chain, data, model, out=out, options=opts)


def results(out: Path) -> dict[str, dict[str, Any]]:
    """The run's item records by item id."""
    from chainlang.runtime.runfolder import read_results

    return {r["id"]: r for r in read_results(out)}


def image_count(body: Any) -> int:
    """Images inside one recorded request body, whatever the wire format."""
    if isinstance(body, dict):
        own = int(
            body.get("type") in ("image_url", "input_image", "image")
            or "inline_data" in body
            or "inlineData" in body
        )
        return own + sum(image_count(v) for v in body.values())
    if isinstance(body, list):
        return sum(image_count(v) for v in body)
    return 0


def valid_answer(call: FakeCall) -> Any:
    """A schema-valid answer whose free-text fields hold a real ImageNet label.

    Large label sets are sent as plain strings (no enum), so the server's own
    example ("…") would be rejected; "tabby" is a valid ImageNet-1k class and
    harmless text anywhere else.
    """
    return _fill(call.schema) if call.schema else None


def _fill(schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _fill(schema["anyOf"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        return {k: _fill(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_fill(schema.get("items", {}))]
    return {"integer": 1, "number": 0.5, "boolean": True}.get(str(kind), "tabby")
