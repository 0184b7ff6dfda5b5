"""OpenAI Batch API: the adapter's batch methods and the fake's endpoints, with the real SDK."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import openai
import pytest
from providers_helpers import provider, request

from chainlang.language.types import ImageT, TextT
from chainlang.providers.base import ModelRequest, ModelResponse, Params, ProviderError, Usage

SPECS = ["openai:gpt-4o", "openai:gpt-4o:api=responses"]


def cid(i: int) -> str:
    """A custom id as the dispatcher makes them: 64 lowercase hex characters."""
    return hashlib.sha256(str(i).encode()).hexdigest()


def questions(prov: Any, image: Any) -> list[ModelRequest]:
    """A text answer, a schema answer, and a schema answer about an image."""
    return [
        request(prov, None, TextT(), text="Describe the scene. [text]"),
        request(prov, None, text="Which marker is nearer? [depth]"),
        request(prov, image, text="Which marker is nearer? [image]"),
    ]


async def run_batch(
    prov: Any, reqs: list[ModelRequest]
) -> tuple[str, list[str], dict[str, ModelResponse | ProviderError]]:
    """Submit ``reqs`` as one batch, poll until it is no longer running, read the results."""
    lines = [prov.batch_line(cid(i), r) for i, r in enumerate(reqs)]
    batch_id = await prov.submit_batch(lines)
    for _ in range(10):
        if (await prov.batch_state(batch_id)).status != "running":
            break
    ids = [line.custom_id for line in lines]
    return batch_id, ids, await prov.batch_results(batch_id, ids)


def without_images(usage: Usage) -> Usage:
    """A sync answer's usage as batch_results gives it: image tokens are the dispatcher's."""
    return dataclasses.replace(usage, image_tokens=0)


def same(got: ModelResponse | ProviderError, want: ModelResponse) -> bool:
    assert isinstance(got, ModelResponse), got
    return (got.text, got.parsed, got.usage, got.finish) == (
        want.text,
        want.parsed,
        without_images(want.usage),
        want.finish,
    )


# --------------------------------------------------------------------------- request shape


@pytest.mark.parametrize("spec", SPECS)
async def test_line_body_is_what_the_sync_call_sends(fake, image, spec) -> None:
    prov = provider(spec, fake)
    params = Params(max_tokens=300, seed=42, extra=(("user", "u-1"),))
    req = request(prov, image, detail="low", params=params)
    await prov.send(req, 5)
    sent = fake.requests[-1]
    line = prov.batch_line(cid(0), req)
    await prov.aclose()
    assert line.custom_id == cid(0)
    assert line.payload == {
        "custom_id": cid(0),
        "method": "POST",
        "url": sent.path,
        "body": sent.json,
    }
    assert line.payload["body"]["user"] == "u-1"  # extra_body is merged like the SDK does
    assert line.size == len(json.dumps(line.payload, separators=(",", ":"))) + 1


async def test_image_generation_cannot_be_batched(fake, image) -> None:
    prov = provider("openai:gpt-image-1", fake)
    req = request(prov, image, ImageT(), system=None, text="Draw a depth map.")
    with pytest.raises(ProviderError) as err:
        prov.batch_line(cid(0), req)
    await prov.aclose()
    assert err.value.kind == "bad_request"


@pytest.mark.parametrize("spec", SPECS)
async def test_submit_uploads_the_lines_and_names_the_endpoint(fake, image, spec) -> None:
    prov = provider(spec, fake)
    lines = [prov.batch_line(cid(i), r) for i, r in enumerate(questions(prov, image))]
    batch_id = await prov.submit_batch(lines)
    await prov.aclose()
    upload, create = (r for r in fake.requests if r.method == "POST")
    assert (upload.path, upload.form["purpose"]) == ("/v1/files", b"batch")
    assert [json.loads(x) for x in upload.form["file"].splitlines()] == [x.payload for x in lines]
    assert sum(x.size for x in lines) == len(upload.form["file"])
    url = lines[0].payload["url"]
    assert url == ("/v1/responses" if "responses" in spec else "/v1/chat/completions")
    assert create.path == "/v1/batches"
    assert create.json["endpoint"] == url and create.json["completion_window"] == "24h"
    job = fake.batches.jobs[batch_id]
    assert [(c, p) for c, p, _ in job.lines] == [(cid(i), url) for i in range(3)]


# --------------------------------------------------------------------------- results


@pytest.mark.parametrize("spec", SPECS)
async def test_batch_answers_equal_sync_answers(fake, image, spec) -> None:
    fake.cached_tokens = 5
    depth = {"nearer": "blue", "reasoning": "r"}
    fake.script("[depth]", depth, depth)  # one for the sync call, one for the batch line
    prov = provider(spec, fake)
    reqs = questions(prov, image)
    expected = [await prov.send(r, 5) for r in reqs]
    fake.batches.polls_until_done = 2
    lines = [prov.batch_line(cid(i), r) for i, r in enumerate(reqs)]
    batch_id = await prov.submit_batch(lines)
    first = await prov.batch_state(batch_id)
    second = await prov.batch_state(batch_id)
    results = await prov.batch_results(batch_id, [cid(i) for i in range(3)])
    await prov.aclose()
    assert (first.status, second.status) == ("running", "ended")
    assert list(results) == [cid(i) for i in range(3)]
    assert all(same(results[cid(i)], want) for i, want in enumerate(expected))
    assert results[cid(1)].parsed == depth
    assert expected[2].usage.image_tokens > 0 and expected[2].usage.cached_input_tokens == 5
    assert results[cid(2)].usage.image_tokens == 0  # type: ignore[union-attr]


async def test_results_can_be_read_again_and_missing_lines_fail(fake, image) -> None:
    prov = provider("openai:gpt-4o", fake)
    batch_id, ids, results = await run_batch(prov, questions(prov, image))
    files = dict(fake.batches.files)
    again = await prov.batch_results(batch_id, [*ids, cid(99)])
    await prov.aclose()
    assert all(same(again[i], results[i]) for i in ids)  # type: ignore[arg-type]
    assert fake.batches.files == files  # no new output file on a second read
    missing = again[cid(99)]
    assert isinstance(missing, ProviderError) and missing.kind == "server"
    assert f"batch {batch_id} has no result line for {cid(99)}" in missing.message


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("429", "rate_limit"),
        ("500", "server"),
        ("503", "server"),
        ("400", "bad_request"),
        ("401", "auth"),
        ("404", "not_found"),
    ],
)
async def test_status_fault_fails_exactly_one_line(fake, image, fault, kind) -> None:
    prov = provider("openai:gpt-4o", fake)
    reqs = questions(prov, image)
    fake.faults.push(fault, path="/v1/chat/completions")
    with pytest.raises(ProviderError) as sync:
        await prov.send(reqs[0], 5)
    fake.faults.push(fault, path="/v1/chat/completions")
    batch_id, ids, results = await run_batch(prov, reqs)
    await prov.aclose()
    failed = results[ids[0]]
    assert isinstance(failed, ProviderError)
    assert (failed.kind, failed.status) == (sync.value.kind, int(fault)) and failed.kind == kind
    assert all(isinstance(results[i], ModelResponse) for i in ids[1:])
    assert fake.batches.jobs[batch_id].meta.get("error_file_id")


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(("fault", "kind"), [("truncated", "truncated"), ("refusal", "refused")])
async def test_answer_faults_fail_like_the_sync_call(fake, image, spec, fault, kind) -> None:
    prov = provider(spec, fake)
    req = questions(prov, image)[2]
    path = prov.batch_line(cid(0), req).payload["url"]
    fake.faults.push(fault, path=path)
    with pytest.raises(ProviderError) as sync:
        await prov.send(req, 5)
    fake.faults.push(fault, path=path)
    _, ids, results = await run_batch(prov, [req])
    await prov.aclose()
    failed = results[ids[0]]
    assert isinstance(failed, ProviderError) and failed.kind == sync.value.kind == kind
    assert (failed.message, failed.usage) == (sync.value.message, without_images(sync.value.usage))


async def test_malformed_answer_gives_parsed_none(fake, image) -> None:
    prov = provider("openai:gpt-4o", fake)
    fake.faults.push("malformed", path="/v1/chat/completions")
    _, ids, results = await run_batch(prov, questions(prov, image)[1:2])
    await prov.aclose()
    answer = results[ids[0]]
    assert isinstance(answer, ModelResponse) and answer.parsed is None and "red" in answer.text


# --------------------------------------------------------------------------- whole-batch failures


@pytest.mark.parametrize(
    ("failure", "status"),
    [("expired", "expired"), ("cancelled", "cancelled"), ("input file invalid", "failed")],
)
async def test_whole_batch_failure(fake, image, failure, status) -> None:
    fake.batches.fail_next(failure)
    prov = provider("openai:gpt-4o", fake)
    batch_id, _, results = await run_batch(prov, questions(prov, image))
    state = await prov.batch_state(batch_id)
    await prov.aclose()
    assert state.status == "failed"
    assert state.message.startswith(status) and failure in state.message
    for result in results.values():  # a failed batch has no result line to read
        assert isinstance(result, ProviderError) and result.kind == "server"
        assert "no result line" in result.message


@pytest.mark.parametrize(
    ("path", "fault", "kind"),
    [
        ("/v1/batches", "500", "server"),
        ("/v1/files", "429", "rate_limit"),
        ("/v1/files", "401", "auth"),
    ],
)
async def test_submit_failure_is_classified(fake, image, path, fault, kind) -> None:
    prov = provider("openai:gpt-4o", fake)
    lines = [prov.batch_line(cid(0), questions(prov, image)[1])]
    fake.faults.push(fault, path=path, retry_after=2)
    with pytest.raises(ProviderError) as err:
        await prov.submit_batch(lines)
    await prov.aclose()
    assert (err.value.kind, err.value.status, err.value.retry_after) == (kind, int(fault), 2)
    assert fake.batches.submitted == 0


async def test_state_and_results_failures_are_classified(fake, image) -> None:
    prov = provider("openai:gpt-4o", fake)
    with pytest.raises(ProviderError) as unknown:
        await prov.batch_state("batch_unknown")
    batch_id, ids, _ = await run_batch(prov, questions(prov, image)[1:2])
    fake.faults.push("503", path="/v1/batches/")
    with pytest.raises(ProviderError) as state:
        await prov.batch_state(batch_id)
    fake.faults.push("500", path="/content")
    with pytest.raises(ProviderError) as results:
        await prov.batch_results(batch_id, ids)
    await prov.aclose()
    assert unknown.value.kind == "not_found"
    assert (state.value.kind, results.value.kind) == ("server", "server")


# --------------------------------------------------------------------------- fake endpoints


def _line(custom_id: str, url: str = "/v1/chat/completions") -> bytes:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"hi {custom_id}"}]}
    line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
    return json.dumps(line).encode() + b"\n"


async def test_fake_endpoints_speak_the_sdk_wire_format(fake) -> None:
    client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
    data = _line("a") + _line("b")
    upload = await client.files.create(file=("in.jsonl", data), purpose="batch")
    assert (upload.object, upload.purpose, upload.filename) == ("file", "batch", "in.jsonl")
    assert upload.bytes == len(data)
    assert (await client.files.content(upload.id)).content == data
    batch = await client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert (batch.object, batch.status, batch.input_file_id) == ("batch", "validating", upload.id)
    fake.faults.push("429", path="/v1/chat/completions")
    done = await client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts is not None
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (2, 1, 1)
    assert done.output_file_id and done.error_file_id
    output = (await client.files.content(done.output_file_id)).content.splitlines()
    errors = (await client.files.content(done.error_file_id)).content.splitlines()
    (ok,), (bad,) = [json.loads(x) for x in output], [json.loads(x) for x in errors]
    assert ok["custom_id"] == "b" and ok["error"] is None
    assert ok["response"]["status_code"] == 200
    assert ok["response"]["body"]["object"] == "chat.completion"
    assert bad["custom_id"] == "a" and bad["response"]["status_code"] == 429
    assert "error" in bad["response"]["body"]
    await client.close()


async def test_fake_endpoints_reject_bad_input(fake) -> None:
    client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
    mixed = await client.files.create(
        file=("in.jsonl", _line("a") + _line("b", "/v1/responses")), purpose="batch"
    )
    twice = await client.files.create(file=("in.jsonl", _line("a") + _line("a")), purpose="batch")
    for file_id in (mixed.id, twice.id):
        with pytest.raises(openai.BadRequestError):
            await client.batches.create(
                input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
            )
    with pytest.raises(openai.NotFoundError):
        await client.batches.create(
            input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        await client.files.content("file-missing")
    with pytest.raises(openai.NotFoundError):
        await client.batches.retrieve("batch_missing")
    assert fake.batches.submitted == 0
    await client.close()
