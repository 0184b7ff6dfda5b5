"""The six paper chains, as shipped, send only requests their providers accept (issue 13).

Each chain with each model's ``defaults for`` is dry-run as the planner and the start
of a run do (nothing is sent) on scenes of the paper's image size, with the chains'
real label sets (COCO-stuff's 133 labels, ImageNet's 1,000), and every request is
checked against the model's contract. Classification packs 100 items per request, so
its dataset has 100 items and its request carries 100 images.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from chains_helpers import CHAINS, PAPER_CHAINS

from chainlang.data.manifest import load_dataset
from chainlang.data.synthetic import generate
from chainlang.providers.base import ImagePart
from chainlang.runtime.contract_check import check_requests
from chainlang.runtime.plan import dry_run_requests
from chainlang.runtime.session import (
    RunOptions,
    items_per_batch,
    load_chain,
    parse_model,
    settings_for,
)

MODELS = (
    "openai:gpt-4o",
    "openai:o4-mini",
    "anthropic:claude-sonnet-4-5",
    "gemini:gemini-2.5-flash",
    "openai-compat:Qwen/Qwen2.5-VL-7B-Instruct@http://127.0.0.1:8000/v1",
)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two scenes at 640x480 (COCO's usual size), and a 100-item manifest reusing them."""
    root = tmp_path_factory.mktemp("paper")
    generate(2, root, seed=0, size=(640, 480))
    lines = (root / "manifest.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    many = [{**items[i % 2], "id": f"item_{i:03d}"} for i in range(100)]
    (root / "hundred.jsonl").write_text("".join(json.dumps(x) + "\n" for x in many))
    return root


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("chain", PAPER_CHAINS)
def test_paper_chain_conforms(scenes: Path, chain: str, model: str) -> None:
    program = load_chain(CHAINS / f"{chain}.chain")
    data = load_dataset(scenes / ("hundred.jsonl" if chain == "classify" else "manifest.jsonl"))
    settings = settings_for(program, parse_model(model), RunOptions(), data)
    packed = items_per_batch(program, settings)
    requests = asyncio.run(dry_run_requests(program, data, settings, 1, packed))
    assert requests, f"{chain} on {model} built no request"
    report = check_requests(program, requests, model)
    assert report.ok, "\n".join(report.violations)
    assert not report.warnings  # every model of the matrix has a contract of its own
    if chain == "classify":
        assert packed == 100
        assert max(sum(isinstance(p, ImagePart) for m in r.messages for p in m.parts)
                   for r in requests) == 100  # fmt: skip
    if chain == "segment" and model.startswith("openai:"):
        # 16 keys x 133 labels = 2,128 enum values: the labels move to the prompt
        assert any("enum values" in a for a in report.adapted), report.adapted
