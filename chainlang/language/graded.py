"""Graded oracle answers: an answer together with the truth values it was chosen by.

An ``oracle`` clause says what the truth answers. A realistic simulated answerer
(``oracle:bt=G``, ``bias=B``, ``prior=S``; see ``chainlang.providers.simulated``
and docs/scoring.md, "Simulated answerers") also needs *why*: the true value of
each compared option, to make mistakes more likely where the gap is small, and
where each option sits in the frame, for a "lower is nearer" prior. The
operations ``highest`` and ``ranked`` (``chainlang.stdlib.core``) compute an
oracle answer from such values and return it as a :class:`GradedText` /
:class:`GradedList`: the plain answer, carrying its :class:`Grading`.

The interpreter separates the two with :func:`split_graded` before it builds the
request: the plain answer is ``request.oracle`` (what ``oracle`` replies), the
gradings are ``request.graded`` (what the noisy answerers draw from). Outside an
oracle clause a graded value is just its plain value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Grading:
    """The options of one answer with their truth values.

    ``options`` are in the order the question lists them (red before blue,
    region 1 before region 2): a position-biased answerer prefers the first.
    ``values`` are oriented so the true answer takes the *highest* first (for
    depth: nearness, e.g. minus the depth). ``heights`` (optional) are each
    option's vertical place in the frame, larger = lower. ``tie`` and ``equal``:
    the answer is ``equal`` when the two values differ by at most ``tie``
    (``highest`` only). ``kind`` is ``"one"`` (an option) or ``"order"`` (all
    options, first = highest).
    """

    kind: str
    options: tuple[Any, ...]
    values: tuple[float, ...]
    heights: tuple[float, ...] | None = None
    tie: float = 0.0
    equal: Any = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (it is part of a simulated request's key)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "options": list(self.options),
            "values": [float(v) for v in self.values],
        }
        if self.heights is not None:
            out["heights"] = [float(h) for h in self.heights]
        if self.equal is not None:
            out["tie"] = float(self.tie)
            out["equal"] = self.equal
        return out

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Grading:
        """The inverse of :meth:`to_json`."""
        heights = data.get("heights")
        return Grading(
            kind=str(data["kind"]),
            options=tuple(data["options"]),
            values=tuple(float(v) for v in data["values"]),
            heights=None if heights is None else tuple(float(h) for h in heights),
            tie=float(data.get("tie", 0.0)),
            equal=data.get("equal"),
        )


class GradedText(str):
    """A text answer (``highest``) carrying its :class:`Grading`."""

    grading: Grading

    def __new__(cls, value: str, grading: Grading) -> GradedText:
        out = super().__new__(cls, value)
        out.grading = grading
        return out


class GradedList(list[Any]):
    """A list answer (``ranked``) carrying its :class:`Grading`."""

    grading: Grading

    def __init__(self, values: Sequence[Any], grading: Grading) -> None:
        super().__init__(values)
        self.grading = grading


class GradedValue:
    """Any other answer (``highest`` over numbers) carrying its :class:`Grading`.

    Unwrapped by :func:`split_graded`; never reaches a chain as a value.
    """

    __slots__ = ("grading", "value")

    def __init__(self, value: Any, grading: Grading) -> None:
        self.value = value
        self.grading = grading


def graded(value: Any, grading: Grading) -> Any:
    """``value`` marked with ``grading`` (a str or list keeps its type)."""
    if isinstance(value, str):
        return GradedText(value, grading)
    if isinstance(value, list):
        return GradedList(value, grading)
    return GradedValue(value, grading)


def split_graded(value: Any) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The plain value, and the gradings found in it by path.

    A path is the dotted record keys leading to the graded answer (``"near"``,
    ``"3.right"`` in a batched ask), ``""`` for the answer itself.
    """
    found: dict[str, dict[str, Any]] = {}
    return _split(value, "", found), found


def _split(value: Any, path: str, found: dict[str, dict[str, Any]]) -> Any:
    if isinstance(value, GradedText | GradedList | GradedValue):
        found[path] = value.grading.to_json()
        if isinstance(value, GradedText):
            return str(value)
        if isinstance(value, GradedList):
            return list(value)
        return value.value
    if isinstance(value, dict):
        return {k: _split(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    return value
