"""The plugin's operation: ``snap(points: Points, step: Int = 8) -> Points``.

chainlang imports this module when it reads the ``chainlang.operations`` entry point
(to learn the signature), and calls the function only when a chain runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainlang.errors import OperationError
from chainlang.stdlib import operation


@operation(
    "snap(points: Points, step: Int = 8) -> Points",
    "each point moved to the nearest corner of a grid of step x step pixels",
    size="len(points)",  # one point out per point in: a `for` over the result has a bound
)
def snap(points: Sequence[Any], step: int = 8) -> list[tuple[float, float]]:
    """Round each point's x and y to the nearest multiple of ``step`` pixels.

    A point arrives as a pair with ``.x``/``.y`` (a model's answer or a truth point) or
    as a plain ``[x, y]`` list; the result is a list of ``(x, y)`` tuples, which chainlang
    treats as ``Point`` values (``p.x`` in a chain, ``[x, y]`` in results.jsonl).
    """
    if step < 1:
        # an OperationError fails this item with the message; other items go on
        raise OperationError(f"snap: step must be at least 1 pixel, got {step}")
    return [(round(p[0] / step) * step, round(p[1] / step) * step) for p in points]
