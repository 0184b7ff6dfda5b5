"""Gemini ``generateContent`` through google-genai.

The async transport is pinned to an ``httpx2.AsyncClient`` we own: google-genai
otherwise switches to aiohttp whenever aiohttp is importable, which would
change timeout and error behaviour depending on what else is installed.
The answer schema goes in ``response_json_schema`` (plain JSON Schema), with
``response_mime_type="application/json"``. The SDK returns ``parsed=None``
for invalid JSON without raising, so the text is decoded here.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gt

from chainlang.providers import common
from chainlang.providers.base import (
    ImagePart,
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    ProviderError,
)
from chainlang.providers.capabilities import encode_png, prepare_image
from chainlang.providers.registry import ProviderSettings
from chainlang.types import ImageT
from chainlang.vision.encode import Encoder

REFUSED = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "RECITATION"}
)
# The paper turned every safety filter off; so do we, so answers are comparable.
SAFETY_OFF = [
    gt.SafetySetting(category=c, threshold=gt.HarmBlockThreshold.BLOCK_NONE)
    for c in (
        gt.HarmCategory.HARM_CATEGORY_HARASSMENT,
        gt.HarmCategory.HARM_CATEGORY_HATE_SPEECH,
        gt.HarmCategory.HARM_CATEGORY_SEXUALLY_EXPLICIT,
        gt.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT,
    )
]


class GeminiProvider:
    """Adapter for ``gemini:MODEL`` (one client, reused across calls)."""

    def __init__(
        self, ref: ModelRef, settings: ProviderSettings, *, encoder: Encoder | None = None
    ) -> None:
        self.ref = ref
        self.name = str(ref)
        self.encoder = encoder if encoder is not None else Encoder()
        self._http = httpx2.AsyncClient(timeout=settings.timeout)
        options = gt.HttpOptions(
            base_url=settings.base_url,
            httpx_async_client=self._http,  # pins httpx2; see the module docstring
        )
        self.client = genai.Client(api_key=settings.api_key, http_options=options)

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Send ``request`` once; raise :class:`ProviderError` on any failure."""
        try:
            config = self.config(request, timeout)
        except pydantic.ValidationError as exc:  # e.g. an unknown reasoning_effort or extra
            raise ProviderError("bad_request", f"{self.name}: bad parameters: {exc}") from exc
        try:
            resp = await self.client.aio.models.generate_content(
                model=self.ref.model, contents=self.contents(request), config=config
            )
        except genai_errors.APIError as exc:
            raise _api_error(exc, self.name) from exc
        except json.JSONDecodeError as exc:
            raise common.unreadable(self.name, exc) from exc
        except httpx2.HTTPError as exc:
            err = common.transport_error(exc, self.name)
            raise (err or ProviderError("connection", f"{self.name}: {exc}")) from exc
        if isinstance(request.answer_type, ImageT):
            return self.image_response(request, resp)
        return self.response(request, resp)

    async def aclose(self) -> None:
        """Close the HTTP connections (ours and the SDK's idle sync client)."""
        self.client.close()
        await self.client.aio.aclose()
        await self._http.aclose()

    # ------------------------------------------------------------------ request

    def contents(self, request: ModelRequest) -> list[gt.Content]:
        """The conversation as Gemini ``Content`` objects (assistant → ``model``)."""
        return [self._content(m, request) for m in common.conversation(request.messages)]

    def _content(self, msg: Message, request: ModelRequest) -> gt.Content:
        parts = []
        for part in msg.parts:
            if isinstance(part, ImagePart):
                if isinstance(request.answer_type, ImageT):
                    data, mime = encode_png(part.image), "image/png"
                else:
                    data, mime, _ = prepare_image(
                        part.image, self.ref, part.detail, encoder=self.encoder
                    )
                parts.append(gt.Part.from_bytes(data=data, mime_type=mime))
            else:
                parts.append(gt.Part.from_text(text=part.text))
        return gt.Content(role="model" if msg.role == "assistant" else "user", parts=parts)

    def config(self, request: ModelRequest, timeout: float) -> gt.GenerateContentConfig:
        """The ``GenerateContentConfig`` for ``request`` (per-call timeout in ms)."""
        p = request.params
        cfg: dict[str, Any] = {
            "system_instruction": common.system_text(request.messages),
            "temperature": p.temperature,
            "max_output_tokens": p.max_tokens,
            "seed": p.seed,
            "safety_settings": SAFETY_OFF,
            "http_options": gt.HttpOptions(timeout=max(1, int(timeout * 1000))),
        }
        if isinstance(request.answer_type, ImageT):
            cfg["response_modalities"] = ["IMAGE"]
            cfg.pop("max_output_tokens")
        elif request.schema is not None:
            cfg["response_mime_type"] = "application/json"
            cfg["response_json_schema"] = request.schema
        if p.reasoning_effort is not None:
            cfg["thinking_config"] = gt.ThinkingConfig(thinking_level=_level(p.reasoning_effort))
        cfg.update(dict(p.extra))
        return gt.GenerateContentConfig(**cfg)

    # ------------------------------------------------------------------ response

    def _checked(self, request: ModelRequest, resp: Any) -> tuple[Any, common.Usage, str]:
        u = resp.usage_metadata
        use = common.usage(
            request,
            getattr(u, "prompt_token_count", 0),
            (getattr(u, "candidates_token_count", 0) or 0)
            + (getattr(u, "thoughts_token_count", 0) or 0),
            getattr(u, "cached_content_token_count", 0),
        )
        if not resp.candidates:
            feedback = getattr(resp, "prompt_feedback", None)
            reason = getattr(getattr(feedback, "block_reason", None), "value", None)
            if reason:
                raise common.refused(self.name, use, f"prompt blocked ({reason})")
            raise ProviderError("server", f"{self.name}: the reply has no candidates", usage=use)
        cand = resp.candidates[0]
        parts = (cand.content.parts if cand.content else None) or []
        text = "".join(p.text for p in parts if p.text and not p.thought)
        reason = getattr(cand.finish_reason, "value", cand.finish_reason)
        if reason in REFUSED:
            raise common.refused(self.name, use, f"finish reason {reason}")
        if reason == "MAX_TOKENS":
            raise common.truncated(self.name, use, text)
        return cand, use, text

    def response(self, request: ModelRequest, resp: Any) -> ModelResponse:
        """Translate a ``GenerateContentResponse`` into a :class:`ModelResponse` (or raise)."""
        _, use, text = self._checked(request, resp)
        return ModelResponse(
            text=text,
            parsed=common.parse_answer_text(text),
            usage=use,
            provider_id=resp.response_id,
        )

    def image_response(self, request: ModelRequest, resp: Any) -> ModelResponse:
        """Take the first inline image of the reply, as PNG bytes."""
        cand, use, text = self._checked(request, resp)
        for part in (cand.content.parts if cand.content else None) or []:
            blob = part.inline_data
            if blob is not None and blob.data:
                return ModelResponse(text=text, parsed=None, usage=use, image=_as_png(blob.data))
        raise ProviderError("invalid_answer", f"{self.name}: the reply holds no image", usage=use)


def _level(effort: str) -> gt.ThinkingLevel:
    # checked here: the SDK only warns about an unknown level and sends it anyway
    levels = {
        lv.value.lower(): lv for lv in gt.ThinkingLevel if lv.value != "THINKING_LEVEL_UNSPECIFIED"
    }
    if effort.lower() not in levels:
        raise ProviderError(
            "bad_request",
            f"gemini: reasoning_effort {effort!r} is not a thinking_level ({', '.join(levels)})",
        )
    return levels[effort.lower()]


def _as_png(data: bytes) -> bytes:
    if data.startswith(b"\x89PNG"):
        return data
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


_RETRY_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _api_error(exc: genai_errors.APIError, provider: str) -> ProviderError:
    status = int(exc.code or 0)
    kind = common.kind_for_status(status) if status else "server"
    if exc.status == "RESOURCE_EXHAUSTED":
        kind = "rate_limit"
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    wait = common.retry_after(headers) or _retry_delay(exc.details)
    return ProviderError(
        kind,
        f"{provider}: HTTP {status} {exc.status or ''}: {exc.message}".replace("  ", " "),
        status=status or None,
        retry_after=wait,
    )


def _retry_delay(details: Any) -> float | None:
    """Gemini also says how long to wait in ``error.details[].retryDelay`` ("30s")."""
    err = details.get("error", details) if isinstance(details, dict) else None
    for item in (err or {}).get("details", []) if isinstance(err, dict) else []:
        match = (
            _RETRY_DELAY.match(str(item.get("retryDelay", ""))) if isinstance(item, dict) else None
        )
        if match:
            return float(match.group(1))
    return None
