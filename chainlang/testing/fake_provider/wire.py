"""The providers' wire dialects: which dialect a path speaks, what a request asks, the bodies.

Dialects: ``openai-chat``, ``openai-responses``, ``openai-image``, ``anthropic``,
``gemini`` and ``gemini-image``. Each answers with its own response body and
its own error body.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from chainlang.testing.fake_provider.faults import FakeCall, RecordedRequest


def dialect_of(path: str) -> str | None:
    """The dialect a request path speaks (None: no such route)."""
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/responses"):
        return "openai-responses"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/images/edits"):
        return "openai-image"
    if ":generateContent" in path:
        return "gemini"
    return None


def call_of(dialect: str, req: RecordedRequest) -> FakeCall:
    """What ``req`` asks: dialect (``gemini-image`` for image output), model, prompt, schema."""
    body = req.json if dialect != "openai-image" else None
    body = body if isinstance(body, dict) else {}
    schema = None
    if dialect == "openai-chat":
        schema = body.get("response_format", {}).get("json_schema", {}).get("schema")
    elif dialect == "openai-responses":
        schema = body.get("text", {}).get("format", {}).get("schema")
    elif dialect == "anthropic":
        tools = body.get("tools") or []
        schema = tools[0].get("input_schema") if tools else None
        schema = schema or body.get("output_config", {}).get("format", {}).get("schema")
    elif dialect == "gemini":
        gen = body.get("generationConfig", {})
        schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
        if "IMAGE" in gen.get("responseModalities", []):
            dialect = "gemini-image"
    if dialect == "openai-image":
        prompt = req.form.get("prompt", b"").decode(errors="replace")
        model = req.form.get("model", b"").decode(errors="replace")
    else:
        prompt = "\n".join(_texts(body, []))
        model = str(body.get("model") or req.path.rsplit("/", 1)[-1].split(":")[0])
    return FakeCall(dialect, model, prompt, schema, req)


def _texts(value: Any, out: list[str]) -> list[str]:
    """Every ``text`` string (or plain string content) in a request, in order."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in ("text", "instructions", "content", "system") and isinstance(v, str):
                out.append(v)
            elif key not in ("data", "image_url", "source", "inlineData", "inline_data"):
                _texts(v, out)
    elif isinstance(value, list):
        for v in value:
            _texts(v, out)
    return out


# --------------------------------------------------------------------------- response bodies


def _chat_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int, int], n: int
) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    finish = {"truncated": "length"}.get(kind or "", "stop")
    if kind == "refusal":
        message.update(content=None, refusal="I can't help with that.")
    inp, out, cached, _ = usage  # writes are free: plain input
    return {
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": 0,
        "model": call.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": inp,
            "completion_tokens": out,
            "total_tokens": inp + out,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def _responses_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int, int], n: int
) -> dict:
    content: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
    if kind == "refusal":
        content = {"type": "refusal", "refusal": "I can't help with that."}
    inp, out, cached, _ = usage
    return {
        "id": f"resp_fake_{n}",
        "object": "response",
        "created_at": 0,
        "model": call.model,
        "status": "incomplete" if kind == "truncated" else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if kind == "truncated" else None,
        "output": [
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [content],
            }
        ],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": inp,
            "output_tokens": out,
            "total_tokens": inp + out,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _anthropic_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int, int], n: int
) -> dict:
    body = call.request.json or {}
    tools = body.get("tools") or []
    stop = {"truncated": "max_tokens", "refusal": "refusal"}.get(kind or "", "end_turn")
    block: dict[str, Any] = {"type": "text", "text": text}
    tool_input = _json_or_none(text) if tools and kind not in ("truncated", "refusal") else None
    if isinstance(tool_input, dict):
        block = {
            "type": "tool_use",
            "id": f"toolu_{n}",
            "name": tools[0]["name"],
            "input": tool_input,
        }
        stop = "tool_use"
    if kind == "refusal":
        block = {"type": "text", "text": "I can't help with that."}
    inp, out, cached, written = usage
    return {
        "id": f"msg_fake_{n}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            # Anthropic counts cache reads and writes apart from input_tokens
            "input_tokens": inp - cached - written,
            "output_tokens": out,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": written,
        },
    }


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _gemini_body(
    call: FakeCall, text: str, kind: str | None, usage: tuple[int, int, int, int], n: int
) -> dict:
    finish = {"truncated": "MAX_TOKENS", "refusal": "SAFETY"}.get(kind or "", "STOP")
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "finishReason": finish,
        "index": 0,
    }
    if kind == "refusal":
        candidate.pop("content")
    inp, out, cached, _ = usage
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": inp,
            "candidatesTokenCount": out,
            "totalTokenCount": inp + out,
            "cachedContentTokenCount": cached,
        },
        "modelVersion": call.model,
        "responseId": f"fake-{n}",
    }


def image_body(call: FakeCall, png: bytes, n: int) -> dict:
    """The image-generation response body in ``call``'s dialect, carrying ``png``."""
    data = base64.b64encode(png).decode()
    inp = max(1, len(call.prompt) // 4) + 100
    if call.dialect == "openai-image":
        return {
            "created": 0,
            "data": [{"b64_json": data}],
            "usage": {"input_tokens": inp, "output_tokens": 1056, "total_tokens": inp + 1056},
        }
    part = {"inlineData": {"mimeType": "image/png", "data": data}}
    return {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": inp, "candidatesTokenCount": 1290},
        "responseId": f"fake-{n}",
    }


# the text-answer body of each dialect, from (call, text, fault kind, usage, request number)
BUILDERS = {
    "openai-chat": _chat_body,
    "openai-responses": _responses_body,
    "anthropic": _anthropic_body,
    "gemini": _gemini_body,
}


def error_body(dialect: str, status: int) -> dict[str, Any]:
    """The error body ``dialect`` sends with HTTP ``status``."""
    message = f"injected fault: HTTP {status}"
    if dialect == "anthropic":
        kind = {
            429: "rate_limit_error",
            529: "overloaded_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            400: "invalid_request_error",
            413: "request_too_large",
            504: "timeout_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if dialect.startswith("gemini"):
        state = {
            429: "RESOURCE_EXHAUSTED",
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            503: "UNAVAILABLE",
        }.get(status, "INTERNAL")
        return {"error": {"code": status, "message": message, "status": state}}
    return {"error": {"message": message, "type": "fake_error", "code": str(status)}}


def unauthenticated(dialect: str, req: RecordedRequest) -> tuple[int, dict[str, Any]] | None:
    """What the provider answers a request that carries no credentials (None: it does).

    OpenAI wants ``Authorization: Bearer KEY`` (401, ``invalid_request_error``);
    Anthropic ``x-api-key`` or a bearer token (401, ``authentication_error``; its SDK
    2.x sends the key as a bearer token) and ``anthropic-version`` (400); Gemini
    ``x-goog-api-key`` or a ``key`` query parameter (403, ``PERMISSION_DENIED``).
    Only presence is checked: any key is accepted.
    """
    headers = req.headers
    scheme, _, token = headers.get("authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer" and bool(token.strip())
    if dialect.startswith("openai"):
        if bearer:
            return None
        message = "no API key: send it in the Authorization header as 'Bearer KEY'"
        return 401, {
            "error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": None}
        }  # fmt: skip
    if dialect == "anthropic":
        if not (headers.get("x-api-key") or bearer):
            error = {"type": "authentication_error", "message": "x-api-key header is required"}
            return 401, {"type": "error", "error": error}
        if not headers.get("anthropic-version"):
            error = {"type": "invalid_request_error",
                     "message": "anthropic-version: header is required"}  # fmt: skip
            return 400, {"type": "error", "error": error}
        return None
    query = req.path.partition("?")[2].split("&")
    if headers.get("x-goog-api-key") or any(q.startswith("key=") and q[4:] for q in query):
        return None
    message = "the caller has no identity: send an API key (x-goog-api-key or ?key=)"
    return 403, {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}
