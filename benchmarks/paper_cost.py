"""The paper's full GPT-4o evaluation, planned: synchronous, batch API, batch + prompt caching.

The paper (arXiv:2507.01955, App. I, Table 27) reports $851 for its full-scale GPT-4o
runs of the six tasks. This script asks ``chainlang plan`` what the same questions cost:
each paper chain with its ``defaults for "gpt-4o*"`` is planned on synthetic scenes of the
paper's image sizes and the plan's per-item dollars are scaled to the paper's dataset
sizes (``/work/shared/reference/paper-chains.md`` §6.7):

======================  ================================================  =========
task                    datasets                                          images
======================  ================================================  =========
classification          ImageNet val, V2, ImageNet-C (2DCC), 3DCC, R,     235,764
                        Sketch (1K-label ImageNet prompts; R uses 200)
detection               COCO val2017 single-instance subset               1,703
segmentation            COCO val2017, 500 random                          500
grouping                COCO val2017, 100                                 100
depth, normals          Hypersim val, 100 (1024×768)                      100 each
======================  ================================================  =========

Images: 500×375 for classification (the chain crops 224 px anyway), 640×480 for COCO,
1024×768 for Hypersim. Label lists are the real ones (ImageNet-1k, COCO-80, COCO-stuff)
except for detection, whose oracle path needs the scenes' truth in the chain's labels
(its label list is rebound to the scenes' six classes: ~150 tokens fewer on its five
class-finding calls). Classification plans full chunks of 100 images (the paper's batch
size) from a manifest that repeats the scenes. Questions whose path depends on answers
(detection's zoom, grouping's region growing) take the path a perfect model takes on the
scenes, which the reference would take too.

Three prices per chain: synchronous without caching (what the paper paid for), the batch
API without caching, and the batch API with the prompt-cache hits the plan expects
(``runtime/prompt_cost.py``); plus synchronous with caching. For gpt-4o the batch API
gives no cache discount (``batch_cache = false`` in ``models.toml``), so the last two
columns differ only where caching alone is used.

Run: ``python benchmarks/paper_cost.py [--items 3] [--markdown]``. Exits 1 when the
batch + caching total is above half the paper's $851.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainlang.api import RunOptions, plan
from chainlang.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
MODEL = "openai:gpt-4o"
# Table 27's columns (USD, full scale), task by task in TASKS order; Claude 3.5 Sonnet and
# claude-sonnet-4-5 have the same prices ($3 / $15 per 1M), so the latter stands in.
PAPER = {
    "openai:gpt-4o": (223.8, 185.8, 232.1, 22.1, 57.4, 130.1),
    "anthropic:claude-sonnet-4-5": (142.8, 155.0, 227.9, 42.0, 198.2, 209.9),
    "gemini:gemini-2.0-flash": (9.7, 18.1, 14.0, 1.0, 3.6, 3.9),
}
PAPER_TOTAL = sum(PAPER[MODEL])  # $851.3
TARGET = PAPER_TOTAL / 2


@dataclass(frozen=True)
class Task:
    """One paper task: its chain, the paper's dataset size, the scenes it needs."""

    name: str
    chain: str
    images: int
    size: tuple[int, int]
    labels: dict[str, str]
    truth: bool  # plan on scenes with truth (answer-dependent paths), else images only


TASKS = (
    Task("classification", "classify", 235_764, (500, 375), {}, False),
    Task("detection", "detect", 1_703, (640, 480), {"coco80": "synthetic"}, True),
    Task("segmentation", "segment", 500, (640, 480), {}, False),
    Task("grouping", "group", 100, (640, 480), {}, True),
    Task("depth", "depth", 100, (1024, 768), {}, False),
    Task("normals", "normals", 100, (1024, 768), {}, False),
)


def scenes(root: Path, size: tuple[int, int], n: int) -> Path:
    """``n`` synthetic scenes of ``size`` with their truth (generated once per size)."""
    folder = root / f"scenes_{size[0]}x{size[1]}"
    if not (folder / "manifest.jsonl").exists():
        generate(n, folder, seed=0, size=size)
    return folder / "manifest.jsonl"


def images_only(manifest: Path, out: Path, copies: int) -> Path:
    """A manifest of the scenes' images without truth, each line repeated to ``copies``
    items (distinct ids), so a packed chain plans full chunks."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.loads(x) for x in manifest.read_text().splitlines() if x.strip()]
    items = [x for x in lines if "image" in x]
    with (out / "manifest.jsonl").open("w") as f:
        for i in range(copies):
            item = items[i % len(items)]
            image = (manifest.parent / item["image"]).resolve()
            f.write(json.dumps({"id": f"img{i:04d}", "image": str(image)}) + "\n")
    return out / "manifest.jsonl"


def plan_task(task: Task, data: Path, items: int, model: str) -> dict[str, Any]:
    """The task's planned dollars per image, four ways, scaled to the paper's size."""
    chain = REPO / "chains" / f"{task.chain}.chain"
    paper = PAPER[model][TASKS.index(task)]
    out: dict[str, Any] = {"task": task.name, "images": task.images, "paper": paper}
    for dispatch in ("sync", "batch"):
        options = RunOptions(labels=dict(task.labels), dispatch=dispatch)
        p = plan(chain, data, model, options=options, sample_items=items)
        per_image_cached = p.total_usd / p.items
        per_image_plain = p.total_usd_uncached / p.items
        out[f"{dispatch}_plain"] = per_image_plain * task.images
        out[f"{dispatch}_cached"] = per_image_cached * task.images
        if dispatch == "sync":
            out["calls_per_image"] = p.total_calls / p.items
            out["input_per_call"] = p.per_call.get("input_tokens", 0.0)
            out["cached_per_call"] = p.per_call.get("cached_tokens", 0.0)
    return out


def table(rows: list[dict[str, Any]], paper_total: float) -> str:
    """The rows as the Markdown table of docs/results.md."""
    head = (
        "| task | images | calls/img | input tok/call | cached tok/call | paper (Table 27) "
        "| sync | sync + cache | batch | batch + cache |\n" + "|---" * 10 + "|\n"
    )
    body = ""
    for r in rows:
        body += (
            f"| {r['task']} | {r['images']:,} | {r['calls_per_image']:.2f} "
            f"| {r['input_per_call']:,.0f} | {r['cached_per_call']:,.0f} | ${r['paper']:.1f} "
            f"| ${r['sync_plain']:.1f} | ${r['sync_cached']:.1f} | ${r['batch_plain']:.1f} "
            f"| ${r['batch_cached']:.1f} |\n"
        )
    total = {k: sum(r[k] for r in rows) for k in
             ("paper", "sync_plain", "sync_cached", "batch_plain", "batch_cached")}  # fmt: skip
    body += (
        f"| **total** | | | | | **${total['paper']:.1f}** | **${total['sync_plain']:.1f}** "
        f"| **${total['sync_cached']:.1f}** | **${total['batch_plain']:.1f}** "
        f"| **${total['batch_cached']:.1f}** |\n"
    )
    share = total["batch_cached"] / paper_total
    return head + body + f"\nbatch + cache = {share:.1%} of the paper's ${paper_total:.1f}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3, help="scenes planned per task")
    parser.add_argument("--keep", type=Path, help="keep the scenes in this folder")
    parser.add_argument("--model", default=MODEL, choices=sorted(PAPER), help="Table 27 column")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="paper_cost_"))
    try:
        rows = []
        for task in TASKS:
            manifest = scenes(root, task.size, args.items)
            if not task.truth:
                # classification: two full chunks of 100, so each warms the other's cache
                copies = 200 if task.chain == "classify" else args.items
                manifest = images_only(manifest, root / f"{task.chain}_images", copies)
            rows.append(plan_task(task, manifest, args.items, args.model))
            print(f"planned {task.name}", file=sys.stderr)
        paper_total = sum(PAPER[args.model])
        print(f"model {args.model}")
        print(table(rows, paper_total))
        return 0 if sum(r["batch_cached"] for r in rows) <= paper_total / 2 else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
