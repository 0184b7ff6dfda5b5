"""Answer synthesis for the fake server: schema examples, prose answers, images, token estimates."""

from __future__ import annotations

import io
import json
import random
from typing import Any


def example_from_schema(schema: dict[str, Any], rng: random.Random | None = None) -> Any:
    """A value that satisfies ``schema`` (enums: first value, or a seeded choice with ``rng``)."""
    if "enum" in schema:
        values = schema["enum"]
        return rng.choice(values) if rng else values[0]
    kind = schema.get("type", "")
    if kind == "object":
        return {k: example_from_schema(v, rng) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_from_schema(schema.get("items", {}), rng)]
    return {"string": "…", "integer": 1, "number": 0.5, "boolean": True}.get(kind, "…")


def estimate_tokens(value: Any) -> int:
    """Input-token estimate: text chars / 4 plus 100 per long (image) string."""
    if isinstance(value, dict):
        return sum(estimate_tokens(v) for v in value.values())
    if isinstance(value, list):
        return sum(estimate_tokens(v) for v in value)
    if isinstance(value, str):
        return 100 if len(value) > 4000 else max(1, len(value) // 4)
    return 1


def png(size: int = 64) -> bytes:
    """A grey placeholder PNG: the image every image answer carries."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (128, 128, 128)).save(buf, "PNG")
    return buf.getvalue()


def prose_answer(prompt: str) -> str:
    """Echo the JSON example of a text-instruction prompt, wrapped in chatty prose."""
    from chainlang.language.answers import AnswerError, extract_json

    tail = prompt.rsplit("Example", 1)[-1]
    try:
        example = extract_json(tail)
    except AnswerError:
        example = {}
    return (
        f"Sure! Here is my answer:\n```json\n{json.dumps(example, indent=1)},\n```\nHope it helps."
    )
