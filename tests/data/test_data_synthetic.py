"""Synthetic scenes: deterministic, cached, and with mutually consistent ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainlang.data import load_dataset
from chainlang.data.synthetic import CLASSES, STAMP_NAME, generate, render_scene
from chainlang.errors import UsageError

LABELSET = Path(__file__).parents[2] / "chainlang" / "language" / "labelsets" / "synthetic.txt"


def test_labelset_file_matches_the_generator() -> None:
    assert tuple(LABELSET.read_text().split()) == CLASSES


def test_dataset_has_every_truth_kind(synthetic_dir: Path) -> None:
    ds = load_dataset(synthetic_dir)
    assert len(ds) == 4 and ds.labelset == "synthetic"
    assert ds.truth_names() == {
        "label",
        "boxes",
        "semantic",
        "instances",
        "depth",
        "normals",
        "count",
        "centres",
        "size_rank",
        "depth_rank",
    }
    assert ds.input_names() == {"points"}
    item = ds.get("scene_00000")
    assert item.image().size == (240, 180)
    assert item.truth("depth").shape == (180, 240)


def _angles_from_depth(depth: np.ndarray, cam: dict[str, float]) -> np.ndarray:
    """Per-pixel normals from the depth map: back-project, cross neighbour differences."""
    h, w = depth.shape
    u = (np.arange(w) + 0.5 - cam["cx"]) / cam["fx"]
    v = -(np.arange(h) + 0.5 - cam["cy"]) / cam["fy"]
    uu, vv = np.meshgrid(u, v)
    rays = np.stack([uu, vv, -np.ones_like(uu)], axis=2)
    rays /= np.linalg.norm(rays, axis=2, keepdims=True)
    pts = rays * depth[..., None]
    dx = pts[1:-1, 2:] - pts[1:-1, :-2]  # towards +x (image right)
    dy = pts[:-2, 1:-1] - pts[2:, 1:-1]  # towards +y (image up)
    n = np.cross(dx, dy)
    return n / np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-12)


def test_normals_agree_with_depth_gradient(synthetic_dir: Path) -> None:
    for item in load_dataset(synthetic_dir):
        depth, normals = item.truth("depth"), item.truth("normals")
        sem, inst = item.truth("semantic"), item.truth("instances")
        from_depth = _angles_from_depth(depth.astype(np.float64), item.meta["camera"])
        # Interior pixels: all 3×3 neighbours on the same instance and class.
        same = np.ones_like(sem[1:-1, 1:-1], dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                win = (slice(1 + dy, sem.shape[0] - 1 + dy), slice(1 + dx, sem.shape[1] - 1 + dx))
                same &= (sem[win] == sem[1:-1, 1:-1]) & (inst[win] == inst[1:-1, 1:-1])
        cos = (from_depth * normals[1:-1, 1:-1]).sum(axis=2)[same]
        angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        assert np.median(angles) < 5.0, item.id
        assert np.mean(angles < 10.0) > 0.9, item.id


def test_normals_are_unit_and_face_the_camera(synthetic_dir: Path) -> None:
    item = load_dataset(synthetic_dir).get("scene_00001")
    n = item.truth("normals")
    np.testing.assert_allclose(np.linalg.norm(n, axis=2), 1.0, atol=1e-5)
    floor = item.truth("semantic") == CLASSES.index("floor")
    assert np.all(n[floor][:, 1] > 0.5)  # the floor faces up in a level camera's frame
    assert np.all(item.truth("depth") > 0)


def test_semantic_instances_boxes_points_and_label_agree(synthetic_dir: Path) -> None:
    for item in load_dataset(synthetic_dir):
        sem, inst = item.truth("semantic"), item.truth("instances")
        boxes, points = item.truth("boxes"), item.input("points")
        assert 3 <= len(boxes) <= 6 and inst.max() == len(boxes)
        assert np.array_equal(inst > 0, sem >= CLASSES.index("sphere"))
        areas = []
        for k, box in enumerate(boxes, 1):
            mask = inst == k
            assert set(np.unique(sem[mask]).tolist()) == {CLASSES.index(box.label)}
            ys, xs = np.nonzero(mask)
            assert (box.x0, box.y0, box.x1, box.y1) == (
                xs.min(),
                ys.min(),
                xs.max() + 1,
                ys.max() + 1,
            )
            areas.append(mask.sum())
            assert mask.sum() >= 0.005 * mask.size  # objects are reasonably large
        for k, p in enumerate(points, 1):
            assert p.instance == k and inst[int(p.y), int(p.x)] == k
            # the point is away from the object's edge
            assert np.all(inst[int(p.y) - 1 : int(p.y) + 2, int(p.x) - 1 : int(p.x) + 2] == k)
        assert item.truth("label") == boxes[int(np.argmax(areas))].label


def test_generation_is_deterministic_and_independent_of_n(
    tmp_path: Path, synthetic_dir: Path
) -> None:
    generate(2, tmp_path, seed=7, size=(240, 180))
    for sub, suffix in (("images", "png"), ("depth", "npy"), ("semantic", "png")):
        for k in range(2):
            name = f"{sub}/scene_{k:05d}.{suffix}"
            assert (tmp_path / name).read_bytes() == (synthetic_dir / name).read_bytes()
    other, _ = render_scene(8, 0, 240, 180)
    same, _ = render_scene(7, 0, 240, 180)
    assert other != same


def test_existing_output_is_reused_only_for_the_same_parameters(tmp_path: Path) -> None:
    manifest = generate(1, tmp_path, seed=3, size=(160, 120))
    stamp = (tmp_path / STAMP_NAME).stat().st_mtime_ns
    image = tmp_path / "images" / "scene_00000.png"
    before = image.read_bytes()
    image.write_bytes(b"marker")  # a rerun with the same parameters must not touch files
    assert generate(1, tmp_path, seed=3, size=(160, 120)) == manifest
    assert image.read_bytes() == b"marker" and (tmp_path / STAMP_NAME).stat().st_mtime_ns == stamp
    generate(1, tmp_path, seed=4, size=(160, 120))
    assert image.read_bytes() not in (b"marker", before)


@pytest.mark.parametrize(("n", "size"), [(0, (64, 64)), (1, (32, 200))])
def test_bad_arguments_are_usage_errors(tmp_path: Path, n: int, size: tuple[int, int]) -> None:
    with pytest.raises(UsageError):
        generate(n, tmp_path, size=size)
