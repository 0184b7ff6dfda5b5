"""The fake server refuses what the real providers refuse, with their status and error body.

Every request the fake answers is first measured against the same contract the
planner checks (:mod:`chainlang.providers.contracts`): the answer schema as sent,
the images in the body (count, pixels, base64 bytes), the body size, the estimated
prompt tokens plus the output cap against the model's context window, and the output
cap itself. A request over a limit gets the provider's status code and error body,
so every test that sends a request is also a conformance test.

The error bodies follow the providers' own, as quoted in public reports (cited per
body below). Where no report quotes a provider's wording for a limit, the body keeps
the provider's error shape and type and says the figure and the limit plainly;
those are marked "modelled".

On the OpenAI wire, a model the OpenAI contract lists (or named like one: ``gpt-``,
``o1``/``o3``/``o4``, ``chatgpt-``) is held to OpenAI's contract; any other model
name is taken for an OpenAI-compatible server (vLLM).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chainlang.providers.base import ModelRef
from chainlang.providers.conformance import Target, schema_violations, target_for
from chainlang.providers.specs import find_spec
from chainlang.testing.fake_provider.faults import FakeCall

_OPENAI_NAMES = re.compile(r"^(gpt-|o1|o3|o4|chatgpt-)")


@dataclass(frozen=True)
class WireImage:
    """One image found in a request body: where, its base64 length and its size."""

    message: int
    index: int
    b64_bytes: int
    size: tuple[int, int]


def provider_of(call: FakeCall) -> str | None:
    """Whose contract a request to this dialect and model is held to (None: none)."""
    if call.dialect in ("openai-chat", "openai-responses"):
        known = find_spec("openai")
        if _OPENAI_NAMES.match(call.model) or (
            known is not None
            and known.contract is not None
            and known.contract.model_limits(call.model) is not None
        ):
            return "openai"
        return "openai-compat"
    if call.dialect in ("anthropic", "gemini"):
        return call.dialect
    return None  # image generation: no contract checked


def refusal(call: FakeCall) -> tuple[int, dict[str, Any]] | None:
    """The status and error body the real provider would answer ``call`` with, or None."""
    provider = provider_of(call)
    body = call.request.json
    if provider is None or not isinstance(body, dict):
        return None
    api = _api(call, body)
    target = target_for(ModelRef(provider, call.model, api=api))
    if target is None:
        return None
    for check in (_schema, _images, _body, _output_cap, _context):
        refused = check(call, body, target)
        if refused is not None:
            return refused
    return None


def _api(call: FakeCall, body: dict[str, Any]) -> str | None:
    if call.dialect == "openai-responses":
        return "responses"
    if call.dialect == "anthropic":
        strict = any(t.get("strict") for t in body.get("tools") or [] if isinstance(t, dict))
        return "native" if "output_config" in body or strict else "tools"
    return None


# ----------------------------------------------------------------------------- bodies


def _openai_error(message: str, param: str | None, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param,
                  "code": code}
    }  # fmt: skip


def _anthropic_error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _gemini_error(message: str) -> dict[str, Any]:
    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


def _vllm_error(message: str) -> dict[str, Any]:
    # vLLM's error shape (vllm-project/vllm#13513: "At most 1 image(s) may be provided ...")
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None,
            "code": 400}  # fmt: skip


def _refuse(provider: str, message: str, param: str | None = None) -> tuple[int, dict[str, Any]]:
    if provider == "anthropic":
        return 400, _anthropic_error(message)
    if provider == "gemini":
        return 400, _gemini_error(message)
    if provider == "openai-compat":
        return 400, _vllm_error(message)
    return 400, _openai_error(message, param)


# ----------------------------------------------------------------------------- schema


def _schema(call: FakeCall, body: dict[str, Any], t: Target) -> tuple[int, dict[str, Any]] | None:
    limits = t.schema
    if call.schema is None or limits is None:
        return None
    broken = schema_violations(call.schema, limits)
    if not broken:
        return None
    v = broken[0]
    provider = t.ref.provider
    if provider == "openai":
        name = _schema_name(body)
        head = f"Invalid schema for response_format '{name}': "
        if v.limit == "levels of nesting":
            # verbatim form: tidyverse/ellmer#671 ("6 levels of nesting exceeds limit of 5")
            text = f"{v.figure} levels of nesting exceeds limit of {v.allowed}."
        else:
            # verbatim for enum values (community.openai.com/t/974416: "Expected at most 500
            # enum values in total within a single schema when using structured outputs, but
            # received 520. ..."); the other limits modelled on it
            what = {"enum values": "enum values", "object properties": "object properties"}
            text = (
                f"Expected at most {v.allowed} {what.get(v.limit, v.limit)} in total within a "
                f"single schema when using structured outputs, but received {v.figure}. "
                "Consider reducing the number of enums, or use 'strict: false' to opt out of "
                "structured outputs."
            )
        return 400, _openai_error(head + text, "response_format")
    # anthropic strict outputs (modelled: the documented limits, the API's error shape)
    return _refuse(provider, f"Schema is too complex for compilation: {v.text()}.")


def _schema_name(body: dict[str, Any]) -> str:
    fmt = body.get("response_format", {}).get("json_schema") or body.get("text", {}).get(
        "format", {}
    )
    return str(fmt.get("name", "answer")) if isinstance(fmt, dict) else "answer"


# ----------------------------------------------------------------------------- images


def wire_images(body: Any) -> list[WireImage]:
    """Every base64 image in a request body of any dialect, in order."""
    out: list[WireImage] = []
    for message, index, data in _image_data(body):
        try:
            raw = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            continue
        out.append(WireImage(message, index, len(data), _image_size(raw)))
    return out


def _image_data(body: Any) -> Iterator[tuple[int, int, str]]:
    messages = body.get("messages") or body.get("input") or body.get("contents") or []
    for m, message in enumerate(messages if isinstance(messages, list) else []):
        parts = message.get("content") or message.get("parts") or [] if isinstance(
            message, dict) else []  # fmt: skip
        for i, part in enumerate(parts if isinstance(parts, list) else []):
            data = _part_data(part)
            if data is not None:
                yield m, i, data


def _part_data(part: Any) -> str | None:
    if not isinstance(part, dict):
        return None
    url = part.get("image_url")
    url = url.get("url") if isinstance(url, dict) else url
    if isinstance(url, str) and url.startswith("data:image/"):
        return url.split(",", 1)[-1]
    source = part.get("source")
    if isinstance(source, dict) and isinstance(source.get("data"), str):
        return str(source["data"])
    inline = part.get("inlineData") or part.get("inline_data")
    if isinstance(inline, dict) and isinstance(inline.get("data"), str):
        return str(inline["data"])
    return None


def _image_size(raw: bytes) -> tuple[int, int]:
    from PIL import Image  # only the fake's checks need it

    try:
        with Image.open(io.BytesIO(raw)) as im:
            return im.size
    except Exception:  # an unreadable image: the provider would say so in its own words
        return (0, 0)


def _images(call: FakeCall, body: dict[str, Any], t: Target) -> tuple[int, dict[str, Any]] | None:
    lim, provider = t.contract.images, t.ref.provider
    images = wire_images(body)
    if lim.max_images is not None and len(images) > lim.max_images:
        if provider == "openai-compat":  # verbatim: vllm-project/vllm#13513
            return _refuse(provider, f"At most {lim.max_images} image(s) may be provided in one "
                                     "request.")  # fmt: skip
        # modelled: the figure and the limit in the provider's error shape
        return _refuse(provider, f"Too many images in request: {len(images)} images, at most "
                                 f"{lim.max_images} are allowed.", "messages")  # fmt: skip
    side = lim.max_side
    many = lim.many_images is not None and len(images) > lim.many_images
    if many:
        side = lim.max_side_many
    for im in images:
        where = f"messages.{im.message}.content.{im.index}.image.source.base64"
        if side is not None and max(im.size) > side:
            # verbatim: "messages.15.content.2.image.source.base64.data: At least one of the
            # image dimensions exceed max allowed size[ for many-image requests]: 8000 pixels"
            kind = " for many-image requests" if many else ""
            return _refuse(provider, f"{where}.data: At least one of the image dimensions "
                                     f"exceed max allowed size{kind}: {side} pixels")  # fmt: skip
        if lim.max_image_bytes is not None and im.b64_bytes > lim.max_image_bytes:
            # verbatim form: "image exceeds 5 MB maximum: 5316852 bytes > 5242880 bytes"
            mb = lim.max_image_bytes // 2**20
            return _refuse(provider, f"{where}: image exceeds {mb} MB maximum: {im.b64_bytes} "
                                     f"bytes > {lim.max_image_bytes} bytes")  # fmt: skip
    return None


# ----------------------------------------------------------------------------- size, tokens


def _body(call: FakeCall, body: dict[str, Any], t: Target) -> tuple[int, dict[str, Any]] | None:
    most, got = t.contract.max_body_bytes, len(call.request.body)
    if most is None or got <= most:
        return None
    if t.ref.provider == "anthropic":  # https://platform.claude.com/docs/en/api/errors (413)
        return 413, _anthropic_error(
            "Request exceeds the maximum allowed number of bytes.", "request_too_large"
        )
    if t.ref.provider == "gemini":  # verbatim form reported by Gemini API users
        return 400, _gemini_error(f"Request payload size exceeds the limit: {most} bytes.")
    return 413, _openai_error(f"Request too large: {got} bytes, at most {most}.", None)


def _max_tokens(body: dict[str, Any]) -> int:
    gen = body.get("generationConfig") or {}
    for value in (body.get("max_completion_tokens"), body.get("max_tokens"),
                  body.get("max_output_tokens"), gen.get("maxOutputTokens")):  # fmt: skip
        if isinstance(value, int):
            return value
    return 0


def _output_cap(
    call: FakeCall, body: dict[str, Any], t: Target
) -> tuple[int, dict[str, Any]] | None:
    most, asked = t.model.max_output, _max_tokens(body)
    if most is None or asked <= most:
        return None
    provider = t.ref.provider
    if provider == "anthropic":  # verbatim form of the Messages API's refusal
        return _refuse(provider, f"max_tokens: {asked} > {most}, which is the maximum allowed "
                                 f"number of output tokens for {call.model}")  # fmt: skip
    if provider == "openai":  # verbatim form of the Chat Completions refusal
        return 400, _openai_error(
            f"max_tokens is too large: {asked}. This model supports at most {most} completion "
            f"tokens, whereas you provided {asked}.", "max_tokens", "invalid_value")  # fmt: skip
    return _refuse(provider, f"maxOutputTokens {asked} is above the model's limit of {most}.")


def prompt_tokens(call: FakeCall, body: dict[str, Any], provider: str) -> int:
    """The fake's estimate of a request's prompt tokens: text / 4 plus each image's rule."""
    spec = find_spec(provider)
    images = 0
    for im in wire_images(body):
        w, h = im.size
        images += spec.image.tokens(w, h, "high") if spec is not None else 0
    text = len(call.prompt) + (len(str(call.schema)) if call.schema else 0)
    return math.ceil(text / 4) + images


def _context(call: FakeCall, body: dict[str, Any], t: Target) -> tuple[int, dict[str, Any]] | None:
    most = t.model.context
    if most is None:
        return None
    asked = _max_tokens(body)
    prompt = prompt_tokens(call, body, t.ref.provider)
    if prompt + asked <= most:
        return None
    provider = t.ref.provider
    if provider == "anthropic":  # verbatim form: "prompt is too long: N tokens > M maximum"
        return _refuse(provider, f"prompt is too long: {prompt} tokens > {most} maximum")
    if provider == "gemini":  # verbatim form of the Gemini API's refusal
        return _refuse(provider, f"The input token count ({prompt}) exceeds the maximum number "
                                 f"of tokens allowed ({most}).")  # fmt: skip
    # OpenAI and vLLM: "This model's maximum context length is 8192 tokens. However, ..."
    return 400, (_vllm_error if provider == "openai-compat" else
                 lambda m: _openai_error(m, "messages", "context_length_exceeded"))(
        f"This model's maximum context length is {most} tokens. However, you requested "
        f"{prompt + asked} tokens ({prompt} in the messages, {asked} in the completion). "
        "Please reduce the length of the messages or completion.")  # fmt: skip
