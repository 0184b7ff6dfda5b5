"""OpenAI: Chat Completions (default), Responses (``api=responses``), and images.edit.

Translation only: one SDK call per :meth:`OpenAIProvider.send`, SDK retries off.
Structured output uses strict ``json_schema``; reasoning models (o-series,
gpt-5) get ``max_completion_tokens`` and ``reasoning_effort`` and no
temperature. A ``length`` finish raises ``truncated``, a refusal ``refused``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import openai

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
from chainlang.providers.capabilities import encode_png, prepare_image
from chainlang.providers.registry import ProviderSettings
from chainlang.types import ImageT
from chainlang.vision.encode import Encoder

REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
IMAGE_SIZE = "1024x1024"


def is_reasoning_model(model: str) -> bool:
    """True for models that take ``max_completion_tokens`` and no temperature."""
    return model.startswith(REASONING_PREFIXES)


class OpenAIProvider:
    """Adapter for ``openai:MODEL`` (one client, reused across calls)."""

    def __init__(
        self, ref: ModelRef, settings: ProviderSettings, *, encoder: Encoder | None = None
    ) -> None:
        self.ref = ref
        self.name = str(ref)
        self.encoder = encoder if encoder is not None else Encoder()
        self.client = openai.AsyncOpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            max_retries=0,  # the scheduler is the only retry owner
            timeout=settings.timeout,
        )

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Send ``request`` once; raise :class:`ProviderError` on any failure."""
        try:
            if isinstance(request.answer_type, ImageT):
                return await self._edit_image(request, timeout)
            if self.ref.api == "responses":
                return await self._responses(request, timeout)
            return await self._chat(request, timeout)
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        except json.JSONDecodeError as exc:
            raise common.unreadable(self.name, exc) from exc

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()

    def _error(self, exc: openai.OpenAIError) -> ProviderError:
        err = common.stainless_error(exc, openai, self.name)
        return err or ProviderError("bad_request", f"{self.name}: {exc}")

    # ------------------------------------------------------------------ chat

    def chat_body(self, request: ModelRequest) -> dict[str, Any]:
        """Keyword arguments of ``chat.completions.create`` for ``request``."""
        body: dict[str, Any] = {
            "model": self.ref.model,
            "messages": [self._chat_message(m) for m in request.messages],
        }
        if request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.schema,
                    "strict": True,
                },
            }
        body.update(self._sampling(request, "max_completion_tokens", "max_tokens"))
        return body

    def _chat_message(self, msg: Message) -> dict[str, Any]:
        if msg.role != "user" or not any(isinstance(p, ImagePart) for p in msg.parts):
            # system/assistant turns are plain text; so are text-only user turns
            return {"role": msg.role, "content": "\n\n".join(_texts(msg))}
        content = []
        for part in msg.parts:
            if isinstance(part, ImagePart):
                url = self._data_url(part)
                content.append(
                    {"type": "image_url", "image_url": {"url": url, "detail": part.detail}}
                )
            else:
                content.append({"type": "text", "text": part.text})
        return {"role": msg.role, "content": content}

    def _data_url(self, part: ImagePart) -> str:
        data, mime, _ = prepare_image(part.image, self.ref, part.detail, encoder=self.encoder)
        return f"data:{mime};base64,{base64.b64encode(data).decode()}"

    def _sampling(
        self, request: ModelRequest, reasoning_key: str, plain_key: str
    ) -> dict[str, Any]:
        p = request.params
        out: dict[str, Any] = {}
        if is_reasoning_model(self.ref.model):
            if p.max_tokens is not None:
                out[reasoning_key] = p.max_tokens
            if p.reasoning_effort is not None:
                out["reasoning_effort"] = p.reasoning_effort
        else:
            if p.max_tokens is not None:
                out[plain_key] = p.max_tokens
            if p.temperature is not None:
                out["temperature"] = p.temperature
        if p.seed is not None:
            out["seed"] = p.seed
        if p.extra:
            out["extra_body"] = dict(p.extra)
        return out

    async def _chat(self, request: ModelRequest, timeout: float) -> ModelResponse:
        resp = await self.client.chat.completions.create(**self.chat_body(request), timeout=timeout)
        return self.chat_response(request, resp)

    def chat_response(self, request: ModelRequest, resp: Any) -> ModelResponse:
        """Translate a ``ChatCompletion`` into a :class:`ModelResponse` (or raise)."""
        u = resp.usage
        details = getattr(u, "prompt_tokens_details", None) if u else None
        use = common.usage(
            request,
            u.prompt_tokens if u else 0,
            u.completion_tokens if u else 0,
            getattr(details, "cached_tokens", 0) if details else 0,
        )
        if not resp.choices:
            raise ProviderError("server", f"{self.name}: the reply has no choices", usage=use)
        choice = resp.choices[0]
        msg = choice.message
        text = (msg.content if msg else None) or ""
        if msg is not None and getattr(msg, "refusal", None):
            raise common.refused(self.name, use, msg.refusal)
        if choice.finish_reason == "content_filter":
            raise common.refused(self.name, use, "content filter")
        if choice.finish_reason == "length":
            raise common.truncated(self.name, use, text)
        return ModelResponse(
            text=text,
            parsed=self.parse(text),
            usage=use,
            finish="stop",
            provider_id=resp.id,
        )

    def parse(self, text: str) -> Any:
        """Decode the reply's JSON (None when there is none)."""
        return common.parse_answer_text(text)

    # ------------------------------------------------------------------ responses

    def responses_body(self, request: ModelRequest) -> dict[str, Any]:
        """Keyword arguments of ``responses.create`` for ``request``."""
        body: dict[str, Any] = {
            "model": self.ref.model,
            "input": [self._responses_message(m) for m in common.conversation(request.messages)],
        }
        system = common.system_text(request.messages)
        if system is not None:
            body["instructions"] = system
        if request.schema is not None:
            body["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": request.schema_name,
                    "schema": request.schema,
                    "strict": True,
                }
            }
        sampling = self._sampling(request, "max_output_tokens", "max_output_tokens")
        effort = sampling.pop("reasoning_effort", None)
        sampling.pop("seed", None)  # the Responses API has no seed
        if effort is not None:
            sampling["reasoning"] = {"effort": effort}
        body.update(sampling)
        return body

    def _responses_message(self, msg: Message) -> dict[str, Any]:
        if msg.role == "assistant":
            return {"role": "assistant", "content": "\n\n".join(_texts(msg))}
        content = []
        for part in msg.parts:
            if isinstance(part, ImagePart):
                url = self._data_url(part)
                content.append({"type": "input_image", "image_url": url, "detail": part.detail})
            else:
                content.append({"type": "input_text", "text": part.text})
        return {"role": msg.role, "content": content}

    async def _responses(self, request: ModelRequest, timeout: float) -> ModelResponse:
        resp = await self.client.responses.create(**self.responses_body(request), timeout=timeout)
        return self.responses_response(request, resp)

    def responses_response(self, request: ModelRequest, resp: Any) -> ModelResponse:
        """Translate a Responses API ``Response`` into a :class:`ModelResponse` (or raise)."""
        u = resp.usage
        details = getattr(u, "input_tokens_details", None) if u else None
        use = common.usage(
            request,
            u.input_tokens if u else 0,
            u.output_tokens if u else 0,
            getattr(details, "cached_tokens", 0) if details else 0,
        )
        texts, refusal = [], None
        for item in resp.output or []:
            for c in getattr(item, "content", None) or []:
                if c.type == "output_text":
                    texts.append(c.text)
                elif c.type == "refusal":
                    refusal = c.refusal
        text = "".join(texts)
        if refusal:
            raise common.refused(self.name, use, refusal)
        incomplete = getattr(resp, "incomplete_details", None)
        if resp.status == "incomplete" or incomplete is not None:
            reason = getattr(incomplete, "reason", None)
            if reason == "content_filter":
                raise common.refused(self.name, use, "content filter")
            raise common.truncated(self.name, use, text)
        return ModelResponse(text=text, parsed=self.parse(text), usage=use, provider_id=resp.id)

    # ------------------------------------------------------------------ images

    async def _edit_image(self, request: ModelRequest, timeout: float) -> ModelResponse:
        image = common.first_image(request)
        resp = await self.client.images.edit(
            model=self.ref.model,
            image=("input.png", encode_png(image), "image/png"),
            prompt=common.prompt_text(request),
            size=IMAGE_SIZE,
            timeout=timeout,
        )
        u = getattr(resp, "usage", None)
        use = Usage(
            input_tokens=int(getattr(u, "input_tokens", 0) or 0),
            output_tokens=int(getattr(u, "output_tokens", 0) or 0),
        )
        if not resp.data or not resp.data[0].b64_json:
            raise ProviderError("server", f"{self.name}: the reply holds no image", usage=use)
        png = base64.b64decode(resp.data[0].b64_json)
        return ModelResponse(text="", parsed=None, usage=use, image=png, provider_id=None)


def _texts(msg: Message) -> list[str]:
    return [p.text for p in msg.parts if not isinstance(p, ImagePart)]
