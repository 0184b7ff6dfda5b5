"""The OpenAI adapter posts its bodies through the SDK's ``post`` without the typed
``create``'s transform (providers/openai.py, ``_post``): that is only right while the
transform would leave them unchanged. This checks it on every request of every shipped
chain, for the chat and the responses APIs and an OpenAI-compatible server, so an SDK
release that starts renaming or reformatting a field fails here, not in a user's run.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from chains_helpers import CHAINS, RELABEL
from openai._utils._transform import async_maybe_transform
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

from chainlang.data.manifest import load_dataset
from chainlang.data.synthetic import generate
from chainlang.providers import common
from chainlang.providers.openai import OpenAIProvider
from chainlang.providers.registry import ProviderSettings, make_provider
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
    "openai:gpt-4o:api=responses",
    "openai-compat:Qwen/Qwen2.5-VL-7B-Instruct@http://127.0.0.1:8000/v1",
    "openai-compat:Qwen/Qwen2.5-VL-7B-Instruct@http://127.0.0.1:8000/v1:schema=off",
)
SHIPPED = sorted(p.stem for p in CHAINS.glob("*.chain"))
PER_SHAPE = 2  # requests kept per (prompt, schema): the rest repeat their shape


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bodies")
    generate(1, root, seed=0, size=(320, 240))
    return root


def _sample(requests: list[Any]) -> list[Any]:
    kept: dict[tuple[str | None, str], int] = {}
    out = []
    for r in requests:
        shape = (r.origin, repr(r.schema))
        if kept.get(shape, 0) < PER_SHAPE:
            kept[shape] = kept.get(shape, 0) + 1
            out.append(r)
    return out


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("chain", SHIPPED)
def test_sdk_transform_leaves_bodies_unchanged(scenes: Path, chain: str, model: str) -> None:
    program = load_chain(CHAINS / f"{chain}.chain")
    data = load_dataset(scenes / "manifest.jsonl")
    options = RunOptions(labels=RELABEL)
    settings = settings_for(program, parse_model(model), options, data)
    requests = asyncio.run(
        dry_run_requests(program, data, settings, 1, items_per_batch(program, settings))
    )
    assert requests, f"{chain} built no request"
    provider = make_provider(parse_model(model), ProviderSettings(api_key="k"))
    assert isinstance(provider, OpenAIProvider)
    responses = "api=responses" in model
    params = ResponseCreateParamsNonStreaming if responses else CompletionCreateParamsNonStreaming
    for request in _sample(requests):
        kwargs = provider.responses_body(request) if responses else provider.chat_body(request)
        body = common.sent_body(kwargs)
        sent = copy.deepcopy(body)
        assert asyncio.run(async_maybe_transform(sent, params)) == body, request.origin
