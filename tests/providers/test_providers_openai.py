"""OpenAI adapter against the fake server with the real SDK: request shapes and translation."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from providers_helpers import DEPTH, provider, request

from chainlang.language.types import ImageT
from chainlang.providers.base import Message, ModelRequest, Params, ProviderError, TextPart


async def test_chat_request_shape(fake, image) -> None:
    prov = provider("openai:gpt-4o", fake)
    req = request(
        prov, image, detail="low", params=Params(temperature=0.0, max_tokens=300, seed=42)
    )
    resp = await prov.send(req, 5)
    await prov.aclose()
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = sent.json
    assert body["messages"][0] == {"role": "system", "content": "You judge depth."}
    text, img = body["messages"][1]["content"]
    assert text == {"type": "text", "text": "Which marker is nearer? [depth]"}
    assert img["image_url"]["detail"] == "low"
    assert img["image_url"]["url"].startswith("data:image/jpeg;base64,")
    png = base64.b64decode(img["image_url"]["url"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (80, 60)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": req.schema, "strict": True},
    }
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.0, 300, 42)
    assert resp.parsed == {"reasoning": "…", "nearer": "red"}
    assert resp.usage.output_tokens > 0 and resp.usage.image_tokens == 85


async def test_reasoning_models_get_completion_tokens_and_effort(fake, image) -> None:
    prov = provider("openai:o3", fake)
    await prov.send(
        request(prov, image, params=Params(max_tokens=25000, reasoning_effort="high")), 5
    )
    await prov.aclose()
    body = fake.requests[-1].json
    assert body["max_completion_tokens"] == 25000 and body["reasoning_effort"] == "high"
    assert "temperature" not in body and "max_tokens" not in body


async def test_responses_api_shape_and_answer(fake, image) -> None:
    fake.cached_tokens = 7
    prov = provider("openai:gpt-4o:api=responses", fake)
    req = request(prov, image, params=Params(max_tokens=100))
    resp = await prov.send(req, 5)
    await prov.aclose()
    body = fake.requests[-1].json
    assert fake.requests[-1].path == "/v1/responses"
    assert body["instructions"] == "You judge depth."
    content = body["input"][0]["content"]
    assert content[0] == {"type": "input_text", "text": "Which marker is nearer? [depth]"}
    assert content[1]["type"] == "input_image" and content[1]["image_url"].startswith(
        "data:image/jpeg"
    )
    assert body["text"]["format"] == {
        "type": "json_schema",
        "name": "answer",
        "schema": req.schema,
        "strict": True,
    }
    assert body["max_output_tokens"] == 100
    assert resp.parsed["nearer"] == "red" and resp.usage.cached_input_tokens == 7


async def test_scripted_answer_and_cached_usage(fake, image) -> None:
    fake.cached_tokens = 12
    fake.script("[depth]", {"reasoning": "r", "nearer": "blue"})
    prov = provider("openai:gpt-4o", fake)
    resp = await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert resp.parsed == {"reasoning": "r", "nearer": "blue"}
    assert resp.usage.cached_input_tokens == 12 and resp.provider_id.startswith("chatcmpl-")


@pytest.mark.parametrize("spec", ["openai:gpt-4o", "openai:gpt-4o:api=responses"])
@pytest.mark.parametrize(("fault", "kind"), [("truncated", "truncated"), ("refusal", "refused")])
async def test_truncated_and_refused_are_recognised(fake, image, spec, fault, kind) -> None:
    prov = provider(spec, fake)
    fake.faults.push(fault)
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert err.value.kind == kind and err.value.usage.input_tokens > 0


async def test_malformed_answer_gives_parsed_none(fake, image) -> None:
    prov = provider("openai:gpt-4o", fake)
    fake.faults.push("malformed")
    resp = await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert resp.parsed is None and "red" in resp.text


async def test_image_edit_is_multipart_and_returns_png(fake, image) -> None:
    prov = provider("openai:gpt-image-1", fake)
    req = ModelRequest(
        model=prov.ref,
        messages=(Message("user", (TextPart("Draw a depth map."),)),),
        answer_type=ImageT(),
        schema=None,
    )
    with pytest.raises(ProviderError, match="needs an input image"):
        await prov.send(req, 5)
    resp = await prov.send(request(prov, image, ImageT(), system=None, text="Draw a depth map."), 5)
    await prov.aclose()
    sent = fake.requests[-1]
    assert sent.path == "/v1/images/edits"
    form = sent.form
    assert form["prompt"] == b"Draw a depth map." and form["size"] == b"1024x1024"
    assert form["model"] == b"gpt-image-1" and form["image"].startswith(b"\x89PNG")
    assert resp.image is not None and resp.image.startswith(b"\x89PNG")
    assert resp.usage.output_tokens == 1056


async def test_one_client_is_reused_across_calls(fake, image) -> None:
    prov = provider("openai:gpt-4o", fake)
    client = prov.client
    for _ in range(3):
        await prov.send(request(prov, image, DEPTH), 5)
    assert prov.client is client and prov.encoder.hits == 2
    await prov.aclose()
