"""Implementations of the generic list and number helpers (``signatures.CORE``).

These are plain Python: missing values (``None``, from ``else skip``) pass
through untouched where the signature allows them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from chainlang.errors import OperationError
from chainlang.language.analysis import staticeval
from chainlang.language.graded import Grading, graded


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


def or_else(x: Any, fallback: Any) -> Any:
    """``x``, or ``fallback`` where ``x`` is missing (an ``else skip`` answer).

    >>> or_else(None, []), or_else(["2", "1"], [])
    ([], ['2', '1'])
    """
    return fallback if x is None else x


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


# ---- numbers over lists (issue 12: a standard library for basics) ----


def _numbers(xs: Sequence[Any], what: str) -> list[float]:
    """``xs`` checked to hold numbers only (a missing value is an error, not a zero)."""
    for i, x in enumerate(xs):
        if x is None:
            raise OperationError(f"{what}() got a missing value at index {i}; use present(xs)")
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise OperationError(f"{what}() takes numbers, got {x!r} at index {i}")
    return list(xs)


def sum_(xs: Sequence[Any]) -> float:
    """The sum of the numbers (0 for an empty list).

    >>> sum_([1, 2, 3])
    6
    """
    return sum(_numbers(xs, "sum"))


def mean(xs: Sequence[Any]) -> float:
    """The arithmetic mean; an empty list is an error (it has no mean).

    >>> mean([1, 2])
    1.5
    """
    if not xs:
        raise OperationError("mean() of an empty list")
    return sum(_numbers(xs, "mean")) / len(xs)


def _ordered(xs: Sequence[Any], what: str) -> list[Any]:
    """``xs`` if its elements can be compared with each other (no missing values)."""
    if any(x is None for x in xs):
        raise OperationError(f"{what}() cannot order missing values; use present(xs) first")
    try:
        sorted(xs)
    except TypeError:
        kinds = sorted({type(x).__name__ for x in xs})
        raise OperationError(f"{what}() cannot compare {' and '.join(kinds)} values") from None
    return list(xs)


def min_of(xs: Sequence[Any]) -> Any:
    """The smallest element; an empty list is an error.

    >>> min_of([3, 1, 2])
    1
    """
    if not xs:
        raise OperationError("min_of() of an empty list")
    return min(_ordered(xs, "min_of"))


def max_of(xs: Sequence[Any]) -> Any:
    """The largest element; an empty list is an error."""
    if not xs:
        raise OperationError("max_of() of an empty list")
    return max(_ordered(xs, "max_of"))


# ---- ordering ----


def argsort(xs: Sequence[Any], descending: bool = False) -> list[int]:
    """0-based indexes that put ``xs`` in order; ties keep their list order.

    >>> argsort([30, 10, 20]), argsort([30, 10, 20], descending=True)
    ([1, 2, 0], [0, 2, 1])
    """
    keyed = _ordered(xs, "argsort")
    # sorted() stays stable with reverse=True: equal keys keep their list order.
    return sorted(range(len(keyed)), key=lambda i: keyed[i], reverse=descending)


def sort(xs: Sequence[Any], descending: bool = False) -> list[Any]:
    """The elements in increasing (or decreasing) order; ties keep their list order.

    >>> sort([3, 1, 2], descending=True)
    [3, 2, 1]
    """
    return [xs[i] for i in argsort(xs, descending)]


def sort_by(xs: Sequence[Any], keys: Sequence[Any], descending: bool = False) -> list[Any]:
    """``xs`` in the order of the aligned ``keys`` (lists must have the same length).

    >>> sort_by(["far", "near"], [9.0, 1.0])
    ['near', 'far']
    """
    if len(xs) != len(keys):
        raise OperationError(f"sort_by() got {len(xs)} elements but {len(keys)} keys")
    return [xs[i] for i in argsort(keys, descending)]


def rank(xs: Sequence[Any], descending: bool = False) -> list[int]:
    """Each element's place in the order, from 1 (the smallest, or largest if descending).

    Ties are ranked by list order, so the ranks are always a permutation of 1..n.

    >>> rank([30, 10, 20])
    [3, 1, 2]
    """
    out = [0] * len(xs)
    for place, i in enumerate(argsort(xs, descending), start=1):
        out[i] = place
    return out


def reverse(xs: Sequence[Any]) -> list[Any]:
    """The elements in reverse order."""
    return list(reversed(xs))


# ---- building and searching lists ----


def range_(n: int, start: int = 0) -> list[int]:
    """``n`` consecutive integers from ``start`` (none if ``n <= 0``).

    >>> range_(3), range_(3, start=1)
    ([0, 1, 2], [1, 2, 3])
    """
    return list(range(start, start + max(0, n)))


def enumerate_(xs: Sequence[Any], start: int = 0) -> list[dict[str, Any]]:
    """Each element with its position: records ``{index, item}``.

    >>> enumerate_(["a", "b"], start=1)
    [{'index': 1, 'item': 'a'}, {'index': 2, 'item': 'b'}]
    """
    return [{"index": i, "item": x} for i, x in enumerate(xs, start=start)]


def zip_(a: Sequence[Any], b: Sequence[Any]) -> list[dict[str, Any]]:
    """Records ``{a, b}`` of elements at the same position, as long as the shorter list.

    >>> zip_([1, 2, 3], ["x", "y"])
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    return [{"a": x, "b": y} for x, y in zip(a, b, strict=False)]


def index_of(xs: Sequence[Any], x: Any) -> int:
    """The 0-based position of the first ``x`` in ``xs``; absent is an error.

    >>> index_of(["1", "2", "3"], "2")
    1
    """
    for i, y in enumerate(xs):
        if y == x:
            return i
    shown = str_(list(xs)) if len(xs) <= 10 else f"a list of {len(xs)}"
    raise OperationError(f"index_of(): {_literal(x)} is not in {shown}")


# ---- text ----


def str_(x: Any) -> str:
    """The text of a value, written as in a chain (``true``, ``none``, ``[1, 2]``).

    >>> str_(3), str_(0.5), str_(True), str_(None), str_(["a", 1])
    ('3', '0.5', 'true', 'none', '["a", 1]')
    """
    if isinstance(x, str):
        return x
    return _literal(x)


def _literal(x: Any) -> str:
    if x is None:
        return "none"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int | float):
        return repr(x)
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(x, list):
        return "[" + ", ".join(_literal(v) for v in x) + "]"
    if isinstance(x, tuple) and len(x) == 2:  # a Point
        return f"({_literal(x[0])}, {_literal(x[1])})"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k} = {_literal(v)}" for k, v in x.items()) + "}"
    raise OperationError(f"str() cannot write a {type(x).__name__} as text")


def concat(parts: Sequence[str], sep: str = "") -> str:
    """The texts joined, with ``sep`` between them.

    >>> concat(["a", "b"], sep=", ")
    'a, b'
    """
    for i, p in enumerate(parts):
        if not isinstance(p, str):
            raise OperationError(f"concat() takes texts, got {_literal(p)} at index {i}; use str()")
    return sep.join(parts)


_PIECE = re.compile(r"\{\{|\}\}|\{\}|[{}]|[^{}]+")


def format_(template: str, a: Any, b: Any = None, c: Any = None, d: Any = None) -> str:
    """``template`` with each ``{}`` replaced by the next value, written as :func:`str_` does.

    ``{{`` and ``}}`` are literal braces; the number of ``{}`` decides how many
    of ``a, b, c, d`` are used, and a value given beyond them is an error.

    >>> format_("{} of {}", 2, "five"), format_("{{{}}}", 1)
    ('2 of five', '{1}')
    """
    values = [a, b, c, d]
    out: list[str] = []
    holes = 0
    for piece in _PIECE.findall(template):
        if piece == "{}":
            if holes < len(values):
                out.append(str_(values[holes]))
            holes += 1
        elif piece in {"{", "}"}:
            raise OperationError(f"format(): {template!r} may hold only {{}}, {{{{ and }}}}")
        else:
            out.append(piece[0] if piece in {"{{", "}}"} else piece)
    if holes == 0 or holes > len(values):
        raise OperationError(f"format(): {template!r} needs 1 to 4 {{}}, it has {holes}")
    if any(v is not None for v in values[holes:]):
        raise OperationError(f"format(): {template!r} has {holes} {{}} but more values were given")
    return "".join(out)


def log(x: float) -> float:
    """The natural logarithm of a positive number (depth ratios become differences).

    >>> round(log(2.718281828459045), 6)
    1.0
    """
    if x is None or not isinstance(x, int | float) or not x > 0:
        raise OperationError(f"log() takes a positive number, got {_literal(x)}")
    return math.log(x)


# Graded oracle answers (docs/scoring.md, "Simulated answerers"): the answer the
# truth gives, computed from the truth values, carrying them for noisy answerers.


def _grading(
    kind: str,
    options: Sequence[Any],
    values: Sequence[Any],
    heights: Sequence[Any] | None,
    tie: float = 0.0,
    equal: Any = None,
) -> Grading:
    name = "highest" if kind == "one" else "ranked"
    if len(options) < 2:
        raise OperationError(f"{name}() needs at least two options, got {len(options)}")
    if len(values) != len(options):
        raise OperationError(f"{name}() got {len(options)} options but {len(values)} values")
    if heights is not None and len(heights) != len(options):
        raise OperationError(f"{name}() got {len(options)} options but {len(heights)} heights")
    if tie < 0:
        raise OperationError(f"{name}(): tie must be >= 0, got {tie}")
    floats = []
    for i, v in enumerate(values):
        if v is None or not isinstance(v, int | float) or v != v:
            raise OperationError(f"{name}(): value {i + 1} is not a number ({_literal(v)})")
        floats.append(float(v))
    return Grading(
        kind=kind,
        options=tuple(options),
        values=tuple(floats),
        heights=None if heights is None else tuple(float(h) for h in heights),
        tie=float(tie),
        equal=equal,
    )


def highest(
    options: Sequence[Any],
    values: Sequence[Any],
    heights: Sequence[Any] | None = None,
    tie: float = 0.0,
    equal: Any = None,
) -> Any:
    """The option with the highest value, or ``equal`` when the two values differ by at
    most ``tie``; graded for the noisy simulated answerers.

    In an oracle clause: ``near = highest(["red", "blue"], [0.0 - da, 0.0 - db])``.
    ``heights`` (larger = lower in the frame) feed the ``prior`` answerer. Ties of
    equal values go to the first-listed option.

    >>> str(highest(["red", "blue"], [1.0, 2.0]))
    'blue'
    >>> str(highest(["a", "b"], [1.0, 1.1], tie=0.2, equal="="))
    '='
    """
    g = _grading("one", options, values, heights, tie, equal)
    if equal is not None and len(options) != 2:
        raise OperationError("highest(): `equal` compares two options, got more")
    if equal is not None and abs(g.values[0] - g.values[1]) <= g.tie:
        return graded(equal, g)
    best = max(range(len(options)), key=lambda i: (g.values[i], -i))
    return graded(options[best], g)


def ranked(
    options: Sequence[Any], values: Sequence[Any], heights: Sequence[Any] | None = None
) -> list[Any]:
    """The options from the highest value to the lowest (equal values keep list order);
    graded for the noisy simulated answerers.

    >>> list(ranked(["1", "2", "3"], [0.2, 0.9, 0.5]))
    ['2', '3', '1']
    """
    g = _grading("order", options, values, heights)
    order = sorted(range(len(options)), key=lambda i: (-g.values[i], i))
    return graded([options[i] for i in order], g)
