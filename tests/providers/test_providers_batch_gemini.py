"""Gemini batch mode against the fake server with the real google-genai SDK."""

from __future__ import annotations

import dataclasses
import json

import httpx2
import pytest
from google.genai import types as gt
from providers_helpers import KEYS, provider, request

from chainlang.language.types import ImageT
from chainlang.providers import gemini as gemini_provider
from chainlang.providers.base import (
    BatchLimits,
    ModelRequest,
    ModelResponse,
    ProviderError,
    Usage,
)

IDS = [f"{i:064x}" for i in range(1, 5)]
CREATE = "/v1beta/models/g:batchGenerateContent"
LINE = "/v1beta/models/g:generateContent"


def _requests(prov, image) -> list[ModelRequest]:
    """A text-only request without schema, a schema request with an image, and one without."""
    plain = request(prov, None, text="Say something [plain]")
    return [
        dataclasses.replace(plain, schema=None),
        request(prov, image),
        request(prov, None, text="Which marker is nearer, no image? [depth]"),
    ]


def without_images(usage: Usage) -> Usage:
    """A sync answer's usage as batch_results gives it: image tokens are the dispatcher's."""
    return dataclasses.replace(usage, image_tokens=0)


def _same(a: ModelResponse, b: ModelResponse) -> None:
    """Batch answer ``a`` is sync answer ``b`` (image tokens of ``b`` set aside)."""
    b_usage = without_images(b.usage)
    assert (a.text, a.parsed, a.usage, a.finish) == (b.text, b.parsed, b_usage, b.finish)


def _lines(prov, reqs: list[ModelRequest]) -> list:
    return [prov.batch_line(cid, r) for cid, r in zip(IDS, reqs, strict=False)]


async def _run(prov, fake, reqs: list[ModelRequest]) -> tuple[str, dict]:
    """Submit ``reqs`` under IDS, wait until the fake batch ends, return the results."""
    batch_id = await prov.submit_batch(_lines(prov, reqs))
    for _ in range(5):  # the fake ends a batch after ``polls_until_done`` state requests
        if (await prov.batch_state(batch_id)).status != "running":
            break
    return batch_id, await prov.batch_results(batch_id, IDS[: len(reqs)])


# --------------------------------------------------------------------------- request shape


async def test_line_is_the_sync_body_and_sizes_are_exact(fake, image) -> None:
    prov = provider("gemini:g", fake)
    req = request(prov, image)
    await prov.send(req, 5)
    sync = fake.requests[-1].json
    line = prov.batch_line(IDS[0], req)
    batch_id = await prov.submit_batch([line])
    await prov.aclose()
    sent = fake.requests[-1]
    assert (sent.method, sent.path, sent.headers["x-goog-api-key"]) == ("POST", CREATE, "gk-test")
    batch = sent.json["batch"]
    assert batch["displayName"]
    [item] = batch["inputConfig"]["requests"]["requests"]
    assert item == {"request": {"model": "models/g", **sync}, "metadata": {"custom_id": IDS[0]}}
    assert item["request"]["generationConfig"]["responseJsonSchema"] == req.schema
    assert "inlineData" in item["request"]["contents"][0]["parts"][1]
    assert line.size == len(json.dumps(item).encode())
    assert batch_id.startswith("batches/")
    assert fake.batches.jobs[batch_id].lines == [(IDS[0], LINE, sync)]


def test_limits_and_image_answers_are_not_batchable(fake, image) -> None:
    prov = provider("gemini:gemini-image", fake)
    assert prov.batch_limits == BatchLimits(max_lines=10_000, max_bytes=18 * 2**20)
    with pytest.raises(ProviderError) as err:
        prov.batch_line(IDS[0], request(prov, image, ImageT(), system=None, text="Draw."))
    assert err.value.kind == "bad_request"


# --------------------------------------------------------------------------- a whole batch


async def test_batch_runs_then_ends_with_the_sync_answers(fake, image) -> None:
    prov = provider("gemini:g", fake)
    reqs = _requests(prov, image)
    sync = [await prov.send(r, 5) for r in reqs]
    fake.batches.polls_until_done = 2
    batch_id = await prov.submit_batch(_lines(prov, reqs))
    states = [(await prov.batch_state(batch_id)).status for _ in range(3)]
    results = await prov.batch_results(batch_id, IDS[:3])
    await prov.aclose()
    assert states == ["running", "ended", "ended"]
    assert list(results) == IDS[:3]
    for got, want in zip(results.values(), sync, strict=True):
        assert isinstance(got, ModelResponse)
        _same(got, want)
    assert sync[1].usage.image_tokens > 0 and sync[1].parsed is not None
    assert results[IDS[1]].usage.image_tokens == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("echo", [True, False])
async def test_results_map_by_echoed_id_else_by_position(fake, image, echo) -> None:
    prov = provider("gemini:g", fake)
    reqs = _requests(prov, image)
    sync = [await prov.send(r, 5) for r in reqs]
    batch_id = await prov.submit_batch(_lines(prov, reqs))
    assert (await prov.batch_state(batch_id)).status == "ended"
    job = fake.batches.jobs[batch_id]
    if echo:  # out of order, but each response echoes its custom id
        job.results.reverse()  # type: ignore[union-attr]
        job.meta["metadata"].reverse()
    else:  # no metadata echoed: input order decides
        job.meta["metadata"] = [None] * 3
    results = await prov.batch_results(batch_id, IDS[:3])
    await prov.aclose()
    for cid, want in zip(IDS, sync, strict=False):
        got = results[cid]
        assert isinstance(got, ModelResponse)
        _same(got, want)


# --------------------------------------------------------------------------- line failures


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("429", "rate_limit"),
        ("400", "bad_request"),
        ("401", "auth"),
        ("403", "auth"),
        ("404", "not_found"),
        ("500", "server"),
        ("503", "server"),
    ],
)
async def test_a_status_fault_fails_one_line_like_the_sync_call(fake, image, fault, kind) -> None:
    prov = provider("gemini:g", fake)
    fake.faults.push(fault, path=":generateContent")
    with pytest.raises(ProviderError) as sync_err:
        await prov.send(request(prov, image), 5)
    fake.faults.push(fault, path=LINE)
    _, results = await _run(prov, fake, _requests(prov, image))
    await prov.aclose()
    first = results[IDS[0]]
    assert isinstance(first, ProviderError)
    want = sync_err.value
    assert (first.kind, first.status, first.retry_after) == (kind, int(fault), want.retry_after)
    assert first.kind == want.kind and first.message == want.message
    assert all(isinstance(results[c], ModelResponse) for c in IDS[1:3])


@pytest.mark.parametrize(("fault", "kind"), [("truncated", "truncated"), ("refusal", "refused")])
async def test_answer_faults_come_back_as_the_sync_errors(fake, image, fault, kind) -> None:
    prov = provider("gemini:g", fake)
    req = request(prov, image)
    fake.faults.push(fault, path=":generateContent")
    with pytest.raises(ProviderError) as sync_err:
        await prov.send(req, 5)
    fake.faults.push(fault, path=LINE)
    _, results = await _run(prov, fake, [req])
    await prov.aclose()
    got = results[IDS[0]]
    assert isinstance(got, ProviderError)
    assert (got.kind, got.usage, got.message) == (
        kind,
        without_images(sync_err.value.usage),
        sync_err.value.message,
    )


async def test_a_line_without_a_result_is_a_server_error(fake, image) -> None:
    prov = provider("gemini:g", fake)
    batch_id, _ = await _run(prov, fake, _requests(prov, image)[:1])
    results = await prov.batch_results(batch_id, [IDS[0], "f" * 64])
    await prov.aclose()
    assert isinstance(results[IDS[0]], ModelResponse)
    missing = results["f" * 64]
    assert isinstance(missing, ProviderError) and missing.kind == "server"
    assert "no result line" in missing.message


# --------------------------------------------------------------------------- batch failures


@pytest.mark.parametrize(
    ("words", "state"),
    [
        ("expired", "JOB_STATE_EXPIRED"),
        ("cancelled", "JOB_STATE_CANCELLED"),
        ("out of capacity", "JOB_STATE_FAILED"),
    ],
)
async def test_a_failed_batch_reports_failed_with_its_state(fake, image, words, state) -> None:
    prov = provider("gemini:g", fake)
    fake.batches.fail_next(words)
    batch_id = await prov.submit_batch([prov.batch_line(IDS[0], request(prov, image))])
    got = await prov.batch_state(batch_id)
    await prov.aclose()
    assert (got.status, got.message) == ("failed", state)
    # the API's words are in the operation's error; google-genai (mldev) does not map it
    with httpx2.Client(headers=KEYS) as client:
        op = client.get(f"{fake.base_url}/v1beta/{batch_id}").json()
    assert op["done"] and op["error"]["message"] == words


@pytest.mark.parametrize(("fault", "kind"), [("500", "server"), ("429", "rate_limit")])
async def test_sdk_failures_of_batch_calls_are_classified(fake, image, fault, kind) -> None:
    prov = provider("gemini:g", fake)
    fake.faults.push(fault, path=":generateContent")
    with pytest.raises(ProviderError) as sync:
        await prov.send(request(prov, image), 5)
    line = prov.batch_line(IDS[0], request(prov, image))
    fake.faults.push(fault, path=":batchGenerateContent")
    with pytest.raises(ProviderError) as err:
        await prov.submit_batch([line])
    assert (err.value.kind, err.value.message) == (kind, sync.value.message)
    batch_id = await prov.submit_batch([line])
    fake.faults.push(fault, path="/v1beta/batches/")
    with pytest.raises(ProviderError) as err:
        await prov.batch_state(batch_id)
    assert (err.value.kind, err.value.message) == (kind, sync.value.message)
    fake.faults.push("drop", path="/v1beta/batches/")
    with pytest.raises(ProviderError) as err:
        await prov.batch_results(batch_id, IDS[:1])
    await prov.aclose()
    assert err.value.retryable
    assert fake.batches.submitted == 1


# --------------------------------------------------------------------------- raw endpoints


async def test_raw_sdk_calls_against_the_fake_endpoints(fake) -> None:
    prov = provider("gemini:g", fake)
    batches, http = prov.client.aio.batches, gt.HttpOptions(api_version="v1beta")
    src = [
        {"contents": [{"role": "user", "parts": [{"text": "hi [a]"}]}], "metadata": {"k": "a"}},
        {"contents": [{"role": "user", "parts": [{"text": "hi [b]"}]}]},
    ]
    fake.faults.push("429", path=LINE)
    created = await batches.create(
        model="g", src=src, config=gt.CreateBatchJobConfig(display_name="raw", http_options=http)
    )
    assert (created.state, created.display_name) == (gt.JobState.JOB_STATE_PENDING, "raw")
    assert created.model == "models/g" and created.create_time is not None
    job = await batches.get(name=created.name, config=gt.GetBatchJobConfig(http_options=http))
    await prov.aclose()
    assert job.state == gt.JobState.JOB_STATE_SUCCEEDED and job.end_time is not None
    failed, answered = job.dest.inlined_responses  # type: ignore[union-attr, misc]
    assert failed.metadata == {"k": "a"} and failed.response is None
    assert (failed.error.code, failed.error.message) == (8, "injected fault: HTTP 429")
    assert answered.metadata is None and answered.error is None
    assert answered.response is not None and answered.response.text


def test_rpc_codes_map_to_the_sync_kinds() -> None:
    def kind(code: int) -> str:
        return gemini_provider._line_error(gt.JobError(code=code, message="m"), "gemini:g").kind

    assert [kind(c) for c in (8, 3, 16, 7, 5, 13, 14, 4)] == [
        "rate_limit",
        "bad_request",
        "auth",
        "auth",
        "not_found",
        "server",
        "server",
        "server",
    ]
    assert kind(429) == "rate_limit" and kind(0) == "server"
