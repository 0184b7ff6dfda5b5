"""How messages travel between a run and its preparation workers: pickles, made cheap.

Every question of a pooled run crosses the socket twice (the request, its outcome),
and each is a tree of frozen, slotted dataclasses (``ModelRequest``, ``Message``,
parts, types, ``Outcome``). The standard library pickles those through
``dataclasses``' own ``__getstate__``/``__setstate__``, which call ``fields()`` for
every object on both sides: about a third of what the pool's messages cost the
run's process and its workers. Here such a dataclass is reduced to its class and a
tuple of its field values, read by one precomputed getter, and rebuilt with the
fields set directly, as ``dataclasses`` itself does, without calling ``__init__``
(whose checks the value passed when it was made).

Anything else is pickled as :class:`multiprocessing.reduction.ForkingPickler`
pickles it, including the read-only mappings of dataset items and settings
(``MappingProxyType``), which travel as the dicts behind them. Received messages
are plain pickles: :func:`loads` is :func:`pickle.loads`.
"""

from __future__ import annotations

import dataclasses
import io
import operator
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from types import MappingProxyType
from typing import Any

loads = pickle.loads

# What ``dataclasses`` installs on a frozen dataclass with slots: the slow path this
# module replaces (read from a probe class, not from a private name).


@dataclasses.dataclass(frozen=True, slots=True)
class _Probe:
    x: int = 0


_SLOTTED_GETSTATE = _Probe.__getstate__

_Reducer = Callable[[Any], tuple[Any, ...]]
_REDUCERS: dict[type, _Reducer | None] = {}  # per class; None: pickled the standard way
_NAMES: dict[type, tuple[str, ...]] = {}


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """A slotted dataclass instance from its field values (the unpickling side)."""
    obj: Any = object.__new__(cls)
    set_field = object.__setattr__  # frozen: the dataclass's own __setattr__ refuses
    for name, value in zip(_names(cls), values, strict=True):
        set_field(obj, name, value)
    return obj


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _reducer(cls: type) -> _Reducer | None:
    """The fast reducer for ``cls``, or None where the standard pickling applies."""
    reducer: _Reducer | None = None
    # a class with a reduction of its own keeps it
    if (
        getattr(cls, "__getstate__", None) is _SLOTTED_GETSTATE
        and getattr(cls, "__reduce__", None) is object.__reduce__
    ):
        names = _names(cls)
        if names:
            getter = operator.attrgetter(*names)
            if len(names) == 1:
                reducer = lambda obj: (_rebuild, (cls, (getter(obj),)))  # noqa: E731
            else:
                reducer = lambda obj: (_rebuild, (cls, getter(obj)))  # noqa: E731
    _REDUCERS[cls] = reducer
    return reducer


def _mapping_proxy(values: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(values)


class _Pickler(ForkingPickler):
    """ForkingPickler with the fast path for slotted dataclasses."""

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if cls is MappingProxyType:
            return _mapping_proxy, (dict(obj),)
        reducer = _REDUCERS[cls] if cls in _REDUCERS else _reducer(cls)
        return NotImplemented if reducer is None else reducer(obj)


def dumps(msg: Any) -> bytes:
    """``msg`` pickled for the other side of a pool's socket."""
    buf = io.BytesIO()
    _Pickler(buf, pickle.HIGHEST_PROTOCOL).dump(msg)
    return buf.getvalue()


def send(conn: Connection, msg: Any) -> None:
    """Send ``msg`` on ``conn`` (read with ``loads(conn.recv_bytes())``)."""
    conn.send_bytes(dumps(msg))


def recv(conn: Connection) -> Any:
    """The next message on ``conn``."""
    return loads(conn.recv_bytes())
