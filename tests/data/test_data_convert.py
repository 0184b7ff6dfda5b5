"""Converters: tiny fake COCO, panoptic, ImageNet and Omnidata inputs become manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chainlang.data import TruthBox, load_dataset
from chainlang.data.convert import (
    convert_coco_instances,
    convert_coco_panoptic,
    convert_depth_normals,
    convert_folder,
    convert_imagenet_folders,
    convert_imagenet_val,
    panoptic_ids,
)
from chainlang.errors import DataError


def _img(path: Path, size: tuple[int, int] = (8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _coco(tmp_path: Path) -> Path:
    for i in (1, 2, 3):
        _img(tmp_path / "val" / f"{i:012d}.jpg")
    data = {
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        "images": [{"id": i, "file_name": f"{i:012d}.jpg"} for i in (1, 2, 3)],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 18, "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "iscrowd": 0},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0},
            {"id": 13, "image_id": 2, "category_id": 1, "bbox": [2, 2, 1, 1], "iscrowd": 0},
            {"id": 14, "image_id": 2, "category_id": 18, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        ],
    }
    (tmp_path / "instances.json").write_text(json.dumps(data))
    return tmp_path / "instances.json"


def test_coco_instances_to_boxes(tmp_path: Path) -> None:
    ds = load_dataset(convert_coco_instances(_coco(tmp_path), tmp_path / "val", tmp_path / "out"))
    assert ds.ids() == ["000000000001", "000000000002"]  # image 3 has no boxes
    assert ds.get("000000000001").truth("boxes") == [
        TruthBox("dog", 1, 2, 4, 6),
        TruthBox("person", 0, 0, 2, 2),
    ]
    assert len(ds.get("000000000002").truth("boxes")) == 2  # the crowd box is dropped
    assert Path(ds.labelset).read_text().split("\n")[:2] == ["person", "dog"]
    assert ds.get("000000000001").image().size == (8, 6)


def test_coco_single_instance_subset_and_empty_images(tmp_path: Path) -> None:
    ann = _coco(tmp_path)
    single = convert_coco_instances(ann, tmp_path / "val", tmp_path / "s", single_instance=True)
    assert load_dataset(single).ids() == ["000000000001"]
    every = convert_coco_instances(ann, tmp_path / "val", tmp_path / "e", keep_empty=True)
    assert load_dataset(every).get("000000000003").truth("boxes") == []


def test_coco_malformed_json_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"images": []}')
    with pytest.raises(DataError, match="not a COCO instances file"):
        convert_coco_instances(tmp_path / "bad.json", tmp_path, tmp_path / "out")


def test_panoptic_id_decoding() -> None:
    rgb = np.array([[[1, 0, 0], [0, 1, 0], [4, 3, 2]]], dtype=np.uint8)
    np.testing.assert_array_equal(panoptic_ids(rgb)[0], [1, 256, 4 + 3 * 256 + 2 * 65536])


def _panoptic(tmp_path: Path, extra_segment: bool = False) -> tuple[Path, Path, Path]:
    _img(tmp_path / "val" / "000000000005.jpg", (4, 2))
    ids = np.array([[0, 300, 300, 70000], [5, 5, 70000, 70000]])
    if extra_segment:
        ids[0, 0] = 99
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=2).astype(np.uint8)
    (tmp_path / "pan").mkdir()
    Image.fromarray(rgb).save(tmp_path / "pan" / "000000000005.png")
    data = {
        "categories": [
            {"id": 1, "name": "person", "isthing": 1},
            {"id": 184, "name": "tree-merged", "isthing": 0},
            {"id": 3, "name": "car", "isthing": 1},
        ],
        "images": [{"id": 5, "file_name": "000000000005.jpg"}],
        "annotations": [
            {
                "image_id": 5,
                "file_name": "000000000005.png",
                "segments_info": [
                    {"id": 300, "category_id": 3, "iscrowd": 0},
                    {"id": 70000, "category_id": 184, "iscrowd": 0},
                    {"id": 5, "category_id": 1, "iscrowd": 1},
                ],
            }
        ],
    }
    (tmp_path / "panoptic.json").write_text(json.dumps(data))
    return tmp_path / "panoptic.json", tmp_path / "pan", tmp_path / "val"


def test_coco_panoptic_to_semantic_and_instances(tmp_path: Path) -> None:
    ds = load_dataset(convert_coco_panoptic(*_panoptic(tmp_path), tmp_path / "out"))
    item = ds.get("000000000005")
    # classes sorted by category id: person 0, car 1, tree-merged 2; unlabelled and crowd: 255
    np.testing.assert_array_equal(item.truth("semantic"), [[255, 1, 1, 2], [255, 255, 2, 2]])
    np.testing.assert_array_equal(item.truth("instances"), [[0, 1, 1, 0], [0, 0, 0, 0]])
    assert Path(ds.labelset).read_text().splitlines() == ["person", "car", "tree-merged"]


def test_panoptic_segment_missing_from_json_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"segment ids \[99\]"):
        convert_coco_panoptic(*_panoptic(tmp_path, extra_segment=True), tmp_path / "out")


def test_imagenet_class_folders(tmp_path: Path) -> None:
    _img(tmp_path / "train" / "n01440764" / "a.JPEG")
    _img(tmp_path / "train" / "n01443537" / "b.jpg")
    (tmp_path / "names.txt").write_text("n01440764 tench\nn01443537 goldfish\n")
    plain = load_dataset(convert_imagenet_folders(tmp_path / "train", tmp_path / "o1"))
    assert plain.get("n01440764/a.JPEG").truth("label") == "n01440764"
    named = convert_imagenet_folders(
        tmp_path / "train", tmp_path / "o2", class_names=tmp_path / "names.txt", labelset="imagenet"
    )
    ds = load_dataset(named)
    assert [it.truth("label") for it in ds] == ["tench", "goldfish"] and ds.labelset == "imagenet"


def test_imagenet_class_folder_missing_from_names_is_an_error(tmp_path: Path) -> None:
    _img(tmp_path / "train" / "n0" / "a.png")
    (tmp_path / "names.txt").write_text("n1 tench\n")
    with pytest.raises(DataError, match=r"no label for class folders \['n0'\]"):
        convert_imagenet_folders(
            tmp_path / "train", tmp_path / "o", class_names=tmp_path / "names.txt"
        )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "gt.json",
            json.dumps({"ILSVRC2012_val_00000001.JPEG": 1, "ILSVRC2012_val_00000002.JPEG": 0}),
        ),
        ("gt.txt", "ILSVRC2012_val_00000002 0\nILSVRC2012_val_00000001 1\n"),
        ("gt.txt", "1\n0\n"),
        (
            "gt.csv",
            "ImageId,PredictionString\n"
            "ILSVRC2012_val_00000001,goldfish 1 2 3 4\n"
            "ILSVRC2012_val_00000002,tench 0 0 1 1\n",
        ),
    ],
)
def test_imagenet_val_label_files(tmp_path: Path, name: str, text: str) -> None:
    for i in (1, 2):
        _img(tmp_path / "val" / f"ILSVRC2012_val_{i:08d}.JPEG")
    (tmp_path / name).write_text(text)
    (tmp_path / "classes.txt").write_text("tench\ngoldfish\n")
    manifest = convert_imagenet_val(
        tmp_path / "val", tmp_path / name, tmp_path / "out", class_list=tmp_path / "classes.txt"
    )
    assert [it.truth("label") for it in load_dataset(manifest)] == ["goldfish", "tench"]


def test_imagenet_val_index_out_of_range(tmp_path: Path) -> None:
    _img(tmp_path / "val" / "a.JPEG")
    (tmp_path / "gt.json").write_text(json.dumps({"a.JPEG": 5}))
    (tmp_path / "classes.txt").write_text("tench\n")
    with pytest.raises(DataError, match="class index 5"):
        convert_imagenet_val(
            tmp_path / "val",
            tmp_path / "gt.json",
            tmp_path / "o",
            class_list=tmp_path / "classes.txt",
        )


def test_omnidata_depth_and_normals(tmp_path: Path) -> None:
    root = tmp_path / "hypersim"
    _img(root / "rgb" / "ai_001" / "point_0_view_0_domain_rgb.png", (4, 3))
    depth = np.full((3, 4), 1024, dtype=np.uint16)
    (root / "depth" / "ai_001").mkdir(parents=True)
    Image.fromarray(depth).save(
        root / "depth" / "ai_001" / "point_0_view_0_domain_depth_euclidean.png"
    )
    normals = np.zeros((3, 4, 3), dtype=np.uint8) + np.array([128, 128, 0], dtype=np.uint8)
    (root / "normal" / "ai_001").mkdir(parents=True)
    Image.fromarray(normals).save(root / "normal" / "ai_001" / "point_0_view_0_domain_normal.png")
    manifest = convert_depth_normals(
        root / "rgb", tmp_path / "out", depth=root / "depth", normals=root / "normal"
    )
    item = load_dataset(manifest).get("ai_001/point_0_view_0")
    np.testing.assert_allclose(item.truth("depth"), 2.0)
    np.testing.assert_allclose(item.truth("normals")[1, 1], [0, 0, 1], atol=0.02)


def test_omnidata_missing_truth_is_an_error_unless_allowed(tmp_path: Path) -> None:
    _img(tmp_path / "rgb" / "a_domain_rgb.png")
    _img(tmp_path / "rgb" / "b_domain_rgb.png")
    (tmp_path / "depth").mkdir()
    np.save(tmp_path / "depth" / "a_domain_depth_euclidean.npy", np.ones((6, 8), np.float32))
    with pytest.raises(DataError, match="1 images have no matching truth file"):
        convert_depth_normals(tmp_path / "rgb", tmp_path / "out", depth=tmp_path / "depth")
    manifest = convert_depth_normals(
        tmp_path / "rgb", tmp_path / "out", depth=tmp_path / "depth", allow_missing=True
    )
    assert load_dataset(manifest).ids() == ["a"]


def test_plain_folder_converter(tmp_path: Path) -> None:
    _img(tmp_path / "imgs" / "x" / "1.png")
    _img(tmp_path / "imgs" / "2.jpg")
    ds = load_dataset(convert_folder(tmp_path / "imgs", tmp_path / "out"))
    assert ds.ids() == ["2.jpg", "x/1.png"] and ds.get("x/1.png").image().size == (8, 6)
    with pytest.raises(DataError, match="no images"):
        convert_folder(tmp_path / "out", tmp_path / "out2")


def test_converters_report_unreadable_inputs_as_data_errors(tmp_path: Path) -> None:
    _img(tmp_path / "val" / "a.JPEG")
    with pytest.raises(DataError, match="class folder root not found"):
        convert_imagenet_folders(tmp_path / "nope", tmp_path / "o")
    with pytest.raises(DataError, match=r"cannot read .*names\.txt"):
        convert_imagenet_folders(tmp_path, tmp_path / "o", class_names=tmp_path / "names.txt")
    with pytest.raises(DataError, match=r"cannot read .*gt\.csv"):
        convert_imagenet_val(tmp_path / "val", tmp_path / "gt.csv", tmp_path / "o")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["annotations"][0].pop("image_id"), "annotation 10 is malformed"),
        (lambda d: d["images"][0].pop("file_name"), "not a COCO instances file"),
        (lambda d: d.update(annotations=5), "not a COCO instances file"),
        (lambda d: d["annotations"].insert(0, 7), "annotation #1 is not a JSON object"),
    ],
)
def test_malformed_coco_entries_are_data_errors(tmp_path: Path, edit: Any, message: str) -> None:
    path = _coco(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        convert_coco_instances(path, tmp_path / "val", tmp_path / "out")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.pop("segments_info"), "malformed panoptic annotation"),
        (lambda a: a["segments_info"][0].pop("category_id"), "malformed panoptic annotation"),
        (lambda a: a.update(image_id=6), "refers to unknown image 6"),
    ],
)
def test_malformed_panoptic_annotations_are_data_errors(
    tmp_path: Path, edit: Any, message: str
) -> None:
    path, pngs, images = _panoptic(tmp_path)
    data = json.loads(path.read_text())
    edit(data["annotations"][0])
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        convert_coco_panoptic(path, pngs, images, tmp_path / "out")
    assert not list((tmp_path / "out" / "semantic").iterdir())  # nothing written


def test_folder_converter_keeps_the_folder_datasets_order(tmp_path: Path) -> None:
    for name in ("cat/x.png", "cat.1/x.png", "cat-2.png"):
        _img(tmp_path / "imgs" / name)
    direct = load_dataset(tmp_path / "imgs").ids()
    assert load_dataset(convert_folder(tmp_path / "imgs", tmp_path / "out")).ids() == direct
    assert direct == sorted(direct)
