"""Constants and helpers shared by the compiler tests (a uniquely named module)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
CHAINS = sorted((ROOT / "chains").rglob("*.chain"))
PAPER_CHAINS = ["classify", "detect", "segment", "group", "depth", "normals"]


def update_golden() -> bool:
    """True when the golden files should be rewritten (UPDATE_GOLDEN=1)."""
    return os.environ.get("UPDATE_GOLDEN") == "1"
