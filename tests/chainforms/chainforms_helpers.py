"""Names shared by the chain-form tests (imported by name: conftest modules of
several folders would clash on ``from conftest import``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHAINS = ROOT / "chains"
# The paper chains name COCO/ImageNet classes; the synthetic scenes bring their own.
LABELS = {"imagenet1k": "synthetic", "coco80": "synthetic", "coco_stuff133": "synthetic"}


@dataclass(frozen=True)
class FormRun:
    """One finished run of a chain form: its per-item records and headline metrics."""

    out: Path
    records: dict[str, dict[str, Any]]
    metrics: dict[str, float]

    def questions(self, item: str) -> list[dict[str, Any]]:
        """The recorded questions (one per request) of one item."""
        return list(self.records[item]["questions"])

    def prompts(self) -> set[str]:
        """Every prompt the run asked."""
        return {q["prompt"] for r in self.records.values() for q in r["questions"]}

    def array(self, item: str) -> np.ndarray:
        """The item's dense output (mask or map)."""
        with np.load(self.out / self.records[item]["output"]["arrays"]) as z:
            return np.asarray(z["output"])


Runner = Callable[..., FormRun]
