"""Request keys: the identity of a question, which the cache, the journal, batch
custom ids and the simulated answerers' seeds are built from.

Key: sha256 of the canonical JSON (sorted keys, no whitespace) of the request:
salt (e.g. the IR version), provider, model, base URL, API, model options,
messages with images replaced by their content digests, schema, answer type,
parameters and sample index. ``sample_index`` (``--samples``) keeps K samples
of one question apart, so the cache never hides sampling variance; an ask's own
samples (``ask p(...) samples K``) add ``ask_sample`` (only when not 0, so keys
of asks without it are unchanged), and the two compose without colliding. For a simulated answerer
that replies with the request's oracle value (its spec's ``answers_from``) the
oracle value is in the key too, since the answer depends on it: a changed truth
or a rewritten specialist prediction is never answered from the journal.

Changing anything here changes every key, and every journal would miss: the
tests in ``tests/runtime/test_runtime_cache.py`` pin the key of a fixed request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

import numpy as np

from chainlang.errors import RunError
from chainlang.image import ImageData
from chainlang.providers.base import ImagePart, ModelRequest, TextPart
from chainlang.providers.specs import find_spec


def canonical(value: Any) -> Any:
    """A JSON-ready form of ``value`` in which equal values encode identically.

    Tuples become lists, numpy scalars and arrays become numbers and lists,
    images become their digests, enums their values.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, np.ndarray):
        return {"ndarray": canonical(value.tolist()), "dtype": str(value.dtype)}
    if isinstance(value, ImageData):
        return {"image": value.digest}
    if isinstance(value, bytes):
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Enum):
        return canonical(value.value)
    if hasattr(value, "model_dump"):
        return canonical(value.model_dump(mode="json"))
    raise RunError(f"cannot build a cache key from a {type(value).__name__} value: {value!r:.80}")


def request_fields(request: ModelRequest, salt: str = "") -> dict[str, Any]:
    """The fields of ``request`` that decide its answer (what the cache key hashes)."""
    ref = request.model
    p = request.params
    fields: dict[str, Any] = {
        "salt": salt,
        "provider": ref.provider,
        "model": ref.model,
        "base_url": ref.base_url,
        "api": ref.api,
        "options": sorted(ref.options),
        "messages": [
            {"role": m.role, "parts": [_part(part) for part in m.parts]} for m in request.messages
        ],
        "schema": request.schema,
        "schema_name": request.schema_name,
        "answer_type": request.answer_type.model_dump(mode="json"),
        "params": {
            "temperature": p.temperature,
            "max_tokens": p.max_tokens,
            "seed": p.seed,
            "reasoning_effort": p.reasoning_effort,
            "extra": sorted(p.extra),
        },
        "sample_index": request.sample_index,
    }
    if request.ask_sample:  # only when set, so every key of an ask without samples stays
        fields["ask_sample"] = request.ask_sample
    spec = find_spec(ref.provider)
    if spec is not None and spec.oracle:
        fields["oracle"] = request.oracle
        if request.graded:  # only when set, so the keys of ungraded oracle asks stay
            fields["graded"] = request.graded
    return fields


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    return {"image": part.image.digest, "detail": part.detail}


def request_key(request: ModelRequest, salt: str = "") -> str:
    """sha256 (hex) of the canonical JSON of :func:`request_fields`."""
    blob = json.dumps(
        request_fields(request, salt),
        sort_keys=True,
        separators=(",", ":"),
        default=_json_default,
        allow_nan=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    """Encode what ``json`` cannot (numpy, images, bytes, pydantic) via :func:`canonical`."""
    if isinstance(value, set | frozenset):
        raise RunError(f"cannot build a cache key from an unordered set: {value!r:.80}")
    return canonical(value)
