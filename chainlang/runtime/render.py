"""Turn an IR prompt plus argument values into neutral messages and an answer type.

A prompt's chosen variant is a list of messages whose text has holes and whose
image slots name prompt parameters. ``each`` messages repeat once per item of
a batched ask (keys ``1..n``); the others are rendered once with the shared
arguments. The static text comes first and the per-question images last, so
providers' prefix caches apply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.language import ir
from chainlang.language.types import FieldT, ListT, RecordT, TextT, Type
from chainlang.providers.base import ImagePart, Message, Part, TextPart

REASONING = "reasoning"
_REASONING_FIELD = FieldT(
    name=REASONING, type=ListT(item=TextT()), doc="your reasoning steps, before the answer"
)


def choose_variant(prompt: ir.Prompt, variants: Mapping[str, str]) -> ir.Variant:
    """The variant selected for ``prompt`` (its default when none was chosen)."""
    wanted = variants.get(prompt.name, prompt.default_variant)
    for v in prompt.variants:
        if v.name == wanted:
            return v
    names = ", ".join(v.name for v in prompt.variants)
    raise OperationError(f"prompt {prompt.name!r} has no variant {wanted!r} (it has: {names})")


def render(
    variant: ir.Variant,
    shared: Mapping[str, Any],
    each: Sequence[Mapping[str, Any]] | None,
) -> tuple[Message, ...]:
    """Render a variant's messages.

    Args:
        variant: the chosen variant.
        shared: values of the prompt's shared parameters.
        each: per-item values of the ``each`` parameters for a batched ask, or
            None for a single question (``each`` messages then render once).
    """
    items = list(each) if each is not None else [{}]
    count = len(items)
    out: list[Message] = []
    for msg in variant.messages:
        if msg.each:
            for k, values in enumerate(items, start=1):
                scope = {**shared, **values, "key": str(k), "count": count}
                out.append(_message(msg, scope))
        else:
            out.append(_message(msg, {**shared, "count": count}))
    return tuple(_merge(out))


def shared_parts(variant: ir.Variant, shared: Mapping[str, Any], count: int) -> int:
    """How many leading parts of a batched ask's request (``count`` keys) come before
    its first per-key (``each``) part: the shared prefix (system text, the full image
    beside its crops) that the requests of an item repeat and providers can cache.
    0 for a variant without ``each`` messages."""
    if not any(m.each for m in variant.messages):
        return 0
    parts = 0
    for msg in variant.messages:
        if msg.each:
            break
        parts += len(_message(msg, {**shared, "count": count}).parts)
    return parts


def request_type(prompt: ir.Prompt, variant: ir.Variant, n: int | None) -> Type:
    """The answer type sent to the model: one answer, or ``n`` keyed answers.

    Reasoning variants gain a leading ``reasoning`` field (shared by the batch).
    """
    if n is None:
        return _with_reasoning(prompt.answer, variant.reasoning)
    fields = [FieldT(name=str(k), type=prompt.answer) for k in range(1, n + 1)]
    if variant.reasoning:
        fields.insert(0, _REASONING_FIELD)
    return RecordT(fields=tuple(fields))


def element_values(prompt: ir.Prompt, variant: ir.Variant, answer: Any, n: int | None) -> list[Any]:
    """Split a validated answer into the per-item values an ``ask`` evaluates to."""
    if n is None:
        return [_element(prompt, answer, _reasoning(answer, variant))]
    reasoning = _reasoning(answer, variant)
    return [_element(prompt, answer[str(k)], reasoning) for k in range(1, n + 1)]


def oracle_answer(
    prompt: ir.Prompt, variant: ir.Variant, values: Sequence[Any], n: int | None
) -> Any:
    """Shape per-item oracle answers like the model's answer would be."""
    if n is None:
        return _with_reasoning_value(values[0], variant.reasoning, prompt.answer)
    out: dict[str, Any] = {str(k): v for k, v in enumerate(values, start=1)}
    if variant.reasoning:
        out[REASONING] = []
    return out


def _with_reasoning(t: Type, reasoning: bool) -> Type:
    if not reasoning:
        return t
    if isinstance(t, RecordT):
        return RecordT(name=t.name, fields=(_REASONING_FIELD, *t.fields))
    return RecordT(fields=(_REASONING_FIELD, FieldT(name="answer", type=t)))


def _with_reasoning_value(value: Any, reasoning: bool, answer: Type) -> Any:
    if not reasoning:
        return value
    if isinstance(answer, RecordT):
        return {REASONING: [], **value}
    return {REASONING: [], "answer": value}


def _reasoning(answer: Any, variant: ir.Variant) -> list[str]:
    if variant.reasoning and isinstance(answer, dict):
        return list(answer.get(REASONING) or [])
    return []


def _element(prompt: ir.Prompt, value: Any, reasoning: list[str]) -> Any:
    """What the chain sees: the answer, plus ``reasoning`` when the element has it."""
    has_reasoning = isinstance(prompt.element, RecordT) and prompt.element.field(REASONING)
    if isinstance(prompt.answer, RecordT):
        fields = {k: v for k, v in value.items() if k != REASONING}
        return {**fields, REASONING: reasoning} if has_reasoning else fields
    if isinstance(value, dict) and "answer" in value:
        value = value["answer"]
    if has_reasoning:
        return {"answer": value, REASONING: reasoning}
    return value


def question_digests(
    variant: ir.Variant, shared: Mapping[str, Any], each: Sequence[Mapping[str, Any]]
) -> tuple[str, ...]:
    """One digest per key of a batched ask: its question rendered as if asked alone.

    The digest hashes roles, texts and image digests of that single-question
    rendering, so it names the question whatever batch it was packed into (its
    key number and the batch size never enter it). Simulated answerers seed each
    key's answer from it.
    """
    out = []
    for values in each:
        h = hashlib.sha256()
        for m in render(variant, shared, [values]):
            for part in m.parts:
                piece = (
                    part.text
                    if isinstance(part, TextPart)
                    else f"{part.image.digest}:{part.detail}"
                )
                h.update(f"{m.role}|{part.kind}|{len(piece)}|{piece}|".encode())
        out.append(h.hexdigest())
    return tuple(out)


def _message(msg: ir.Message, scope: Mapping[str, Any]) -> Message:
    parts: list[Part] = []
    for part in msg.parts:
        if isinstance(part, ir.ImageSlot):
            parts.extend(_images(part, scope))
        else:
            parts.append(TextPart(_text(part, scope)))
    return Message(msg.role, tuple(parts))


def _images(slot: ir.ImageSlot, scope: Mapping[str, Any]) -> list[ImagePart]:
    value = scope.get(slot.param)
    images = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for image in images:
        if not isinstance(image, ImageData):
            raise OperationError(
                f"image slot [{slot.param}] got {type(image).__name__}, not an image", slot.origin
            )
        out.append(ImagePart(image, slot.detail))
    return out


def _text(part: ir.TextPart, scope: Mapping[str, Any]) -> str:
    chunks = []
    for seg in part.segments:
        if isinstance(seg, ir.TextSeg):
            chunks.append(seg.text)
        elif seg.name in scope:
            chunks.append(show(scope[seg.name]))
        else:
            raise OperationError(f"prompt hole {{{seg.name}}} has no value", seg.origin)
    return "".join(chunks)


def show(value: Any) -> str:
    """How a value reads inside prompt text (lists as comma-separated words)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(show(v) for v in value if v is not None)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _merge(messages: list[Message]) -> list[Message]:
    """Join consecutive messages of one role (providers want alternating turns)."""
    merged: list[Message] = []
    for m in messages:
        if merged and merged[-1].role == m.role:
            merged[-1] = Message(m.role, merged[-1].parts + m.parts)
        else:
            merged.append(m)
    return merged
