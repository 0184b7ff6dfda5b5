"""The plugin's metric: ``within(prediction, truth, radius)``, a fraction per image.

chainlang imports this module when it reads the ``chainlang.metrics`` entry point; the
function runs only when ``chainlang score`` scores a run whose chain names it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainlang.stdlib.metrics import metric


def _pairs(value: Any) -> list[tuple[float, float]]:
    """A point or a list of points as ``(x, y)`` pairs (a single point is ``[x, y]``)."""
    if len(value) == 2 and all(isinstance(c, int | float) for c in value):
        value = [value]
    return [(float(p[0]), float(p[1])) for p in value]


@metric(
    "within(prediction: Point | Points, truth: Point | Points, radius: Float = 10.0)",
    higher_is_better=True,
    doc="fraction of truth points with a predicted point within radius pixels",
)
def within(
    prediction: Sequence[Any],
    truth: Sequence[Any],
    *,
    image_size: tuple[int, int] | None = None,
    radius: float = 10.0,
) -> float:
    """One image's value: the share of truth points that some predicted point is near.

    ``prediction`` is the chain's output as the run recorded it (``[[x, y], ...]``);
    ``truth`` the dataset's field in memory (``TruthXY`` pairs with ``.x``/``.y``).
    Raising ``ValueError`` marks the image unscorable; the message goes to the notes.
    """
    if radius <= 0:
        raise ValueError(f"within: radius must be positive, got {radius}")
    truth_points, predicted = _pairs(truth), _pairs(prediction)
    if not truth_points:
        raise ValueError("within: the truth has no points")
    near = sum(any(math.dist(t, p) <= radius for p in predicted) for t in truth_points)
    return near / len(truth_points)
