"""Helpers shared by the provider tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import math
from typing import Any

from chainlang.image import ImageData
from chainlang.language.answers import schema_for
from chainlang.language.types import EnumT, FieldT, RecordT, TextT, Type
from chainlang.providers.base import ImagePart, Message, ModelRequest, Params, TextPart
from chainlang.providers.registry import make_provider, parse_model, resolve_credentials
from chainlang.testing import FakeProviderServer

LABELS = ("person", "zebra", "traffic light", "hot_dog", "cat")

DEPTH = RecordT(
    fields=(
        FieldT(name="nearer", type=EnumT(values=("red", "blue")), doc="the nearer marker"),
        FieldT(name="reasoning", type=TextT()),
    )
)


def env_for(fake: FakeProviderServer) -> dict[str, str]:
    """Environment pointing every SDK at the fake server."""
    return {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.openai_base_url,
        "ANTHROPIC_API_KEY": "ak-test",
        "ANTHROPIC_BASE_URL": fake.base_url,
        "GEMINI_API_KEY": "gk-test",
        "GEMINI_BASE_URL": fake.base_url,
    }


# Every provider's credentials headers, for tests that speak HTTP to the fake server
# without an SDK (it refuses a request without them, as the real APIs do).
KEYS = {
    "authorization": "Bearer sk-test",
    "anthropic-version": "2023-06-01",
    "x-goog-api-key": "gk-test",
}


def provider(spec: str, fake: FakeProviderServer) -> Any:
    """A real provider for ``spec`` talking to ``fake`` (``{url}`` is the OpenAI base URL)."""
    ref = parse_model(spec.format(url=fake.openai_base_url))
    return make_provider(ref, resolve_credentials(ref, env_for(fake), {}))


def request(
    prov: Any,
    img: ImageData | None,
    answer: Type = DEPTH,
    *,
    system: str | None = "You judge depth.",
    text: str = "Which marker is nearer? [depth]",
    detail: str = "high",
    params: Params | None = None,
) -> ModelRequest:
    """A typical question: optional system prompt, instruction text, then the image."""
    parts: list[Any] = [TextPart(text)]
    if img is not None:
        parts.append(ImagePart(img, detail))  # type: ignore[arg-type]
    messages = ([Message("system", (TextPart(system),))] if system else []) + [
        Message("user", tuple(parts))
    ]
    return ModelRequest(
        model=prov.ref,
        messages=tuple(messages),
        answer_type=answer,
        schema=schema_for(answer),
        params=params or Params(),
    )


# --------------------------------------------------------------------------- JSON Schema checks


def check_strict(schema: dict[str, Any], path: str = "$") -> None:
    """Assert ``schema`` follows OpenAI strict-mode rules (objects closed, all keys required)."""
    kind = schema.get("type")
    assert kind in {"object", "array", "string", "integer", "number", "boolean"}, (path, schema)
    if kind == "object":
        assert schema["additionalProperties"] is False, path
        assert schema["required"] == list(schema["properties"]), path
        for name, sub in schema["properties"].items():
            check_strict(sub, f"{path}.{name}")
    elif kind == "array":
        check_strict(schema["items"], f"{path}[]")
    if "enum" in schema:
        assert kind == "string" and all(isinstance(v, str) for v in schema["enum"]), path
    # only the keywords OpenAI's strict mode documents for each kind
    allowed = {"type", "description", "enum"} | {
        "object": {"properties", "required", "additionalProperties"},
        "array": {"items", "minItems", "maxItems"},
        "integer": {"minimum", "maximum"},
        "number": {"minimum", "maximum"},
    }.get(kind, set())
    assert set(schema) <= allowed, (path, set(schema) - allowed)


def conforms(schema: dict[str, Any], value: Any) -> bool:
    """A small JSON Schema validator for the subset ``schema_for`` emits."""
    kind = schema["type"]
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind == "object":
        return (
            isinstance(value, dict)
            and set(value) == set(schema["properties"])
            and all(conforms(s, value[k]) for k, s in schema["properties"].items())
        )
    if kind == "array":
        return (
            isinstance(value, list)
            and schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value))
            and all(conforms(schema["items"], v) for v in value)
        )
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number"):
        number = int if kind == "integer" else int | float
        return (
            isinstance(value, number)
            and not isinstance(value, bool)
            and schema.get("minimum", -math.inf) <= value <= schema.get("maximum", math.inf)
        )
    return isinstance(value, str)
