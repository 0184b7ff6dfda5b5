"""Anthropic Messages API.

Structured output by forced tool use (default: the tool's ``input_schema`` is
the answer schema and ``tool_choice`` forces it), or natively with
``output_config`` when the spec says ``api=native``. The static prefix (system
prompt and the leading text of the first user turn: instructions, label lists)
carries ``cache_control`` so repeated questions read it from the prompt cache.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic

from chainlang.providers import common
from chainlang.providers.base import (
    ImagePart,
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    ProviderError,
    Usage,
)
from chainlang.providers.capabilities import prepare_image
from chainlang.providers.registry import ProviderSettings
from chainlang.types import ImageT
from chainlang.vision.encode import Encoder

DEFAULT_MAX_TOKENS = 4000  # the Messages API requires max_tokens
EPHEMERAL = {"type": "ephemeral"}


class AnthropicProvider:
    """Adapter for ``anthropic:MODEL`` (one client, reused across calls)."""

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
        if isinstance(request.answer_type, ImageT):
            raise ProviderError(
                "bad_request", f"{self.name}: Anthropic models cannot answer with images"
            )
        try:
            resp = await self.client.messages.create(**self.body(request), timeout=timeout)
        except anthropic.AnthropicError as exc:
            err = common.stainless_error(exc, anthropic, self.name)
            raise (err or ProviderError("bad_request", f"{self.name}: {exc}")) from exc
        except json.JSONDecodeError as exc:
            raise common.unreadable(self.name, exc) from exc
        return self.response(request, resp)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()

    # ------------------------------------------------------------------ request

    def body(self, request: ModelRequest) -> dict[str, Any]:
        """Keyword arguments of ``messages.create`` for ``request``."""
        p = request.params
        body: dict[str, Any] = {
            "model": self.ref.model,
            "max_tokens": p.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": self._messages(request.messages),
        }
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
        if self.ref.api == "native":
            return {"output_config": {"format": {"type": "json_schema", "schema": request.schema}}}
        tool = {
            "name": request.schema_name,
            "description": "Record the answer to the question.",
            "input_schema": request.schema,
        }
        return {"tools": [tool], "tool_choice": {"type": "tool", "name": request.schema_name}}

    def _messages(self, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
        out = [self._message(m) for m in common.conversation(messages)]
        if out and out[0]["role"] == "user":
            _mark_static_prefix(out[0]["content"])
        return out

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

    def response(self, request: ModelRequest, resp: Any) -> ModelResponse:
        """Translate a ``Message`` into a :class:`ModelResponse` (or raise)."""
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


def _mark_static_prefix(content: list[dict[str, Any]]) -> None:
    """Put a cache breakpoint on the last text block before the first image."""
    last_text = None
    for i, block in enumerate(content):
        if block["type"] == "image":
            break
        last_text = i
    if last_text is not None:
        content[last_text]["cache_control"] = EPHEMERAL


def _usage(request: ModelRequest, u: Any) -> Usage:
    if u is None:
        return common.usage(request, 0, 0, 0)
    read = getattr(u, "cache_read_input_tokens", 0) or 0
    written = getattr(u, "cache_creation_input_tokens", 0) or 0
    # Anthropic's input_tokens excludes cache reads and writes; report the total
    # like OpenAI does, with the cached share separately.
    total = (u.input_tokens or 0) + read + written
    return common.usage(request, total, u.output_tokens, read)
