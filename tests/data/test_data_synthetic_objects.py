"""The synthetic scenes' object truth (count, centres, size and depth rankings), recomputed
here independently from the rendered masks, the depth map and the scene description."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from chainlang.data import load_dataset
from chainlang.data.synthetic import GENERATOR_VERSION, STAMP_NAME, Scene, generate, render_scene
from chainlang.data.synthetic.annotate import object_truth

SIZE = (160, 120)


def _volume(cls: str, size: tuple[float, float]) -> float:
    """Volume from the documented meaning of ``Solid.size`` (radius or half-width, height)."""
    r, h = size
    if cls == "sphere":
        assert math.isclose(h, 2 * r)
        return 4 / 3 * math.pi * r**3
    if cls == "cube":
        assert math.isclose(h, 2 * r)
        return h**3
    return math.pi * r * r * h / (3 if cls == "cone" else 1)


def _scene(index: int) -> tuple[Scene, dict, np.ndarray, np.ndarray]:
    scene, r = render_scene(11, index, *SIZE)
    return scene, object_truth(scene, r), r.instances, r.depth


@pytest.mark.parametrize("index", [0, 1, 2])
def test_object_truth_matches_masks_depth_and_scene(index: int) -> None:
    scene, truth, inst, depth = _scene(index)
    ids = np.unique(inst[inst > 0]).tolist()
    assert truth["count"] == len(ids) == len(scene.objects) >= 3
    # scipy's centre of mass is in pixel indices; the truth uses pixel centres (index + 0.5).
    com = ndimage.center_of_mass(np.ones_like(inst), inst, ids)
    expected = [[x + 0.5, y + 0.5] for y, x in com]
    np.testing.assert_allclose(truth["centres"], expected, atol=0.006)
    volumes = {k: _volume(o.cls, o.size) for k, o in enumerate(scene.objects, 1)}
    assert truth["size_rank"] == sorted(ids, key=volumes.__getitem__, reverse=True)
    means = ndimage.mean(depth, inst, ids)
    assert truth["depth_rank"] == [ids[i] for i in np.argsort(means, kind="stable")]


def test_rankings_are_permutations_of_the_instance_ids() -> None:
    for index in range(3):
        _, truth, _, _ = _scene(index)
        ids = list(range(1, truth["count"] + 1))
        assert sorted(truth["size_rank"]) == ids and sorted(truth["depth_rank"]) == ids
        assert all(isinstance(k, int) for k in truth["size_rank"] + truth["depth_rank"])


# ------------------------------------------------------------ the object truth in the manifest

OBJECT_FIELDS = {
    "count": "Int",
    "centres": "Points",
    "size_rank": "Ranking",
    "depth_rank": "Ranking",
}


def test_the_manifest_carries_the_object_truth_as_declared_typed_fields(
    synthetic_dir: Path,
) -> None:
    ds = load_dataset(synthetic_dir)
    info = json.loads((synthetic_dir / "dataset.json").read_text())
    assert info["truth_fields"] == OBJECT_FIELDS == dict(ds.info.fields)
    assert info["source"]["version"] == GENERATOR_VERSION == 2
    for k, item in enumerate(ds):
        scene, r = render_scene(7, k, 240, 180)
        truth = object_truth(scene, r)
        assert item.truth("count") == truth["count"] == len(np.unique(r.instances)) - 1
        # centre k-1 is instance id k of the instance map
        centres = item.truth("centres")
        assert [[p.x, p.y] for p in centres] == truth["centres"]
        inst = item.truth("instances")
        for k_id, p in enumerate(centres, 1):
            ys, xs = np.nonzero(inst == k_id)
            assert abs(p.x - (xs.mean() + 0.5)) < 0.006 and abs(p.y - (ys.mean() + 0.5)) < 0.006
        # a Ranking's ids are texts in memory (the manifest writes whole numbers)
        assert item.truth("size_rank") == [str(i) for i in truth["size_rank"]]
        assert item.truth("depth_rank") == [str(i) for i in truth["depth_rank"]]


#: scene_00000 of the shared fixture (seed 7, 240×180) as generator version 1 wrote it.
_V1_SCENE0 = {
    "truth": {
        "label": "cone",
        "boxes": [
            {"label": "cylinder", "x0": 50, "y0": 50, "x1": 84, "y1": 91},
            {"label": "cone", "x0": 55, "y0": 75, "x1": 115, "y1": 165},
            {"label": "cube", "x0": 135, "y0": 48, "x1": 171, "y1": 87},
        ],
        "semantic": "semantic/scene_00000.png",
        "instances": "instances/scene_00000.png",
        "depth": "depth/scene_00000.npy",
        "normals": "normals/scene_00000.npy",
    },
    "inputs": {"points": [[67, 65, 1], [85, 139, 2], [152, 64, 3]]},
}


def test_version_2_leaves_the_files_and_the_other_truth_values_as_they_were(
    synthetic_dir: Path,
) -> None:
    """Version 2 only adds fields: the version-1 truth, inputs and files are unchanged."""
    line = (synthetic_dir / "manifest.jsonl").read_text().splitlines()[0]
    record = json.loads(line)
    added = {name: record["truth"].pop(name) for name in OBJECT_FIELDS}
    assert list(record["truth"]) == list(_V1_SCENE0["truth"])  # same keys, same order
    assert record["truth"] == _V1_SCENE0["truth"] and record["inputs"] == _V1_SCENE0["inputs"]
    assert added["count"] == 3 and sorted(added["size_rank"]) == [1, 2, 3]
    # the new fields follow the old ones, so the old part of the line is byte for byte the same
    old = json.dumps({"truth": _V1_SCENE0["truth"]}, separators=(",", ":"))[1:-2]
    assert old in line
    # every file is exactly the render's arrays, as version 1 wrote them
    _, r = render_scene(7, 0, 240, 180)
    assert np.array_equal(np.asarray(Image.open(synthetic_dir / "images/scene_00000.png")), r.rgb)
    assert np.array_equal(np.load(synthetic_dir / "depth/scene_00000.npy"), r.depth)
    assert np.array_equal(np.load(synthetic_dir / "normals/scene_00000.npy"), r.normals)
    assert np.array_equal(
        np.asarray(Image.open(synthetic_dir / "semantic/scene_00000.png")), r.semantic
    )
    inst = np.asarray(Image.open(synthetic_dir / "instances/scene_00000.png"))
    assert np.array_equal(inst.astype(np.int64), r.instances.astype(np.int64))


def test_a_version_1_folder_is_regenerated(tmp_path: Path) -> None:
    generate(1, tmp_path, seed=3, size=(96, 72))
    stamp = json.loads((tmp_path / STAMP_NAME).read_text())
    (tmp_path / STAMP_NAME).write_text(json.dumps({**stamp, "version": 1}))
    lines = (tmp_path / "manifest.jsonl").read_text()
    (tmp_path / "manifest.jsonl").write_text(lines.replace('"count"', '"count_old"'))
    generate(1, tmp_path, seed=3, size=(96, 72))
    assert load_dataset(tmp_path).get("scene_00000").truth("count") >= 3
