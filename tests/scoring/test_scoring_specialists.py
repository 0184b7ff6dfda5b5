"""Specialists: spec parsing, folder predictions, the cache, and tiny random models offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chainlang.errors import ScoringError
from chainlang.image import ImageData
from chainlang.scoring.metrics import ScoredBox
from chainlang.scoring.specialists import (
    CachedSpecialist,
    ItemLike,
    PredictionCache,
    Specialist,
    SpecialistItem,
    SpecialistOptions,
    Task,
    get_specialist,
    parse_spec,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup must fail at once, never download


def _items(rng: np.random.Generator, n: int, h: int = 24, w: int = 32) -> list[SpecialistItem]:
    return [
        SpecialistItem(f"img{i}", ImageData.of(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
        for i in range(n)
    ]


def test_importing_scoring_does_not_import_torch() -> None:
    code = (
        "import sys, chainlang.scoring, chainlang.scoring.specialists;"
        "print(sorted(m for m in ('torch', 'timm', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_spec_parsing_and_unknown_kinds() -> None:
    assert parse_spec("folder:/a/b") == ("folder", "/a/b")
    with pytest.raises(ScoringError, match="kind:target"):
        parse_spec("resnet18")
    with pytest.raises(ScoringError, match="unknown specialist kind 'nope'"):
        get_specialist("nope:x")
    with pytest.raises(ScoringError, match="task"):
        get_specialist("folder:/tmp")


def test_folder_specialist_reads_each_format(tmp_path: Path, rng: np.random.Generator) -> None:
    items = _items(rng, 2)
    (tmp_path / "img0.json").write_text(json.dumps("cat"))
    (tmp_path / "img1.json").write_text(json.dumps({"label": "dog"}))
    labels = get_specialist(f"folder:{tmp_path}", SpecialistOptions(task="label"))
    assert list(labels.predict(items)) == ["cat", "dog"]

    boxes_dir = tmp_path / "boxes"
    boxes_dir.mkdir()
    (boxes_dir / "img0.json").write_text(json.dumps([["cat", 1, 2, 3, 4, 0.9]]))
    (boxes_dir / "img1.json").write_text(
        json.dumps({"boxes": [{"label": "dog", "x0": 0, "y0": 0, "x1": 5, "y1": 5}]})
    )
    boxes = get_specialist(f"folder:{boxes_dir}", SpecialistOptions(task="boxes"))
    assert list(boxes.predict(items)) == [
        [ScoredBox("cat", 1, 2, 3, 4, 0.9)],
        [ScoredBox("dog", 0, 0, 5, 5, 1.0)],
    ]

    maps = tmp_path / "maps"
    maps.mkdir()
    depth = rng.random((24, 32)).astype(np.float32)
    np.save(maps / "img0.npy", depth)
    sem = rng.integers(0, 5, (24, 32), dtype=np.uint8)
    Image.fromarray(sem).save(maps / "img1.png")
    got = list(get_specialist(f"folder:{maps}", SpecialistOptions(task="semantic")).predict(items))
    assert np.array_equal(got[0], depth) and np.array_equal(got[1], sem)


def test_folder_specialist_errors_name_the_item(tmp_path: Path, rng: np.random.Generator) -> None:
    spec = get_specialist(f"folder:{tmp_path}", SpecialistOptions(task="depth"))
    with pytest.raises(ScoringError, match="img0"):
        list(spec.predict(_items(rng, 1)))
    sneaky = SpecialistItem("../outside", _items(rng, 1)[0].pixels)
    with pytest.raises(ScoringError, match="outside"):
        list(spec.predict([sneaky]))
    with pytest.raises(ScoringError, match="not found"):
        get_specialist(f"folder:{tmp_path / 'missing'}", SpecialistOptions(task="depth"))


class BrightnessDepth:
    """A real (if naive) plugin specialist: depth = darkness; counts the images it saw."""

    name = "brightness-depth"
    task: Task = "depth"
    weights_digest = "v1"

    def __init__(self) -> None:
        self.seen = 0

    def predict(self, items: Iterable[ItemLike]) -> Iterator[np.ndarray]:
        for item in items:
            self.seen += 1
            yield 255.0 - item.image().pixels.mean(axis=2)


def test_cache_predicts_each_image_once(tmp_path: Path, rng: np.random.Generator) -> None:
    inner = BrightnessDepth()
    assert isinstance(inner, Specialist)
    items = _items(rng, 5)
    cached = CachedSpecialist(inner, PredictionCache(tmp_path), chunk=2)
    first = list(cached.predict(items))
    again = list(cached.predict(items[::-1]))
    assert inner.seen == 5
    for a, b in zip(first, again[::-1], strict=True):
        assert np.array_equal(a, b)
    assert len(list(tmp_path.glob("*.npy"))) == 5
    fresh = CachedSpecialist(BrightnessDepth(), PredictionCache(tmp_path))
    list(fresh.predict(items))
    assert fresh.inner.seen == 0  # type: ignore[attr-defined]


def test_cache_round_trips_labels_and_boxes(tmp_path: Path) -> None:
    cache = PredictionCache(tmp_path)
    cache.put("k1", "label", "tabby cat")
    cache.put("k2", "boxes", [ScoredBox("cat", 0.5, 1, 2, 3, 0.25)])
    assert cache.get("k1", "label") == "tabby cat"
    assert cache.get("k2", "boxes") == [ScoredBox("cat", 0.5, 1, 2, 3, 0.25)]
    assert cache.get("k3", "label") is None


# ----------------------------------------------------------------- torch-backed (tiny, random)


@pytest.fixture
def tf() -> Any:
    """transformers, with torch seeded so that the tiny random models are reproducible."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    return transformers


@pytest.mark.specialists
@pytest.mark.slow
def test_timm_specialist_matches_the_model(tmp_path: Path, rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    labels = ["cat", "dog", "car"]
    model = timm.create_model("test_resnet", pretrained=False, num_classes=3).eval()
    weights = tmp_path / "w.safetensors"
    save_file(model.state_dict(), str(weights))
    opts = SpecialistOptions(labels=labels, batch_size=3)
    spec = get_specialist(f"timm:test_resnet@{weights}", opts, cache_dir=tmp_path / "cache")
    items = _items(rng, 4, 40, 50)
    got = list(spec.predict(items))
    cfg = timm.data.resolve_model_data_config(model)
    tf = timm.data.create_transform(**cfg, is_training=False)
    x = torch.stack([tf(Image.fromarray(it.pixels.pixels)) for it in items])
    with torch.inference_mode():
        want = [labels[i] for i in model(x).argmax(1).tolist()]
    assert got == want
    assert len(list((tmp_path / "cache").glob("*.json"))) == 4
    with pytest.raises(ScoringError, match="not found"):
        get_specialist(f"timm:test_resnet@{tmp_path / 'none.safetensors'}", opts)
    with pytest.raises(ScoringError, match="label set"):
        get_specialist(f"timm:test_resnet@{weights}")


@pytest.mark.specialists
@pytest.mark.slow
def test_hf_depth_specialist_negates_relative_depth(
    tmp_path: Path, rng: np.random.Generator, tf: Any
) -> None:
    import torch

    backbone = tf.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=56,
        patch_size=14,
        out_features=["stage1", "stage2"],
        reshape_hidden_states=False,
    )
    cfg = tf.DepthAnythingConfig(
        backbone_config=backbone,
        fusion_hidden_size=16,
        neck_hidden_sizes=[16, 32],
        reassemble_hidden_size=32,
        head_hidden_size=8,
    )
    model = tf.DepthAnythingForDepthEstimation(cfg).eval()
    proc = tf.DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=False)
    model.save_pretrained(tmp_path / "da")
    proc.save_pretrained(tmp_path / "da")
    items = _items(rng, 3, 30, 40)
    got = list(get_specialist(f"hf-depth:{tmp_path / 'da'}").predict(items))
    assert [g.shape for g in got] == [(30, 40)] * 3
    x = proc(images=[Image.fromarray(items[0].pixels.pixels)], return_tensors="pt")
    with torch.inference_mode():
        out = model(**x)
    ref = proc.post_process_depth_estimation(out, target_sizes=[(30, 40)])[0]["predicted_depth"]
    assert np.allclose(got[0], -ref.numpy(), atol=1e-5)


@pytest.mark.specialists
@pytest.mark.slow
def test_hf_detection_specialist_clips_boxes(
    tmp_path: Path, rng: np.random.Generator, tf: Any
) -> None:
    backbone = tf.RTDetrResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 32, 64],
        depths=[1, 1, 1, 1],
        out_features=["stage2", "stage3", "stage4"],
    )
    cfg = tf.RTDetrV2Config(
        backbone_config=backbone,
        encoder_hidden_dim=16,
        encoder_in_channels=[16, 32, 64],
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        d_model=16,
        num_queries=10,
        decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=32,
        decoder_layers=2,
        decoder_attention_heads=2,
        num_denoising=0,
        anchor_image_size=None,
        id2label={0: "cat", 1: "dog"},
        label2id={"cat": 0, "dog": 1},
    )
    tf.RTDetrV2ForObjectDetection(cfg).eval().save_pretrained(tmp_path / "det")
    tf.RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(tmp_path / "det")
    opts = SpecialistOptions(threshold=0.0)
    got = list(get_specialist(f"hf-detect:{tmp_path / 'det'}", opts).predict(_items(rng, 2)))
    assert len(got) == 2 and all(len(boxes) == 10 for boxes in got)
    for boxes in got:
        for b in boxes:
            assert b.label in ("cat", "dog")
            assert 0 <= b.x0 <= b.x1 <= 32 and 0 <= b.y0 <= b.y1 <= 24
        assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)


@pytest.mark.specialists
@pytest.mark.slow
def test_hf_semantic_specialist_maps_to_label_set(
    tmp_path: Path, rng: np.random.Generator, tf: Any
) -> None:
    import torch

    cfg = tf.EomtConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        num_queries=5,
        num_blocks=1,
        num_register_tokens=0,
        id2label={0: "sky", 1: "grass", 2: "zebra"},
        label2id={"sky": 0, "grass": 1, "zebra": 2},
    )
    tf.EomtForUniversalSegmentation(cfg).eval().save_pretrained(tmp_path / "seg")
    # EoMT runs on square windows: the processor splits the resized image into them
    proc = tf.EomtImageProcessor(size={"shortest_edge": 32}, do_split_image=True)
    proc.save_pretrained(tmp_path / "seg")
    opts = SpecialistOptions(labels=["person", "Grass", "sky"])  # no "zebra" → 255
    items = _items(rng, 2)
    spec = get_specialist(f"hf-semantic:{tmp_path / 'seg'}", opts)
    got = list(spec.predict(items))
    assert [g.shape for g in got] == [(24, 32)] * 2
    assert all(g.dtype == np.uint8 for g in got)
    # model class ids renamed by normalised name: sky (0) → 2, grass (1) → 1, zebra (2) → 255,
    # and ids outside the model's classes → 255 (a random model may predict one class only)
    table = spec._to_dataset_classes(np.array([0, 1, 2, 3, -1]))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(table, [2, 1, 255, 255, 255])
    model = tf.EomtForUniversalSegmentation.from_pretrained(tmp_path / "seg").eval()
    for item, pred in zip(items, got, strict=True):
        x = proc(images=[Image.fromarray(item.pixels.pixels)], return_tensors="pt")
        with torch.inference_mode():
            out = model(**x)
        ids = proc.post_process_semantic_segmentation(out, target_sizes=[(24, 32)])[0].numpy()
        np.testing.assert_array_equal(pred, np.array([2, 1, 255])[ids])
