"""Whether a request fits its provider's contract, and adapting it where the meaning allows.

:func:`violations` measures one :class:`~chainlang.providers.base.ModelRequest` as
the provider will see it (the schema its adapter sends, the images after the
provider's resize rule, the body size) against the target model's
:class:`~chainlang.providers.contracts.Contract` and returns every limit it breaks.

:func:`adapt` rewrites a request whose meaning survives the rewrite, and records
what it did in ``request.adapted``:

- label enums that push an answer schema past the provider's enum or character
  limits leave the schema: each such field becomes a string described as "one
  label of the list given in the instructions", the list is in the prompt (the
  chain's own text usually names it; otherwise a line is added), and the reply is
  still validated against the label set, with a re-ask naming the wrong label.
  (Factoring a repeated enum into one ``$defs`` entry would be the smaller change,
  but no provider documents that a referenced definition is counted once.)

The same measures serve the fake provider server, which refuses exactly what the
contract refuses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from chainlang.language.answers import without_bounds
from chainlang.providers.base import ImagePart, Message, ModelRef, ModelRequest, TextPart
from chainlang.providers.capabilities import image_policy, prepare_image, target_size
from chainlang.providers.contracts import Contract, ModelLimits, SchemaLimits, contract_of

ADAPTED_LABELS = "one label of the list given in the instructions"


@dataclass(frozen=True, slots=True)
class Violation:
    """One limit one request breaks.

    ``what`` names the thing measured ("the answer schema", "the request"),
    ``limit`` the rule ("enum values"), ``figure`` what the request has and
    ``allowed`` what the contract accepts; ``by`` names who accepts it.
    """

    what: str
    limit: str
    figure: int
    allowed: int
    by: str
    hint: str = ""

    def text(self) -> str:
        """``the answer schema has 2,128 enum values; openai strict mode accepts 1,000``."""
        out = f"{self.what} has {self.figure:,} {self.limit}; {self.by} accepts {self.allowed:,}"
        return f"{out} — {self.hint}" if self.hint else out


@dataclass(frozen=True, slots=True)
class Target:
    """The contract a request is checked against, and whether its model is known."""

    ref: ModelRef
    contract: Contract
    model: ModelLimits  # the model's own limits, or empty ones for a model not listed
    known: bool

    @property
    def schema(self) -> SchemaLimits | None:
        return self.contract.schema_limits(self.ref.api)

    def warning(self) -> str | None:
        """What to say about a model the contract does not list (None: it lists it)."""
        if self.known or self.ref.provider == "openai-compat":
            return None
        return (
            f"no contract known for model {self.ref.model!r}: checking it against "
            f"{self.ref.provider}'s generic limits (schema, images, request size), "
            "not its context window"
        )


def target_for(ref: ModelRef) -> Target | None:
    """The contract ``ref``'s requests must meet (None: a simulated answerer)."""
    contract = contract_of(ref.provider)
    if contract is None:
        return None
    limits = contract.model_limits(ref.model)
    opts = dict(ref.options)
    model = limits or ModelLimits()
    if "context" in opts and opts["context"].isdigit():  # an openai-compat server's own figure
        model = replace(model, context=int(opts["context"]))
    images = contract.images
    if "max_images" in opts and opts["max_images"].isdigit():
        images = replace(images, max_images=int(opts["max_images"]))
        contract = replace(contract, images=images)
    return Target(ref, contract, model, limits is not None)


# --------------------------------------------------------------------------- schema


def wire_schema(request: ModelRequest) -> dict[str, Any] | None:
    """The answer schema as the adapter sends it (None: no schema goes out)."""
    ref = request.model
    if request.schema is None:
        return None
    if ref.provider == "openai-compat" and dict(ref.options).get("schema") == "off":
        return None  # the schema becomes instructions in the prompt
    if ref.provider == "anthropic" and ref.api == "native":
        return without_bounds(request.schema)
    return request.schema


@dataclass
class SchemaSize:
    """The figures of one schema that structured-output limits bound."""

    properties: int = 0
    depth: int = 0
    enum_values: int = 0
    total_chars: int = 0
    largest_enum_chars: int = 0  # characters of the largest enum above the large-enum size
    optional: int = 0
    unions: int = 0


def measure(schema: dict[str, Any], limits: SchemaLimits) -> SchemaSize:
    """Measure ``schema`` as ``limits``' provider counts it.

    A ``$ref`` is followed at every use unless the provider documents that a
    definition counts once; definition names count as characters.
    """
    size = SchemaSize()
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    size.total_chars += sum(len(name) for name in defs)
    once = bool(limits.refs_counted_once)
    for d in defs.values() if once else ():
        _walk(d, 1, size, limits, defs, once, frozenset())
    _walk(schema, 0, size, limits, defs, once, frozenset())
    return size


def _walk(
    node: Any,
    depth: int,
    size: SchemaSize,
    limits: SchemaLimits,
    defs: dict[str, Any],
    once: bool,
    seen: frozenset[str],
) -> None:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and not once:
        name = ref.rsplit("/", 1)[-1]
        if name in defs and name not in seen:  # a recursive schema is counted once
            _walk(defs[name], depth, size, limits, defs, once, seen | {name})
        return
    props = node.get("properties")
    if isinstance(props, dict):
        depth += 1
        size.depth = max(size.depth, depth)
        size.properties += len(props)
        size.total_chars += sum(len(k) for k in props)
        required = set(node.get("required", []))
        size.optional += sum(1 for k in props if k not in required)
        for child in props.values():
            if isinstance(child, dict) and (
                "anyOf" in child or isinstance(child.get("type"), list)
            ):
                size.unions += 1
            _walk(child, depth, size, limits, defs, once, seen)
    enum = node.get("enum")
    if isinstance(enum, list):
        size.enum_values += len(enum)
        chars = sum(len(str(v)) for v in enum)
        size.total_chars += chars
        if limits.large_enum is not None and len(enum) > limits.large_enum:
            size.largest_enum_chars = max(size.largest_enum_chars, chars)
    if "const" in node:
        size.total_chars += len(str(node["const"]))
    for key in ("items", "additionalProperties"):
        _walk(node.get(key), depth, size, limits, defs, once, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for child in node.get(key, []) if isinstance(node.get(key), list) else []:
            _walk(child, depth, size, limits, defs, once, seen)


def schema_violations(schema: dict[str, Any], limits: SchemaLimits) -> list[Violation]:
    """Every limit of ``limits`` that ``schema`` breaks."""
    size = measure(schema, limits)
    checks = (
        ("object properties", size.properties, limits.max_properties),
        ("levels of nesting", size.depth, limits.max_depth),
        ("enum values", size.enum_values, limits.max_enum_values),
        (
            "characters of names and enum values",
            size.total_chars,
            limits.max_total_chars,
        ),
        (
            f"characters in one enum of more than {limits.large_enum} values",
            size.largest_enum_chars,
            limits.max_large_enum_chars,
        ),
        ("optional properties", size.optional, limits.max_optional),
        ("union-typed properties", size.unions, limits.max_unions),
    )
    return [
        Violation("the answer schema", what, figure, allowed, limits.mode)
        for what, figure, allowed in checks
        if allowed is not None and figure > allowed
    ]


# --------------------------------------------------------------------------- images, body


def _images(request: ModelRequest) -> Iterator[ImagePart]:
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, ImagePart):
                yield part


def _b64(n: int) -> int:
    return 4 * math.ceil(n / 3)


def _sent_bytes(part: ImagePart, ref: ModelRef, exact: bool) -> int:
    """Base64 bytes of ``part`` as sent: an upper bound (raw pixels), or encoded exactly."""
    if exact:
        data, _, _ = prepare_image(part.image, ref, part.detail)
        return _b64(len(data))
    w, h = target_size(part.image.size, image_policy(ref, part.detail))
    return _b64(w * h * 3 + 1024)  # a JPEG or PNG of these pixels is rarely larger


def too_many_images(request: ModelRequest, target: Target | None) -> tuple[int, int] | None:
    """(images, the most accepted) when ``request`` carries more images than ``target``
    accepts, else None (the interpreter then splits a keyed request)."""
    most = None if target is None else target.contract.images.max_images
    n = sum(1 for _ in _images(request))
    return (n, most) if most is not None and n > most else None


def image_violations(request: ModelRequest, target: Target) -> list[Violation]:
    """Image count, image sizes and bytes, and body size of ``request`` against ``target``."""
    lim = target.contract.images
    by = f"{target.ref.provider}"
    parts = list(_images(request))
    out: list[Violation] = []
    if lim.max_images is not None and len(parts) > lim.max_images:
        hint = "send fewer images per request (a smaller 'batch' or 'per_call')"
        out.append(Violation("the request", "images", len(parts), lim.max_images, by, hint))
    side_limit = lim.max_side
    if lim.many_images is not None and len(parts) > lim.many_images:
        side_limit = lim.max_side_many
    if side_limit is not None:
        sides = [
            max(target_size(p.image.size, image_policy(request.model, p.detail))) for p in parts
        ]
        if sides and max(sides) > side_limit:
            out.append(Violation("an image of the request", "pixels on its long side",
                                 max(sides), side_limit, by))  # fmt: skip
    if lim.max_image_bytes is not None and parts:
        worst = max(parts, key=lambda p: _sent_bytes(p, request.model, False))
        if _sent_bytes(worst, request.model, False) > lim.max_image_bytes:
            got = max(_sent_bytes(p, request.model, True) for p in parts)
            if got > lim.max_image_bytes:
                out.append(Violation("an image of the request", "bytes (base64)", got,
                                     lim.max_image_bytes, by))  # fmt: skip
    out += _body_violations(request, target, parts)
    return out


def _body_violations(
    request: ModelRequest, target: Target, parts: list[ImagePart]
) -> list[Violation]:
    most = target.contract.max_body_bytes
    if most is None:
        return []
    text = sum(len(p.text.encode()) for m in request.messages for p in m.parts
               if isinstance(p, TextPart))  # fmt: skip
    text += len(json.dumps(request.schema)) if request.schema else 0
    bound = text + sum(_sent_bytes(p, request.model, False) for p in parts)
    if bound <= most:
        return []
    got = text + sum(_sent_bytes(p, request.model, True) for p in parts)
    if got <= most:
        return []
    return [Violation("the request body", "bytes", got, most, target.ref.provider)]


def token_violations(request: ModelRequest, target: Target, input_tokens: int) -> list[Violation]:
    """Context window and output cap of ``target``'s model (``input_tokens``: an estimate)."""
    out: list[Violation] = []
    model, name = target.model, f"{target.ref.provider}:{target.ref.model}"
    cap = request.params.max_tokens or 0
    if model.max_output is not None and cap > model.max_output:
        out.append(Violation("the request", "max_tokens", cap, model.max_output, name))
    if model.context is not None and input_tokens + cap > model.context:
        out.append(Violation("the request", "tokens of input and max_tokens (estimated)",
                             input_tokens + cap, model.context, name))  # fmt: skip
    return out


def violations(
    request: ModelRequest, target: Target, input_tokens: int | None = None
) -> list[Violation]:
    """Every limit of ``target`` that ``request`` breaks (tokens only when estimated)."""
    out: list[Violation] = []
    schema, limits = wire_schema(request), target.schema
    if schema is not None and limits is not None:
        out += schema_violations(schema, limits)
    out += image_violations(request, target)
    if input_tokens is not None:
        out += token_violations(request, target, input_tokens)
    return out


# --------------------------------------------------------------------------- adapting


def adapt(request: ModelRequest, target: Target | None) -> ModelRequest:
    """``request`` rewritten to fit ``target`` where the meaning survives (see the module).

    A request that fits, or that no rewrite would make fit, is returned unchanged
    (the planner then reports what it breaks).
    """
    schema, limits = wire_schema(request), None if target is None else target.schema
    if schema is None or limits is None or request.schema is None:
        return request
    if not schema_violations(schema, limits):
        return request
    moved: list[list[str]] = []
    new = request.schema
    for values in _enums_by_weight(new):
        new = _without_enum(new, values)
        moved.append(values)
        trial = replace(request, schema=new)
        if not schema_violations(wire_schema(trial) or {}, limits):
            break
    trial = replace(request, schema=new)
    if schema_violations(wire_schema(trial) or {}, limits):
        return request
    messages = _with_label_lists(request.messages, moved)
    broken = ", ".join(v.limit for v in schema_violations(schema, limits))
    note = (
        f"the answer schema of {request.schema_name} has more {broken} than {limits.mode} "
        "accepts: its labels moved from the schema to the prompt, and each answer is "
        "still checked against them (re-asked if not)"
    )
    return replace(trial, messages=messages, adapted=(*request.adapted, note))


def _enums(node: Any) -> Iterator[list[str]]:
    if isinstance(node, dict):
        enum = node.get("enum")
        if isinstance(enum, list) and all(isinstance(v, str) for v in enum):
            yield enum
        for value in node.values():
            yield from _enums(value)
    elif isinstance(node, list):
        for value in node:
            yield from _enums(value)


def _enums_by_weight(schema: dict[str, Any]) -> list[list[str]]:
    """Distinct string enums, the one adding the most values (size × uses) first."""
    counts: dict[tuple[str, ...], int] = {}
    for enum in _enums(schema):
        counts[tuple(enum)] = counts.get(tuple(enum), 0) + 1
    ranked = sorted(counts, key=lambda e: -len(e) * counts[e])
    return [list(e) for e in ranked]


def _without_enum(node: Any, values: list[str]) -> Any:
    if isinstance(node, dict):
        if node.get("enum") == values:
            rest = {k: v for k, v in node.items() if k not in ("enum", "description")}
            said = node.get("description")
            text = f"{said}; {ADAPTED_LABELS}" if said else ADAPTED_LABELS
            return {**rest, "type": "string", "description": text}
        return {k: _without_enum(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_enum(v, values) for v in node]
    return node


def _with_label_lists(messages: tuple[Message, ...], moved: list[list[str]]) -> tuple[Message, ...]:
    """``messages``, plus a line listing each moved label set the prompt does not name yet."""
    said = "\n".join(p.text for m in messages for p in m.parts if isinstance(p, TextPart))
    missing = [v for v in moved if not all(label in said for label in v)]
    if not missing:
        return messages
    lines = [f"Allowed labels: {', '.join(v)}." for v in missing]
    extra = Message("user", (TextPart("\n".join(lines)),))
    return (*messages, extra)
