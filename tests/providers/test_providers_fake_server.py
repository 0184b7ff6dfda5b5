"""The fake provider server itself: faults, scripts, rate limiting, HTTP details."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from providers_helpers import DEPTH, KEYS, provider, request

from chainlang.errors import UsageError
from chainlang.language.answers import AnswerError, validate
from chainlang.testing import FakeProviderServer
from chainlang.testing.fake_provider import Reply, example_from_schema

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi [k]"}]}


def _post(
    client: httpx2.Client,
    fake: FakeProviderServer,
    path: str = "/v1/chat/completions",
    body: dict | None = None,
) -> httpx2.Response:
    return client.post(fake.base_url + path, json=body or CHAT)


def test_faults_by_count_and_path(fake) -> None:
    fake.faults.push("500", path="/v1/messages")
    fake.faults.push("503", count=2)
    with httpx2.Client(headers=KEYS) as client:
        codes = [_post(client, fake).status_code for _ in range(3)]
        assert codes == [503, 503, 200]
        assert (
            _post(client, fake, "/v1/messages", {"model": "m", "messages": []}).status_code == 500
        )


def test_random_faults_are_seeded_and_reproducible(fake) -> None:
    def run() -> list[int]:
        fake.faults.clear()
        fake.faults.random("429", 0.3, seed=5)
        with httpx2.Client(headers=KEYS) as client:
            return [_post(client, fake).status_code for _ in range(30)]

    first = run()
    assert first == run() and 0 < first.count(429) < 30


def test_rate_limiter_answers_429_with_retry_after(fake) -> None:
    fake.faults.rate_limit(3, window=30.0)
    with httpx2.Client(headers=KEYS) as client:
        responses = [_post(client, fake) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert 0 < float(responses[3].headers["retry-after"]) <= 30


def test_scripts_are_keyed_by_marker_and_consumed_in_order(fake) -> None:
    fake.script("[k]", {"a": 1}, Reply("raw text"))
    with httpx2.Client(headers=KEYS) as client:
        texts = [_post(client, fake).json()["choices"][0]["message"]["content"] for _ in range(3)]
    assert texts[0] == '{"a": 1}' and texts[1] == "raw text"
    assert texts[2].startswith("Sure!")  # queue empty, no schema: prose answer


def test_answer_callable_sees_the_call() -> None:
    seen = []

    def answer(call):
        seen.append((call.dialect, call.model, call.prompt))
        return {"x": call.model}

    with FakeProviderServer(answer=answer) as srv, httpx2.Client(headers=KEYS) as client:
        reply = client.post(srv.openai_base_url + "/chat/completions", json=CHAT).json()
    assert seen == [("openai-chat", "m", "hi [k]")]
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"x": "m"}


async def test_invalid_answers_fail_validation(fake, image) -> None:
    prov = provider("openai:gpt-4o", fake)
    fake.faults.push("invalid")
    resp = await prov.send(request(prov, image), 5)
    await prov.aclose()
    with pytest.raises(AnswerError, match="missing keys nearer, reasoning"):
        validate(DEPTH, resp.parsed)


def test_example_from_schema_seeded_choice() -> None:
    import random

    schema = {
        "type": "object",
        "properties": {
            "c": {"type": "string", "enum": ["a", "b", "c"]},
            "l": {"type": "array", "items": {"type": "integer"}},
        },
    }
    assert example_from_schema(schema) == {"c": "a", "l": [1]}
    picks = {example_from_schema(schema, random.Random(s))["c"] for s in range(20)}
    assert picks == {"a", "b", "c"}


def test_keep_alive_chunked_body_and_unknown_route(fake) -> None:
    with httpx2.Client(headers=KEYS) as client:

        def chunks():
            yield json.dumps(CHAT).encode()

        r1 = client.post(fake.openai_base_url + "/chat/completions", content=chunks())
        r2 = client.get(fake.base_url + "/nowhere")
    assert r1.status_code == 200 and r2.status_code == 404
    assert fake.requests[0].headers["transfer-encoding"] == "chunked"
    assert fake.requests[0].json == CHAT


def test_bad_fault_names_and_parameters_are_usage_errors(fake) -> None:
    with pytest.raises(UsageError, match="unknown fault 'teapot'"):
        fake.faults.push("teapot")
    with pytest.raises(UsageError, match="probability"):
        fake.faults.random("500", 1.5)
    with pytest.raises(UsageError, match="choice"):
        FakeProviderServer(choice="any")


async def test_many_concurrent_requests_over_keep_alive(fake) -> None:
    async with httpx2.AsyncClient(headers=KEYS, limits=httpx2.Limits(max_connections=20)) as client:
        replies = await asyncio.gather(
            *(
                client.post(fake.openai_base_url + "/chat/completions", json=CHAT)
                for _ in range(300)
            )
        )
    assert all(r.status_code == 200 for r in replies)
    assert len(fake.requests) == 300


@pytest.mark.parametrize(
    ("path", "headers", "status", "error"),
    [
        ("/v1/chat/completions", {}, 401, "invalid_request_error"),
        ("/v1/responses", {"authorization": "Bearer"}, 401, "invalid_request_error"),
        ("/v1/messages", {"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ("/v1/messages", {"x-api-key": "ak"}, 400, "invalid_request_error"),
        ("/v1beta/models/g:generateContent", {}, 403, "PERMISSION_DENIED"),
        ("/v1/batches", {}, 401, "invalid_request_error"),
    ],
)
def test_a_request_without_credentials_is_refused_as_the_api_refuses_it(
    fake, path: str, headers: dict[str, str], status: int, error: str
) -> None:
    fake.faults.push("500")  # credentials are checked first: the fault stays queued
    with httpx2.Client(headers=headers) as client:
        reply = client.post(fake.base_url + path, json=CHAT)
    assert reply.status_code == status
    assert error in json.dumps(reply.json())
    with httpx2.Client(headers=KEYS) as client:
        assert _post(client, fake).status_code == 500


def test_credentials_are_accepted_in_each_providers_form(fake) -> None:
    forms = [
        ("/v1/messages", {"x-api-key": "ak", "anthropic-version": "2023-06-01"}),
        ("/v1beta/models/g:generateContent?key=gk", {}),
        ("/v1beta/models/g:generateContent", {"x-goog-api-key": "gk"}),
    ]
    with httpx2.Client() as client:
        for path, headers in forms:
            assert client.post(fake.base_url + path, json={}, headers=headers).status_code == 200
    assert FakeProviderServer(keys=False).keys is False
