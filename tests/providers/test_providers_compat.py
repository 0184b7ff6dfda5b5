"""OpenAI-compatible servers: schema mode and the text-instruction path."""

from __future__ import annotations

from providers_helpers import DEPTH, provider, request

from chainlang.language.answers import validate
from chainlang.providers.base import Params
from chainlang.testing.fake_provider import Reply


async def test_schema_mode_sends_response_format_and_plain_max_tokens(fake, image) -> None:
    prov = provider("openai-compat:qwen2-vl@{url}", fake)
    resp = await prov.send(request(prov, image, params=Params(max_tokens=50)), 5)
    await prov.aclose()
    body = fake.requests[-1].json
    assert body["model"] == "qwen2-vl" and body["max_tokens"] == 50
    assert body["response_format"]["json_schema"]["strict"] is True
    assert validate(DEPTH, resp.parsed) == {"reasoning": "…", "nearer": "red"}


async def test_a_local_model_named_like_a_reasoning_model_keeps_temperature(fake, image) -> None:
    prov = provider("openai-compat:gpt-5-local@{url}", fake)
    params = Params(temperature=0.2, max_tokens=50, seed=1, reasoning_effort="high")
    await prov.send(request(prov, image, params=params), 5)
    await prov.aclose()
    body = fake.requests[-1].json
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.2, 50, 1)
    assert "max_completion_tokens" not in body and "reasoning_effort" not in body


async def test_schema_off_sends_instructions_and_extracts_json_from_prose(fake, image) -> None:
    prov = provider("openai-compat:qwen2-vl:schema=off@{url}", fake)
    resp = await prov.send(request(prov, image), 5)
    body = fake.requests[-1].json
    assert "response_format" not in body
    last = body["messages"][-1]["content"][-1]
    assert last["type"] == "text" and "Reply with a single JSON object" in last["text"]
    assert resp.text.startswith("Sure!") and "```json" in resp.text
    assert validate(DEPTH, resp.parsed) == {"reasoning": "...", "nearer": "red"}
    fake.script("[depth]", Reply("Answer: {'nearer': 'red'}"))
    resp = await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert resp.parsed is None  # single quotes are not JSON: the scheduler re-asks


async def test_schema_off_without_user_turn_adds_one(fake) -> None:
    prov = provider("openai-compat:m:schema=off@{url}", fake)
    req = request(prov, None, system="Only a system prompt.", text="")
    req = type(req)(
        model=req.model, messages=req.messages[:1], answer_type=DEPTH, schema=req.schema
    )
    await prov.send(req, 5)
    await prov.aclose()
    messages = fake.requests[-1].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Reply with a single JSON object" in messages[-1]["content"]
