"""Anthropic Message Batches through the adapter, against the fake server with the real SDK."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import anthropic
import pytest
from providers_helpers import DEPTH, provider, request

from chainlang.language.types import ImageT, TextT
from chainlang.providers.base import BatchLimits, ModelResponse, ProviderError, Usage

SPEC = "anthropic:claude-x"
BATCHES = "/v1/messages/batches"


def cid(n: int) -> str:
    """A custom id like the dispatcher's (64 lowercase hex characters)."""
    return hashlib.sha256(str(n).encode()).hexdigest()


def requests_of(prov, image) -> list:
    """Three kinds of question: free text, a schema answer, a schema answer about an image."""
    text = request(prov, None, TextT(), text="Say something. [text]")
    return [
        dataclasses.replace(text, schema=None),
        request(prov, None, DEPTH, text="Which is nearer? [schema]"),
        request(prov, image, DEPTH, text="Which marker is nearer? [image]"),
    ]


async def run_batch(prov, reqs) -> tuple[str, dict]:
    """Submit ``reqs``, poll until ended, and read the results."""
    ids = [cid(i) for i in range(len(reqs))]
    batch_id = await prov.submit_batch(
        [prov.batch_line(c, r) for c, r in zip(ids, reqs, strict=True)]
    )
    while (await prov.batch_state(batch_id)).status == "running":
        pass
    return batch_id, await prov.batch_results(batch_id, ids)


def without_images(usage: Usage) -> Usage:
    """A sync answer's usage as batch_results gives it: image tokens are the dispatcher's."""
    return dataclasses.replace(usage, image_tokens=0)


def same_answer(a: ModelResponse, b: ModelResponse) -> bool:
    """Batch answer ``a`` is ``b`` (image tokens of ``b`` set aside)."""
    b_usage = without_images(b.usage)
    return (a.text, a.parsed, a.usage, a.finish) == (b.text, b.parsed, b_usage, b.finish)


# --------------------------------------------------------------------------- request shape


@pytest.mark.parametrize("spec", [SPEC, SPEC + ":api=native,temperature=off"])
async def test_each_line_carries_the_sync_body(fake, image, spec) -> None:
    prov = provider(spec, fake)
    for n, req in enumerate(requests_of(prov, image)):
        line = prov.batch_line(cid(n), req)
        await prov.send(req, 5)
        assert line.payload == {"custom_id": cid(n), "params": fake.requests[-1].json}
        compact = json.dumps(line.payload, ensure_ascii=False, separators=(",", ":"))
        assert line.size == len(compact.encode()) + 1
    await prov.aclose()
    image_line = prov.batch_line(cid(9), requests_of(prov, image)[2]).payload["params"]
    _, img = image_line["messages"][0]["content"]
    assert img["type"] == "image" and "cache_control" not in img  # as the sync body: system only
    assert image_line["system"][0]["cache_control"] == {"type": "ephemeral"}


async def test_submit_sends_the_lines_and_the_custom_ids_round_trip(fake, image) -> None:
    prov = provider(SPEC, fake)
    reqs = requests_of(prov, image)
    lines = [prov.batch_line(cid(n), r) for n, r in enumerate(reqs)]
    batch_id = await prov.submit_batch(lines)
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", BATCHES)
    assert sent.json == {"requests": [line.payload for line in lines]}
    assert batch_id.startswith("msgbatch_")
    assert [c for c, _, _ in fake.batches.jobs[batch_id].lines] == [cid(n) for n in range(3)]
    await prov.batch_state(batch_id)
    results = await prov.batch_results(batch_id, [cid(n) for n in range(3)])
    await prov.aclose()
    assert list(results) == [cid(n) for n in range(3)]


async def test_limits_and_image_answers(fake, image) -> None:
    prov = provider(SPEC, fake)
    assert prov.batch_limits == BatchLimits(100_000, 240 * 2**20)
    with pytest.raises(ProviderError) as err:
        prov.batch_line(cid(0), request(prov, image, ImageT()))
    await prov.aclose()
    assert err.value.kind == "bad_request"


# --------------------------------------------------------------------------- a whole batch


async def test_batch_runs_then_ends_with_the_answers_send_gives(fake, image) -> None:
    fake.batches.polls_until_done = 2
    fake.script(
        "[schema]", {"nearer": "blue", "reasoning": "b"}, {"nearer": "blue", "reasoning": "b"}
    )
    prov = provider(SPEC, fake)
    reqs = requests_of(prov, image)
    expected = [await prov.send(r, 5) for r in reqs]
    ids = [cid(n) for n in range(3)]
    batch_id = await prov.submit_batch(
        [prov.batch_line(c, r) for c, r in zip(ids, reqs, strict=True)]
    )
    states = [(await prov.batch_state(batch_id)).status for _ in range(3)]
    results = await prov.batch_results(batch_id, ids)
    await prov.aclose()
    assert states == ["running", "ended", "ended"]
    assert all(same_answer(results[c], e) for c, e in zip(ids, expected, strict=True))
    assert results[ids[1]].parsed == {"nearer": "blue", "reasoning": "b"}
    assert expected[2].usage.image_tokens > 0
    assert results[ids[2]].usage.image_tokens == 0


async def test_results_can_be_read_again_by_a_fresh_adapter(fake, image) -> None:
    prov = provider(SPEC, fake)
    batch_id, first = await run_batch(prov, requests_of(prov, image))
    await prov.aclose()
    resumed = provider(SPEC, fake)
    again = await resumed.batch_results(batch_id, list(first))
    await resumed.aclose()
    assert all(same_answer(first[c], again[c]) for c in first)


async def test_a_custom_id_without_a_result_line(fake, image) -> None:
    prov = provider(SPEC, fake)
    batch_id, _ = await run_batch(prov, requests_of(prov, image)[:1])
    results = await prov.batch_results(batch_id, [cid(0), cid(7)])
    await prov.aclose()
    assert isinstance(results[cid(0)], ModelResponse)
    assert results[cid(7)].kind == "server" and "no result line" in results[cid(7)].message


# --------------------------------------------------------------------------- line failures


async def _sync_then_batch(fake, reqs, fault: str) -> tuple[ProviderError, dict]:
    """The first request sent alone with ``fault``, then all of them batched with it."""
    prov = provider(SPEC, fake)
    fake.faults.push(fault, path="/v1/messages")
    with pytest.raises(ProviderError) as sync:
        await prov.send(reqs(prov)[0], 5)
    fake.faults.push(fault, path="/v1/messages")  # the line's fault, not the endpoints'
    _, results = await run_batch(prov, reqs(prov))
    await prov.aclose()
    return sync.value, results


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("400", "bad_request"),
        ("401", "auth"),
        ("404", "not_found"),
        ("429", "rate_limit"),
        ("529", "server"),
        ("500", "server"),
        ("503", "server"),
    ],
)
async def test_a_status_fault_fails_one_line_like_the_sync_call(fake, image, fault, kind) -> None:
    sync, results = await _sync_then_batch(fake, lambda p: requests_of(p, image), fault)
    failed = results[cid(0)]
    assert isinstance(failed, ProviderError)
    assert failed.kind == sync.kind == kind
    assert all(isinstance(results[cid(n)], ModelResponse) for n in (1, 2))


@pytest.mark.parametrize(("fault", "kind"), [("truncated", "truncated"), ("refusal", "refused")])
async def test_answer_faults_end_a_line_like_the_sync_call(fake, image, fault, kind) -> None:
    sync, results = await _sync_then_batch(fake, lambda p: requests_of(p, image)[1:], fault)
    failed = results[cid(0)]
    assert isinstance(failed, ProviderError) and failed.kind == sync.kind == kind
    assert failed.usage == without_images(sync.usage)
    assert isinstance(results[cid(1)], ModelResponse)


# --------------------------------------------------------------------------- batch failures


@pytest.mark.parametrize(
    ("why", "word", "line_kind"),
    [("expired", "expired", "timeout"), ("cancelled", "canceled", "server")],
)
async def test_a_batch_that_ends_unrun_is_failed(fake, image, why, word, line_kind) -> None:
    fake.batches.fail_next(why)
    prov = provider(SPEC, fake)
    ids = [cid(0), cid(1)]
    lines = [prov.batch_line(c, r) for c, r in zip(ids, requests_of(prov, image)[:2], strict=True)]
    batch_id = await prov.submit_batch(lines)
    state = await prov.batch_state(batch_id)
    results = await prov.batch_results(batch_id, ids)
    await prov.aclose()
    assert state.status == "failed" and f"2 {word}" in state.message
    assert {r.kind for r in results.values()} == {line_kind}


@pytest.mark.parametrize(
    ("fault", "kind"), [("500", "server"), ("429", "rate_limit"), ("401", "auth")]
)
async def test_submit_failures_are_classified_like_the_sync_path(fake, image, fault, kind) -> None:
    prov = provider(SPEC, fake)
    req = requests_of(prov, image)[0]
    fake.faults.push(fault, path="/v1/messages", retry_after=3)
    with pytest.raises(ProviderError) as sync:
        await prov.send(req, 5)
    fake.faults.push(fault, path=BATCHES, retry_after=3)
    with pytest.raises(ProviderError) as err:
        await prov.submit_batch([prov.batch_line(cid(0), req)])
    await prov.aclose()
    assert (err.value.kind, err.value.status, err.value.retry_after) == (kind, int(fault), 3.0)
    # the same error body, the same words (anthropic >= 2.17 appends the request's path)
    assert _body_words(err.value.message) == _body_words(sync.value.message)
    assert "injected fault" in err.value.message
    assert fake.batches.submitted == 0


async def test_polling_an_unknown_batch_is_not_found(fake) -> None:
    prov = provider(SPEC, fake)
    with pytest.raises(ProviderError) as err:
        await prov.batch_state("msgbatch_nope")
    await prov.aclose()
    assert err.value.kind == "not_found"


async def test_results_of_a_running_batch_are_refused(fake, image) -> None:
    fake.batches.polls_until_done = 5
    prov = provider(SPEC, fake)
    batch_id = await prov.submit_batch([prov.batch_line(cid(0), requests_of(prov, image)[0])])
    with pytest.raises(ProviderError) as err:
        await prov.batch_results(batch_id, [cid(0)])
    await prov.aclose()
    assert err.value.kind == "bad_request" and "results_url" in err.value.message


# --------------------------------------------------------------------------- the fake's wire


def sdk(fake) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="ak-test", base_url=fake.base_url, max_retries=0)


def params(text: str) -> dict:
    return {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": text}]}


async def test_fake_batch_objects_and_results_file(fake) -> None:
    client = sdk(fake)
    fake.faults.push("429", path="/v1/messages")
    reqs = [{"custom_id": f"line-{n}", "params": params(f"question {n}")} for n in range(3)]
    created = await client.messages.batches.create(requests=reqs)
    ended = await client.messages.batches.retrieve(created.id)
    lines = [line async for line in await client.messages.batches.results(created.id)]
    await client.close()
    assert (created.type, created.processing_status) == ("message_batch", "in_progress")
    assert created.request_counts.processing == 3 and created.results_url is None
    assert ended.processing_status == "ended" and ended.ended_at is not None
    assert ended.results_url == f"{fake.base_url}{BATCHES}/{created.id}/results"
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (2, 1)
    assert [line.custom_id for line in lines] == ["line-2", "line-1", "line-0"]  # any order
    assert [line.result.type for line in lines] == ["succeeded", "succeeded", "errored"]
    assert lines[0].result.message.type == "message"
    assert lines[2].result.error.error.type == "rate_limit_error"
    assert fake.requests[-1].path == f"{BATCHES}/{created.id}/results"


async def test_fake_failed_batch_is_ended_with_expired_lines(fake) -> None:
    fake.batches.fail_next("expired")
    client = sdk(fake)
    created = await client.messages.batches.create(
        requests=[{"custom_id": "a", "params": params("q")}]
    )
    ended = await client.messages.batches.retrieve(created.id)
    lines = [line async for line in await client.messages.batches.results(created.id)]
    await client.close()
    assert ended.processing_status == "ended" and ended.request_counts.expired == 1
    assert [line.result.type for line in lines] == ["expired"]


@pytest.mark.parametrize(
    "reqs",
    [
        [],
        [{"custom_id": "has space", "params": {}}],
        [{"custom_id": "a", "params": {}}, {"custom_id": "a", "params": {}}],
        [{"custom_id": "a"}],
    ],
)
async def test_fake_refuses_bad_submissions(fake, reqs) -> None:
    client = sdk(fake)
    with pytest.raises(anthropic.BadRequestError) as err:
        await client.messages.batches.create(requests=reqs)
    await client.close()
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert fake.batches.submitted == 0


def _body_words(message: str) -> str:
    """An error message without the SDK's ``(path: …, type: …)`` annotation."""
    return message.split(" (path: ")[0]
