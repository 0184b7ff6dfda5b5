"""Decoding of ground-truth values from their manifest form to their in-memory form.

Each truth kind has one decoder. A decoder gets the manifest value (inline JSON, a file path,
or ``{"path": ..., option: ...}``), the folder relative paths resolve against, and the
dataset-wide conventions for that kind from ``dataset.json``; per-item options override them.
Every problem raises :class:`DataError` naming the file; :class:`~chainlang.data.manifest.Item`
adds the item id.

In-memory forms (see ``docs/architecture.md``):

=============  ================================================================================
``label``      ``str``
``boxes``      ``list[TruthBox]``, pixels, half-open
``semantic``   ``H×W uint8`` class index into the label set, 255 = ignore
``instances``  ``H×W int32``, 0 = background, 1..N instance ids
``points``     ``list[TruthPoint(x, y, instance)]`` (grouping queries)
``depth``      ``H×W float32`` metres along the ray, 0 or NaN = invalid
``normals``    ``H×W×3 float32`` unit vectors, camera frame +x right, +y up, +z towards the
               camera; an all-zero vector marks an invalid pixel
=============  ================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from chainlang.data.images import DECODE_ERRORS
from chainlang.errors import DataError

TRUTH_NAMES = ("label", "boxes", "semantic", "instances", "points", "depth", "normals")
MAP_TRUTHS = frozenset({"semantic", "instances", "depth", "normals"})
#: The chain type of each built-in kind (``truth depth: DepthMap``); typed fields declare theirs.
KIND_TYPES: dict[str, str] = {
    "label": "Label",
    "boxes": "Boxes",
    "semantic": "SemanticMask",
    "instances": "InstanceMask",
    "points": "Points",
    "depth": "DepthMap",
    "normals": "NormalMap",
}
IGNORE = 255

# Our normal frame, written in the same words a dataset uses to declare its own.
CAMERA_CONVENTION = "right-up-toward"
# The reference's (Omnidata/Hypersim) 8-bit PNGs: R grows to the right, G downwards, B away.
OMNIDATA_CONVENTION = "right-down-away"

_AXIS_WORDS = (
    {"right": 1.0, "left": -1.0},
    {"up": 1.0, "down": -1.0},
    {"toward": 1.0, "away": -1.0},
)


@dataclass(frozen=True, slots=True)
class TruthBox:
    """One ground-truth box in pixels (half-open: ``x1``/``y1`` are one past the last pixel)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float

    def to_json(self) -> dict[str, Any]:
        """The manifest form."""
        return {"label": self.label, "x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1}


class TruthPoint(NamedTuple):
    """A grouping query point and the id of the instance under it (0 = background)."""

    x: float
    y: float
    instance: int


def decode(name: str, value: Any, base: Path, conventions: Mapping[str, Any]) -> Any:
    """Decode one truth (or ``points`` input) value to its in-memory form.

    Args:
        name: One of :data:`TRUTH_NAMES`.
        value: The manifest value: inline JSON, a path, or ``{"path": ..., options}``.
        base: The folder relative paths are resolved against (the manifest's folder).
        conventions: Dataset-wide options for this kind (``dataset.json`` ``truth.<name>``).

    Raises:
        DataError: The value or its file is missing or malformed.
    """
    decoder = _DECODERS.get(name)
    if decoder is None:
        raise DataError(f"unknown truth kind {name!r} (known: {', '.join(TRUTH_NAMES)})")
    return decoder(value, base, conventions)


def _decode_label(value: Any, base: Path, conventions: Mapping[str, Any]) -> str:
    if not isinstance(value, str) or not value:
        raise DataError(f"label must be a non-empty string, got {value!r}")
    return value


def _decode_boxes(value: Any, base: Path, conventions: Mapping[str, Any]) -> list[TruthBox]:
    if not isinstance(value, list):
        raise DataError(f"boxes must be a list, got {type(value).__name__}")
    return [_box(entry, i) for i, entry in enumerate(value)]


def _box(entry: Any, index: int) -> TruthBox:
    if isinstance(entry, Mapping):
        try:
            raw = [entry["label"], entry["x0"], entry["y0"], entry["x1"], entry["y1"]]
        except KeyError as exc:
            raise DataError(f"box {index} lacks field {exc.args[0]!r}") from None
    elif isinstance(entry, list | tuple) and len(entry) == 5:
        raw = list(entry)
    else:
        raise DataError(f"box {index} must be {{label, x0, y0, x1, y1}} or a 5-list, got {entry!r}")
    label, *coords = raw
    if not isinstance(label, str) or not label:
        raise DataError(f"box {index} has no label string: {entry!r}")
    nums = [_finite(c, f"box {index} coordinate") for c in coords]
    if nums[2] < nums[0] or nums[3] < nums[1]:
        raise DataError(f"box {index} has x1 < x0 or y1 < y0: {entry!r}")
    return TruthBox(label, *nums)


def _finite(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise DataError(f"{what} must be a finite number, got {v!r}")
    return float(v)


def _decode_points(value: Any, base: Path, conventions: Mapping[str, Any]) -> list[TruthPoint]:
    if not isinstance(value, list):
        raise DataError(f"points must be a list, got {type(value).__name__}")
    out = []
    for i, entry in enumerate(value):
        if isinstance(entry, Mapping) and {"x", "y", "instance"} <= entry.keys():
            x, y, inst = entry["x"], entry["y"], entry["instance"]
        elif isinstance(entry, list | tuple) and len(entry) == 3:
            x, y, inst = entry
        else:
            raise DataError(f"point {i} must be [x, y, instance] or {{x, y, instance}}: {entry!r}")
        if isinstance(inst, bool) or not isinstance(inst, int) or inst < 0:
            raise DataError(f"point {i} instance id must be an integer >= 0, got {inst!r}")
        out.append(TruthPoint(_finite(x, f"point {i} x"), _finite(y, f"point {i} y"), inst))
    return out


def _file_and_options(value: Any, base: Path, conventions: Mapping[str, Any]) -> tuple[Path, dict]:
    """Split ``"path"`` or ``{"path": ..., **options}`` and merge the options over conventions."""
    options = dict(conventions)
    if isinstance(value, str):
        rel = value
    elif isinstance(value, Mapping) and isinstance(value.get("path"), str):
        rel = value["path"]
        options.update({k: v for k, v in value.items() if k != "path"})
    else:
        raise DataError(f"expected a file path or {{'path': ...}}, got {value!r}")
    path = Path(rel) if Path(rel).is_absolute() else base / rel
    if not path.is_file():
        raise DataError(f"truth file not found: {path}")
    return path, options


def read_array(path: Path) -> np.ndarray:
    """Read a ``.npy`` array or the raw values of an image file (palette indices, 16-bit values).

    Raises:
        DataError: The file cannot be read.
    """
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with Image.open(path) as im:
            im.load()
            # Raw values: no mode conversion, so palette PNGs give indices and 16-bit stays 16-bit.
            return np.array(im)
    except DECODE_ERRORS as exc:
        raise DataError(f"cannot read truth file {path}: {exc}") from exc


def _decode_depth(value: Any, base: Path, conventions: Mapping[str, Any]) -> np.ndarray:
    path, opts = _file_and_options(value, base, conventions)
    arr = read_array(path)
    if arr.ndim != 2:
        raise DataError(f"depth map must be H×W, got shape {arr.shape} in {path}")
    scale = opts.get("scale")
    if np.issubdtype(arr.dtype, np.integer) and scale is None:
        raise DataError(
            f"depth file {path} holds integers but the dataset declares no depth scale "
            "(set truth.depth.scale in dataset.json, metres per unit, e.g. 1/512 for Hypersim)"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"depth map has non-numeric dtype {arr.dtype} in {path}")
    depth = arr.astype(np.float32) * np.float32(1.0 if scale is None else _finite(scale, "scale"))
    depth[~np.isfinite(depth)] = np.nan  # inf marks "no surface" in some renderers: invalid
    if np.any(depth < 0):
        raise DataError(f"depth map has negative values in {path}")
    return depth


def _decode_normals(value: Any, base: Path, conventions: Mapping[str, Any]) -> np.ndarray:
    path, opts = _file_and_options(value, base, conventions)
    arr = read_array(path)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise DataError(f"normal map must be H×W×3, got shape {arr.shape} in {path}")
    arr = arr[:, :, :3]
    if np.issubdtype(arr.dtype, np.integer):
        if "convention" not in opts:
            raise DataError(
                f"normal image {path} needs a declared convention (truth.normals.convention in "
                f"dataset.json, e.g. {OMNIDATA_CONVENTION!r} for Omnidata/Hypersim PNGs)"
            )
        top = 255.0 if arr.dtype == np.uint8 else 65535.0
        vec = arr.astype(np.float32) / np.float32(top) * 2.0 - 1.0
    else:
        vec = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    signs = _convention_signs(str(opts.get("convention", CAMERA_CONVENTION)), path)
    return _unit(vec * signs)


def _convention_signs(convention: str, path: Path) -> np.ndarray:
    """Signs that map a declared axis convention onto ours (right-up-toward)."""
    words = convention.split("-")
    if len(words) != 3 or any(w not in table for w, table in zip(words, _AXIS_WORDS, strict=True)):
        raise DataError(
            f"unknown normals convention {convention!r} for {path}: write three words "
            "'<right|left>-<up|down>-<toward|away>', the directions the x, y, z channels grow"
        )
    return np.array([t[w] for w, t in zip(words, _AXIS_WORDS, strict=True)], dtype=np.float32)


def _unit(vec: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vec, axis=2, keepdims=True)
    # A quantised unit vector has norm ~1; mid-grey (128,128,128) and zeros mean "no normal".
    valid = norm > 0.5
    out = np.where(valid, vec / np.where(valid, norm, 1.0), 0.0)
    return out.astype(np.float32)


def _decode_semantic(value: Any, base: Path, conventions: Mapping[str, Any]) -> np.ndarray:
    path, opts = _file_and_options(value, base, conventions)
    arr = _integer_map(read_array(path), path, "semantic")
    if arr.size and (arr.min() < 0 or arr.max() > IGNORE):
        raise DataError(f"semantic map values must be 0..254 or 255 (ignore), in {path}")
    n = opts.get("num_classes")
    if n is not None:
        try:
            n = int(n)
        except (TypeError, ValueError):
            raise DataError(f"semantic num_classes must be an integer, got {n!r}") from None
        bad = (arr != IGNORE) & (arr >= n)
        if bad.any():
            raise DataError(
                f"semantic map {path} has class {int(arr[bad].max())} but the label set has {n}"
            )
    return arr.astype(np.uint8)


def _decode_instances(value: Any, base: Path, conventions: Mapping[str, Any]) -> np.ndarray:
    path, _ = _file_and_options(value, base, conventions)
    arr = _integer_map(read_array(path), path, "instance")
    if arr.size and arr.min() < 0:
        raise DataError(f"instance map has negative ids in {path}")
    if arr.size and arr.max() > np.iinfo(np.int32).max:
        raise DataError(f"instance map ids overflow int32 in {path}")
    return arr.astype(np.int32)


def _integer_map(arr: np.ndarray, path: Path, what: str) -> np.ndarray:
    if arr.ndim != 2:
        hint = " (a colour-coded mask must be converted to ids first)" if arr.ndim == 3 else ""
        raise DataError(f"{what} map must be a single-channel H×W image{hint}: {path}")
    if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
        raise DataError(f"{what} map must hold integers, got {arr.dtype} in {path}")
    return arr.astype(np.int64)


_DECODERS: dict[str, Callable[[Any, Path, Mapping[str, Any]], Any]] = {
    "label": _decode_label,
    "boxes": _decode_boxes,
    "semantic": _decode_semantic,
    "instances": _decode_instances,
    "points": _decode_points,
    "depth": _decode_depth,
    "normals": _decode_normals,
}


def truth_files(name: str, value: Any, base: Path) -> Path | None:
    """The file a map truth refers to (for error messages), or None for inline values."""
    if name not in MAP_TRUTHS:
        return None
    rel = (
        value
        if isinstance(value, str)
        else value.get("path")
        if isinstance(value, Mapping)
        else None
    )
    if not isinstance(rel, str):
        return None
    return Path(rel) if Path(rel).is_absolute() else base / rel
