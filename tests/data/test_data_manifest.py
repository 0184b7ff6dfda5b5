"""The manifest: lazy items, every truth kind, and clear errors for malformed data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chainlang.data import TruthBox, TruthPoint, load_dataset, write_manifest
from chainlang.errors import DataError

W, H = 8, 6


def _dataset(tmp_path: Path, truth: dict[str, Any], info: dict[str, Any] | None = None) -> Path:
    Image.new("RGB", (W, H), (10, 20, 30)).save(tmp_path / "img.png")
    record = {"id": "a", "image": "img.png", "truth": truth}
    return write_manifest(tmp_path, [record], info or {})


def test_items_stream_lazily_and_by_id(tmp_path: Path) -> None:
    for name in ("x", "y", "z"):
        Image.new("RGB", (W, H)).save(tmp_path / f"{name}.png")
    records = [{"id": n, "image": f"{n}.png", "truth": {"label": n}} for n in ("x", "y", "z")]
    ds = load_dataset(write_manifest(tmp_path, records, {"labelset": "coco80"}))
    assert len(ds) == 3 and ds.ids() == ["x", "y", "z"]
    assert ds.labelset == "coco80" and ds.truth_names() == {"label"}
    (tmp_path / "y.png").unlink()  # only y's image call may fail, and it names y
    assert [it.truth("label") for it in ds] == ["x", "y", "z"]
    assert ds.get("z").image().size == (W, H)
    with pytest.raises(DataError, match=r"item 'y'.*y\.png"):
        ds.get("y").image()
    with pytest.raises(DataError, match="no item 'w'"):
        ds.get("w")


def test_folder_and_sidecar_paths_are_accepted(tmp_path: Path) -> None:
    manifest = _dataset(tmp_path, {"label": "cat"})
    for p in (manifest, tmp_path, tmp_path / "dataset.json"):
        assert load_dataset(p).ids() == ["a"]


def test_plain_image_folder_uses_relative_paths_as_ids(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "sub" / "b.jpg")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load_dataset(tmp_path)
    assert ds.ids() == ["a.png", "sub/b.jpg"]
    assert ds.get("sub/b.jpg").image().size == (4, 4)
    assert ds.truth_names() == frozenset()


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no manifest\.jsonl and no images"):
        load_dataset(tmp_path)


def test_inline_truths_and_points(tmp_path: Path) -> None:
    Image.new("RGB", (W, H)).save(tmp_path / "img.png")
    record = {
        "id": "a",
        "image": "img.png",
        "truth": {
            "label": "cube",
            "boxes": [["cube", 1, 2, 5, 6], {"label": "cone", "x0": 0, "y0": 0, "x1": 1, "y1": 1}],
        },
        "inputs": {"points": [[3, 4, 1]], "prompt": "hello"},
    }
    item = load_dataset(write_manifest(tmp_path, [record], {})).get("a")
    assert item.truth("boxes") == [TruthBox("cube", 1, 2, 5, 6), TruthBox("cone", 0, 0, 1, 1)]
    assert item.input("points") == [TruthPoint(3.0, 4.0, 1)]
    assert item.input("prompt") == "hello"
    assert item.truth_names() == ("label", "boxes")
    with pytest.raises(DataError, match="has no truth 'depth'"):
        item.truth("depth")


def test_depth_png_uses_the_declared_scale(tmp_path: Path) -> None:
    depth = np.zeros((H, W), dtype=np.uint16)
    depth[0, 0] = 1024
    Image.fromarray(depth).save(tmp_path / "d.png")
    d = load_dataset(
        _dataset(tmp_path, {"depth": "d.png"}, {"truth": {"depth": {"scale": 1 / 512}}})
    )
    out = d.get("a").truth("depth")
    assert out.dtype == np.float32 and out[0, 0] == 2.0 and out[0, 1] == 0.0


def test_depth_png_without_scale_is_refused(tmp_path: Path) -> None:
    Image.fromarray(np.ones((H, W), dtype=np.uint16)).save(tmp_path / "d.png")
    with pytest.raises(DataError, match=r"item 'a'.*declares no depth scale"):
        load_dataset(_dataset(tmp_path, {"depth": "d.png"})).get("a").truth("depth")


def test_depth_npy_marks_non_finite_invalid_and_refuses_negatives(tmp_path: Path) -> None:
    arr = np.full((H, W), 3.0, dtype=np.float32)
    arr[0, 0] = np.inf
    np.save(tmp_path / "d.npy", arr)
    out = load_dataset(_dataset(tmp_path, {"depth": "d.npy"})).get("a").truth("depth")
    assert np.isnan(out[0, 0]) and out[1, 1] == 3.0
    np.save(tmp_path / "d.npy", -arr)
    with pytest.raises(DataError, match="negative"):
        load_dataset(tmp_path).get("a").truth("depth")


def test_omnidata_normal_png_maps_to_camera_frame(tmp_path: Path) -> None:
    png = np.full((H, W, 3), 128, dtype=np.uint8)
    png[0, 0] = [255, 128, 128]  # faces right
    png[0, 1] = [128, 0, 128]  # G low = faces up (G grows downwards)
    png[0, 2] = [128, 128, 0]  # B low = faces the camera (B grows away)
    Image.fromarray(png).save(tmp_path / "n.png")
    info = {"truth": {"normals": {"convention": "right-down-away"}}}
    n = load_dataset(_dataset(tmp_path, {"normals": "n.png"}, info)).get("a").truth("normals")
    assert n.shape == (H, W, 3) and n.dtype == np.float32
    np.testing.assert_allclose(n[0, 0], [1, 0, 0], atol=0.02)
    np.testing.assert_allclose(n[0, 1], [0, 1, 0], atol=0.02)
    np.testing.assert_allclose(n[0, 2], [0, 0, 1], atol=0.02)
    np.testing.assert_array_equal(n[3, 3], [0, 0, 0])  # mid-grey: no normal


def test_normal_png_needs_a_convention(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(tmp_path / "n.png")
    with pytest.raises(DataError, match="declared convention"):
        load_dataset(_dataset(tmp_path, {"normals": "n.png"})).get("a").truth("normals")
    info = {"truth": {"normals": {"convention": "right-sideways-away"}}}
    with pytest.raises(DataError, match="unknown normals convention"):
        load_dataset(_dataset(tmp_path, {"normals": "n.png"}, info)).get("a").truth("normals")


def test_normals_npy_are_normalised_and_nan_is_invalid(tmp_path: Path) -> None:
    arr = np.zeros((H, W, 3), dtype=np.float32)
    arr[..., 2] = 2.0
    arr[0, 0] = np.nan
    np.save(tmp_path / "n.npy", arr)
    n = load_dataset(_dataset(tmp_path, {"normals": "n.npy"})).get("a").truth("normals")
    np.testing.assert_array_equal(n[1, 1], [0, 0, 1])
    np.testing.assert_array_equal(n[0, 0], [0, 0, 0])


def test_semantic_and_instance_pngs(tmp_path: Path) -> None:
    sem = np.zeros((H, W), dtype=np.uint8)
    sem[0, 0] = 255
    sem[1, 1] = 3
    Image.fromarray(sem).save(tmp_path / "s.png")
    inst = np.zeros((H, W), dtype=np.uint16)
    inst[2, 2] = 300
    Image.fromarray(inst).save(tmp_path / "i.png")
    info = {"truth": {"semantic": {"num_classes": 4}}}
    item = load_dataset(_dataset(tmp_path, {"semantic": "s.png", "instances": "i.png"}, info)).get(
        "a"
    )
    s, i = item.truth("semantic"), item.truth("instances")
    assert s.dtype == np.uint8 and s[0, 0] == 255 and s[1, 1] == 3
    assert i.dtype == np.int32 and i[2, 2] == 300


def test_semantic_class_outside_label_set_is_refused(tmp_path: Path) -> None:
    Image.fromarray(np.full((H, W), 7, dtype=np.uint8)).save(tmp_path / "s.png")
    info = {"truth": {"semantic": {"num_classes": 4}}}
    with pytest.raises(DataError, match="class 7 but the label set has 4"):
        load_dataset(_dataset(tmp_path, {"semantic": "s.png"}, info)).get("a").truth("semantic")


def test_colour_semantic_png_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (W, H)).save(tmp_path / "s.png")
    with pytest.raises(DataError, match="colour-coded"):
        load_dataset(_dataset(tmp_path, {"semantic": "s.png"})).get("a").truth("semantic")


def test_truth_map_size_must_match_image(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.ones((H + 1, W), dtype=np.float32))
    with pytest.raises(DataError, match=r"d\.npy is 8×7 but the image .* is 8×6"):
        load_dataset(_dataset(tmp_path, {"depth": "d.npy"})).get("a").truth("depth")


def test_missing_truth_file_names_item_and_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"item 'a': depth: truth file not found: .*gone\.npy"):
        load_dataset(_dataset(tmp_path, {"depth": "gone.npy"})).get("a").truth("depth")


def test_per_item_options_override_dataset_conventions(tmp_path: Path) -> None:
    Image.fromarray(np.full((H, W), 10, dtype=np.uint16)).save(tmp_path / "d.png")
    info = {"truth": {"depth": {"scale": 1.0}}}
    ds = load_dataset(_dataset(tmp_path, {"depth": {"path": "d.png", "scale": 0.5}}, info))
    assert ds.get("a").truth("depth")[0, 0] == 5.0


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([["cube", 5, 0, 1, 1]], "x1 < x0"),
        ([["cube", 0, 0, 1]], "5-list"),
        ([{"label": "cube", "x0": 0}], "lacks field"),
        ([["", 0, 0, 1, 1]], "no label"),
        ([["cube", 0, "a", 1, 1]], "finite number"),
    ],
)
def test_malformed_boxes(tmp_path: Path, boxes: list[Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_dataset(_dataset(tmp_path, {"boxes": boxes})).get("a").truth("boxes")


def test_header_line_declares_the_dataset(tmp_path: Path) -> None:
    Image.new("RGB", (W, H)).save(tmp_path / "img.png")
    lines = [{"dataset": {"labelset": "labels.txt"}}, {"id": "a", "image": "img.png"}]
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    ds = load_dataset(tmp_path / "m.jsonl")
    assert ds.ids() == ["a"] and ds.labelset == str((tmp_path / "labels.txt").resolve())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"manifest.jsonl:2: not valid JSON"),
        ('{"id": "a", "image": "x.png"}', "duplicate item id 'a'"),
        ('{"id": "b"}', "needs an 'image'"),
        (
            '{"id": "b", "image": "x.png", "truth": {"dpeth": "d.npy"}}',
            r"item 'b': unknown truth 'dpeth' \(built-in kinds: label, .*Did you mean 'depth'",
        ),
        ('{"id": "b", "image": "x.png", "extra": 1}', "unknown item keys"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_malformed_manifest_lines_name_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    (tmp_path / "manifest.jsonl").write_text('{"id": "a", "image": "x.png"}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path)


def test_missing_label_set_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="label set file not found"):
        load_dataset(_dataset(tmp_path, {}, {"labelset": "nope/labels.txt"}))


def test_semantic_num_classes_must_be_an_integer(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((H, W), dtype=np.uint8)).save(tmp_path / "s.png")
    info = {"truth": {"semantic": {"num_classes": "many"}}}
    with pytest.raises(DataError, match="num_classes must be an integer, got 'many'"):
        load_dataset(_dataset(tmp_path, {"semantic": "s.png"}, info)).get("a").truth("semantic")


def test_oversized_truth_image_is_a_data_error(tmp_path: Path) -> None:
    Image.new("1", (13000, 14000)).save(tmp_path / "s.png")  # past Pillow's bomb limit
    with pytest.raises(DataError, match=r"cannot read truth file .*s\.png"):
        load_dataset(_dataset(tmp_path, {"semantic": "s.png"})).get("a").truth("semantic")


# ----------------------------------------------------------------- typed truth fields

FIELDS = {
    "count": "Int",
    "area": "Float",
    "indoor": "Bool",
    "caption": "Text",
    "colour": "Label",
    "centre": "Point",
    "centres": "Points",
    "size_rank": "Ranking",
    "names": "Ranking",
    "extra": "JSON",
}


def test_typed_truth_fields_load_in_their_in_memory_forms(tmp_path: Path) -> None:
    truth = {
        "count": 3.0,
        "area": 2,
        "indoor": False,
        "caption": "",
        "colour": "red",
        "centre": {"x": 1.5, "y": 2},
        "centres": [[1, 2], [3.5, 4]],
        "size_rank": [3, 1, 2],
        "names": ["cube", "cone"],
        "extra": {"any": [1, None]},
    }
    ds = load_dataset(_dataset(tmp_path, truth, {"truth_fields": FIELDS}))
    item = ds.get("a")
    assert ds.info.fields == FIELDS
    assert (
        ds.info.truth_type("size_rank") == "Ranking" and ds.info.truth_type("depth") == "DepthMap"
    )
    assert ds.info.truth_type("nothing") is None
    count = item.truth("count")
    assert count == 3 and type(count) is int
    assert item.truth("area") == 2.0 and type(item.truth("area")) is float
    assert item.truth("indoor") is False and item.truth("caption") == ""
    centre = item.truth("centre")
    assert (centre.x, centre.y) == (1.5, 2.0) and list(centre) == [1.5, 2.0]
    assert [tuple(p) for p in item.truth("centres")] == [(1.0, 2.0), (3.5, 4.0)]
    assert item.truth("size_rank") == ["3", "1", "2"] and item.truth("names") == ["cube", "cone"]
    assert item.truth("extra") == {"any": [1, None]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "count",
            "three",
            r"\(declared Int\): expected an Int .*found \"three\" \(a string\)",
        ),
        ("count", 2.5, r"expected an Int .*found 2\.5 \(a number\)"),
        ("count", True, r"expected an Int .*found true \(a bool\)"),
        ("area", None, r"expected a Float .*found null"),
        ("indoor", 1, r"expected a Bool .*found 1 \(a whole number\)"),
        ("caption", 4, r"expected a Text"),
        ("colour", "", r"expected a Label \(a non-empty string\)"),
        ("centre", [1, 2, 3], r"expected a Point .*found \[1, 2, 3\] \(a list\)"),
        ("centres", [[1, 2], [1]], r"expected Points|point 1: expected a Point"),
        ("centres", {"x": 1, "y": 2}, r"expected Points \(a list of \[x, y\] points\)"),
        (
            "size_rank",
            [1, 2, 1],
            r"expected a Ranking .*: 1 \(a whole number\) comes more than once",
        ),
        ("size_rank", [1, "2"], r"expected a Ranking .*it mixes numbers and strings"),
        ("size_rank", [1.5, 2], r"expected a Ranking .*1\.5 \(a number\) is not an id"),
        ("size_rank", "1,2", r"expected a Ranking .*found \"1,2\" \(a string\)"),
    ],
)
def test_a_malformed_typed_value_names_item_field_type_and_value(
    tmp_path: Path, field: str, value: Any, message: str
) -> None:
    info = {"truth_fields": FIELDS}
    Image.new("RGB", (W, H)).save(tmp_path / "img.png")
    good = {"id": "ok", "image": "img.png", "truth": {"count": 1}}
    bad = {"id": "bad_one", "image": "img.png", "truth": {field: value}}
    with pytest.raises(
        DataError, match=r"record 2: item 'bad_one': truth '" + field + "' .*" + message
    ):
        write_manifest(tmp_path, [good, bad], info)
    # the same line written by hand is refused when the manifest is read, with its line
    write_manifest(tmp_path, [good], info)
    with (tmp_path / "manifest.jsonl").open("a") as f:
        f.write(json.dumps(bad) + "\n")
    with pytest.raises(
        DataError, match=r"manifest\.jsonl:2: item 'bad_one': truth '" + field + "' .*" + message
    ):
        load_dataset(tmp_path)


def test_an_undeclared_truth_name_lists_the_known_and_declared_names(tmp_path: Path) -> None:
    Image.new("RGB", (W, H)).save(tmp_path / "img.png")
    record = {"id": "a", "image": "img.png", "truth": {"count": 3, "cuont": 3}}
    with pytest.raises(DataError) as err:
        write_manifest(tmp_path, [record], {"truth_fields": {"count": "Int"}})
    text = str(err.value)
    assert "unknown truth 'cuont'" in text and "Did you mean 'count'?" in text
    assert "built-in kinds: label, boxes, semantic, instances, points, depth, normals" in text
    assert "'truth_fields': count" in text and '{"truth_fields": {"cuont": "Int"}}' in text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["count"], r"'truth_fields' must map field names to types"),
        ({"count": "int"}, r"truth field 'count' has unknown type 'int' .*did you mean 'Int'\?"),
        ({"size_rank": "Rankings"}, r"unknown type 'Rankings' .*did you mean 'Ranking'\?"),
        ({"depth": "Float"}, r"'depth' is a built-in truth kind with a fixed type"),
        ({"2nd": "Int"}, r"truth field '2nd' is not a name a chain can write"),
    ],
)
def test_bad_declarations_are_refused_in_dataset_json(
    tmp_path: Path, fields: Any, message: str
) -> None:
    manifest = _dataset(tmp_path, {"label": "cat"})
    (tmp_path / "dataset.json").write_text(json.dumps({"truth_fields": fields}))
    with pytest.raises(DataError, match=message):
        load_dataset(manifest)


def test_fields_may_be_declared_in_the_manifest_header_line(tmp_path: Path) -> None:
    Image.new("RGB", (W, H)).save(tmp_path / "img.png")
    lines = [
        {"dataset": {"truth_fields": {"count": "Int"}}},
        {"id": "a", "image": "img.png", "truth": {"count": 2}},
    ]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    ds = load_dataset(tmp_path)
    assert ds.get("a").truth("count") == 2 and [i.truth("count") for i in ds] == [2]
