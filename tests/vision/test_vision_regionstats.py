"""Region statistics over truth maps and the answer helpers."""

from __future__ import annotations

import numpy as np
import pytest

from chainlang.errors import OperationError
from chainlang.vision import ops
from chainlang.vision.values import Box, Detection, Regions


def test_region_mean_and_std_skip_invalid_depth(quads: Regions) -> None:
    depth = np.zeros((16, 20), dtype=np.float32)
    depth[0:8, 0:10] = 2.0
    depth[0, 0:5] = 4.0
    depth[1, 0] = np.nan
    depth[2, 0] = 0.0
    region = quads.region(1)
    valid = np.concatenate([np.full(5, 4.0), np.full(80 - 5 - 2, 2.0)])
    assert ops.region_mean(depth, region) == pytest.approx(valid.mean())
    assert ops.region_std(depth, region) == pytest.approx(valid.std())
    assert ops.region_mean(depth, quads.region(4)) is None  # every pixel is 0 = invalid


def test_region_mean_of_a_normal_channel(quads: Regions) -> None:
    normals = np.zeros((16, 20, 3), dtype=np.float32)
    normals[..., 2] = 1.0
    normals[0:8, 0:10, 0] = 0.5
    normals[0, 0] = 0.0  # the zero vector: no data
    normals[1, 1] = (9.0, 0.0, np.nan)  # another channel's NaN: the whole pixel is no data
    normals[2, 2] = (0.0, 0.0, 1.0)  # a zero component of a valid vector still counts
    valid = np.concatenate([np.full(77, 0.5), [0.0]])
    assert ops.region_mean(normals, quads.region(1), channel=0) == pytest.approx(valid.mean())
    assert ops.region_std(normals, quads.region(1), channel=0) == pytest.approx(valid.std())
    assert ops.region_mean(normals, quads.region(1), channel=2) == pytest.approx(1.0)
    with pytest.raises(OperationError, match="channel"):
        ops.region_mean(normals, quads.region(1))
    with pytest.raises(OperationError, match="the map is"):
        ops.region_mean(np.zeros((3, 3)), quads.region(1))


def test_majority(quads: Regions) -> None:
    semantic = np.full((16, 20), 255, dtype=np.uint8)
    semantic[0:8, 0:10] = 3
    semantic[0:2, 0:10] = 1
    assert ops.majority(semantic, quads.region(1)) == 3
    assert ops.majority(semantic, quads.region(1), label_set=["a", "b", "c", "d"]) == "d"
    assert ops.majority(semantic, quads.region(2)) is None


def test_union_is_the_regions_pixels(quads: Regions) -> None:
    mask = ops.union([quads.region(1), quads.region(4)])
    assert mask.area == 160
    assert mask.pixels[0, 0] and mask.pixels[15, 19] and not mask.pixels[0, 19]
    with pytest.raises(OperationError, match="empty list"):
        ops.union([])
    with pytest.raises(OperationError, match="different superpixel maps"):
        ops.union([quads.region(1), Regions.from_labels(np.ones((2, 2), int)).region(1)])


def test_box_helpers() -> None:
    truth = [Detection("cat", 0, 0, 10, 10), ("dog", 20.5, 20, 30, 30)]
    assert ops.box_overlaps(truth, "cat", Box(9, 9, 12, 12))
    assert not ops.box_overlaps(truth, "cat", Box(10, 0, 12, 12))  # half-open: touching edges
    assert ops.box_overlaps(truth, "dog", Box(0, 0, 21, 21))
    assert ops.labels_in(truth, Box(0, 0, 40, 40)) == ["cat", "dog"]
    assert ops.labels_in(truth, Box(11, 11, 19, 19)) == []
    with pytest.raises(OperationError, match="label, x0"):
        ops.labels_in([("cat", 1, 2)], Box(0, 0, 1, 1))


def test_instance_overlap(quads: Regions) -> None:
    instances = np.zeros((16, 20), dtype=np.int32)
    instances[0:4, 0:10] = 7
    assert ops.instance_overlap(instances, (1, 1), quads.region(1)) == pytest.approx(0.5)
    assert ops.instance_overlap(instances, (15, 15), quads.region(1)) == 0.0
    with pytest.raises(OperationError, match="outside"):
        ops.instance_overlap(instances, (40, 1), quads.region(1))


def test_vote() -> None:
    assert ops.vote(["red", "blue", "equal", None], "red", "blue") == [1, -1, 0, None]
    with pytest.raises(OperationError, match="two different"):
        ops.vote(["red"], "red", "red")
