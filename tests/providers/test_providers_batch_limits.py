"""Per-batch limits: the fake refuses an oversized batch as the provider does, and the
batch dispatcher splits a large set of questions into batches the fake accepts.

The real limits (50,000 requests for OpenAI, 100,000 for Anthropic, 20 MB of inline
body for Gemini) are far beyond a test's size, so each test lowers the fake's limit
(``fake.batches.limits``) and, for the dispatcher, the adapter's ``batch_limits``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from providers_helpers import KEYS, provider, request

from chainlang.providers.base import BatchLimits, ModelResponse, ProviderError
from chainlang.runtime.batchapi import BatchDispatcher
from chainlang.runtime.batchstore import BatchStore
from chainlang.testing.fake_provider.batches import BatchCaps

SPECS = {
    "openai": "openai:gpt-4o",
    "anthropic": "anthropic:claude-sonnet-4-5",
    "gemini": "gemini:gemini-2.5-flash",
}


def cid(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def lines_of(prov: Any, n: int) -> list[Any]:
    return [prov.batch_line(cid(i), request(prov, None, text=f"Question {i}?")) for i in range(n)]


# --------------------------------------------------------------------------- refusals


async def test_openai_fails_a_batch_of_too_many_requests_while_validating(fake) -> None:
    fake.batches.limits["openai"] = BatchCaps(lines=3)
    prov = provider(SPECS["openai"], fake)
    batch_id = await prov.submit_batch(lines_of(prov, 4))  # created, as at OpenAI
    state = await prov.batch_state(batch_id)
    await prov.aclose()
    assert state.status == "failed"
    assert "too_many_tasks" in state.message and "4 requests" in state.message
    raw = httpx2.get(f"{fake.openai_base_url}/batches/{batch_id}", headers=KEYS, timeout=10).json()
    assert raw["status"] == "failed"
    assert raw["errors"] == {
        "object": "list",
        "data": [
            {
                "code": "too_many_tasks",
                "message": "The input file has 4 requests; a batch accepts at most 3.",
                "param": None,
                "line": None,
            }
        ],
    }


async def test_openai_refuses_a_batch_file_over_its_size_at_upload(fake) -> None:
    prov = provider(SPECS["openai"], fake)
    lines = lines_of(prov, 3)
    fake.batches.limits["openai"] = BatchCaps(bytes=sum(x.size for x in lines) - 1)
    with pytest.raises(ProviderError) as err:
        await prov.submit_batch(lines)
    await prov.aclose()
    assert err.value.status == 400 and "File is too large." in err.value.message
    upload = fake.requests[-1]
    raw = httpx2.post(
        fake.openai_base_url + "/files",
        content=upload.body,
        headers={**KEYS, "content-type": upload.headers["content-type"]},
        timeout=10,
    )
    assert raw.status_code == 400
    assert raw.json() == {
        "error": {
            "message": "File is too large.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert not fake.batches.jobs  # nothing was created, nothing is paid


@pytest.mark.parametrize(
    ("caps", "status", "body"),
    [
        (
            BatchCaps(lines=3),
            400,
            {"type": "invalid_request_error",
             "message": "requests: a message batch holds at most 3 requests, got 4"},
        ),
        (
            BatchCaps(bytes=1000),
            413,
            {"type": "request_too_large",
             "message": "Request exceeds the maximum allowed number of bytes."},
        ),
    ],
)  # fmt: skip
async def test_anthropic_refuses_an_oversized_message_batch(fake, caps, status, body) -> None:
    fake.batches.limits["anthropic"] = caps
    prov = provider(SPECS["anthropic"], fake)
    with pytest.raises(ProviderError) as err:
        await prov.submit_batch(lines_of(prov, 4))
    await prov.aclose()
    assert err.value.status == status
    sent = fake.requests[-1]
    raw = httpx2.post(fake.base_url + sent.path, content=sent.body, headers=KEYS, timeout=10)
    assert raw.status_code == status
    assert raw.json() == {"type": "error", "error": body}
    assert not fake.batches.jobs


async def test_gemini_refuses_an_inline_batch_over_its_size(fake) -> None:
    fake.batches.limits["gemini"] = BatchCaps(bytes=1000)
    prov = provider(SPECS["gemini"], fake)
    with pytest.raises(ProviderError) as err:
        await prov.submit_batch(lines_of(prov, 4))
    await prov.aclose()
    assert err.value.status == 400
    sent = fake.requests[-1]
    raw = httpx2.post(fake.base_url + sent.path, content=sent.body, headers=KEYS, timeout=10)
    assert (raw.status_code, raw.json()) == (400, {"error": {
        "code": 400, "status": "INVALID_ARGUMENT",
        "message": "Request payload size exceeds the limit: 1000 bytes."}})  # fmt: skip
    assert not fake.batches.jobs


def test_the_fakes_batch_limits_are_the_contracts_by_default(fake) -> None:
    assert fake.batches.limits_of("openai") == BatchCaps(50_000, 200 * 2**20)
    assert fake.batches.limits_of("anthropic") == BatchCaps(100_000, 256 * 2**20)
    assert fake.batches.limits_of("gemini") == BatchCaps(None, 20 * 2**20)


async def test_contracts_off_accepts_an_oversized_batch(fake) -> None:
    fake.batches.limits["anthropic"] = BatchCaps(lines=3)
    fake.contracts = False
    try:
        prov = provider(SPECS["anthropic"], fake)
        await prov.submit_batch(lines_of(prov, 4))
        await prov.aclose()
    finally:
        fake.contracts = True
    assert len(fake.batches.jobs) == 1


# --------------------------------------------------------------------------- dispatching


def _sizes(fake: Any, family: str) -> list[int]:
    return [len(job.lines) for job in fake.batches.jobs.values() if job.family == family]


async def _dispatch_all(
    prov: Any, tmp_path: Path, questions: list[Any], events: list[str] | None = None
) -> list[Any]:
    """Every question through a real BatchDispatcher (quick flush and polling), answered."""
    dispatcher = BatchDispatcher(
        prov, BatchStore(tmp_path / "batches.sqlite"), flush_s=0.05, poll_s=0.01,
        on_event=events.append if events is not None else None,
    )  # fmt: skip
    try:
        return await asyncio.wait_for(
            asyncio.gather(*(dispatcher.send(q, 30) for q in questions)), 30
        )
    finally:
        await dispatcher.aclose()


@pytest.mark.parametrize("family", list(SPECS))
async def test_the_dispatcher_splits_questions_into_batches_the_fake_accepts(
    fake, tmp_path: Path, family: str
) -> None:
    fake.batches.limits[family] = BatchCaps(lines=4)
    prov = provider(SPECS[family], fake)
    prov.batch_limits = BatchLimits(max_lines=4, max_bytes=10**9)  # the adapter's, lowered
    events: list[str] = []
    questions = [request(prov, None, text=f"Question {i}? [depth]") for i in range(10)]
    answers = await _dispatch_all(prov, tmp_path, questions, events)
    assert all(isinstance(a, ModelResponse) and a.parsed for a in answers)
    assert sorted(_sizes(fake, family)) == [2, 4, 4]  # 10 questions, at most 4 per batch
    assert all(job.failure is None for job in fake.batches.jobs.values())
    assert sum("submitted batch" in e for e in events) == 3


async def test_the_dispatcher_keeps_a_batch_under_the_fakes_byte_limit(
    fake, tmp_path: Path
) -> None:
    prov = provider(SPECS["openai"], fake)
    size = max(x.size for x in lines_of(prov, 10))
    fake.batches.limits["openai"] = BatchCaps(bytes=3 * size + 10)
    prov.batch_limits = BatchLimits(max_lines=50_000, max_bytes=3 * size + 10)
    questions = [request(prov, None, text=f"Question {i}?") for i in range(10)]
    answers = await _dispatch_all(prov, tmp_path, questions)
    assert all(isinstance(a, ModelResponse) for a in answers)
    uploads = [r for r in fake.requests if r.path == "/v1/files" and r.method == "POST"]
    assert all(len(r.form["file"]) <= 3 * size + 10 for r in uploads)
    assert sorted(_sizes(fake, "openai")) == [1, 3, 3, 3]
    assert json.loads(uploads[0].form["file"].splitlines()[0])["url"] == "/v1/chat/completions"
