"""Pieces every adapter shares: error classification, Retry-After, usage, text parsing.

Kept apart from the adapters so that each adapter file reads as a pure
translation of one wire format.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx2

from chainlang.image import ImageData
from chainlang.language.answers import AnswerError, extract_json
from chainlang.providers.base import (
    FailureKind,
    ImagePart,
    Message,
    ModelRequest,
    ProviderError,
    TextPart,
    Usage,
)
from chainlang.providers.capabilities import image_tokens

_STATUS_KINDS: dict[int, FailureKind] = {
    400: "bad_request",
    401: "auth",
    403: "auth",
    404: "not_found",
    408: "timeout",
    409: "server",
    413: "bad_request",
    422: "bad_request",
    429: "rate_limit",
    # Anthropic "overloaded": the provider's trouble, not our send rate. A server error
    # retries with its own backoff and leaves the model's adaptive rate alone.
    529: "server",
}


# ---- secrets ------------------------------------------------------------------------

# A key fragment this long is redacted wherever it appears; shorter keys ("k" in tests)
# are not secrets worth hiding and would mangle ordinary text.
SECRET_FRAGMENT = 8
REDACTED = "[redacted]"
_secret_grams: set[str] = set()


def register_secret(key: str | None) -> None:
    """Remember an API key so that :func:`redact` hides it and its fragments."""
    if key and len(key) >= SECRET_FRAGMENT:
        n = SECRET_FRAGMENT
        _secret_grams.update(key[i : i + n] for i in range(len(key) - n + 1))


def redact(text: str) -> str:
    """``text`` with every run of characters that is part of a configured key replaced.

    Any substring of a key at least :data:`SECRET_FRAGMENT` long is found (all its
    windows of that length are windows of the key), so a provider that echoes a
    key, or half of one, in an error body does not put it in results or logs.
    Linear in ``len(text)``.
    """
    if not _secret_grams or not text or len(text) < SECRET_FRAGMENT:
        return text
    n = SECRET_FRAGMENT
    covered_to = -1
    spans: list[list[int]] = []
    for i in range(len(text) - n + 1):
        if text[i : i + n] in _secret_grams:
            if spans and i <= covered_to:
                spans[-1][1] = i + n
            else:
                spans.append([i, i + n])
            covered_to = i + n
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def kind_for_status(status: int) -> FailureKind:
    """The failure kind of an HTTP status (unknown 4xx are bad requests, 5xx server errors)."""
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    return "server" if status >= 500 else "bad_request"


def retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    Without either, rate-limit headers that say a quota is spent give the wait until
    it resets (:func:`quota_reset`): also evidence that the send rate caused the 429.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return quota_reset(lowered, now)
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


# (remaining, reset) header pairs of the quotas providers report with every reply.
_QUOTAS = [
    (f"x-ratelimit-remaining-{q}", f"x-ratelimit-reset-{q}") for q in ("requests", "tokens")
] + [
    (f"anthropic-ratelimit-{q}-remaining", f"anthropic-ratelimit-{q}-reset")
    for q in ("requests", "tokens", "input-tokens", "output-tokens")
]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def quota_reset(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until the latest spent quota resets, from lower-cased rate-limit headers.

    OpenAI says ``x-ratelimit-remaining-requests: 0`` with ``x-ratelimit-reset-requests:
    6m0s``; Anthropic ``anthropic-ratelimit-requests-remaining: 0`` with an RFC 3339 time.
    None when no quota is spent (or its reset cannot be read).
    """
    waits = []
    for remaining, reset in _QUOTAS:
        if headers.get(remaining, "").strip() != "0" or reset not in headers:
            continue
        wait = _reset_seconds(headers[reset].strip(), now)
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


def _reset_seconds(raw: str, now: float | None) -> float | None:
    parts = _DURATION.findall(raw)
    if parts and "".join(n + u for n, u in parts) == raw:  # "6m0s", "1.5s", "20ms"
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return max(0.0, when - (time.time() if now is None else now))


# What a provider says when a request broke one of its documented limits (the bodies the
# fake server answers with, from the providers' own errors: providers/contracts.py).
# Each pattern's match names the limit in the failure message.
_LIMIT_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"expected at most [\d,]+ [^.;]*",  # openai strict schema: enum values, properties
        r"\d+ levels of nesting exceeds limit of \d+",  # openai strict schema depth
        r"maximum context length is [\d,]+ tokens",  # openai, vllm
        r"prompt is too long: \d+ tokens > \d+ maximum",  # anthropic
        r"input length and `max_tokens` exceed context limit[^.;]*",  # anthropic
        r"at most \d+ image\(s\) may be provided in one request",  # vllm
        r"too many images[^.;]*",
        r"image exceeds [\d.]+ mb maximum[^.;]*",  # anthropic
        r"image dimensions exceed max allowed size[^.;]*",  # anthropic
        r"request exceeds the maximum allowed number of bytes",  # anthropic 413
        r"request payload size exceeds the limit[^.;]*",  # gemini
        r"input token count \(\d+\) exceeds the maximum[^.;]*",  # gemini
        r"schema is too complex[^.;]*|compiled grammar is too large",  # anthropic strict
        r"max_tokens: \d+ > \d+, which is the maximum allowed number of output tokens",
        r"max_tokens is too large: \d+",  # openai
        r"maxOutputTokens \d+ is above the model's limit of \d+",
        r"too many states for serving",  # gemini response schema
    )
)


def limit_broken(status: int | None, message: str) -> str | None:
    """The limit a 400/413 error body says the request broke (None: some other refusal).

    Such a failure is of kind ``contract``: resending the same request can only fail
    again, so it is never retried.
    """
    if status not in (400, 413):
        return None
    for pattern in _LIMIT_PATTERNS:
        match = pattern.search(message)
        if match:
            return match.group(0).strip()
    return "request too large" if status == 413 else None


def transport_error(exc: httpx2.HTTPError, provider: str) -> ProviderError:
    """Classify a raw httpx2 exception (google-genai lets them through, and so does a
    streamed download cut off after the SDK handed the stream over)."""
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderError("timeout", f"{provider}: no answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx2.TransportError):
        return ProviderError("connection", f"{provider}: connection failed: {cause_text(exc)}")
    return ProviderError("connection", f"{provider}: {exc}")


def cause_text(exc: BaseException) -> str:
    """What went wrong, never empty: the first exception in the chain with a message.

    A connection reset often arrives as an exception whose ``str`` is empty (its
    message is on the exception it was raised from), so walk ``__cause__`` and
    ``__context__``; with no message anywhere, name the innermost exception's type.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    last = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip()
        if text:
            return f"{type(current).__name__}: {text}"
        last = current
        current = current.__cause__ or current.__context__
    return type(last).__name__


def stainless_error(exc: BaseException, sdk: Any, provider: str) -> ProviderError:
    """Classify an exception of the OpenAI or Anthropic SDK (same generated error tree).

    Anything else the SDK raises (no timeout, connection failure or HTTP error
    status) is a bad request.
    """
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError("timeout", f"{provider}: no answer in time")
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(
            "connection", f"{provider}: connection failed: {cause_text(exc.__cause__ or exc)}"
        )
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        limit = limit_broken(status, str(exc.message))
        said = f"broke a request limit ({limit}): " if limit else ""
        return ProviderError(
            "contract" if limit else kind_for_status(status),
            f"{provider}: HTTP {status}: {said}{exc.message}",
            status=status,
            retry_after=retry_after(exc.response.headers),
        )
    return ProviderError("bad_request", f"{provider}: {exc}")


@contextlib.contextmanager
def stainless_errors(sdk: Any, base: type[Exception], provider: str) -> Iterator[None]:
    """Raise the :class:`ProviderError` of a failed OpenAI or Anthropic SDK call.

    One mechanism for every call of an adapter, synchronous or batch, so that no
    failure escapes unclassified (the batch dispatcher only handles ProviderError).

    Args:
        sdk: the SDK module (``openai`` or ``anthropic``).
        base: the SDK's root exception (``openai.OpenAIError``, ``anthropic.AnthropicError``).
        provider: the adapter's name, for the messages.
    """
    try:
        yield
    except base as exc:
        raise stainless_error(exc, sdk, provider) from exc
    except httpx2.HTTPError as exc:
        raise transport_error(exc, provider) from exc
    except json.JSONDecodeError as exc:
        raise unreadable(provider, exc) from exc


def sent_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON body an OpenAI or Anthropic SDK call with ``kwargs`` sends.

    Both SDKs merge ``extra_body`` on top of the named arguments; a batch line
    must carry exactly that body.
    """
    body = {k: v for k, v in kwargs.items() if k != "extra_body"}
    return {**body, **(kwargs.get("extra_body") or {})}


def parse_answer_text(text: str) -> Any:
    """Decode a reply's JSON tolerantly; None if there is none (the scheduler re-asks)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return extract_json(text)
    except AnswerError:
        return None


def estimate_image_tokens(request: ModelRequest) -> int:
    """Image tokens of every image in the request, by the provider's published rule."""
    return sum(
        image_tokens(request.model, part.image.size, part.detail)
        for msg in request.messages
        for part in msg.parts
        if isinstance(part, ImagePart)
    )


def usage(
    request: ModelRequest | None,
    inp: int | None,
    out: int | None,
    cached: int | None,
    written: int | None = 0,
) -> Usage:
    """A :class:`Usage` from reported counts (None → 0) plus the image-token estimate.

    ``cached`` are prompt-cache reads and ``written`` prompt-cache writes, both
    included in ``inp``.

    Without a request (a batch result line) the estimate is left at 0: the batch
    dispatcher adds it from the request it answers.
    """
    return Usage(
        input_tokens=int(inp or 0),
        output_tokens=int(out or 0),
        cached_input_tokens=int(cached or 0),
        image_tokens=estimate_image_tokens(request) if request is not None else 0,
        cache_write_tokens=int(written or 0),
    )


def system_text(messages: tuple[Message, ...]) -> str | None:
    """The text of all system messages joined, or None if there are none."""
    texts = [
        p.text for m in messages if m.role == "system" for p in m.parts if isinstance(p, TextPart)
    ]
    return "\n\n".join(texts) if texts else None


def conversation(messages: tuple[Message, ...]) -> list[Message]:
    """The non-system messages, in order."""
    return [m for m in messages if m.role != "system"]


def first_image(request: ModelRequest) -> ImageData:
    """The first image of a request (the input of an image-generation answer)."""
    for msg in request.messages:
        for part in msg.parts:
            if isinstance(part, ImagePart):
                return part.image
    raise ProviderError("bad_request", "an image-generation ask needs an input image")


def prompt_text(request: ModelRequest) -> str:
    """All text parts of a request, joined (the prompt of an image-generation answer)."""
    return "\n\n".join(p.text for m in request.messages for p in m.parts if isinstance(p, TextPart))


def truncated(provider: str, use: Usage, text: str) -> ProviderError:
    """The error for an answer cut off by the token limit."""
    head = " ".join(text.split())[:80]
    return ProviderError(
        "truncated", f"{provider}: answer cut off by the token limit: {head!r}", usage=use
    )


def refused(provider: str, use: Usage, why: str) -> ProviderError:
    """The error for a model that declined to answer."""
    return ProviderError("refused", f"{provider}: the model declined: {why}", usage=use)


def unreadable(provider: str, exc: Exception) -> ProviderError:
    """The error for a 200 reply whose body is not JSON (a broken proxy or server)."""
    return ProviderError("server", f"{provider}: the reply body is not JSON: {exc}")


def no_result_line(provider: str, batch_id: str, custom_id: str) -> ProviderError:
    """The error for a custom id that an ended batch returned no result line for."""
    return ProviderError(
        "server", f"{provider}: batch {batch_id} has no result line for {custom_id}"
    )
