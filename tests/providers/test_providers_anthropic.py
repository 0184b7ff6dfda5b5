"""Anthropic adapter against the fake server with the real SDK."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from providers_helpers import provider, request

from chainlang.language.types import FieldT, ImageT, IntRangeT, RecordT, permutation_of
from chainlang.providers.base import ImagePart, Message, Params, ProviderError, TextPart


async def test_messages_shape_with_cache_control_and_forced_tool(fake, image) -> None:
    prov = provider("anthropic:claude-x", fake)
    req = request(prov, image, params=Params(temperature=0.0, max_tokens=500))
    resp = await prov.send(req, 5)
    await prov.aclose()
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages"
    body = sent.json
    assert body["system"] == [
        {"type": "text", "text": "You judge depth.", "cache_control": {"type": "ephemeral"}}
    ]
    text, img = body["messages"][0]["content"]
    # a single question repeats nothing after the system text: no second breakpoint,
    # which would pay the cache-write premium for a prefix no later request reads
    assert "cache_control" not in text and "cache_control" not in img
    assert img["type"] == "image"
    assert img["source"]["type"] == "base64" and img["source"]["media_type"] == "image/jpeg"
    assert body["tools"] == [
        {
            "name": "answer",
            "description": "Record the answer to the question.",
            "input_schema": req.schema,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert (body["max_tokens"], body["temperature"]) == (500, 0.0)
    assert resp.parsed == {"reasoning": "…", "nearer": "red"}


async def test_a_batched_asks_shared_prefix_ends_with_a_breakpoint(fake, image) -> None:
    # system, then the shared "whole image" text and image, then two keys' crops:
    # the breakpoint goes on the shared image, the last block every request repeats
    prov = provider("anthropic:claude-x", fake)
    shared = (TextPart("The whole image:"), ImagePart(image))
    keyed = (TextPart("Region 1:"), ImagePart(image, "low"), TextPart("Region 2:"))
    req = replace(
        request(prov, None),
        messages=(
            Message("system", (TextPart("Label regions."),)),
            Message("user", shared + keyed),
        ),
        shared_parts=3,
    )
    await prov.send(req, 5)
    await prov.aclose()
    content = fake.requests[-1].json["messages"][0]["content"]
    marked = [i for i, block in enumerate(content) if "cache_control" in block]
    assert marked == [1] and content[1]["type"] == "image"
    assert fake.requests[-1].json["system"][0]["cache_control"] == {"type": "ephemeral"}


async def test_native_output_config_and_temperature_off(fake, image) -> None:
    prov = provider("anthropic:claude-x:api=native,temperature=off", fake)
    req = request(prov, image)
    resp = await prov.send(req, 5)
    await prov.aclose()
    body = fake.requests[-1].json
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": req.schema}}
    assert "tools" not in body and "temperature" not in body
    assert resp.parsed["nearer"] == "red"


async def test_usage_counts_cache_reads(fake, image) -> None:
    fake.cached_tokens = 30
    prov = provider("anthropic:claude-x", fake)
    resp = await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert resp.usage.cached_input_tokens == 30
    assert resp.usage.input_tokens > 30
    assert resp.usage.image_tokens == 7  # 80*60/750 rounded up


@pytest.mark.parametrize(("fault", "kind"), [("truncated", "truncated"), ("refusal", "refused")])
async def test_truncated_and_refused(fake, image, fault, kind) -> None:
    prov = provider("anthropic:claude-x", fake)
    fake.faults.push(fault)
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert err.value.kind == kind


async def test_image_answers_are_a_bad_request(fake, image) -> None:
    prov = provider("anthropic:claude-x", fake)
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image, ImageT()), 5)
    await prov.aclose()
    assert err.value.kind == "bad_request" and fake.requests == []


async def test_native_output_config_states_bounds_in_words(fake, image) -> None:
    """Native structured outputs reject minimum/maxItems: they become descriptions."""
    order = RecordT(
        fields=(
            FieldT(name="order", type=permutation_of(("1", "2", "3"))),
            FieldT(name="count", type=IntRangeT(lo=0, hi=20)),
        )
    )
    prov = provider("anthropic:claude-x:api=native", fake)
    req = request(prov, image, order)
    await prov.send(req, 5)
    await prov.aclose()
    sent = fake.requests[-1].json["output_config"]["format"]["schema"]
    assert not {"minimum", "maximum", "minItems", "maxItems"} & set(json.dumps(sent).split('"'))
    assert sent["properties"]["count"]["description"] == "from 0 to 20"
    assert "exactly 3 items" in sent["properties"]["order"]["description"]
    assert sent["properties"]["order"]["items"]["enum"] == ["1", "2", "3"]
    # the forced tool (the default) takes the whole schema
    prov = provider("anthropic:claude-x", fake)
    req = request(prov, image, order)
    await prov.send(req, 5)
    await prov.aclose()
    assert (
        fake.requests[-1].json["tools"][0]["input_schema"]["properties"]["count"]["maximum"] == 20
    )
