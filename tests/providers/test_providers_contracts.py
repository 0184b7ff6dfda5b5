"""Providers' contracts: the fake refuses what the real APIs refuse, and so does the planner.

The segment chain's answer schema for GPT-4o had 16 keys × 133 COCO-stuff labels =
2,128 enum values in one strict schema; OpenAI accepts 1,000. The fake must refuse
that request with OpenAI's status and error body, the adapted request must pass, and
a refusal of a documented limit is a ``contract`` failure, never retried.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import httpx2
import numpy as np
import pytest
from providers_helpers import KEYS, provider, request

from chainlang.data.manifest import load_dataset
from chainlang.data.synthetic import generate
from chainlang.image import ImageData
from chainlang.language import answers
from chainlang.providers.base import ImagePart, Message, Params, ProviderError, TextPart
from chainlang.providers.common import limit_broken
from chainlang.providers.conformance import measure, target_for, violations
from chainlang.providers.contracts import OPENAI_STRICT
from chainlang.runtime.contract_check import check_requests
from chainlang.runtime.plan import dry_run_requests
from chainlang.runtime.session import (
    RunOptions,
    items_per_batch,
    load_chain,
    parse_model,
    settings_for,
)

CHAINS = Path(__file__).resolve().parents[2] / "chains"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(1, tmp_path_factory.mktemp("scene"), seed=0, size=(256, 192))


@pytest.fixture(scope="module")
def segment_requests(scene: Path) -> list:
    program = load_chain(CHAINS / "segment.chain")
    data = load_dataset(scene)
    settings = settings_for(program, parse_model("openai:gpt-4o"), RunOptions(), data)
    batch = items_per_batch(program, settings)
    return asyncio.run(dry_run_requests(program, data, settings, 1, batch))


def _old(req):  # the request as it was built before adapting: the full label enum per key
    return dataclasses.replace(req, schema=answers.schema_for(req.answer_type), adapted=())


def test_segment_schema_is_adapted_for_openai(segment_requests) -> None:
    first = segment_requests[0]
    assert first.adapted, "the 16-key label schema must be adapted for openai strict mode"
    assert measure(_old(first).schema, OPENAI_STRICT).enum_values == 16 * 133
    target = target_for(first.model)
    assert violations(first, target) == []
    found = [v.text() for v in violations(_old(first), target)]
    assert found == ["the answer schema has 2,128 enum values; openai strict mode accepts 1,000"]


async def test_fake_refuses_the_old_segment_request_as_openai_does(fake, segment_requests) -> None:
    prov = provider("openai:gpt-4o", fake)
    old = _old(segment_requests[0])
    with pytest.raises(ProviderError) as err:
        await prov.send(old, 10)
    assert err.value.kind == "contract" and err.value.status == 400
    assert not err.value.retryable
    expected = (
        f"Invalid schema for response_format '{old.schema_name}': Expected at most 1000 enum "
        "values in total within a single schema when using structured outputs, but received "
        "2128. Consider reducing the number of enums, or use 'strict: false' to opt out of "
        "structured outputs."
    )
    assert expected in err.value.message
    # The raw reply is OpenAI's error body, field for field.
    sent = fake.requests[-1]
    raw = httpx2.post(fake.base_url + sent.path, content=sent.body, headers=KEYS, timeout=10)
    assert raw.status_code == 400
    assert raw.json() == {
        "error": {
            "message": expected,
            "type": "invalid_request_error",
            "param": "response_format",
            "code": None,
        }
    }
    answered = await prov.send(segment_requests[0], 10)  # the adapted request passes
    assert isinstance(answered.parsed, dict)
    await prov.aclose()


def test_a_keyed_request_over_the_image_limit_is_split(scene: Path) -> None:
    # 60 regions per request: 1 + 2 x 60 = 121 images; Anthropic accepts 100 per request
    program = load_chain(CHAINS / "segment.chain")
    data = load_dataset(scene)
    options = RunOptions(params={"per_call": 60})
    settings = settings_for(program, parse_model("anthropic:claude-sonnet-4-5"), options, data)
    requests = asyncio.run(dry_run_requests(program, data, settings, 1))
    counts = [sum(isinstance(p, ImagePart) for m in r.messages for p in m.parts) for r in requests]
    assert max(counts) <= 100 < 1 + 2 * 60
    report = check_requests(program, requests, "anthropic:claude-sonnet-4-5")
    assert report.ok and len(report.adapted) == 1
    assert "its keys were split over several requests" in report.adapted[0]
    # every region is still asked once: the keys of the split requests add up
    keys = sum(len([k for k in r.schema["properties"] if k != "reasoning"]) for r in requests)
    assert keys == sum(c // 2 for c in counts)


async def test_fake_refuses_too_many_images_for_anthropic(fake) -> None:
    prov = provider("anthropic:claude-sonnet-4-5", fake)
    tiny = ImageData.of(np.zeros((8, 8, 3), dtype=np.uint8))
    base = request(prov, None)
    parts = (TextPart("Which is nearer?"), *(ImagePart(tiny) for _ in range(101)))
    many = dataclasses.replace(base, messages=(Message("user", parts),))
    with pytest.raises(ProviderError) as err:
        await prov.send(many, 10)
    assert err.value.kind == "contract" and err.value.status == 400
    assert "101 images, at most 100" in err.value.message
    assert [v.limit for v in violations(many, target_for(many.model))] == ["images"]
    await prov.aclose()


@pytest.mark.parametrize(
    ("spec", "max_tokens", "said"),
    [
        ("anthropic:claude-sonnet-4-5", 100_000, "max_tokens: 100000 > 64000"),
        ("openai:gpt-4o", 20_000, "This model supports at most 16384 completion tokens"),
    ],
)
async def test_output_cap_over_the_model_limit_is_a_contract_failure(
    fake, image, spec, max_tokens, said
) -> None:
    prov = provider(spec, fake)
    req = request(prov, image, params=Params(max_tokens=max_tokens))
    with pytest.raises(ProviderError) as err:
        await prov.send(req, 10)
    assert err.value.kind == "contract" and said in err.value.message
    assert "broke a request limit" in err.value.message
    assert [v.limit for v in violations(req, target_for(req.model), 10)] == ["max_tokens"]
    await prov.aclose()


async def test_gemini_context_window_refusal(fake, image) -> None:
    prov = provider("gemini:gemini-2.0-flash", fake)
    req = request(prov, image, text="word " * 900_000, params=Params(max_tokens=100))
    with pytest.raises(ProviderError) as err:
        await prov.send(req, 30)
    assert err.value.kind == "contract"
    assert "exceeds the maximum number of tokens allowed (1048576)" in err.value.message
    await prov.aclose()


@pytest.mark.parametrize(
    ("status", "body", "limit"),
    [
        (400, "Invalid schema for response_format 'x': Expected at most 500 enum values in "
              "total within a single schema when using structured outputs, but received 520.",
         "Expected at most 500 enum values in total within a single schema when using "
         "structured outputs, but received 520"),
        (400, "prompt is too long: 215000 tokens > 200000 maximum",
         "prompt is too long: 215000 tokens > 200000 maximum"),
        (400, "At most 1 image(s) may be provided in one request.",
         "At most 1 image(s) may be provided in one request"),
        (400, "Request payload size exceeds the limit: 20971520 bytes.",
         "Request payload size exceeds the limit: 20971520 bytes"),
        (413, "Request exceeds the maximum allowed number of bytes.",
         "Request exceeds the maximum allowed number of bytes"),
        (400, "messages.0.content.1: unexpected field", None),
        (429, "prompt is too long: 215000 tokens > 200000 maximum", None),
    ],
)  # fmt: skip
def test_limit_broken_names_the_limit(status, body, limit) -> None:
    assert limit_broken(status, body) == limit


def test_unknown_model_gets_a_warning_and_generic_limits() -> None:
    target = target_for(parse_model("openai:gpt-99"))
    assert target is not None and not target.known
    assert "generic limits" in (target.warning() or "")
    assert target.schema == OPENAI_STRICT
    assert target_for(parse_model("oracle")) is None


def test_compat_server_options_give_its_own_limits() -> None:
    ref = parse_model("openai-compat:qwen:max_images=4:context=32768@http://127.0.0.1:9/v1")
    target = target_for(ref)
    assert target.contract.images.max_images == 4 and target.model.context == 32768


def test_every_contract_figure_has_a_source_comment() -> None:
    text = (Path(__file__).resolve().parents[2] / "chainlang/providers/contracts.py").read_text()
    assert text.count("2026-12-04") >= 10  # each figure says where and when it was read
