"""The semantic classes of the synthetic scenes (indices into the ``synthetic`` label set)."""

from __future__ import annotations

CLASSES = ("floor", "wall", "sphere", "cube", "cylinder", "cone")
OBJECT_CLASSES = CLASSES[2:]
FLOOR, WALL = 0, 1
IGNORE = 255
