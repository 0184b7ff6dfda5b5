"""Implementations of the generic list and number helpers (``signatures.CORE``).

These are plain Python: missing values (``None``, from ``else skip``) pass
through untouched where the signature allows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainlang.errors import OperationError
from chainlang.language.analysis import staticeval


def len_(xs: Sequence[Any]) -> int:
    """Number of elements."""
    return len(xs)


def take(xs: Sequence[Any], n: int) -> list[Any]:
    """The first ``n`` elements (all of them if fewer)."""
    return list(xs[: max(0, n)])


def drop(xs: Sequence[Any], n: int) -> list[Any]:
    """Everything after the first ``n`` elements."""
    return list(xs[max(0, n) :])


def last(xs: Sequence[Any], n: int) -> list[Any]:
    """The last ``n`` elements.

    >>> last([1, 2, 3], 2)
    [2, 3]
    """
    return list(xs[-n:]) if n > 0 else []


def first(xs: Sequence[Any]) -> Any:
    """The first element; an empty list is an error."""
    if not xs:
        raise OperationError("first() of an empty list")
    return xs[0]


def at(xs: Sequence[Any], index: int) -> Any:
    """The element at 0-based ``index``."""
    if not 0 <= index < len(xs):
        raise OperationError(f"index {index} is outside a list of {len(xs)}")
    return xs[index]


def chunk(xs: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive pieces of ``size`` elements (the last may be shorter).

    >>> chunk([1, 2, 3], 2)
    [[1, 2], [3]]
    """
    if size < 1:
        raise OperationError(f"chunk size must be at least 1, got {size}")
    return [list(xs[i : i + size]) for i in range(0, len(xs), size)]


def flatten(xss: Sequence[Sequence[Any]]) -> list[Any]:
    """Concatenate lists."""
    return [x for xs in xss for x in xs]


def unique(xs: Sequence[Any]) -> list[Any]:
    """Drop repeats, keeping first occurrences in order.

    >>> unique([2, 1, 2])
    [2, 1]
    """
    seen: list[Any] = []
    for x in xs:
        if x not in seen:  # values may be unhashable (lists of reasoning)
            seen.append(x)
    return seen


def contains(xs: Sequence[Any], x: Any) -> bool:
    """True if ``x`` is an element of ``xs``."""
    return x in xs


def present(xs: Sequence[Any]) -> list[Any]:
    """The elements that are not missing."""
    return [x for x in xs if x is not None]


def select(xs: Sequence[Any], keep: Sequence[bool]) -> list[Any]:
    """The elements whose ``keep`` flag is true (the lists must be aligned).

    >>> select(["a", "b"], [False, True])
    ['b']
    """
    if len(xs) != len(keep):
        raise OperationError(f"select() got {len(xs)} elements but {len(keep)} flags")
    return [x for x, k in zip(xs, keep, strict=True) if k]


def abs_(x: float) -> float:
    """Absolute value (the static evaluator's rule, so plan and run agree)."""
    return staticeval.function("abs", x)


def min_(a: float, b: float) -> float:
    """The smaller of two numbers (the static evaluator's rule, so plan and run agree)."""
    return staticeval.function("min", a, b)


def max_(a: float, b: float) -> float:
    """The larger of two numbers (the static evaluator's rule, so plan and run agree)."""
    return staticeval.function("max", a, b)


def ceil(x: float) -> int:
    """Round up to an integer (the static evaluator's rule, so plan and run agree)."""
    return staticeval.function("ceil", x)


def floor(x: float) -> int:
    """Round down to an integer (the static evaluator's rule, so plan and run agree)."""
    return staticeval.function("floor", x)
