"""Shared constants and readers of the paper-chain tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainlang.runtime.runfolder import read_results

CHAINS = Path(__file__).resolve().parents[2] / "chains"
PAPER_CHAINS = ("classify", "detect", "segment", "group", "depth", "normals")
# The paper chains name COCO/ImageNet label sets; the scenes have six classes of their own.
RELABEL = {"imagenet1k": "synthetic", "coco80": "synthetic", "coco_stuff133": "synthetic"}


def records(out: Path) -> dict[str, dict[str, Any]]:
    """The run's item records by item id."""
    return {r["id"]: r for r in read_results(out)}


def questions(record: dict[str, Any], prompt: str | None = None) -> list[dict[str, Any]]:
    """The item's recorded questions, optionally only those of one prompt."""
    return [q for q in record["questions"] if prompt is None or q["prompt"] == prompt]


RunChain = Callable[..., Path]
