"""Any OpenAI-compatible server (vLLM, Ollama, LM Studio, Together, …).

Chat Completions through the OpenAI SDK pointed at the spec's base URL. By
default the answer schema is sent as ``response_format`` json_schema (vLLM
and recent Ollama enforce it). With the spec option ``schema=off`` the
schema is replaced by plain-text instructions from
:func:`chainlang.language.answers.instructions_for`, appended to the last user turn,
and the JSON is dug out of the reply with :func:`chainlang.language.answers.extract_json`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chainlang.errors import UsageError
from chainlang.language.answers import instructions_for
from chainlang.providers.base import Message, ModelRef, ModelRequest, TextPart
from chainlang.providers.openai import OpenAIProvider
from chainlang.providers.registry import ProviderSettings
from chainlang.vision.encode import Encoder


class OpenAICompatProvider(OpenAIProvider):
    """Adapter for ``openai-compat:MODEL@BASE_URL``."""

    def __init__(
        self, ref: ModelRef, settings: ProviderSettings, *, encoder: Encoder | None = None
    ) -> None:
        schema_opt = dict(ref.options).get("schema", "on")
        if schema_opt not in ("on", "off"):
            raise UsageError(f"{ref}: schema={schema_opt!r} must be 'on' or 'off'")
        self.use_schema = schema_opt == "on"
        super().__init__(ref, settings, encoder=encoder)

    def chat_body(self, request: ModelRequest) -> dict[str, Any]:
        """Chat body; without schema support the schema becomes instructions."""
        if self.use_schema or request.schema is None:
            return super().chat_body(request)
        text = instructions_for(request.answer_type)
        stripped = replace(request, messages=_append_text(request.messages, text), schema=None)
        return super().chat_body(stripped)

    def _is_reasoning(self) -> bool:
        # Local servers know max_tokens and temperature for every model;
        # OpenAI's reasoning-model rules do not apply to them.
        return False


def _append_text(messages: tuple[Message, ...], text: str) -> tuple[Message, ...]:
    """Add ``text`` as the last part of the last user message (or a new user turn)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            msg = messages[i]
            updated = Message(role="user", parts=(*msg.parts, TextPart(text)))
            return (*messages[:i], updated, *messages[i + 1 :])
    return (*messages, Message(role="user", parts=(TextPart(text),)))
