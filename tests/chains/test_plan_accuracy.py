"""``plan`` prices the requests the run will send (issue 9, defect 5).

For every shipped chain, the plan for a real model and an ``oracle`` run with the
same parameters and variants are made on the same scenes: the plan's calls must
equal the requests the run built, and its input tokens must be within 10% of those
requests' tokens (counted with the same estimator, for the planned model).

The plan's dry run answers each question with the oracle clause's answer where the
item has truth, so loops that depend on answers (detect's zoom, group's region
growing) follow the oracle run's path: with every item in the dry run (two scenes,
``sample_items`` = 2), the count is exact there too. A run collapses questions that
are identical within an item (depth's sampled pairs can repeat); those are built, and
counted here, but answered once.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from chains_helpers import CHAINS, RELABEL

from chainlang.api import RunOptions, load_chain, parse_model, plan, run
from chainlang.data.manifest import load_dataset
from chainlang.language.lower import resolve_params
from chainlang.providers.base import ModelRequest
from chainlang.runtime import scheduler as scheduler_module
from chainlang.runtime.cost import estimate_input_tokens

MODEL = "openai:gpt-4o"
CHAIN_FILES = sorted(CHAINS.rglob("*.chain"))
SHIPPED = {
    "classify", "detect", "segment", "group", "depth", "normals",
    "dense_depth", "dense_normals", "dense_group", "label",
    "count", "centres", "size_rank", "instances", "listwise_depth",
    "depth_strategies", "normals_strategies",
}  # fmt: skip
# Chains that name a label set of their own run on the bundled sample photos.
ON_PHOTOS = {"label"}
# Upper bounds of the parameters alone (1 + max_objects * steps): the plan prices the bound.
PRICED_AT_BOUND = {"centres", "instances"}


def test_every_chain_file_is_planned() -> None:
    assert {p.stem for p in CHAIN_FILES} == SHIPPED


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[ModelRequest]:
    """Every request a run builds and hands to its scheduler (journal hits included)."""
    requests: list[ModelRequest] = []
    ask = scheduler_module.Scheduler.ask

    async def record(self: Any, request: ModelRequest, *args: Any, **kwargs: Any) -> Any:
        requests.append(request)
        return await ask(self, request, *args, **kwargs)

    monkeypatch.setattr(scheduler_module.Scheduler, "ask", record)
    return requests


def _tokens(requests: list[ModelRequest]) -> int:
    """Input tokens of ``requests`` as the planned model would count them."""
    ref = parse_model(MODEL)
    return sum(estimate_input_tokens(dataclasses.replace(r, model=ref))[0] for r in requests)


def _data(chain: Path, scenes: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The label example names its own labels: it runs on the bundled sample photos."""
    if chain.stem not in ON_PHOTOS:
        return scenes, RELABEL
    from chainlang.data.samples import write_samples

    return write_samples(tmp_path / "samples"), {}


@pytest.mark.parametrize("chain", CHAIN_FILES, ids=lambda p: p.stem)
def test_plan_prices_the_requests_the_oracle_run_builds(
    chain: Path, two_scenes: Path, tmp_path: Path, built: list[ModelRequest]
) -> None:
    data, labels = _data(chain, two_scenes, tmp_path)
    planned = plan(chain, data, MODEL, options=RunOptions(labels=labels))
    assert not built, "a plan builds no request for the scheduler"
    # The oracle run asks what the planned model would be asked: its parameters, its variants.
    resolved = resolve_params(load_chain(chain), parse_model(MODEL).model)
    overrides = {**resolved.params, **{f"variant.{k}": v for k, v in resolved.variants.items()}}
    options = RunOptions(
        params=overrides, labels=labels, cache=tmp_path / "c.sqlite", progress="none"
    )
    result = run(chain, data, "oracle", out=tmp_path / "run", options=options)
    assert result.summary.items_ok == result.summary.items
    if chain.stem in PRICED_AT_BOUND:
        # The plan counts the bound, which the oracle's path need not reach; each request
        # is still priced as the run builds it.
        assert not planned.exact and planned.total_calls >= len(built), planned.formula
        per_call = planned.total_input_tokens / planned.total_calls
        assert per_call == pytest.approx(_tokens(built) / len(built), rel=0.10)
        return
    assert planned.total_calls == len(built), planned.formula
    assert planned.total_input_tokens == pytest.approx(_tokens(built), rel=0.10)


@pytest.fixture
def many_items(two_scenes: Path, tmp_path: Path) -> Path:
    """200 items showing one scene (the paper packs 100 images per classify request)."""
    item = next(iter(load_dataset(two_scenes)))
    image = tmp_path / "scene.png"
    shutil.copy(item.image_path, image)
    lines = [
        json.dumps(
            {"id": f"i{n:03d}", "image": str(image), "truth": {"label": item.truth("label")}}
        )
        for n in range(200)
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def test_classify_is_priced_as_full_requests_of_100_images(many_items: Path) -> None:
    chain = CHAINS / "classify.chain"
    packed = plan(chain, many_items, MODEL, options=RunOptions(labels=RELABEL))
    alone = plan(
        chain, many_items, MODEL, options=RunOptions(labels=RELABEL, params={"per_call": "1"})
    )
    assert packed.total_calls == 2 and alone.total_calls == 200
    assert packed.calls_per_item == pytest.approx(1 / 100)
    # A request of 100 images carries 100 images' tokens and 100 keyed answers.
    assert packed.per_call["image_tokens"] == 100 * alone.per_call["image_tokens"]
    assert packed.per_call["output_tokens"] > 50 * alone.per_call["output_tokens"]
    # The same images are sent either way: packing saves only the repeated text.
    assert packed.total_usd is not None and alone.total_usd is not None
    assert 0.5 * alone.total_usd < packed.total_usd < alone.total_usd


def test_the_last_short_chunk_is_priced_as_its_own_request(three_scenes: Path) -> None:
    # Three items in chunks of two: one full request (two keys) and one of a single key.
    options = RunOptions(labels=RELABEL, params={"per_call": "2"})
    planned = plan(CHAINS / "classify.chain", three_scenes, MODEL, options=options)
    full, short = planned.dry_run
    assert planned.total_calls == 2 and full.calls == short.calls == 1
    assert full.image_tokens == 2 * short.image_tokens
    assert full.output_tokens > short.output_tokens
    assert planned.total_input_tokens == full.input_tokens + short.input_tokens


@pytest.mark.parametrize("chain", sorted(CHAINS.glob("dense_*.chain")), ids=lambda p: p.stem)
def test_expected_cost_never_exceeds_the_worst_case(chain: Path, three_scenes: Path) -> None:
    # An image answer is about 4,160 output tokens; a call is billed at most its cap.
    planned = plan(chain, three_scenes, MODEL, options=RunOptions(labels=RELABEL))
    assert planned.per_call["output_tokens"] <= planned.per_call["max_output_tokens"]
    assert planned.total_usd is not None and planned.total_usd_worst is not None
    assert planned.total_usd <= planned.total_usd_worst
