"""Every fault of the fake server, through every real SDK, becomes the right ProviderError."""

from __future__ import annotations

import email.utils

import pytest
from providers_helpers import provider, request

from chainlang.providers.base import ProviderError
from chainlang.providers.common import kind_for_status, retry_after

SPECS = [
    "openai:gpt-4o",
    "openai:gpt-4o:api=responses",
    "anthropic:claude-x",
    "gemini:g",
    "openai-compat:m@{url}",
]
FAULTS = [
    ("429", "rate_limit", 429),
    ("500", "server", 500),
    ("503", "server", 503),
    ("529", "server", 529),  # overloaded: not caused by our rate
    ("400", "bad_request", 400),
    ("401", "auth", 401),
    ("403", "auth", 403),
    ("404", "not_found", 404),
    ("drop", "connection", None),
    ("garbage", "server", None),
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(("fault", "kind", "status"), FAULTS)
async def test_fault_translation(fake, image, spec, fault, kind, status) -> None:
    prov = provider(spec, fake)
    fake.faults.push(fault, retry_after=3 if fault == "429" else None)
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image), 5)
    await prov.aclose()
    e = err.value
    assert (e.kind, e.status) == (kind, status)
    assert e.retry_after == (3.0 if fault == "429" else None)
    if status:
        assert "injected fault" in e.message  # the provider's own words are kept
    if fault == "drop":  # a reset names its cause, never "connection failed: "
        cause = e.message.partition("connection failed:")[2].strip()
        assert cause, e.message
    assert len(fake.requests) == 1  # SDK retries are off


@pytest.mark.parametrize("spec", SPECS)
async def test_timeout(fake, image, spec) -> None:
    prov = provider(spec, fake)
    fake.faults.push("timeout")
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image), 0.3)
    await prov.aclose()
    assert err.value.kind == "timeout" and err.value.retryable


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ("openai:gpt-4o", "/v1/batches"),
        ("openai:gpt-4o", "/content"),
        ("anthropic:claude-x", "/v1/messages/batches/"),
        ("anthropic:claude-x", "/results"),
        ("gemini:g", "/v1beta/batches/"),
    ],
)
async def test_batch_calls_turn_a_reply_that_is_not_json_into_a_server_error(
    fake, image, spec, path
) -> None:
    # The batch dispatcher handles only ProviderError: anything else ends its polling
    # task and leaves the batch's questions waiting out the batch timeout (48 h).
    prov = provider(spec, fake)
    ids = ["a" * 64]
    batch_id = await prov.submit_batch([prov.batch_line(ids[0], request(prov, image))])
    while (await prov.batch_state(batch_id)).status == "running":
        pass
    fake.faults.push("garbage", path=path)
    with pytest.raises(ProviderError) as err:
        await prov.batch_state(batch_id)
        await prov.batch_results(batch_id, ids)
    await prov.aclose()
    assert err.value.kind == "server" and "not JSON" in err.value.message


async def test_connection_refused(fake, image) -> None:
    from chainlang.providers.registry import make_provider, parse_model, resolve_credentials

    ref = parse_model("openai-compat:m@http://127.0.0.1:9/v1")
    prov = make_provider(ref, resolve_credentials(ref, {}))
    with pytest.raises(ProviderError) as err:
        await prov.send(request(prov, image), 2)
    await prov.aclose()
    assert err.value.kind == "connection"


def test_retry_after_header_forms() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after({"retry-after": date}, now=1_000_000) == pytest.approx(30.0)
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (413, "bad_request"),
        (422, "bad_request"),
        (418, "bad_request"),
        (502, "server"),
        (529, "server"),
    ],
)
def test_status_kinds(status, kind) -> None:
    assert kind_for_status(status) == kind


def test_spent_quota_headers_give_the_wait_until_reset() -> None:
    # A 429 without Retry-After but with a spent quota is rate-caused: wait for its reset.
    openai_style = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    assert retry_after(openai_style) == 360.0
    tokens = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.5s"}
    assert retry_after(tokens) == 1.5
    date = "2026-01-01T00:00:30Z"
    anthropic_style = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": date,
    }
    start = email.utils.parsedate_to_datetime("Thu, 01 Jan 2026 00:00:00 GMT").timestamp()
    assert retry_after(anthropic_style, now=start) == pytest.approx(30.0)
    assert retry_after({**openai_style, "x-ratelimit-remaining-requests": "12"}) is None
    assert retry_after({**openai_style, "retry-after": "7"}) == 7.0  # Retry-After wins
    assert retry_after({"x-ratelimit-remaining-requests": "0"}) is None  # no reset: no guess
