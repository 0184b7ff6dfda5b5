"""Typed truth fields: truth a dataset declares for outputs beyond the paper's seven kinds.

A dataset declares each field's type once, in ``dataset.json``::

    {"truth_fields": {"count": "Int", "centres": "Points", "size_rank": "Ranking"}}

and every item then carries the values inline under ``truth`` (``"count": 4``). Each value
is checked when the manifest is read, so a malformed one is reported with its item before
anything runs. A chain reads the field as ``truth.count`` after declaring
``truth count: Int``; the run refuses a chain whose declared type does not fit the
dataset's (``chainlang.runtime.truth.check_truth_types``).

In-memory forms (``item.truth(name)``):

===========  =========================================================  ==================
type         manifest value                                             in memory
===========  =========================================================  ==================
``Int``      a whole number (``3``; ``3.0`` is read as ``3``)           ``int``
``Float``    a finite number                                            ``float``
``Bool``     ``true`` / ``false``                                       ``bool``
``Text``     a string                                                   ``str``
``Label``    a non-empty string                                         ``str``
``Point``    ``[x, y]`` or ``{"x": x, "y": y}``, pixels                 :class:`TruthXY`
``Points``   a list of points                                           ``list[TruthXY]``
``Ranking``  a list of distinct ids (all whole numbers or all strings)  ``list[str]``
``JSON``     any JSON value, unchecked                                  as decoded
===========  =========================================================  ==================
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from chainlang.errors import DataError

#: Where ``dataset.json`` declares typed truth fields.
DECLARATION_KEY = "truth_fields"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class TruthXY(NamedTuple):
    """A truth point in pixels (``.x``/``.y`` for chains; a pair for operations and JSON)."""

    x: float
    y: float


class FieldError(ValueError):
    """A value that does not fit its declared type (the message says what was expected)."""


def _found(value: Any) -> str:
    """What a value is, in words, for messages: ``"three" (a string)``."""
    kind = (
        "a bool"
        if isinstance(value, bool)
        else "a whole number"
        if isinstance(value, int)
        else "a number"
        if isinstance(value, float)
        else "a string"
        if isinstance(value, str)
        else "a list"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else "null"
        if value is None
        else type(value).__name__
    )
    shown = json.dumps(value, default=str)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return shown if kind == "null" else f"{shown} ({kind})"


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    raise FieldError(f"expected an Int (a whole number, e.g. 3), found {_found(v)}")


def _float(v: Any) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    raise FieldError(f"expected a Float (a finite number, e.g. 2.5), found {_found(v)}")


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise FieldError(f"expected a Bool (true or false), found {_found(v)}")


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise FieldError(f"expected a Text (a string), found {_found(v)}")


def _label(v: Any) -> str:
    if isinstance(v, str) and v.strip():
        return v
    raise FieldError(f"expected a Label (a non-empty string), found {_found(v)}")


def _point(v: Any) -> TruthXY:
    xy = [v.get("x"), v.get("y")] if isinstance(v, dict) and set(v) == {"x", "y"} else v
    if isinstance(xy, list) and len(xy) == 2:
        try:
            return TruthXY(_float(xy[0]), _float(xy[1]))
        except FieldError:
            pass
    raise FieldError(
        f'expected a Point ([x, y] or {{"x": x, "y": y}} in pixels), found {_found(v)}'
    )


def _points(v: Any) -> list[TruthXY]:
    if not isinstance(v, list):
        raise FieldError(f"expected Points (a list of [x, y] points), found {_found(v)}")
    out = []
    for i, p in enumerate(v):
        try:
            out.append(_point(p))
        except FieldError as exc:
            raise FieldError(f"point {i}: {exc}") from None
    return out


def _is_id_number(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _ranking(v: Any) -> list[str]:
    """A ranking's ids as texts (``[3, 1]`` → ``["3", "1"]``): chains type a ``Ranking``
    as a list of texts, so ``index_of(truth.size_rank, "3")`` finds what it says."""
    want = "expected a Ranking (a list of distinct ids: all whole numbers or all strings)"
    if not isinstance(v, list):
        raise FieldError(f"{want}, found {_found(v)}")
    bad = [x for x in v if not (_is_id_number(x) or (isinstance(x, str) and x))]
    if bad:
        raise FieldError(f"{want}, found {_found(v)}: {_found(bad[0])} is not an id")
    if any(isinstance(x, str) for x in v) and any(_is_id_number(x) for x in v):
        raise FieldError(f"{want}, found {_found(v)}: it mixes numbers and strings")
    twice = [x for x in dict.fromkeys(v) if v.count(x) > 1]
    if twice:
        raise FieldError(f"{want}, found {_found(v)}: {_found(twice[0])} comes more than once")
    return [str(x) for x in v]


def _json(v: Any) -> Any:
    return v


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "Int": _int,
    "Float": _float,
    "Bool": _bool,
    "Text": _text,
    "Label": _label,
    "Point": _point,
    "Points": _points,
    "Ranking": _ranking,
    "JSON": _json,
}

#: The types a dataset may declare for a truth field, in the order the docs list them.
FIELD_TYPES: tuple[str, ...] = tuple(_DECODERS)


def decode_field(type_name: str, value: Any) -> Any:
    """The in-memory form of one typed truth value.

    Raises:
        FieldError: ``value`` does not fit ``type_name`` (the message names both).
    """
    return _DECODERS[type_name](value)


def parse_declarations(raw: Any, where: object, builtin: tuple[str, ...]) -> dict[str, str]:
    """Check ``dataset.json``'s ``truth_fields``: a map from field name to a type name.

    Args:
        raw: The declared value (``{}`` when absent).
        where: The file, for messages.
        builtin: The paper's truth kinds, whose types are fixed and may not be redeclared.

    Raises:
        DataError: Not an object, a name a chain could not write, a built-in kind, or an
            unknown type (with the closest type name).
    """
    if not isinstance(raw, dict):
        raise DataError(
            f'{where}: {DECLARATION_KEY!r} must map field names to types, e.g. {{"count": "Int"}}'
        )
    for name, type_name in raw.items():
        if not _NAME.match(name):
            raise DataError(
                f"{where}: truth field {name!r} is not a name a chain can write "
                "(letters, digits and '_', not starting with a digit)"
            )
        if name in builtin:
            raise DataError(
                f"{where}: {name!r} is a built-in truth kind with a fixed type; "
                f"remove it from {DECLARATION_KEY!r}"
            )
        if type_name not in _DECODERS:
            close = [t for t in FIELD_TYPES if t.lower() == str(type_name).lower()]
            close = close or difflib.get_close_matches(str(type_name), FIELD_TYPES, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataError(
                f"{where}: truth field {name!r} has unknown type {type_name!r} "
                f"(types: {', '.join(FIELD_TYPES)}){hint}"
            )
    return dict(raw)


def check_fields(truth: Mapping[str, Any], fields: Mapping[str, str], item: str) -> None:
    """Check every declared field an item's truth carries.

    Raises:
        DataError: Naming the item, the field, the expected type and what was found.
    """
    for name, value in truth.items():
        type_name = fields.get(name)
        if type_name is None:
            continue
        try:
            decode_field(type_name, value)
        except FieldError as exc:
            raise DataError(
                f"item {item!r}: truth {name!r} (declared {type_name}): {exc}"
            ) from None
