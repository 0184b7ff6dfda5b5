"""What the Ray engine tests share (a uniquely named module, so tests import it by name)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHAIN = REPO / "tests" / "sweep" / "chains" / "spot.chain"  # six questions per scene
QUESTIONS_PER_ITEM = 6
