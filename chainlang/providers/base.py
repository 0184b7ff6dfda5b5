"""The neutral request and response every provider translates.

The interpreter builds a :class:`ModelRequest` for every ``ask``; the
scheduler owns everything that happens to it (cache, journal, limits,
retries, re-asks, accounting) and hands it to a :class:`Provider`, whose
only job is to translate it to its wire format, send it once, and translate
the answer back. A provider never retries, never sleeps, never caches.

A provider signals failure by raising :class:`ProviderError` with a
``kind`` the scheduler uses to decide whether to retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from chainlang.image import ImageData
from chainlang.language.types import Type

Role = Literal["system", "user", "assistant"]
Detail = Literal["high", "low", "auto"]
Finish = Literal["stop", "length", "refusal", "content_filter", "other"]
FailureKind = Literal[
    "rate_limit",  # 429 / RESOURCE_EXHAUSTED: retry after a delay
    "server",  # 5xx, 529 overloaded: retry
    "timeout",  # no answer in time: retry
    "connection",  # dropped / refused connection: retry
    "bad_request",  # 400 / 413 / 422: never retry
    "contract",  # the request broke one of the provider's documented limits: never retry
    "auth",  # 401 / 403: never retry
    "not_found",  # 404 (unknown model): never retry
    "refused",  # the model declined to answer: never retry
    "invalid_answer",  # answer does not fit its type after all re-asks
    "truncated",  # answer cut off by the token limit
]
RETRYABLE: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "connection"})


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ImagePart:
    image: ImageData
    detail: Detail = "high"
    kind: Literal["image"] = "image"


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Params:
    """Sampling parameters. ``None`` means "provider default"."""

    temperature: float | None = 0.0
    max_tokens: int | None = 4000
    seed: int | None = None
    reasoning_effort: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()  # provider-specific passthrough, sorted


@dataclass(frozen=True, slots=True)
class ModelRef:
    """``provider:model[@base_url]`` parsed; ``api`` selects e.g. chat vs responses."""

    provider: str  # openai | anthropic | gemini | openai-compat | oracle | random | specialist
    model: str
    base_url: str | None = None
    api: str | None = None
    options: tuple[tuple[str, str], ...] = ()  # e.g. (("flip", "0.3"),) for oracle:flip=0.3

    def __str__(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options)
        s = f"{self.provider}:{self.model}" if self.model else self.provider
        if opts:
            s += ":" + opts
        if self.base_url:
            s += "@" + self.base_url
        return s


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One question to one model.

    ``answer_type`` is the declared answer; ``schema`` is its JSON Schema
    (computed once by ``chainlang.language.answers.schema_for``). ``oracle`` carries the
    truth-derived answer for simulated answerers (never sent to a real
    provider, and not part of the cache key for real providers).
    ``questions``, set for keyed (batched) requests to simulated answerers,
    holds one digest per key: that key's question as if it were asked alone,
    so a simulated answer depends on the question and not on its place in the
    batch. It is never sent, and not part of the cache key (the messages are).
    """

    model: ModelRef
    messages: tuple[Message, ...]
    answer_type: Type
    schema: dict[str, Any] | None
    schema_name: str = "answer"
    params: Params = field(default_factory=Params)
    sample_index: int = 0
    # ``ask p(...) samples K``: which of the ask's K samples (0 for an ask without one);
    # separate from ``sample_index`` (``--samples``) so the two compose without colliding
    ask_sample: int = 0
    oracle: Any = None
    origin: str | None = None  # "chains/depth.chain:31:5" for error messages
    questions: tuple[str, ...] = ()  # keyed requests: one digest per key, keys in order
    # What was rewritten to fit the provider's contract (providers/conformance.py), for
    # the plan to say; never sent, and not part of the cache key (messages and schema are).
    adapted: tuple[str, ...] = ()
    # How many leading parts (counted over the messages in order, system first) are the
    # ask's shared arguments, before its first per-key (``each``) part: the prefix the
    # requests of a batched ask repeat (the full image beside its crops). 0: not keyed.
    # Never sent and not in the cache key; adapters put a cache breakpoint after it.
    shared_parts: int = 0
    # simulated answerers only: the truth values behind the oracle answer, by answer path
    # (``"near"``, ``"3.right"``; see chainlang/language/graded.py), for the noisy answerers
    graded: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0  # prompt-cache reads, included in input_tokens
    image_tokens: int = 0  # estimated where the provider does not say
    # prompt-cache writes, included in input_tokens (Anthropic bills them at a premium)
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.image_tokens + other.image_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """What came back. ``parsed`` is the decoded JSON (not yet validated) or None."""

    text: str
    parsed: Any
    usage: Usage
    finish: Finish = "stop"
    image: bytes | None = None  # for image-generation answers (PNG bytes)
    provider_id: str | None = None


class ProviderError(Exception):
    """A classified failure of one provider call.

    Args:
        kind: what went wrong; decides whether the scheduler retries.
        message: human-readable cause, including the provider's own words.
        status: HTTP status if there was one.
        retry_after: seconds the provider asked us to wait, if it said.
        usage: tokens spent by the failed call, if the provider reported them.
    """

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.usage = usage or Usage()

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __reduce__(self):  # keep errors picklable across process pools
        return (
            _rebuild_error,
            (self.kind, self.message, self.status, self.retry_after, self.usage),
        )


def _rebuild_error(kind, message, status, retry_after, usage) -> ProviderError:
    return ProviderError(kind, message, status=status, retry_after=retry_after, usage=usage)


class Provider(Protocol):
    """A translation-only adapter for one provider and model."""

    name: str

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Send ``request`` once and return the answer, or raise ProviderError."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


# --------------------------------------------------------------------------- batch APIs


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """What one submitted batch may hold (the provider's published limits, with margin)."""

    max_lines: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One request translated for a batch: the provider's line and its size in bytes."""

    custom_id: str
    payload: Any
    size: int


@dataclass(frozen=True, slots=True)
class BatchState:
    """Where a submitted batch stands.

    ``running``: not finished yet; ``ended``: its results can be read (each line
    succeeded or failed on its own); ``failed``: the whole batch failed, expired or
    was cancelled, and no line has a result (``message`` says why).
    """

    batch_id: str
    status: Literal["running", "ended", "failed"]
    message: str = ""


class BatchProvider(Protocol):
    """A provider that can also dispatch requests through its batch API.

    Like :class:`Provider`, it only translates: the same request body as a
    synchronous call goes into each line, and each result line comes back through
    the same response translator. Submitting, polling and collecting are single
    SDK calls that raise :class:`ProviderError` on failure; the
    :class:`~chainlang.runtime.batchapi.BatchDispatcher` owns the waiting.
    """

    name: str
    batch_limits: BatchLimits

    def batch_line(self, custom_id: str, request: ModelRequest) -> BatchLine:
        """Translate ``request`` into one line of a batch, keyed by ``custom_id``."""
        ...

    async def submit_batch(self, lines: list[BatchLine]) -> str:
        """Submit one batch; return the provider's batch id."""
        ...

    async def batch_state(self, batch_id: str) -> BatchState:
        """Ask once where the batch stands."""
        ...

    async def batch_results(
        self, batch_id: str, custom_ids: list[str]
    ) -> dict[str, ModelResponse | ProviderError]:
        """Each line's answer, or its failure, by custom id (``custom_ids`` in submit order)."""
        ...

    async def aclose(self) -> None:
        """Release the SDK client (the dispatcher closes its provider when it closes)."""
        ...
