"""Answer types as the model sees them, and model replies as chains see them.

Four jobs, all driven by a :mod:`chainlang.language.types` answer type:

- :func:`schema_for` turns the type into a JSON Schema that OpenAI's strict mode
  accepts (and so do Anthropic tools, Gemini and vLLM guided decoding);
- :func:`instructions_for` describes the same shape in words plus a JSON example,
  for servers that cannot enforce a schema;
- :func:`extract_json` finds the JSON in a free-text reply;
- :func:`validate` checks a decoded reply against the type and returns it
  normalised (label spelling, record field order), or raises :class:`AnswerError`
  naming the offending path, so the scheduler can re-ask with that message.

:func:`random_answer`, :func:`other_answer` and :func:`flip_answers` draw valid
values for the simulated answerers (``random`` and ``oracle:flip=P``).

Strict mode wants an object at the top, so an answer type that is not a record
or a keyed batch is wrapped as ``{"answer": T}``; :func:`validate` accepts both
the wrapped and the bare form and returns the bare value.

Answer shapes (``Int(0..20)``, ``Float(0.0..1.0)``, ``[T; 5]``, ``permutation of
[...]``) are stated with the keywords OpenAI's strict mode enforces (``minimum``,
``maximum``, ``minItems``, ``maxItems``); that each value of a permutation comes
exactly once cannot be said in strict mode (no ``uniqueItems``), so the schema
says it in a ``description`` and :func:`validate` enforces it. For servers that
take no such keywords, :func:`without_bounds` moves them into descriptions.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from chainlang.errors import ChainlangError, UsageError
from chainlang.language.labelsets import normalise  # the one spelling rule, shared with the checker
from chainlang.language.types import (
    POINT,
    BoolT,
    EnumT,
    FieldT,
    FixedListT,
    FloatRangeT,
    FloatT,
    ImageT,
    IntRangeT,
    IntT,
    KeyedT,
    LabelT,
    ListT,
    OptionalT,
    PermutationT,
    RankingT,
    RecordT,
    TextT,
    Type,
)

WRAP_KEY = "answer"
MAX_ENUM_LABELS = 300  # above this, a label enum bloats every request; validate afterwards
REASONING_FIELD = "reasoning"

LabelLoader = Callable[[str], tuple[str, ...]]
ImageSize = tuple[int, int]

#: A random ``Ranking`` answer orders the ids "1".."RANDOM_RANKING_IDS": instance and region
#: ids count from 1, and restricted to any of its ids the order is uniformly random.
RANDOM_RANKING_IDS = 10


class AnswerError(ChainlangError):
    """A model reply does not fit its declared answer type (the message names the path)."""


class AnswerPoint(NamedTuple):
    """A ``Point`` answer: ``.x`` and ``.y`` for chains, a pair for operations and JSON."""

    x: float
    y: float


# --------------------------------------------------------------------------- labels


def load_labels(name: str) -> tuple[str, ...]:
    """A label set by built-in name or file path (:func:`~chainlang.language.labelsets.load`)."""
    from chainlang.language.labelsets import (
        load,  # lazy: answers must import without the data files
    )

    return load(name)


class _Vocab:
    """Allowed strings of one enum or label set, indexed by normalised form."""

    def __init__(self, name: str, values: tuple[str, ...]) -> None:
        self.name = name
        self.values = values
        self.by_norm = {normalise(v): v for v in values}

    def match(self, text: str) -> str | None:
        return self.by_norm.get(normalise(text))

    def closest(self, text: str) -> str | None:
        hits = difflib.get_close_matches(normalise(text), list(self.by_norm), n=1, cutoff=0.6)
        return self.by_norm[hits[0]] if hits else None


class _Context:
    """Per-call memo so a keyed batch of 50 labels builds the label index once."""

    def __init__(self, loader: LabelLoader, image_size: ImageSize | None = None) -> None:
        self.loader = loader
        self.vocabs: dict[str, _Vocab] = {}
        # (width, height) of the image a simulated answer's points lie in, when known
        self.image_size = image_size

    def labels(self, name: str) -> _Vocab:
        if name not in self.vocabs:
            self.vocabs[name] = _vocab(name, tuple(self.loader(name)))
        return self.vocabs[name]


@functools.lru_cache(maxsize=256)
def _vocab(name: str, values: tuple[str, ...]) -> _Vocab:
    """One index per distinct set of values: every answer of a run is checked against the
    same few enums and label sets, and indexing a 133-label set is most of a check."""
    return _Vocab(name, values)


# --------------------------------------------------------------------------- schema


def schema_for(t: Type, *, labels: LabelLoader = load_labels) -> dict[str, Any] | None:
    """JSON Schema of answer type ``t``, valid for OpenAI strict mode.

    Args:
        t: the answer type.
        labels: label-set loader (defaults to :func:`load_labels`).

    Returns:
        An object schema (non-object types wrapped as ``{"answer": ...}``), or
        None for :class:`ImageT` answers, which are images, not JSON.

    Raises:
        UsageError: the type cannot be an answer (optional, opaque, keyed without keys).
    """
    if isinstance(t, ImageT):
        return None
    ctx = _Context(labels)
    if isinstance(t, RecordT | KeyedT):
        return _schema(t, ctx)
    return _object({WRAP_KEY: _schema(t, ctx)})


def _object(props: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _schema(t: Type, ctx: _Context) -> dict[str, Any]:
    if isinstance(t, BoolT):
        return {"type": "boolean"}
    if isinstance(t, IntRangeT | FloatRangeT):
        kind = "integer" if isinstance(t, IntRangeT) else "number"
        return {"type": kind, "minimum": t.lo, "maximum": t.hi}
    if isinstance(t, PermutationT):
        values = _permuted(t, ctx)
        item = _schema(t.item, ctx)
        return {
            "type": "array",
            "description": f"each of the {len(values)} values exactly once, in your order",
            "items": item,
            "minItems": len(values),
            "maxItems": len(values),
        }
    if isinstance(t, FixedListT):
        item = _schema(t.item, ctx)
        return {"type": "array", "items": item, "minItems": t.length, "maxItems": t.length}
    if t == POINT:  # [x, y], as dataset truth writes points
        pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        return {**pair, "description": "[x, y] in pixels"}
    if isinstance(t, IntT):
        return {"type": "integer"}
    if isinstance(t, FloatT):
        return {"type": "number"}
    if isinstance(t, TextT):
        return {"type": "string"}
    if isinstance(t, EnumT):
        return {"type": "string", "enum": list(t.values)}
    if isinstance(t, LabelT):
        values = ctx.labels(t.labelset).values
        if len(values) <= MAX_ENUM_LABELS:
            return {"type": "string", "enum": list(values)}
        return {"type": "string", "description": f"one label of the {t.labelset} label set"}
    if isinstance(t, ListT):
        return {"type": "array", "items": _schema(t.item, ctx)}
    if isinstance(t, RecordT):
        props = {}
        for f in _ordered_fields(t):
            props[f.name] = _schema(f.type, ctx)
            if f.doc:
                props[f.name] = {**props[f.name], "description": f.doc}
        return _object(props)
    if isinstance(t, KeyedT):
        return _object({k: _schema(t.item, ctx) for k in _keys(t)})
    if isinstance(t, OptionalT):
        raise UsageError(
            f"an optional type ({t.show()}) cannot be an answer: every field is required"
        )
    raise UsageError(f"{t.show()} cannot be an answer type (it has no JSON form)")


def _permuted(t: PermutationT, ctx: _Context) -> tuple[str, ...]:
    """The values a permutation orders (a label set's are read from its file)."""
    return ctx.labels(t.item.labelset).values if isinstance(t.item, LabelT) else t.values


#: Keywords that only bound a value; a server that takes none of them gets words instead.
BOUND_KEYWORDS = ("minimum", "maximum", "minItems", "maxItems")


def without_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with range and length keywords moved into ``description`` texts.

    For structured-output modes that reject them (Anthropic's ``output_config``);
    :func:`validate` still enforces the bounds on the reply.
    """
    out: dict[str, Any] = {}
    notes = []
    if "minimum" in schema and "maximum" in schema:
        notes.append(f"from {schema['minimum']} to {schema['maximum']}")
    if "minItems" in schema and schema.get("minItems") == schema.get("maxItems"):
        notes.append(f"exactly {schema['minItems']} items")
    for key, value in schema.items():
        if key in BOUND_KEYWORDS:
            continue
        if isinstance(value, dict):
            value = without_bounds(value) if key == "items" else _map_values(value)
        out[key] = value
    if notes:
        said = out.get("description")
        out["description"] = "; ".join([*([said] if said else []), *notes])
    return out


def _map_values(props: dict[str, Any]) -> dict[str, Any]:
    # ``properties``: each value is a schema; anything else (an enum list) stays as it is
    return {k: without_bounds(v) if isinstance(v, dict) else v for k, v in props.items()}


def _ordered_fields(t: RecordT) -> list[FieldT]:
    # Models that write their reasoning before the answer answer better, and
    # structured-output decoders emit properties in schema order.
    return sorted(t.fields, key=lambda f: f.name != REASONING_FIELD)


def _keys(t: KeyedT) -> tuple[str, ...]:
    if not t.keys:
        raise UsageError("a keyed answer needs its keys ('1'..'n') filled in before asking")
    return t.keys


# --------------------------------------------------------------------------- instructions


def instructions_for(t: Type, *, labels: LabelLoader = load_labels) -> str:
    """Describe the answer shape in words plus one JSON example.

    Used for servers without schema support; the reply is then read with
    :func:`extract_json` and checked with :func:`validate`.
    """
    if isinstance(t, ImageT):
        raise UsageError("an image answer has no JSON form to describe")
    ctx = _Context(labels)
    shape = t if isinstance(t, RecordT | KeyedT) else KeyedT(item=t, keys=(WRAP_KEY,))
    example = _example(shape, ctx)
    lines = ["Reply with a single JSON object and nothing else. Its fields:"]
    lines += _describe_fields(shape, ctx, indent="")
    lines += ["Example of the form (the values are placeholders):", json.dumps(example)]
    return "\n".join(lines)


def _describe_fields(t: RecordT | KeyedT, ctx: _Context, indent: str) -> list[str]:
    items = (
        [(f.name, f.type, f.doc) for f in _ordered_fields(t)]
        if isinstance(t, RecordT)
        else [(k, t.item, None) for k in _keys(t)]
    )
    out = []
    for name, ft, doc in items:
        note = f" ({doc})" if doc else ""
        out.append(f'{indent}- "{name}": {_describe(ft, ctx)}{note}')
        if isinstance(ft, RecordT):
            out += _describe_fields(ft, ctx, indent + "  ")
    return out


def _describe(t: Type, ctx: _Context) -> str:
    if isinstance(t, BoolT):
        return "true or false"
    if isinstance(t, IntRangeT):
        return f"an integer from {t.lo} to {t.hi}"
    if isinstance(t, FloatRangeT):
        return f"a number from {t.lo} to {t.hi}"
    if isinstance(t, PermutationT):
        values = _permuted(t, ctx)
        shown = ", ".join(json.dumps(v) for v in values)
        return f"a list of {len(values)} strings: each of {shown} exactly once, in your order"
    if isinstance(t, FixedListT):
        return f"a list of exactly {t.length} elements, each {_describe(t.item, ctx)}"
    if t == POINT:
        return "a point, as a list [x, y] of two numbers in pixels"
    if isinstance(t, IntT):
        return "an integer"
    if isinstance(t, FloatT):
        return "a number"
    if isinstance(t, TextT):
        return "a string"
    if isinstance(t, EnumT):
        return "one of " + ", ".join(json.dumps(v) for v in t.values)
    if isinstance(t, LabelT):
        values = ctx.labels(t.labelset).values
        if len(values) <= MAX_ENUM_LABELS:
            return "one of " + ", ".join(json.dumps(v) for v in values)
        return f"one label of the {t.labelset} label set, spelled exactly as listed"
    if isinstance(t, ListT):
        return f"a list, each element {_describe(t.item, ctx)}"
    if isinstance(t, RecordT):
        return "an object with these fields:"
    if isinstance(t, KeyedT):
        return f"an object with keys {', '.join(_keys(t))}, each {_describe(t.item, ctx)}"
    raise UsageError(f"{t.show()} cannot be an answer type (it has no JSON form)")


def _example(t: Type, ctx: _Context) -> Any:
    if isinstance(t, BoolT):
        return True
    if isinstance(t, IntRangeT | FloatRangeT):
        return t.lo
    if isinstance(t, PermutationT):
        return list(_permuted(t, ctx))
    if isinstance(t, FixedListT):
        return [_example(t.item, ctx)] * t.length
    if t == POINT:
        return [0, 0]
    if isinstance(t, IntT):
        return 0
    if isinstance(t, FloatT):
        return 0.5
    if isinstance(t, TextT):
        return "..."
    if isinstance(t, EnumT):
        return t.values[0]
    if isinstance(t, LabelT):
        return ctx.labels(t.labelset).values[0]
    if isinstance(t, ListT):
        return [_example(t.item, ctx)]
    if isinstance(t, RecordT):
        return {f.name: _example(f.type, ctx) for f in _ordered_fields(t)}
    if isinstance(t, KeyedT):
        return {k: _example(t.item, ctx) for k in _keys(t)}
    raise UsageError(f"{t.show()} cannot be an answer type (it has no JSON form)")


# --------------------------------------------------------------------------- extraction

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def extract_json(text: str) -> Any:
    """Find and decode the JSON value in a free-text reply.

    Tolerates code fences, prose before and after, and trailing commas.
    Single-quoted pseudo-JSON is rejected (it is not JSON, and guessing how to
    unquote it would silently change answers).

    Raises:
        AnswerError: no JSON value could be found, with the reason.
    """
    if not text or not text.strip():
        raise AnswerError("the reply is empty")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        for start in _starts(chunk):
            block = _balanced(chunk, start)
            if block is None:
                continue
            value = _loads_lenient(block)
            if value is not _NO_VALUE:
                return value
    stripped = text.strip()
    value = _loads_lenient(stripped)
    if value is not _NO_VALUE:
        return value
    if re.search(r"[{\[]\s*'", text):
        raise AnswerError("the reply uses single quotes, which is not JSON")
    raise AnswerError(f"no JSON object found in the reply: {_clip(text)}")


_NO_VALUE = object()


def _starts(text: str) -> list[int]:
    return [i for i, ch in enumerate(text) if ch in "{["]


def _balanced(text: str, start: int) -> str | None:
    """The bracketed block starting at ``start``, respecting strings; None if unclosed."""
    depth, in_str, escape = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _loads_lenient(block: str) -> Any:
    for candidate in (block, _TRAILING_COMMA.sub(r"\1", block)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return _NO_VALUE


def _clip(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------- validation


def validate(t: Type, value: Any, *, labels: LabelLoader = load_labels) -> Any:
    """Check a decoded reply against ``t`` and return it normalised.

    Labels and enum values match ignoring case, surrounding whitespace and
    ``_``/``-``/space differences and come back in their canonical spelling;
    records come back with fields in declared order. Numbers are never parsed
    from strings.

    Raises:
        AnswerError: the reply does not fit; the message names the JSON path,
            e.g. ``$.3.label: "zebraa" is not a label of coco80; closest: zebra``.
    """
    ctx = _Context(labels)
    if not isinstance(t, RecordT | KeyedT) and isinstance(value, dict) and set(value) == {WRAP_KEY}:
        value = value[WRAP_KEY]
    return _check(t, value, "$", ctx)


def _fail(path: str, message: str) -> AnswerError:
    return AnswerError(f"{path}: {message}")


def _show(value: Any) -> str:
    return _clip(json.dumps(value, default=str), 60)


def _check(t: Type, v: Any, path: str, ctx: _Context) -> Any:
    if isinstance(t, BoolT):
        if not isinstance(v, bool):
            raise _fail(path, f"expected true or false, got {_show(v)}")
        return v
    if isinstance(t, IntRangeT | FloatRangeT | FixedListT | PermutationT) or t == POINT:
        return _check_shape(t, v, path, ctx)
    if isinstance(t, RankingT):
        return _check_ranking(v, path)
    if isinstance(t, IntT):
        return _check_int(v, path)
    if isinstance(t, FloatT):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _fail(path, f"expected a number, got {_show(v)}")
        return float(v)
    if isinstance(t, TextT):
        if not isinstance(v, str):
            raise _fail(path, f"expected a string, got {_show(v)}")
        return v
    if isinstance(t, EnumT):
        return _check_word(_vocab("the choices", t.values), v, path, "one of the choices")
    if isinstance(t, LabelT):
        vocab = ctx.labels(t.labelset)
        return _check_word(vocab, v, path, f"a label of {t.labelset}")
    if isinstance(t, ListT):
        if not isinstance(v, list):
            raise _fail(path, f"expected a list, got {_show(v)}")
        return [_check(t.item, x, f"{path}[{i}]", ctx) for i, x in enumerate(v)]
    if isinstance(t, RecordT):
        return _check_object(path, v, [(f.name, f.type) for f in t.fields], ctx)
    if isinstance(t, KeyedT):
        return _check_object(path, v, [(k, t.item) for k in _keys(t)], ctx)
    raise UsageError(f"{t.show()} cannot be an answer type (it has no JSON form)")


def _check_shape(t: Type, v: Any, path: str, ctx: _Context) -> Any:
    """Ranges, fixed lengths, permutations and points: the type's form, then its bounds."""
    if isinstance(t, IntRangeT | FloatRangeT):
        number = _check(IntT() if isinstance(t, IntRangeT) else FloatT(), v, path, ctx)
        if not t.lo <= number <= t.hi:
            what = "an integer" if isinstance(t, IntRangeT) else "a number"
            raise _fail(path, f"expected {what} from {t.lo} to {t.hi}, got {_show(v)}")
        return number
    if t == POINT:
        return _check_point(v, path, ctx)
    assert isinstance(t, FixedListT | PermutationT)  # the caller sends only these
    items = _check(ListT(item=t.item), v, path, ctx)
    if isinstance(t, PermutationT):
        return _check_permutation(items, _permuted(t, ctx), path)
    if len(items) != t.length:
        raise _fail(path, f"expected exactly {t.length} elements, got {len(items)}")
    return items


def _check_permutation(items: list[str], values: tuple[str, ...], path: str) -> list[str]:
    twice = [v for v in dict.fromkeys(items) if items.count(v) > 1]
    missing = [v for v in values if v not in items]
    if twice or missing or len(items) != len(values):
        problems = []
        if twice:
            problems.append(f"{', '.join(json.dumps(v) for v in twice)} more than once")
        if missing:
            problems.append(f"{', '.join(json.dumps(v) for v in missing)} missing")
        listed = ", ".join(json.dumps(v) for v in values) if len(values) <= 12 else "the values"
        raise _fail(path, f"not a permutation ({'; '.join(problems)}): list each of {listed} once")
    return items


def _check_ranking(v: Any, path: str) -> list[str]:
    """A ranking's ids as text: a model writes ``"3"``, an oracle clause over an integer
    truth ranking gives ``3``; both are the same id (the ranking metrics compare text)."""
    if not isinstance(v, list):
        raise _fail(path, f"expected a list of ids, got {_show(v)}")
    out = []
    for i, x in enumerate(v):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, int | float) and not isinstance(x, bool) and float(x).is_integer():
            out.append(str(int(x)))
        else:
            raise _fail(
                f"{path}[{i}]", f"expected an id (a string or a whole number), got {_show(x)}"
            )
    return out


def _check_point(v: Any, path: str, ctx: _Context) -> AnswerPoint:
    if isinstance(v, dict):
        xy = _check_object(path, v, [("x", FloatT()), ("y", FloatT())], ctx)
        return AnswerPoint(xy["x"], xy["y"])
    if isinstance(v, list | tuple) and len(v) == 2:
        return AnswerPoint(*(_check(FloatT(), c, f"{path}[{i}]", ctx) for i, c in enumerate(v)))
    raise _fail(path, f"expected a point [x, y], got {_show(v)}")


def _check_int(v: Any, path: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(path, f"expected an integer, got {_show(v)}")
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        raise _fail(path, f"expected an integer, got {_show(v)}")
    return int(v)


def _check_word(vocab: _Vocab, v: Any, path: str, what: str) -> str:
    if isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer():
        # a choice "3" given as the number 3: an oracle clause over integer truth ids
        # (`order = truth.size_rank` for a `permutation of ["1", ...]`)
        hit = vocab.match(str(int(v)))
        if hit is not None:
            return hit
    if not isinstance(v, str):
        raise _fail(path, f"expected a string, {what}, got {_show(v)}")
    hit = vocab.match(v)
    if hit is not None:
        return hit
    closest = vocab.closest(v)
    hint = f"; closest: {closest}" if closest else ""
    if len(vocab.values) <= 12:
        hint += "; allowed: " + ", ".join(vocab.values)
    raise _fail(path, f"{_show(v)} is not {what}{hint}")


def _check_object(
    path: str, v: Any, fields: list[tuple[str, Type]], ctx: _Context
) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _fail(path, f"expected an object, got {_show(v)}")
    names = [n for n, _ in fields]
    missing = [n for n in names if n not in v]
    if missing:
        raise _fail(path, f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    extra = [k for k in v if k not in names]
    if extra:
        raise _fail(path, f"unexpected key{'s' if len(extra) > 1 else ''} {', '.join(extra)}")
    return {n: _check(ft, v[n], f"{path}.{n}", ctx) for n, ft in fields}


# --------------------------------------------------------------------------- simulated values

_WORDS = ("red", "blue", "left", "right", "near", "far", "cat", "tree", "road", "sky")


def random_answer(
    t: Type,
    rng: np.random.Generator,
    *,
    labels: LabelLoader = load_labels,
    image_size: ImageSize | None = None,
) -> Any:
    """A uniformly drawn valid value of ``t`` (validates against ``t``).

    ``image_size`` (width, height) is the pixel space of ``Point`` answers (the image the
    question showed); without it a point is drawn in the unit square.
    """
    return _random(t, rng, _Context(labels, image_size))


def _random(t: Type, rng: np.random.Generator, ctx: _Context) -> Any:
    if isinstance(t, BoolT):
        return bool(rng.random() < 0.5)
    if isinstance(t, IntRangeT):
        return int(rng.integers(t.lo, t.hi + 1))  # every integer of the range equally likely
    if isinstance(t, FloatRangeT):
        return float(t.lo + (t.hi - t.lo) * rng.random())
    if isinstance(t, PermutationT):
        values = _permuted(t, ctx)
        return [values[int(i)] for i in rng.permutation(len(values))]  # uniform over orders
    if isinstance(t, FixedListT):
        return [_random(t.item, rng, ctx) for _ in range(t.length)]
    if t == POINT:
        return _random_point(rng, ctx)
    if isinstance(t, RankingT):
        ids = [str(i) for i in range(1, RANDOM_RANKING_IDS + 1)]
        return [ids[int(i)] for i in rng.permutation(len(ids))]
    if isinstance(t, IntT):
        return int(rng.integers(0, 10))
    if isinstance(t, FloatT):
        return float(rng.random())
    if isinstance(t, TextT):
        return str(rng.choice(_WORDS))
    if isinstance(t, EnumT):
        return str(rng.choice(list(t.values)))
    if isinstance(t, LabelT):
        return str(rng.choice(list(ctx.labels(t.labelset).values)))
    if isinstance(t, ListT):
        return [_random(t.item, rng, ctx) for _ in range(int(rng.integers(1, 4)))]
    if isinstance(t, RecordT):
        return {f.name: _random(f.type, rng, ctx) for f in t.fields}
    if isinstance(t, KeyedT):
        return {k: _random(t.item, rng, ctx) for k in _keys(t)}
    raise UsageError(f"cannot draw a random {t.show()} answer")


def _random_point(rng: np.random.Generator, ctx: _Context) -> AnswerPoint:
    """Uniform over the image's pixel area ``[0, w) x [0, h)``, else the unit square."""
    w, h = ctx.image_size or (1, 1)
    return AnswerPoint(float(w * rng.random()), float(h * rng.random()))


def other_answer(
    t: Type,
    value: Any,
    rng: np.random.Generator,
    *,
    labels: LabelLoader = load_labels,
    image_size: ImageSize | None = None,
) -> Any:
    """A valid value of ``t`` that differs from ``value`` (for ``oracle:flip=P``).

    ``image_size`` as for :func:`random_answer`.

    Raises:
        UsageError: ``t`` has only one possible value, so nothing differs.
    """
    ctx = _Context(labels, image_size)
    value = _check(t, value, "$", ctx)
    return _other(t, value, rng, ctx)


def _other(t: Type, v: Any, rng: np.random.Generator, ctx: _Context) -> Any:
    if isinstance(t, BoolT):
        return not v
    if isinstance(t, IntRangeT | FloatRangeT | PermutationT) or t == POINT:
        return _other_shape(t, v, rng, ctx)
    if isinstance(t, IntT):
        return v + int(rng.choice([-3, -2, -1, 1, 2, 3]))
    if isinstance(t, FloatT):
        return v + float(rng.choice([-1.0, 1.0])) * (0.5 + float(rng.random()))
    if isinstance(t, TextT):
        return v + " " + str(rng.choice(_WORDS))
    if isinstance(t, EnumT | LabelT):
        pool = t.values if isinstance(t, EnumT) else ctx.labels(t.labelset).values
        others = [x for x in pool if x != v]
        if not others:
            raise UsageError(f"{t.show()} has a single value; no other answer exists")
        return str(rng.choice(others))
    if isinstance(t, RankingT):  # another order of the same ids, as for a permutation
        return _reordered(v, rng) if len(set(v)) > 1 else _random(t, rng, ctx)
    if isinstance(t, ListT):
        if not v:
            return [_random(t.item, rng, ctx)]
        if _is_ordering(t.item, v):
            return _reordered(v, rng)
        i = int(rng.integers(0, len(v)))
        return [*v[:i], _other(t.item, v[i], rng, ctx), *v[i + 1 :]]
    if isinstance(t, RecordT | KeyedT):
        fields = (
            [(f.name, f.type) for f in t.fields]
            if isinstance(t, RecordT)
            else [(k, t.item) for k in _keys(t)]
        )
        return _other_in_object(v, fields, rng, ctx)
    raise UsageError(f"cannot draw another {t.show()} answer")


def _other_shape(t: Type, v: Any, rng: np.random.Generator, ctx: _Context) -> Any:
    """Another value of a range, a permutation or a point, drawn from that same space."""
    if isinstance(t, IntRangeT | FloatRangeT) and t.lo == t.hi:
        raise UsageError(f"{t.show()} has a single value; no other answer exists")
    if isinstance(t, IntRangeT):
        # uniform over the range's other integers: draw from one fewer and step over v
        drawn = int(rng.integers(t.lo, t.hi))
        return drawn + 1 if drawn >= v else drawn
    if isinstance(t, FloatRangeT):
        while True:  # terminates: the range has more than one value
            value = float(t.lo + (t.hi - t.lo) * rng.random())
            if value != v:
                return value
    if isinstance(t, PermutationT):
        return _reordered(v, rng)  # uniform over the other orders
    if ctx.image_size is not None:
        # the point's space is the image: another point of it, uniformly, as random draws
        while True:  # terminates: the area has more than one point
            point = _random_point(rng, ctx)
            if point != v:
                return point
    angle, step = 2 * math.pi * float(rng.random()), 0.05 + 0.2 * float(rng.random())
    scale = max(abs(v.x), abs(v.y), 1.0)  # a point moves by 5-25 % of its own scale
    return AnswerPoint(v.x + step * scale * math.cos(angle), v.y + step * scale * math.sin(angle))


def _is_ordering(item: Type, v: list[Any]) -> bool:
    """An order of every choice (``depth_order: ["red", "blue"]``): changing one element
    would repeat a choice, which chains read as the same order, so flips reorder it."""
    return isinstance(item, EnumT) and len(v) > 1 and sorted(v) == sorted(item.values)


def _reordered(v: list[Any], rng: np.random.Generator) -> list[Any]:
    out = list(v)
    while out == v:  # terminates: the elements are distinct, so another order exists
        out = [v[int(i)] for i in rng.permutation(len(v))]
    return out


def _other_in_object(
    v: dict[str, Any], fields: list[tuple[str, Type]], rng: np.random.Generator, ctx: _Context
) -> dict[str, Any]:
    order = list(rng.permutation(len(fields)))
    for i in order:
        name, ft = fields[int(i)]
        try:
            changed = _other(ft, v[name], rng, ctx)
        except UsageError:
            continue  # this field cannot change (single-valued); try another
        return {**v, name: changed}
    raise UsageError("no field of this answer can take another value")


def flip_answers(
    t: Type,
    value: Any,
    p: float,
    rng: np.random.Generator,
    *,
    labels: LabelLoader = load_labels,
    image_size: ImageSize | None = None,
) -> Any:
    """Replace each answer in ``value`` by a different valid one with probability ``p``
    (for ``oracle:flip=P``).

    The answers of one reply: each key of a keyed answer and each field of a record
    answer (recursively), except the shared ``reasoning`` field, which is no answer
    and is kept; any other value (a label, a yes/no, a number, a list) is one answer
    and flips as a whole. An answer with a single possible value cannot be wrong and
    is kept. Each answer draws from ``rng`` in a fixed order, so equal inputs give
    equal outputs. ``image_size`` as for :func:`random_answer`.
    """
    ctx = _Context(labels, image_size)
    return _flip(t, _check(t, value, "$", ctx), p, rng, ctx)


def _flip(t: Type, v: Any, p: float, rng: np.random.Generator, ctx: _Context) -> Any:
    if isinstance(t, RecordT):
        return {
            f.name: v[f.name]
            if f.name == REASONING_FIELD
            else _flip(f.type, v[f.name], p, rng, ctx)
            for f in t.fields
        }
    if isinstance(t, KeyedT):
        return {k: _flip(t.item, v[k], p, rng, ctx) for k in _keys(t)}
    if rng.random() >= p:
        return v
    try:
        return _other(t, v, rng, ctx)
    except UsageError:
        return v  # a single-valued answer has no wrong value to flip to
