"""Anthropic Messages API.

Structured output by forced tool use (default: the tool's ``input_schema`` is
the answer schema and ``tool_choice`` forces it), or natively with
``output_config`` when the spec says ``api=native``. Prompt caching: the system
block, and the last block of a batched ask's shared prefix (the full image a batch of
crops shares), carry ``cache_control``, so the requests of an item read them from the
cache (``providers/prompt_cache.py`` has the rules and sources).

The same bodies can go through the Message Batches API instead (half price):
each batch line's ``params`` is the synchronous body, and each result line's
message goes through the synchronous response translator.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import anthropic

from chainlang.language.answers import without_bounds
from chainlang.language.types import ImageT
from chainlang.providers import common
from chainlang.providers.base import (
    BatchLimits,
    BatchLine,
    BatchState,
    ImagePart,
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    ProviderError,
    Usage,
)
from chainlang.providers.capabilities import prepare_image
from chainlang.providers.contracts import ANTHROPIC
from chainlang.providers.prompt_cache import shared_end
from chainlang.providers.registry import ProviderSettings
from chainlang.vision.encode import Encoder

DEFAULT_MAX_TOKENS = 4000  # the Messages API requires max_tokens
EPHEMERAL = {"type": "ephemeral"}

# The HTTP status the synchronous API sends with each error type, so that an
# errored batch line is classified exactly like the same error of a sync call.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicProvider:
    """Adapter for ``anthropic:MODEL`` (one client, reused across calls)."""

    # the contract's 100,000 requests or 256 MB per batch, with margin on the size
    batch_limits = BatchLimits(
        ANTHROPIC.batch_lines or 0, (ANTHROPIC.batch_bytes or 0) - 16 * 2**20
    )

    def __init__(
        self, ref: ModelRef, settings: ProviderSettings, *, encoder: Encoder | None = None
    ) -> None:
        self.ref = ref
        self.name = str(ref)
        self.encoder = encoder if encoder is not None else Encoder()
        self.client = anthropic.AsyncAnthropic(
            api_key=settings.api_key,
            base_url=settings.base_url,
            max_retries=0,  # the scheduler is the only retry owner
            timeout=settings.timeout,
        )

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Send ``request`` once; raise :class:`ProviderError` on any failure."""
        self._check_answerable(request)
        with self._sdk_errors():
            resp = await self.client.messages.create(**self.body(request), timeout=timeout)
        return self.response(request, resp)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()

    def _sdk_errors(self) -> contextlib.AbstractContextManager[None]:
        """Classify a failed SDK call (send and every batch call) as a ProviderError.

        This covers a batch's results download cut off mid-stream, which the SDK
        lets through as a raw transport error.
        """
        return common.stainless_errors(anthropic, anthropic.AnthropicError, self.name)

    def _check_answerable(self, request: ModelRequest) -> None:
        if isinstance(request.answer_type, ImageT):
            raise ProviderError(
                "bad_request", f"{self.name}: Anthropic models cannot answer with images"
            )

    # ------------------------------------------------------------------ batches

    def batch_line(self, custom_id: str, request: ModelRequest) -> BatchLine:
        """One Message Batches request: ``custom_id`` and the synchronous body as ``params``."""
        self._check_answerable(request)
        payload = {"custom_id": custom_id, "params": common.sent_body(self.body(request))}
        # Serialized as the SDK does (compact, UTF-8), plus the comma between lines.
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return BatchLine(custom_id, payload, len(text.encode()) + 1)

    async def submit_batch(self, lines: list[BatchLine]) -> str:
        """Create a Message Batch of ``lines``; return its id."""
        with self._sdk_errors():
            batch = await self.client.messages.batches.create(
                requests=[line.payload for line in lines]
            )
        return batch.id

    async def batch_state(self, batch_id: str) -> BatchState:
        """``running`` while in progress or canceling; ``ended`` once results are readable.

        Anthropic has no failed status: a batch that ran out its 24 hours, or was
        canceled, ends with its unprocessed lines ``expired`` or ``canceled``. One
        that ended with no line processed at all is reported ``failed``.
        """
        with self._sdk_errors():
            batch = await self.client.messages.batches.retrieve(batch_id)
        if batch.processing_status != "ended":
            return BatchState(batch_id, "running", batch.processing_status)
        counts = batch.request_counts
        if counts.succeeded + counts.errored > 0:
            return BatchState(batch_id, "ended")
        why = f"{counts.expired} expired, {counts.canceled} canceled"
        return BatchState(batch_id, "failed", f"{self.name}: batch {batch_id} ended unrun: {why}")

    async def batch_results(
        self, batch_id: str, custom_ids: list[str]
    ) -> dict[str, ModelResponse | ProviderError]:
        """Each line's answer or failure, by custom id in submit order (lines come in any order).

        The answers' usage has ``image_tokens`` 0: image tokens are the dispatcher's to
        estimate, from the request each answer is for.
        """
        wanted = set(custom_ids)
        got: dict[str, ModelResponse | ProviderError] = {}
        with self._sdk_errors():
            lines = await self.client.messages.batches.results(batch_id)
            async for line in lines:
                if line.custom_id in wanted:
                    got[line.custom_id] = self._line_result(line.result)
        return {
            cid: got[cid] if cid in got else common.no_result_line(self.name, batch_id, cid)
            for cid in custom_ids
        }

    def _line_result(self, result: Any) -> ModelResponse | ProviderError:
        """Translate one result line, like the synchronous answer it stands for."""
        if result.type == "succeeded":
            try:
                return self.response(None, result.message)
            except ProviderError as err:
                return err
        if result.type == "errored":
            return self._line_error(result.error.error)
        if result.type == "expired":
            return ProviderError("timeout", f"{self.name}: batch line expired unprocessed")
        return ProviderError("server", f"{self.name}: batch line {result.type}")

    def _line_error(self, error: Any) -> ProviderError:
        kind = getattr(error, "type", "api_error")
        status = _ERROR_STATUS.get(kind, 500)
        message = getattr(error, "message", "")
        return ProviderError(
            common.kind_for_status(status), f"{self.name}: {kind}: {message}", status=status
        )

    # ------------------------------------------------------------------ request

    def body(self, request: ModelRequest) -> dict[str, Any]:
        """Keyword arguments of ``messages.create`` for ``request``."""
        p = request.params
        body: dict[str, Any] = {
            "model": self.ref.model,
            "max_tokens": p.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": self._messages(request.messages),
        }
        _mark_shared_prefix(body["messages"], shared_end(request))
        system = common.system_text(request.messages)
        if system is not None:
            body["system"] = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
        extra = dict(p.extra)
        # This SDK version no longer lists `temperature` (recent models fix it), but
        # the API takes it for the models the paper used; `temperature=off` omits it.
        if p.temperature is not None and dict(self.ref.options).get("temperature") != "off":
            extra.setdefault("temperature", p.temperature)
        if extra:
            body["extra_body"] = extra
        if request.schema is not None:
            body.update(self._structured(request))
        return body

    def _structured(self, request: ModelRequest) -> dict[str, Any]:
        if self.ref.api == "native" and request.schema is not None:
            # Native structured outputs reject range and length keywords: they become
            # descriptions, and validation still enforces them on the reply.
            schema = without_bounds(request.schema)
            return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}
        tool = {
            "name": request.schema_name,
            "description": "Record the answer to the question.",
            "input_schema": request.schema,
        }
        return {"tools": [tool], "tool_choice": {"type": "tool", "name": request.schema_name}}

    def _messages(self, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
        return [self._message(m) for m in common.conversation(messages)]

    def _message(self, msg: Message) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for part in msg.parts:
            if isinstance(part, ImagePart):
                data, mime, _ = prepare_image(
                    part.image, self.ref, part.detail, encoder=self.encoder
                )
                source = {
                    "type": "base64",
                    "media_type": mime,
                    "data": base64.b64encode(data).decode(),
                }
                content.append({"type": "image", "source": source})
            else:
                content.append({"type": "text", "text": part.text})
        return {"role": msg.role, "content": content}

    # ------------------------------------------------------------------ response

    def response(self, request: ModelRequest | None, resp: Any) -> ModelResponse:
        """Translate a ``Message`` into a :class:`ModelResponse` (or raise).

        Without ``request`` (a batch result) the usage has no image-token estimate.
        """
        use = _usage(request, resp.usage)
        text, parsed = "", None
        for block in resp.content or []:
            if block.type == "tool_use":
                parsed = block.input
                text = json.dumps(block.input)
                break
            if block.type == "text":
                text += block.text
        if resp.stop_reason == "refusal":
            raise common.refused(self.name, use, text or "refusal")
        if resp.stop_reason == "max_tokens":
            raise common.truncated(self.name, use, text)
        if parsed is None:
            parsed = common.parse_answer_text(text)
        return ModelResponse(text=text, parsed=parsed, usage=use, provider_id=resp.id)


def _mark_shared_prefix(messages: list[dict[str, Any]], end: int | None) -> None:
    """Put a cache breakpoint on the last block of a batched ask's shared prefix (the
    full image beside its crops), which every request of the item repeats. A request
    without one gets none beyond the system text's: a breakpoint on a prefix that never
    repeats would pay the cache-write premium for nothing."""
    if end is None:
        return
    for msg in messages:
        if end < len(msg["content"]):
            msg["content"][end]["cache_control"] = EPHEMERAL
            return
        end -= len(msg["content"])


def _usage(request: ModelRequest | None, u: Any) -> Usage:
    if u is None:
        return common.usage(request, 0, 0, 0)
    read = getattr(u, "cache_read_input_tokens", 0) or 0
    written = getattr(u, "cache_creation_input_tokens", 0) or 0
    # Anthropic's input_tokens excludes cache reads and writes; report the total
    # like OpenAI does, with the cached share separately.
    total = (u.input_tokens or 0) + read + written
    return common.usage(request, total, u.output_tokens, read, written)
