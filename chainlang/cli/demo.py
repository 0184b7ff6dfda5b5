"""``chainlang demo``: the whole method offline, in a few minutes.

Generates (or reuses) synthetic scenes with exact truth, runs the six paper
chains and the three image-generation chains (``dense_depth``,
``dense_normals``, ``dense_group``: the model draws a map instead of
answering questions) with the simulated answerers — ``oracle`` (the Oracle +
Chain ceiling), ``random`` (blind guess) and ``oracle:flip=0.3`` (each answer
wrong with probability 0.3) — scores them, prints one table per task and
writes ``index.html`` with input, predictions and truth side by side. The
paper chains are written for COCO/ImageNet label sets; the demo rebinds them
to the synthetic scenes' classes with ``--labels``, exactly as a user would
for their own dataset.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from chainlang.api import RunOptions, run
from chainlang.cli.commands import score_table
from chainlang.data.manifest import Dataset, load_dataset
from chainlang.data.synthetic import generate
from chainlang.runtime.runfolder import read_results
from chainlang.scoring.score import TRUTH_FOR_OUTPUT, RunScore, score_run

# the repository's chains/, beside the package (a source checkout or an editable install)
CHAINS = Path(__file__).resolve().parents[2] / "chains"
ANSWERERS = ("oracle", "oracle:flip=0.3", "random")
# The dense_* chains get one drawn image per scene (per point for dense_group),
# stored in each run's images/.
TASKS: dict[str, tuple[str, ...]] = {
    task: ANSWERERS
    for task in (
        "classify",
        "detect",
        "segment",
        "group",
        "depth",
        "normals",
        "dense_depth",
        "dense_normals",
        "dense_group",
    )
}
RELABEL = {"imagenet1k": "synthetic", "coco80": "synthetic", "coco_stuff133": "synthetic"}
PICTURES = 2  # scenes shown per task on the page


def run_demo(out: Path, *, n: int = 4, tasks: Sequence[str] | None = None) -> int:
    """Run the demo into ``out``; return the exit code."""
    chains_dir = _chains_dir()
    chosen = list(tasks or TASKS)
    unknown = [t for t in chosen if t not in TASKS]
    if unknown:
        print(f"unknown task(s) {unknown}; choose from {list(TASKS)}")
        return 2
    t0 = time.perf_counter()
    data = generate(n, out / "data", seed=0)
    print(f"synthetic scenes: {data.parent} ({n} scenes)")
    results: dict[str, list[RunScore]] = {}
    for task in chosen:
        results[task] = _run_task(task, chains_dir / f"{task}.chain", data.parent, out)
        print(f"\n== {task} ==\n{score_table(results[task])}")
    page = write_page(out, data.parent, results)
    print(f"\nwrote {page}  ({time.perf_counter() - t0:.0f}s)")
    print(
        "\nThe same with a real model (prices first, then run; rerun resumes):\n"
        "  export OPENAI_API_KEY=...\n"
        f"  chainlang plan {chains_dir}/depth.chain --data {data.parent} --model openai:gpt-4o\n"
        f"  chainlang run {chains_dir}/depth.chain --data {data.parent} --model openai:gpt-4o "
        "--out runs/depth-gpt4o --max-cost 5\n"
        "  chainlang score runs/depth-gpt4o --baselines oracle,random"
    )
    return 0


def _chains_dir() -> Path:
    local = Path("chains")
    return local if (local / "depth.chain").exists() else CHAINS


def _run_task(task: str, chain: Path, data: Path, out: Path) -> list[RunScore]:
    scores = []
    for model in TASKS[task]:
        folder = out / "runs" / f"{task}-{model.replace(':', '-').replace('=', '')}"
        options = RunOptions(
            labels=dict(RELABEL),
            cache=out / "cache.sqlite",
            progress="none",
        )
        t = time.perf_counter()
        result = run(chain, data, model, out=folder, options=options)
        s = result.summary
        print(
            f"  {task:8s} {model:16s} {s.items_ok}/{s.items} items, {s.questions} questions "
            f"in {time.perf_counter() - t:.1f}s"
        )
        scores.append(score_run(folder, n_boot=200))
    return scores


# ---- the page ---------------------------------------------------------------------------


def write_page(out: Path, data: Path, results: dict[str, list[RunScore]]) -> Path:
    """One static HTML file: per task the score table and input | predictions | truth."""
    dataset = load_dataset(data)
    sections = []
    for task, scores in results.items():
        table = html.escape(score_table(scores))
        pictures = "".join(
            _picture_row(dataset, item_id, scores) for item_id in dataset.ids()[:PICTURES]
        )
        sections.append(f"<section><h2>{task}</h2><pre>{table}</pre>{pictures}</section>")
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'><title>chainlang demo</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1500px}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto}img{max-width:100%;"
        "margin:.5em 0}</style></head><body><h1>chainlang demo</h1>"
        "<p>The six paper chains and the three image-generation chains (dense_*) on "
        "synthetic scenes with simulated answerers: <b>oracle</b> answers every question "
        "from the truth (Oracle + Chain), <b>random</b> guesses (blind guess; a drawn "
        "image is noise), <b>oracle:flip=0.3</b> is wrong 30% of the time.</p>"
        + "".join(sections)
        + "</body></html>"
    )
    page = out / "index.html"
    page.write_text(doc, encoding="utf-8")
    return page


def _picture_row(dataset: Dataset, item_id: str, scores: list[RunScore]) -> str:
    from chainlang.language import labelsets
    from chainlang.reporting import pictures as viz

    item = dataset.get(item_id)
    image = item.image().pixels
    output = scores[0].output
    names = labelsets.load(dataset.labelset) if dataset.labelset else None
    panels = [("input", Image.fromarray(image))]
    for s in scores:
        pred = _prediction(Path(s.run), item_id)
        if pred is not None:
            panels.append(
                (
                    Path(s.run).name,
                    viz.output_image(output, pred, image, names=names, prediction=True),
                )
            )
    truth = item.truth(TRUTH_FOR_OUTPUT[output])
    panels.append(("truth", viz.output_image(output, truth, image, names=names)))
    data = base64.b64encode(viz.to_png(viz.side_by_side(panels))).decode()
    return f"<p>{html.escape(item_id)}</p><img src='data:image/png;base64,{data}'>"


def _prediction(run_dir: Path, item_id: str) -> Any:
    """The item's output as :func:`chainlang.reporting.pictures.output_image` takes it, or None."""
    for r in read_results(run_dir):
        if r["id"] == item_id and r.get("status") == "ok":
            out = r["output"]
            if "arrays" in out:
                with np.load(run_dir / out["arrays"]) as z:
                    return z["output"]
            if "boxes" in out:
                return [(b["label"], *b["box"]) for b in out["boxes"]]
            return out.get("value")
    return None
