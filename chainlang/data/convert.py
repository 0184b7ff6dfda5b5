"""Converters from common dataset layouts to a chainlang manifest.

Every converter reads its source, writes ``manifest.jsonl`` and ``dataset.json`` into ``out``
(plus any derived truth files, such as semantic PNGs) and returns the manifest path. Image paths
are stored relative to ``out`` when the images live inside it, absolute otherwise. Where a
source carries its own class list, the converter writes it to ``out/labels.txt`` and names that
file as the label set, so labels always match the truth exactly.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from chainlang.data.images import DECODE_ERRORS
from chainlang.data.manifest import image_files, relative_image_path, write_manifest
from chainlang.data.truth import IGNORE, OMNIDATA_CONVENTION
from chainlang.errors import DataError, io_reason

LABELS_NAME = "labels.txt"


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {io_reason(exc)}") from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def _read_lines(path: Path) -> list[str]:
    return [s.strip() for s in _read_text(path).splitlines() if s.strip()]


def _images_under(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    return image_files(root)


def _write_labels(out: Path, names: Iterable[str]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / LABELS_NAME).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return LABELS_NAME


# --------------------------------------------------------------------------- plain folder


def convert_folder(images: Path, out: Path) -> Path:
    """A plain folder of images (searched recursively): no truth; ids are relative paths.

    Raises:
        DataError: The folder is missing or holds no images.
    """
    images, out = Path(images), Path(out)
    files = _images_under(images)
    if not files:
        raise DataError(f"no images under {images}")
    records = [
        {"id": f.relative_to(images).as_posix(), "image": relative_image_path(f, out)}
        for f in files
    ]
    return write_manifest(out, records, {"name": images.name, "source": {"folder": str(images)}})


# --------------------------------------------------------------------------- COCO


def convert_coco_instances(
    annotations: Path,
    images: Path,
    out: Path,
    *,
    single_instance: bool = False,
    keep_empty: bool = False,
    include_crowd: bool = False,
) -> Path:
    """COCO ``instances_*.json`` → one item per image with ``boxes`` truth.

    Args:
        annotations: The COCO instances JSON.
        images: The folder holding the images (``file_name`` is resolved against it).
        out: Output folder.
        single_instance: Keep only images where every present class has exactly one instance
            (the paper's 1.7K detection subset is built this way).
        keep_empty: Keep images without any box.
        include_crowd: Keep ``iscrowd`` annotations as boxes.

    Raises:
        DataError: The JSON is malformed or refers to unknown categories or images.
    """
    coco = _read_json(Path(annotations))
    try:
        cats = {int(c["id"]): str(c["name"]) for c in coco["categories"]}
        files = {int(i["id"]): str(i["file_name"]) for i in coco["images"]}
        anns = list(coco["annotations"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{annotations}: not a COCO instances file ({exc!r})") from exc
    per_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for n, a in enumerate(anns):
        if not isinstance(a, dict):
            raise DataError(f"{annotations}: annotation #{n + 1} is not a JSON object")
        if a.get("iscrowd", 0) and not include_crowd:
            continue
        image_id, box = _coco_box(a, cats, annotations)
        per_image[image_id].append(box)
    records = []
    for image_id in sorted(files):
        boxes = per_image.get(image_id, [])
        if not boxes and not keep_empty:
            continue
        if single_instance and max(Counter(b["label"] for b in boxes).values(), default=1) > 1:
            continue
        path = Path(images) / files[image_id]
        records.append(
            {
                "id": path.stem,
                "image": relative_image_path(path, Path(out)),
                "truth": {"boxes": boxes},
                "meta": {"coco_id": image_id},
            }
        )
    labelset = _write_labels(Path(out), (cats[k] for k in sorted(cats)))
    info = {
        "name": Path(annotations).stem,
        "labelset": labelset,
        "source": {"coco_instances": str(annotations), "single_instance": single_instance},
    }
    return write_manifest(Path(out), records, info)


def _coco_box(
    a: Mapping[str, Any], cats: Mapping[int, str], where: Path
) -> tuple[int, dict[str, Any]]:
    """The image id and the box of one annotation."""
    try:
        x, y, w, h = (float(v) for v in a["bbox"])
        label = cats[int(a["category_id"])]
        image_id = int(a["image_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: annotation {a.get('id')!r} is malformed ({exc!r})") from exc
    return image_id, {"label": label, "x0": x, "y0": y, "x1": x + w, "y1": y + h}


def panoptic_ids(rgb: np.ndarray) -> np.ndarray:
    """Decode COCO panoptic PNG colours to segment ids: ``id = R + 256·G + 256²·B``."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def convert_coco_panoptic(
    panoptic_json: Path, panoptic_pngs: Path, images: Path, out: Path
) -> Path:
    """COCO panoptic (JSON + RGB PNGs) → ``semantic`` (133-class space, 255 ignore) and
    ``instances`` (thing segments 1..N) PNGs.

    The class index is the position of the category in the JSON's category list sorted by id,
    which for COCO panoptic is the usual contiguous 0..132 space; the names go to
    ``labels.txt``. Unlabelled pixels (id 0) and crowd regions are ignore (255) in ``semantic``
    and background (0) in ``instances``.

    Raises:
        DataError: The JSON is malformed, a PNG is missing, or a PNG holds unknown segment ids.
    """
    data = _read_json(Path(panoptic_json))
    out = Path(out)
    try:
        cats = sorted(data["categories"], key=lambda c: int(c["id"]))
        index = {int(c["id"]): i for i, c in enumerate(cats)}
        files = {int(i["id"]): str(i["file_name"]) for i in data["images"]}
        anns = list(data["annotations"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{panoptic_json}: not a COCO panoptic file ({exc!r})") from exc
    if len(cats) >= IGNORE:
        raise DataError(f"{panoptic_json}: {len(cats)} categories do not fit a uint8 label map")
    for sub in ("semantic", "instances"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    things = {int(c["id"]) for c in cats if c.get("isthing", _is_thing(int(c["id"])))}
    records = [
        _panoptic_item(
            _panoptic_annotation(a, Path(panoptic_json)),
            index,
            things,
            files,
            Path(panoptic_pngs),
            Path(images),
            out,
        )
        for a in anns
    ]
    labelset = _write_labels(out, (str(c["name"]) for c in cats))
    info = {
        "name": Path(panoptic_json).stem,
        "labelset": labelset,
        "truth": {"semantic": {"num_classes": len(cats)}},
        "source": {"coco_panoptic": str(panoptic_json)},
    }
    return write_manifest(out, records, info)


class _PanopticAnnotation(NamedTuple):
    file_name: str
    image_id: int
    segments: list[tuple[int, int, bool]]  # (segment id, category id, crowd)


def _panoptic_annotation(ann: Any, where: Path) -> _PanopticAnnotation:
    """The fields of one panoptic annotation, checked before any file is read or written."""
    try:
        segments = [
            (int(seg["id"]), int(seg["category_id"]), bool(seg.get("iscrowd", 0)))
            for seg in ann["segments_info"]
        ]
        return _PanopticAnnotation(str(ann["file_name"]), int(ann["image_id"]), segments)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{where}: malformed panoptic annotation ({exc!r})") from exc


def _panoptic_item(
    ann: _PanopticAnnotation,
    index: Mapping[int, int],
    things: set[int],
    files: Mapping[int, str],
    pngs: Path,
    images: Path,
    out: Path,
) -> dict[str, Any]:
    stem = Path(ann.file_name).stem
    if ann.image_id not in files:
        raise DataError(f"panoptic annotation {stem} refers to unknown image {ann.image_id}")
    png = pngs / ann.file_name
    try:
        with Image.open(png) as im:
            ids = panoptic_ids(np.asarray(im.convert("RGB")))
    except DECODE_ERRORS as exc:
        raise DataError(f"cannot read panoptic PNG {png}: {exc}") from exc
    semantic = np.full(ids.shape, IGNORE, dtype=np.uint8)
    instances = np.zeros(ids.shape, dtype=np.uint16)
    known = {0}
    n_inst = 0
    for sid, cat, crowd in ann.segments:
        if cat not in index:
            raise DataError(f"{png}: segment {sid} has unknown category {cat}")
        known.add(sid)
        if crowd:
            continue  # crowd regions have no single instance and stay "ignore"
        where = ids == sid
        semantic[where] = index[cat]
        if cat in things:
            n_inst += 1
            instances[where] = n_inst
    stray = set(np.unique(ids).tolist()) - known
    if stray:
        raise DataError(f"{png}: segment ids {sorted(stray)[:5]} are not in segments_info")
    Image.fromarray(semantic).save(out / "semantic" / f"{stem}.png")
    Image.fromarray(instances).save(out / "instances" / f"{stem}.png")
    return {
        "id": stem,
        "image": relative_image_path(images / files[ann.image_id], out),
        "truth": {"semantic": f"semantic/{stem}.png", "instances": f"instances/{stem}.png"},
    }


def _is_thing(category_id: int) -> bool:
    # Used only when a category lacks "isthing": COCO thing ids are 1..90, stuff starts at 92.
    return category_id <= 91


# --------------------------------------------------------------------------- ImageNet


def convert_imagenet_folders(
    root: Path, out: Path, *, class_names: Path | None = None, labelset: str | None = None
) -> Path:
    """ImageNet-style class folders (``root/<class>/<image>``) → ``label`` truth.

    Args:
        root: Folder of class folders.
        out: Output folder.
        class_names: Optional file mapping folder names to labels, one ``<folder> <label>`` per
            line (e.g. ``n01440764 tench``); without it the folder name is the label.
        labelset: Label set name to declare instead of writing ``labels.txt``.

    Raises:
        DataError: No class folders or images, or a folder missing from ``class_names``.
    """
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise DataError(f"class folder root not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"no class folders under {root}")
    names = _read_class_names(class_names) if class_names else {c: c for c in classes}
    missing = [c for c in classes if c not in names]
    if missing:
        raise DataError(f"{class_names}: no label for class folders {missing[:5]}")
    records = [
        {
            "id": img.relative_to(root).as_posix(),
            "image": relative_image_path(img, out),
            "truth": {"label": names[c]},
        }
        for c in classes
        for img in _images_under(root / c)
    ]
    if not records:
        raise DataError(f"no images in the class folders under {root}")
    declared = labelset or _write_labels(out, sorted(set(names[c] for c in classes)))
    return write_manifest(out, records, {"name": root.name, "labelset": declared})


def _read_class_names(path: Path) -> dict[str, str]:
    names = {}
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise DataError(f"{path}:{n}: expected '<folder> <label>', got {line!r}")
        names[parts[0]] = parts[1].strip()
    return names


def convert_imagenet_val(
    images: Path,
    labels: Path,
    out: Path,
    *,
    class_list: Path | None = None,
    labelset: str | None = None,
) -> Path:
    """The ImageNet validation layout: a flat image folder plus a ground-truth file.

    ``labels`` may be: a JSON object ``{file name: label or class index}`` (the reference's
    form); a CSV ``ImageId,PredictionString`` (Kaggle's ``LOC_val_solution.csv``; the first
    token is the class); a text file of ``<file> <label>`` lines; or a text file with one label
    per line for the images in sorted order. File names match with or without extension.
    Integer labels are 0-based indices into ``class_list`` (one label per line).

    Raises:
        DataError: The file cannot be parsed, an image has no label, or an index is out of range.
    """
    images, out = Path(images), Path(out)
    files = _images_under(images)
    if not files:
        raise DataError(f"no images under {images}")
    table = _read_val_labels(Path(labels), files)
    classes = _read_lines(class_list) if class_list else None
    records: list[dict[str, Any]] = []
    for f in files:
        raw = table.get(f.name, table.get(f.stem))
        if raw is None:
            raise DataError(f"{labels}: no label for image {f.name}")
        records.append(
            {
                "id": f.relative_to(images).as_posix(),
                "image": relative_image_path(f, out),
                "truth": {"label": _resolve_label(raw, classes, labels)},
            }
        )
    declared = labelset or _write_labels(
        out, classes or sorted({r["truth"]["label"] for r in records})
    )
    return write_manifest(out, records, {"name": images.name, "labelset": declared})


_CSV_HEADERS = ("imageid", "image", "file", "filename")


def _read_val_labels(path: Path, files: list[Path]) -> dict[str, Any]:
    if path.suffix.lower() == ".json":
        data = _read_json(path)
        if not isinstance(data, dict):
            raise DataError(f"{path}: expected an object mapping file names to labels")
        return {Path(k).name: v for k, v in data.items()}
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(_read_text(path).splitlines()) if r]
        header = bool(rows) and rows[0][0].strip().lower() in _CSV_HEADERS
        body = rows[1:] if header else rows
        return {r[0]: r[1].split()[0] for r in body if len(r) >= 2 and r[1].split()}
    lines = _read_lines(path)
    split = [line.split(maxsplit=1) for line in lines]
    if all(len(s) == 2 for s in split):
        return {Path(a).name: b for a, b in split}
    if all(len(s) == 1 for s in split):
        if len(lines) != len(files):
            raise DataError(
                f"{path}: {len(lines)} labels for {len(files)} images (one label per line "
                "must list every image, in sorted file-name order)"
            )
        return {f.name: lab for f, lab in zip(files, lines, strict=True)}
    raise DataError(f"{path}: mixes '<file> <label>' lines and single labels")


def _resolve_label(raw: Any, classes: list[str] | None, where: Path) -> str:
    text = str(raw).strip()
    if isinstance(raw, int) or re.fullmatch(r"\d+", text):
        if classes is None:
            raise DataError(f"{where}: labels are class indices; pass class_list to name them")
        i = int(text)
        if not 0 <= i < len(classes):
            raise DataError(f"{where}: class index {i} is outside 0..{len(classes) - 1}")
        return classes[i]
    if not text:
        raise DataError(f"{where}: empty label")
    return text


# --------------------------------------------------------------------------- Hypersim / Omnidata

_DOMAIN = re.compile(r"_domain_[a-z_]+$")


def _key(path: Path, root: Path) -> str:
    """Match key: relative folder + stem without Omnidata's ``_domain_<name>`` suffix."""
    rel = path.relative_to(root)
    return (rel.parent / _DOMAIN.sub("", rel.stem)).as_posix()


def convert_depth_normals(
    images: Path,
    out: Path,
    *,
    depth: Path | None = None,
    normals: Path | None = None,
    depth_scale: float = 1.0 / 512.0,
    normals_convention: str = OMNIDATA_CONVENTION,
    allow_missing: bool = False,
) -> Path:
    """Hypersim/Omnidata-style RGB, depth and normal folders → ``depth``/``normals`` truth.

    Files pair up by relative folder and file stem with any ``_domain_<name>`` suffix removed,
    so ``rgb/ai_001/point_0_view_0_domain_rgb.png`` matches
    ``depth/ai_001/point_0_view_0_domain_depth_euclidean.png``. Depth PNGs are uint16 in units
    of ``depth_scale`` metres (Omnidata: 1/512 m); normal PNGs are 8-bit RGB in
    ``normals_convention`` (Omnidata: R right, G down, B away). The files are referenced, not
    copied; the scale and convention go to ``dataset.json``.

    Raises:
        DataError: Neither depth nor normals given, or an image lacks a truth file (unless
            ``allow_missing``, which drops such images).
    """
    images, out = Path(images), Path(out)
    if depth is None and normals is None:
        raise DataError("convert_depth_normals needs a depth folder, a normals folder or both")
    tables = {
        name: {_key(p, Path(folder)): p for p in _truth_files_under(Path(folder))}
        for name, folder in (("depth", depth), ("normals", normals))
        if folder is not None
    }
    records, missing = [], []
    for img in _images_under(images):
        key = _key(img, images)
        found = {name: table.get(key) for name, table in tables.items()}
        truth = {name: path for name, path in found.items() if path is not None}
        if len(truth) < len(found):
            missing.append(key)
            continue
        records.append(
            {
                "id": key,
                "image": relative_image_path(img, out),
                "truth": {k: relative_image_path(v, out) for k, v in truth.items()},
            }
        )
    if missing and not allow_missing:
        raise DataError(f"{len(missing)} images have no matching truth file, e.g. {missing[:3]}")
    if not records:
        raise DataError(f"no image under {images} has matching truth files")
    conventions: dict[str, Any] = {}
    if depth is not None:
        conventions["depth"] = {"scale": depth_scale, "kind": "euclidean"}
    if normals is not None:
        conventions["normals"] = {"convention": normals_convention}
    return write_manifest(out, records, {"name": images.name, "truth": conventions})


def _truth_files_under(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"truth folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".png", ".npy"))
