"""The synthetic scenes' object truth (count, centres, size and depth rankings), recomputed
here independently from the rendered masks, the depth map and the scene description."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from chainlang.data.synthetic import Scene, render_scene
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
