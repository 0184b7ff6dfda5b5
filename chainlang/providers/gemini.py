"""Gemini ``generateContent`` through google-genai.

The async transport is pinned to an ``httpx2.AsyncClient`` we own: google-genai
otherwise switches to aiohttp whenever aiohttp is importable, which would
change timeout and error behaviour depending on what else is installed.
The answer schema goes in ``response_json_schema`` (plain JSON Schema), with
``response_mime_type="application/json"``. The SDK returns ``parsed=None``
for invalid JSON without raising, so the text is decoded here.

Batch mode (``client.aio.batches``) sends the same ``contents`` and config as
inlined requests to ``models/{model}:batchGenerateContent`` and reads the job
back from ``batches/{id}``, both pinned to ``v1beta``, the only version the
batch endpoints are documented under. Each inlined request carries its custom
id in ``metadata``, which the API echoes in the inlined response; responses
also come back in input order, which is the fallback when no id is echoed.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import _common as genai_common
from google.genai import batches as genai_batches
from google.genai import errors as genai_errors
from google.genai import types as gt

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
)
from chainlang.providers.capabilities import encode_png, prepare_image
from chainlang.providers.contracts import GEMINI
from chainlang.providers.registry import ProviderSettings
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
# Inline batch submissions stay under the contract's 20 MB in total (2 MB of margin); the
# 10,000 lines per batch are our choice (Gemini documents no count for inline batches).
BATCH_LIMITS = BatchLimits(max_lines=10_000, max_bytes=(GEMINI.batch_bytes or 0) - 2 * 2**20)
_BATCH_HTTP = gt.HttpOptions(api_version="v1beta")
_ID_KEY = "custom_id"  # the inlined request's metadata key that carries the custom id
_RUNNING_STATES = frozenset(
    {"JOB_STATE_UNSPECIFIED", "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"}
    | {"JOB_STATE_CANCELLING", "JOB_STATE_PAUSED", "JOB_STATE_UPDATING"}
)
_ENDED_STATES = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"})
# google.rpc.Code (a batch line's error status) -> (status name, HTTP status), per code.proto
_RPC_CODES: dict[int, tuple[str, int]] = {
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}


class GeminiProvider:
    """Adapter for ``gemini:MODEL`` (one client, reused across calls)."""

    batch_limits = BATCH_LIMITS

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
        config = self._valid_config(request, timeout)
        with _sdk_errors(self.name):
            resp = await self.client.aio.models.generate_content(
                model=self.ref.model, contents=self.contents(request), config=config
            )
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

    def _valid_config(
        self, request: ModelRequest, timeout: float | None
    ) -> gt.GenerateContentConfig:
        try:
            return self.config(request, timeout)
        except pydantic.ValidationError as exc:  # e.g. an unknown reasoning_effort or extra
            raise ProviderError("bad_request", f"{self.name}: bad parameters: {exc}") from exc

    def config(self, request: ModelRequest, timeout: float | None) -> gt.GenerateContentConfig:
        """The ``GenerateContentConfig`` for ``request``.

        ``timeout`` is the per-call timeout, sent in ms; a batch line has none (None).
        """
        p = request.params
        http = gt.HttpOptions(timeout=max(1, int(timeout * 1000))) if timeout is not None else None
        cfg: dict[str, Any] = {
            "system_instruction": common.system_text(request.messages),
            "temperature": p.temperature,
            "max_output_tokens": p.max_tokens,
            "seed": p.seed,
            "safety_settings": SAFETY_OFF,
            "http_options": http,
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

    # ------------------------------------------------------------------ batch

    def batch_line(self, custom_id: str, request: ModelRequest) -> BatchLine:
        """``request`` as an inlined request (the sync call's contents and config).

        ``size`` is the length of the JSON the SDK sends for it (images base64).
        Image answers are not batchable here.
        """
        if isinstance(request.answer_type, ImageT):
            raise ProviderError("bad_request", f"{self.name}: image answers cannot be batched")
        payload = gt.InlinedRequest(
            model=self.ref.model,
            contents=self.contents(request),
            config=self._valid_config(request, None),
            metadata={_ID_KEY: custom_id},
        )
        return BatchLine(custom_id, payload, self._wire_size(payload))

    def _wire_size(self, payload: gt.InlinedRequest) -> int:
        # the SDK's own converter, so the size is that of the JSON actually sent
        wire = genai_batches._InlinedRequest_to_mldev(self.client._api_client, payload)
        data = genai_common.encode_unserializable_types(genai_common.convert_to_dict(wire))
        return len(json.dumps(data).encode())

    async def submit_batch(self, lines: list[BatchLine]) -> str:
        """Create one batch job of inlined requests; return its name (``batches/...``)."""
        config = gt.CreateBatchJobConfig(
            display_name=f"chainlang {self.name} ({len(lines)} requests)",
            http_options=_BATCH_HTTP,
        )
        with _sdk_errors(self.name):
            job = await self.client.aio.batches.create(
                model=self.ref.model, src=[line.payload for line in lines], config=config
            )
        if not job.name:
            raise ProviderError("server", f"{self.name}: the created batch has no name")
        return job.name

    async def batch_state(self, batch_id: str) -> BatchState:
        """Ask once where the batch stands (``JOB_STATE_*`` mapped to running/ended/failed)."""
        job = await self._batch_job(batch_id)
        state = _state_name(job.state)
        if state in _ENDED_STATES:
            return BatchState(batch_id, "ended")
        if state in _RUNNING_STATES:
            return BatchState(batch_id, "running")
        # FAILED, CANCELLED, EXPIRED (and anything unknown): no line will get a result
        error = job.error.message if job.error is not None else None
        return BatchState(batch_id, "failed", f"{state}: {error}" if error else state)

    async def batch_results(
        self, batch_id: str, custom_ids: list[str]
    ) -> dict[str, ModelResponse | ProviderError]:
        """Each line's answer or failure, by custom id (results can be read again).

        The answers' usage has ``image_tokens`` 0: image tokens are the dispatcher's to
        estimate, from the request each answer is for.
        """
        job = await self._batch_job(batch_id)
        items = (job.dest.inlined_responses if job.dest is not None else None) or []
        known = set(custom_ids)
        found: dict[str, ModelResponse | ProviderError] = {}
        for index, item in enumerate(items):
            cid = _line_id(item, index, custom_ids)
            if cid in known:
                found[cid] = self._line_result(item)
        return {
            cid: found[cid] if cid in found else common.no_result_line(self.name, batch_id, cid)
            for cid in custom_ids
        }

    async def _batch_job(self, batch_id: str) -> gt.BatchJob:
        with _sdk_errors(self.name):
            return await self.client.aio.batches.get(
                name=batch_id, config=gt.GetBatchJobConfig(http_options=_BATCH_HTTP)
            )

    def _line_result(self, item: gt.InlinedResponse) -> ModelResponse | ProviderError:
        """One inlined response through the sync translator (or its error, classified)."""
        if item.error is not None:
            return _line_error(item.error, self.name)
        if item.response is None:
            return ProviderError("server", f"{self.name}: a batch line has no response")
        try:
            return self.response(None, item.response)
        except ProviderError as err:  # truncated, refused, no candidates: as in send()
            return err

    # ------------------------------------------------------------------ response

    def _checked(self, request: ModelRequest | None, resp: Any) -> tuple[Any, common.Usage, str]:
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

    def response(self, request: ModelRequest | None, resp: Any) -> ModelResponse:
        """Translate a ``GenerateContentResponse`` into a :class:`ModelResponse` (or raise).

        Without ``request`` (a batch result) the usage has no image-token estimate.
        """
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


@contextlib.contextmanager
def _sdk_errors(provider: str) -> Iterator[None]:
    """Raise the :class:`ProviderError` of an SDK call's failure (same for every call)."""
    try:
        yield
    except genai_errors.APIError as exc:
        raise _api_error(exc, provider) from exc
    except json.JSONDecodeError as exc:
        raise common.unreadable(provider, exc) from exc
    except httpx2.HTTPError as exc:
        raise common.transport_error(exc, provider) from exc


def _state_name(state: Any) -> str:
    name = str(getattr(state, "value", state) or "JOB_STATE_UNSPECIFIED")
    return name.replace("BATCH_STATE_", "JOB_STATE_")  # a raw name the SDK did not map


def _line_id(item: gt.InlinedResponse, index: int, custom_ids: list[str]) -> str | None:
    """The custom id echoed in the response's metadata, else the one at its position."""
    echoed = (item.metadata or {}).get(_ID_KEY)
    if echoed is not None:
        return echoed
    return custom_ids[index] if index < len(custom_ids) else None


def _line_error(error: gt.JobError, provider: str) -> ProviderError:
    """A line's ``google.rpc.Status``, classified as the sync call's HTTP error would be."""
    code = int(error.code or 0)
    name, status = _RPC_CODES.get(code, ("", code if code >= 100 else 500))
    body = {"error": {"code": status, "message": error.message or "", "status": name or None}}
    return _api_error(genai_errors.APIError(status, body), provider)


def _api_error(exc: genai_errors.APIError, provider: str) -> ProviderError:
    status = int(exc.code or 0)
    kind = common.kind_for_status(status) if status else "server"
    if exc.status == "RESOURCE_EXHAUSTED":
        kind = "rate_limit"
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    wait = common.retry_after(headers) or _retry_delay(exc.details)
    head = f"HTTP {status} {exc.status}" if exc.status else f"HTTP {status}"
    limit = common.limit_broken(status, str(exc.message or ""))
    if limit:  # a documented limit: resending cannot help
        kind, head = "contract", f"{head}: broke a request limit ({limit})"
    return ProviderError(
        kind,
        f"{provider}: {head}: {exc.message}",
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
