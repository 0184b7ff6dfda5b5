"""OpenAI: Chat Completions (default), Responses (``api=responses``), and images.edit.

Translation only: one SDK call per :meth:`OpenAIProvider.send`, SDK retries off.
Structured output uses strict ``json_schema``; reasoning models (o-series,
gpt-5) get ``max_completion_tokens`` and ``reasoning_effort`` and no
temperature. A ``length`` finish raises ``truncated``, a refusal ``refused``.

The same requests can go through the Batch API (:class:`~chainlang.providers.base.BatchProvider`):
a JSONL file of ``{"custom_id", "method", "url", "body"}`` lines whose body is the
synchronous call's body, uploaded with ``files.create(purpose="batch")`` and
submitted with ``batches.create``; result lines go through the synchronous translators.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any, Final, Literal, TypeVar

import httpx2
import openai
import pydantic
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from chainlang.language.types import ImageT
from chainlang.providers import common
from chainlang.providers.base import (
    BatchLimits,
    BatchLine,
    BatchState,
    FailureKind,
    ImagePart,
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    ProviderError,
    Usage,
)
from chainlang.providers.capabilities import encode_png, prepare_image
from chainlang.providers.contracts import OPENAI
from chainlang.providers.prompt_cache import routing_key
from chainlang.providers.registry import ProviderSettings
from chainlang.providers.specs import find_spec
from chainlang.vision.encode import Encoder

_Reply = TypeVar("_Reply", ChatCompletion, Response)

REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
IMAGE_SIZE = "1024x1024"

# Batch API endpoints by ``api``: one batch has one endpoint, so all its lines share it.
CHAT_ENDPOINT: Final = "/v1/chat/completions"
RESPONSES_ENDPOINT: Final = "/v1/responses"
# The synchronous endpoints, relative to the client's base URL (which ends in /v1).
CHAT_PATH: Final = "/chat/completions"
RESPONSES_PATH: Final = "/responses"
# Newer SDKs apply the bearer key only to requests whose options ask for it; older ones
# always did and have no such option.
_ASK_FOR_AUTH: Final = "security" in getattr(openai.RequestOptions, "__annotations__", {})
# Every status a Batch can report (openai/types/batch.py), as a BatchState status.
BATCH_STATUS: dict[str, Literal["running", "ended", "failed"]] = {
    "validating": "running",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "running",  # not readable yet; it ends as "cancelled"
    "completed": "ended",
    "failed": "failed",
    "expired": "failed",
    "cancelled": "failed",
}
# Line error codes of requests the provider never ran (the request itself was fine).
UNRUN_LINE_CODES = frozenset({"batch_expired", "batch_cancelled"})


def is_reasoning_model(model: str) -> bool:
    """True for models that take ``max_completion_tokens`` and no temperature."""
    return model.startswith(REASONING_PREFIXES)


class OpenAIProvider:
    """Adapter for ``openai:MODEL`` (one client, reused across calls)."""

    # the contract's 50,000 requests and 200 MB per input file; 10 MB kept for the framing
    batch_limits = BatchLimits(OPENAI.batch_lines or 0, (OPENAI.batch_bytes or 0) - 10 * 2**20)

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
        with self._sdk_errors():
            if isinstance(request.answer_type, ImageT):
                return await self._edit_image(request, timeout)
            if self.ref.api == "responses":
                return await self._responses(request, timeout)
            return await self._chat(request, timeout)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()

    def _sdk_errors(self) -> contextlib.AbstractContextManager[None]:
        """Classify a failed SDK call (send and every batch call) as a ProviderError."""
        return common.stainless_errors(openai, openai.OpenAIError, self.name)

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
        body.update(self._cache_routing(request))
        return body

    def _cache_routing(self, request: ModelRequest) -> dict[str, Any]:
        """``prompt_cache_key`` naming the request's static prefix, where the provider
        caches automatically (OpenAI; not an OpenAI-compatible server, which may reject
        the field): requests sharing the prefix then reach the same cache."""
        spec = find_spec(self.ref.provider)
        if spec is None or spec.prompt_cache.kind != "automatic":
            return {}
        return {"prompt_cache_key": routing_key(request)}

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

    def _is_reasoning(self) -> bool:
        return is_reasoning_model(self.ref.model)

    def _sampling(
        self, request: ModelRequest, reasoning_key: str, plain_key: str
    ) -> dict[str, Any]:
        p = request.params
        out: dict[str, Any] = {}
        if self._is_reasoning():
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
        reply = await self._post(CHAT_PATH, self.chat_body(request), timeout)
        return self.chat_response(request, _parsed(ChatCompletion, reply, self.name))

    async def _post(self, path: str, kwargs: dict[str, Any], timeout: float) -> httpx2.Response:
        """POST the body ``kwargs`` stand for through the client's own ``post``.

        The SDK's typed ``create`` first re-walks every request against its TypedDict
        parameters (about 330 us of CPU a call, a quarter of what the SDK spends on one;
        the largest cost in ``benchmarks/scheduler.py``). Our bodies are already in wire
        form (tests check the SDK's transform leaves every shipped chain's requests
        unchanged), so they go straight to ``post``, which keeps the SDK's auth, headers,
        timeout and status-error classes.
        """
        options: openai.RequestOptions = {"timeout": timeout}
        if _ASK_FOR_AUTH:
            options["security"] = {"bearer_auth": True}
        response: httpx2.Response = await self.client.post(
            path, cast_to=httpx2.Response, body=common.sent_body(kwargs), options=options
        )
        return response

    def chat_response(self, request: ModelRequest | None, resp: Any) -> ModelResponse:
        """Translate a ``ChatCompletion`` into a :class:`ModelResponse` (or raise).

        Without ``request`` (a batch result) the usage has no image-token estimate.
        """
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
            parsed=common.parse_answer_text(text),
            usage=use,
            finish="stop",
            provider_id=resp.id,
        )

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
        body.update(self._cache_routing(request))
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
        reply = await self._post(RESPONSES_PATH, self.responses_body(request), timeout)
        return self.responses_response(request, _parsed(Response, reply, self.name))

    def responses_response(self, request: ModelRequest | None, resp: Any) -> ModelResponse:
        """Translate a Responses API ``Response`` into a :class:`ModelResponse` (or raise).

        Without ``request`` (a batch result) the usage has no image-token estimate.
        """
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
        return ModelResponse(
            text=text, parsed=common.parse_answer_text(text), usage=use, provider_id=resp.id
        )

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

    # ------------------------------------------------------------------ batch API

    def batch_line(self, custom_id: str, request: ModelRequest) -> BatchLine:
        """One JSONL line of a batch: the synchronous call's body, keyed by ``custom_id``."""
        if isinstance(request.answer_type, ImageT):
            raise ProviderError(
                "bad_request", f"{self.name}: image-generation answers cannot go through a batch"
            )
        payload = {
            "custom_id": custom_id,
            "method": "POST",
            "url": self._batch_endpoint(),
            "body": common.sent_body(self._sync_body(request)),
        }
        return BatchLine(custom_id, payload, len(_jsonl(payload)))

    def _batch_endpoint(self) -> Literal["/v1/responses", "/v1/chat/completions"]:
        return RESPONSES_ENDPOINT if self.ref.api == "responses" else CHAT_ENDPOINT

    def _sync_body(self, request: ModelRequest) -> dict[str, Any]:
        if self.ref.api == "responses":
            return self.responses_body(request)
        return self.chat_body(request)

    async def submit_batch(self, lines: list[BatchLine]) -> str:
        """Upload the lines as a JSONL file and create a batch on it; return the batch id."""
        data = b"".join(_jsonl(line.payload) for line in lines)
        with self._sdk_errors():
            upload = await self.client.files.create(
                file=("batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
            batch = await self.client.batches.create(
                input_file_id=upload.id,
                endpoint=self._batch_endpoint(),
                completion_window="24h",
            )
        return batch.id

    async def batch_state(self, batch_id: str) -> BatchState:
        """Ask once where the batch stands (unknown statuses count as still running)."""
        with self._sdk_errors():
            batch = await self.client.batches.retrieve(batch_id)
        status = BATCH_STATUS.get(batch.status, "running")
        return BatchState(batch_id, status, self._batch_message(batch))

    @staticmethod
    def _batch_message(batch: Any) -> str:
        errors = getattr(batch.errors, "data", None) or []
        words = "; ".join(f"{e.message} ({e.code})" if e.code else str(e.message) for e in errors)
        return batch.status + (f": {words}" if words else "")  # the provider's words

    async def batch_results(
        self, batch_id: str, custom_ids: list[str]
    ) -> dict[str, ModelResponse | ProviderError]:
        """Each line's answer or failure, read from the batch's output and error files.

        The answers' usage has ``image_tokens`` 0: image tokens are the dispatcher's to
        estimate, from the request each answer is for.
        """
        with self._sdk_errors():
            batch = await self.client.batches.retrieve(batch_id)
            found: dict[str, dict[str, Any]] = {}
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    for line in await self._result_lines(file_id):
                        if isinstance(line_id := line.get("custom_id"), str):
                            found[line_id] = line
        return {
            cid: self._line_answer(found[cid])
            if cid in found
            else common.no_result_line(self.name, batch_id, cid)
            for cid in custom_ids
        }

    async def _result_lines(self, file_id: str) -> list[dict[str, Any]]:
        """The decoded lines of a result file (the caller's ``_sdk_errors`` classifies failures)."""
        content = await self.client.files.content(file_id)
        return [json.loads(raw) for raw in content.content.splitlines() if raw.strip()]

    def _line_answer(self, line: dict[str, Any]) -> ModelResponse | ProviderError:
        response = line.get("response") or {}
        body = response.get("body")
        if response.get("status_code") != 200 or not isinstance(body, dict):
            return self._line_error(line)
        try:
            return self._translate(body)
        except ProviderError as err:
            return err

    def _translate(self, body: dict[str, Any]) -> ModelResponse:
        # construct(), not validation: a batch line is read leniently, as the SDK reads
        # a reply (an OpenAI-compatible server may leave out fields the types require)
        if self.ref.api == "responses":
            return self.responses_response(None, Response.construct(**body))
        return self.chat_response(None, ChatCompletion.construct(**body))

    def _line_error(self, line: dict[str, Any]) -> ProviderError:
        response = line.get("response") or {}
        status = response.get("status_code")
        if status == 200:  # answered, but the body is no JSON object
            return ProviderError("server", f"{self.name}: the result line's body is not JSON")
        if isinstance(status, int):  # the line's own HTTP failure: classified like a sync call
            body = response.get("body")
            error = body.get("error") if isinstance(body, dict) else None
            words = error.get("message") if isinstance(error, dict) else body
            return ProviderError(
                common.kind_for_status(status),
                f"{self.name}: HTTP {status}: {words}",
                status=status,
            )
        error = line.get("error") or {}
        code = error.get("code")
        kind: FailureKind = "server" if code in UNRUN_LINE_CODES else "bad_request"
        return ProviderError(
            kind, f"{self.name}: batch line failed: {error.get('message')} ({code})"
        )


def _jsonl(payload: dict[str, Any]) -> bytes:
    """One JSONL line (compact, newline-terminated): its length is the line's size."""
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"


def _texts(msg: Message) -> list[str]:
    return [p.text for p in msg.parts if not isinstance(p, ImagePart)]


def _parsed(model: type[_Reply], reply: httpx2.Response, name: str) -> _Reply:
    """The ``ChatCompletion`` or ``Response`` of a raw reply, validated in one pass.

    The SDK's own parsing constructs the model field by field in Python (about 65 us
    per reply); pydantic-core validates the JSON in about 7 us. A reply the types do
    not fit (an OpenAI-compatible server leaving out ``created``) is built leniently,
    as the SDK builds it, so nothing the SDK would read fails here; one that is not
    JSON raises ``JSONDecodeError``, which the adapter reports as unreadable.
    """
    try:
        return model.model_validate_json(reply.content)
    except pydantic.ValidationError:
        data = reply.json()
    if not isinstance(data, dict):
        raise ProviderError("server", f"{name}: the reply is JSON but not an object")
    return model.construct(**data)
