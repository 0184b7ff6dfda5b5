"""The dataset writer: renders scenes into a folder with its manifest and stamp file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from chainlang.data.manifest import INFO_NAME, MANIFEST_NAME, write_manifest
from chainlang.data.synthetic.annotate import annotations as scene_annotations  # vs __future__
from chainlang.data.synthetic.annotate import object_truth
from chainlang.data.synthetic.classes import CLASSES, IGNORE
from chainlang.data.synthetic.rendering import Render, Scene, render
from chainlang.data.synthetic.sampling import sample_scene
from chainlang.errors import UsageError

STAMP_NAME = "synthetic.json"
# 2: the object truth (count, centres, size_rank, depth_rank) joined the manifest; the
# files and the other truth values are unchanged, but older folders lack these fields.
GENERATOR_VERSION = 2

#: The typed truth fields of every scene (``dataset.json`` ``truth_fields``), see
#: :func:`chainlang.data.synthetic.annotate.object_truth`.
OBJECT_FIELDS: dict[str, str] = {
    "count": "Int",
    "centres": "Points",
    "size_rank": "Ranking",
    "depth_rank": "Ranking",
}


def generate(n: int, out: Path, seed: int = 0, size: tuple[int, int] = (640, 480)) -> Path:
    """Render ``n`` synthetic scenes into ``out`` and write its manifest.

    Output already in ``out`` from the same ``n``, ``seed``, ``size`` and generator version
    (recorded in ``synthetic.json``) is reused.

    Args:
        n: Number of scenes (>= 1).
        out: The dataset folder.
        seed: Seed; scene ``k`` depends only on ``seed``, ``k`` and ``size``.
        size: (width, height) in pixels, each at least 64.

    Returns:
        The path of ``manifest.jsonl``.

    Raises:
        UsageError: Bad ``n`` or ``size``.
    """
    if n < 1:
        raise UsageError(f"n must be at least 1, got {n}")
    width, height = size
    if width < 64 or height < 64:
        raise UsageError(f"size must be at least 64×64, got {width}×{height}")
    out = Path(out)
    stamp = {
        "generator": "chainlang.synthetic",
        "version": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "size": [width, height],
    }
    if _reusable(out, stamp):
        return out / MANIFEST_NAME
    for sub in ("images", "depth", "normals", "semantic", "instances"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / STAMP_NAME).unlink(missing_ok=True)
    records = [_write_scene(out, seed, k, width, height) for k in range(n)]
    manifest = write_manifest(out, records, _dataset_info(seed))
    (out / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return manifest


def _reusable(out: Path, stamp: dict[str, Any]) -> bool:
    try:
        previous = json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return previous == stamp and (out / MANIFEST_NAME).is_file() and (out / INFO_NAME).is_file()


def render_scene(seed: int, index: int, width: int, height: int) -> tuple[Scene, Render]:
    """Sample and render scene ``index`` of ``seed`` (the unit :func:`generate` repeats)."""
    rng = np.random.default_rng([seed, index])
    scene = sample_scene(rng, width, height)
    return scene, render(scene, width, height)


def _write_scene(out: Path, seed: int, k: int, width: int, height: int) -> dict[str, Any]:
    scene, r = render_scene(seed, k, width, height)
    sid = f"scene_{k:05d}"
    Image.fromarray(r.rgb).save(out / "images" / f"{sid}.png")
    np.save(out / "depth" / f"{sid}.npy", r.depth)
    np.save(out / "normals" / f"{sid}.npy", r.normals)
    Image.fromarray(r.semantic).save(out / "semantic" / f"{sid}.png")
    Image.fromarray(r.instances.astype(np.uint16)).save(out / "instances" / f"{sid}.png")
    ann = scene_annotations(scene, r)
    objects = object_truth(scene, r)
    return {
        "id": sid,
        "image": f"images/{sid}.png",
        "truth": {
            "label": ann["label"],
            "boxes": ann["boxes"],
            "semantic": f"semantic/{sid}.png",
            "instances": f"instances/{sid}.png",
            "depth": f"depth/{sid}.npy",
            "normals": f"normals/{sid}.npy",
            **{name: objects[name] for name in OBJECT_FIELDS},
        },
        "inputs": {"points": ann["points"]},
        "meta": {
            "camera": scene.camera.intrinsics(width, height),
            "objects": [o.cls for o in scene.objects],
            "areas": ann["areas"],
            "seed": seed,
            "index": k,
        },
    }


def _dataset_info(seed: int) -> dict[str, Any]:
    return {
        "name": "synthetic",
        "labelset": "synthetic",
        "truth": {
            "depth": {"kind": "euclidean", "units": "metres"},
            "normals": {"convention": "right-up-toward"},
            "semantic": {"num_classes": len(CLASSES), "ignore": IGNORE},
        },
        "truth_fields": dict(OBJECT_FIELDS),
        "source": {"generator": "chainlang.synthetic", "version": GENERATOR_VERSION, "seed": seed},
    }
