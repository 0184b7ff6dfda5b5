"""Specialist models: the plugin seam, the prediction cache and the built-in kinds.

A specialist turns dataset items into predictions in the truth's in-memory
form (``docs/architecture.md``, "Dataset items"), so the metrics score it like
any chain. It is named by a spec string::

    timm:resnet18@/path/weights.safetensors   timm classifier with local weights
    timm:resnet18                             the same, weights from the user's hub cache
    folder:/path/to/preds                     precomputed predictions, one file per item id
    hf-depth:/path/to/model_dir               transformers depth model (Depth Anything v2, DPT)
    hf-detect:/path/to/model_dir              transformers detector (RT-DETRv2, D-FINE)
    hf-semantic:/path/to/model_dir            transformers segmenter (EoMT, Mask2Former)

Third-party packages add kinds through the ``chainlang.specialists`` entry-point
group: the entry point's name is the kind, its object a factory
``(target: str, options: SpecialistOptions) -> Specialist``.

Weights are only ever read from local paths; nothing is downloaded. torch,
timm and transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

from chainlang.errors import ScoringError
from chainlang.image import ImageData
from chainlang.scoring.metrics import ScoredBox

Task = Literal["label", "boxes", "semantic", "instances", "depth", "normals"]
TASKS: tuple[str, ...] = get_args(Task)
ENTRY_POINT_GROUP = "chainlang.specialists"
# tasks whose predictions are stored as JSON; every other task's is an array
_JSON_TASKS = frozenset({"label", "boxes"})


class ItemLike(Protocol):
    """What a specialist reads from a dataset item: its id and its image."""

    @property
    def id(self) -> str: ...

    def image(self) -> ImageData: ...


@dataclass(frozen=True, slots=True)
class SpecialistItem:
    """A minimal :class:`ItemLike` (an id and already-loaded pixels)."""

    id: str
    pixels: ImageData

    def image(self) -> ImageData:
        """The item's image."""
        return self.pixels


@runtime_checkable
class Specialist(Protocol):
    """A model (or a folder of answers) that predicts one task for dataset items.

    Attributes:
        name: a readable name, e.g. ``"timm:resnet18"``.
        task: one of :data:`TASKS`; fixes the prediction's in-memory form.
        weights_digest: sha256 of the weights (and anything else that changes
            the output); empty when predictions should not be cached.
    """

    name: str
    task: Task
    weights_digest: str

    def predict(self, items: Iterable[ItemLike]) -> Iterator[Any]:
        """Yield one prediction per item, in order."""
        ...


@dataclass(frozen=True, slots=True)
class SpecialistOptions:
    """Settings a spec string cannot carry, passed to every factory.

    Attributes:
        labels: the dataset's label set (class index → name) for label,
            semantic and detection outputs.
        task: the task of a ``folder:`` specialist.
        device: torch device name.
        batch_size: images per forward pass.
        threshold: minimum score of a kept detection.
    """

    labels: Sequence[str] | None = None
    task: Task | None = None
    device: str = "cpu"
    batch_size: int = 16
    threshold: float = 0.3


# ---------------------------------------------------------------------------
# Digests and the on-disk prediction cache
# ---------------------------------------------------------------------------


def path_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, or of a folder's relative paths and file bytes.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "w.bin").write_bytes(b"abc")
    ...     path_digest(pathlib.Path(d) / "w.bin")[:12]
    'ba7816bf8f01'
    """
    p = Path(path)
    if not p.exists():
        raise ScoringError(f"weights not found: {p}")
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(functools.partial(fh.read, 1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _encode(task: str, pred: Any) -> tuple[str, bytes]:
    """Prediction → (file suffix, bytes)."""
    if task == "label":
        return ".json", json.dumps({"label": str(pred)}).encode()
    if task == "boxes":
        rows = [[b.label, b.x0, b.y0, b.x1, b.y1, getattr(b, "score", 1.0)] for b in pred]
        return ".json", json.dumps({"boxes": rows}).encode()
    buf = io.BytesIO()
    np.save(buf, np.asarray(pred), allow_pickle=False)
    return ".npy", buf.getvalue()


def _decode_json(task: str, data: Any, where: str) -> Any:
    if task == "label":
        value = data.get("label") if isinstance(data, dict) else data
        if not isinstance(value, str):
            raise ScoringError(f"{where}: expected a label string or {{'label': ...}}")
        return value
    rows = data.get("boxes") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise ScoringError(f"{where}: expected a list of boxes or {{'boxes': [...]}}")
    return [_box(r, where) for r in rows]


def _box(row: Any, where: str) -> ScoredBox:
    try:
        if isinstance(row, dict):
            return ScoredBox(
                str(row["label"]),
                float(row["x0"]),
                float(row["y0"]),
                float(row["x1"]),
                float(row["y1"]),
                float(row.get("score", 1.0)),
            )
        label, x0, y0, x1, y1, *rest = row
        score = float(rest[0]) if rest else 1.0
        return ScoredBox(str(label), float(x0), float(y0), float(x1), float(y1), score)
    except (KeyError, TypeError, ValueError) as e:
        raise ScoringError(f"{where}: malformed box {row!r} ({e})") from None


class PredictionCache:
    """Predictions on disk, one file per (specialist, weights digest, image digest).

    Files are written atomically (temp file + rename), so an interrupted run
    never leaves a half-written prediction behind.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(name: str, weights_digest: str, image_digest: str) -> str:
        """The cache key: sha256 of the three parts."""
        return hashlib.sha256(f"{name}|{weights_digest}|{image_digest}".encode()).hexdigest()

    def get(self, key: str, task: str) -> Any | None:
        """The cached prediction, or None."""
        suffix = ".json" if task in _JSON_TASKS else ".npy"
        path = self.folder / f"{key}{suffix}"
        if not path.exists():
            return None
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        return _decode_json(task, json.loads(path.read_text()), str(path))

    def put(self, key: str, task: str, pred: Any) -> None:
        """Store a prediction."""
        suffix, data = _encode(task, pred)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.folder / f"{key}{suffix}")


class CachedSpecialist:
    """Wraps a specialist so each image is predicted once per weights digest.

    Items are taken in chunks of ``chunk``; only the chunk's cache misses go
    to the model (batched), and predictions come out in input order.
    """

    def __init__(self, inner: Specialist, cache: PredictionCache, chunk: int = 64) -> None:
        self.inner = inner
        self.cache = cache
        self.chunk = max(1, chunk)
        self.name = inner.name
        self.task = inner.task
        self.weights_digest = inner.weights_digest

    def predict(self, items: Iterable[ItemLike]) -> Iterator[Any]:
        """Yield one prediction per item, from the cache where possible."""
        batch: list[ItemLike] = []
        for item in items:
            batch.append(item)
            if len(batch) == self.chunk:
                yield from self._run(batch)
                batch = []
        if batch:
            yield from self._run(batch)

    def _run(self, items: list[ItemLike]) -> list[Any]:
        # Load each image once: its digest keys the cache and the model reuses the pixels.
        loaded = [SpecialistItem(it.id, it.image()) for it in items]
        keys = [self.cache.key(self.name, self.weights_digest, it.pixels.digest) for it in loaded]
        preds = [self.cache.get(k, self.task) for k in keys]
        misses = [i for i, p in enumerate(preds) if p is None]
        fresh = list(self.inner.predict(loaded[i] for i in misses))
        if len(fresh) != len(misses):
            raise ScoringError(f"{self.name}: {len(fresh)} predictions for {len(misses)} images")
        for i, pred in zip(misses, fresh, strict=True):
            self.cache.put(keys[i], self.task, pred)
            preds[i] = pred
        return preds


# ---------------------------------------------------------------------------
# Built-in kinds
# ---------------------------------------------------------------------------


class FolderSpecialist:
    """Precomputed predictions: ``<root>/<item id>.{npy,png,json}``.

    ``.json`` holds a label (``"cat"`` or ``{"label": "cat"}``) or boxes
    (``[[label, x0, y0, x1, y1, score?], ...]`` or dicts with those keys);
    ``.npy`` any map; ``.png`` a semantic or instance map.
    """

    weights_digest = ""  # reading files is cheap; nothing to cache

    def __init__(self, root: str | os.PathLike[str], task: Task) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ScoringError(f"prediction folder not found: {self.root}")
        if task not in TASKS:
            raise ScoringError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        self.task: Task = task
        self.name = f"folder:{self.root}"

    def predict(self, items: Iterable[ItemLike]) -> Iterator[Any]:
        """Read each item's prediction file."""
        for item in items:
            yield self._read(item.id)

    def _find(self, item_id: str) -> Path:
        suffixes = (".json",) if self.task in _JSON_TASKS else (".npy", ".png")
        root = self.root.resolve()
        for suffix in suffixes:
            path = (root / f"{item_id}{suffix}").resolve()
            if not path.is_relative_to(root):
                raise ScoringError(f"item id {item_id!r} points outside {root}")
            if path.is_file():
                return path
        raise ScoringError(
            f"no {self.task} prediction for item {item_id!r} in {root} "
            f"(looked for {', '.join(suffixes)})"
        )

    def _read(self, item_id: str) -> Any:
        path = self._find(item_id)
        try:
            if path.suffix == ".json":
                return _decode_json(self.task, json.loads(path.read_text()), str(path))
            if path.suffix == ".npy":
                return np.load(path, allow_pickle=False)
            if self.task not in ("semantic", "instances"):
                raise ScoringError(f"{path}: PNG holds only semantic or instance maps")
            from PIL import Image

            with Image.open(path) as im:
                return np.asarray(im)
        except (OSError, ValueError) as e:
            raise ScoringError(f"cannot read prediction {path}: {e}") from None


def _timm_factory(target: str, options: SpecialistOptions) -> Specialist:
    from chainlang.scoring.specialists_hf import TimmSpecialist

    model, _, weights = target.partition("@")
    if not model:
        raise ScoringError("timm spec needs a model name: timm:<model>[@<weights path>]")
    return TimmSpecialist(model, weights or None, options)


def _folder_factory(target: str, options: SpecialistOptions) -> Specialist:
    if options.task is None:
        raise ScoringError("folder specialists need the task (options.task / --task)")
    return FolderSpecialist(target, options.task)


def _hf_factory(task: Task) -> Callable[[str, SpecialistOptions], Specialist]:
    def build(target: str, options: SpecialistOptions) -> Specialist:
        from chainlang.scoring.specialists_hf import HFSpecialist

        return HFSpecialist(target, task, options)

    return build


BUILTIN_KINDS: Mapping[str, Callable[[str, SpecialistOptions], Specialist]] = MappingProxyType(
    {
        "timm": _timm_factory,
        "folder": _folder_factory,
        "hf-depth": _hf_factory("depth"),
        "hf-detect": _hf_factory("boxes"),
        "hf-semantic": _hf_factory("semantic"),
    }
)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``kind:target``.

    >>> parse_spec("timm:resnet18@/w/r18.safetensors")
    ('timm', 'resnet18@/w/r18.safetensors')
    """
    kind, sep, target = spec.partition(":")
    if not sep or not kind or not target:
        raise ScoringError(
            f"bad specialist spec {spec!r}: expected kind:target, e.g. "
            "timm:resnet18@/path/weights.safetensors"
        )
    return kind, target


def available_kinds() -> list[str]:
    """Built-in kinds plus those registered through entry points."""
    plugins = [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
    return sorted({*BUILTIN_KINDS, *plugins})


def get_specialist(
    spec: str,
    options: SpecialistOptions | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Specialist:
    """Build the specialist a spec string names.

    Args:
        spec: ``kind:target`` (see the module docstring).
        options: labels, task, device, batch size, detection threshold.
        cache_dir: when given, predictions are cached there by weights and
            image digest (ignored for specialists with an empty digest).

    Raises:
        ScoringError: unknown kind, missing weights or a malformed spec.
    """
    kind, target = parse_spec(spec)
    opts = options or SpecialistOptions()
    factory = BUILTIN_KINDS.get(kind)
    if factory is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
        if not found:
            raise ScoringError(
                f"unknown specialist kind {kind!r}; known: {', '.join(available_kinds())}"
            )
        factory = found[0].load()
    specialist = factory(target, opts)
    if not isinstance(specialist, Specialist):
        raise ScoringError(f"specialist kind {kind!r} did not build a Specialist")
    if cache_dir is not None and specialist.weights_digest:
        return CachedSpecialist(specialist, PredictionCache(cache_dir))
    return specialist
