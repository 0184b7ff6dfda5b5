"""Gemini adapter against the fake server with the real google-genai SDK."""

from __future__ import annotations

import base64

import httpx2
import pytest
from google.genai import errors as genai_errors
from providers_helpers import provider, request

from chainlang.language.types import ImageT
from chainlang.providers import gemini as gemini_provider
from chainlang.providers.base import Params, ProviderError


async def test_generate_content_shape(fake, image) -> None:
    prov = provider("gemini:gemini-2.0-flash", fake)
    req = request(prov, image, params=Params(temperature=0.0, max_tokens=400, seed=3))
    resp = await prov.send(req, 5)
    await prov.aclose()
    sent = fake.requests[-1]
    assert sent.path == "/v1/models/gemini-2.0-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "gk-test"
    body = sent.json
    assert body["systemInstruction"]["parts"] == [{"text": "You judge depth."}]
    text, img = body["contents"][0]["parts"]
    assert text == {"text": "Which marker is nearer? [depth]"}
    blob = img["inlineData"]
    assert base64.urlsafe_b64decode(blob["data"]).startswith(b"\xff\xd8")
    gen = body["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseJsonSchema"] == req.schema
    assert (gen["temperature"], gen["maxOutputTokens"], gen["seed"]) == (0.0, 400, 3)
    assert {s["threshold"] for s in body["safetySettings"]} == {"BLOCK_NONE"}
    assert resp.parsed == {"reasoning": "…", "nearer": "red"}
    assert resp.usage.image_tokens == 258


async def test_transport_is_pinned_to_our_httpx2_client(fake) -> None:
    prov = provider("gemini:g", fake)
    api = prov.client._api_client
    assert isinstance(prov._http, httpx2.AsyncClient)
    assert api._async_httpx_client is prov._http and not api._use_aiohttp()
    await prov.aclose()


async def test_invalid_json_gives_parsed_none_without_exception(fake, image) -> None:
    prov = provider("gemini:g", fake)
    fake.faults.push("malformed")
    resp = await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert resp.parsed is None and resp.text.startswith("I think")


@pytest.mark.parametrize(("fault", "kind"), [("truncated", "truncated"), ("refusal", "refused")])
async def test_max_tokens_and_safety(fake, image, fault, kind) -> None:
    prov = provider("gemini:g", fake)
    fake.faults.push(fault)
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image), 5)
    await prov.aclose()
    assert err.value.kind == kind


async def test_image_output(fake, image) -> None:
    prov = provider("gemini:gemini-image", fake)
    resp = await prov.send(request(prov, image, ImageT(), system=None, text="Draw depth."), 5)
    await prov.aclose()
    gen = fake.requests[-1].json["generationConfig"]
    assert gen["responseModalities"] == ["IMAGE"] and "responseJsonSchema" not in gen
    assert resp.image is not None and resp.image.startswith(b"\x89PNG")


def test_retry_delay_in_the_error_body_is_used() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}],
        }
    }
    err = gemini_provider._api_error(genai_errors.ClientError(429, body), "gemini:g")
    assert (err.kind, err.retry_after, err.status) == ("rate_limit", 17.0, 429)
    assert "quota" in err.message


async def test_reasoning_effort_and_bad_parameters(fake, image) -> None:
    prov = provider("gemini:g", fake)
    await prov.send(request(prov, image, params=Params(reasoning_effort="high")), 5)
    thinking = fake.requests[-1].json["generationConfig"]["thinkingConfig"]
    assert list(thinking.values()) == ["HIGH"]  # the SDK's own key spelling
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image, params=Params(reasoning_effort="extreme")), 5)
    await prov.aclose()
    assert err.value.kind == "bad_request" and "thinking_level" in err.value.message
