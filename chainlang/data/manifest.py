"""The dataset manifest: a JSONL file of items plus an optional ``dataset.json`` sidecar.

One item per line::

    {"id": "0001", "image": "images/0001.png",
     "truth": {"label": "cube", "depth": "depth/0001.npy", "boxes": [...]},
     "inputs": {"points": [[120, 88, 1]]}, "meta": {...}}

``dataset.json`` (or a first line ``{"dataset": {...}}``) names the label set and the truth
conventions, e.g. ``{"labelset": "coco80", "truth": {"depth": {"scale": 0.001953125}}}``, and
declares typed truth fields beyond the seven built-in kinds, e.g.
``{"truth_fields": {"count": "Int", "size_rank": "Ranking"}}`` (:mod:`chainlang.data.fields`).

:func:`load_dataset` scans the manifest once to index item ids (byte offsets only); items are
parsed again when used, and images and truth files are read only when asked for, so memory
does not grow with the dataset.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from chainlang.data.fields import (
    DECLARATION_KEY,
    FieldError,
    check_fields,
    decode_field,
    parse_declarations,
)
from chainlang.data.images import DEFAULT_MAX_PIXELS, image_size, load_image
from chainlang.data.truth import KIND_TYPES, MAP_TRUTHS, TRUTH_NAMES, decode, truth_files
from chainlang.errors import DataError, io_reason
from chainlang.image import ImageData

MANIFEST_NAME = "manifest.jsonl"
INFO_NAME = "dataset.json"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_ITEM_KEYS = frozenset({"id", "image", "truth", "inputs", "meta"})
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Item:
    """One dataset item. Images and truth files are read on each call, never cached here."""

    id: str
    image_path: Path
    truth_values: Mapping[str, Any]
    input_values: Mapping[str, Any]
    meta: Mapping[str, Any]
    base: Path
    conventions: Mapping[str, Any]
    max_pixels: int = DEFAULT_MAX_PIXELS
    # The dataset's typed truth fields: name -> type (``dataset.json`` ``truth_fields``).
    fields: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def image(self) -> ImageData:
        """Load the item's image as upright RGB.

        Raises:
            DataError: Naming the item and the file.
        """
        try:
            return load_image(self.image_path, max_pixels=self.max_pixels)
        except DataError as exc:
            raise DataError(f"item {self.id!r}: {exc}") from exc

    def truth_names(self) -> tuple[str, ...]:
        """The truth kinds this item carries."""
        return tuple(self.truth_values)

    def input_names(self) -> tuple[str, ...]:
        """The extra inputs this item carries (e.g. ``points``)."""
        return tuple(self.input_values)

    def truth(self, name: str) -> Any:
        """Load one truth value in its in-memory form (see ``chainlang.data.truth``).

        Raises:
            DataError: The item has no such truth, or its value or file is malformed; the
                message names the item and the file.
        """
        if name not in self.truth_values:
            have = ", ".join(self.truth_values) or "none"
            raise DataError(f"item {self.id!r} has no truth {name!r} (it has: {have})")
        return self._decode(name, self.truth_values[name])

    def input(self, name: str) -> Any:
        """Load one extra input: ``points`` become ``TruthPoint``s, others stay as JSON values.

        Raises:
            DataError: The item has no such input, or it is malformed.
        """
        if name not in self.input_values:
            have = ", ".join(self.input_values) or "none"
            raise DataError(f"item {self.id!r} has no input {name!r} (it has: {have})")
        raw = self.input_values[name]
        return self._decode(name, raw) if name in TRUTH_NAMES else raw

    def _decode(self, name: str, raw: Any) -> Any:
        if name in self.fields:
            try:
                return decode_field(self.fields[name], raw)
            except FieldError as exc:
                raise DataError(
                    f"item {self.id!r}: truth {name!r} (declared {self.fields[name]}): {exc}"
                ) from None
        conventions = self.conventions.get(name, _EMPTY)
        try:
            value = decode(name, raw, self.base, conventions)
            if name in MAP_TRUTHS:
                self._check_shape(name, value, raw)
        except DataError as exc:
            raise DataError(f"item {self.id!r}: {name}: {exc}") from exc
        return value

    def _check_shape(self, name: str, value: Any, raw: Any) -> None:
        w, h = image_size(self.image_path, max_pixels=self.max_pixels)
        if value.shape[:2] != (h, w):
            raise DataError(
                f"{truth_files(name, raw, self.base)} is {value.shape[1]}×{value.shape[0]} but "
                f"the image {self.image_path} is {w}×{h}"
            )


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What ``dataset.json`` declares: a name, the label set, per-truth conventions and
    the typed truth fields (name -> type name, :mod:`chainlang.data.fields`)."""

    name: str
    labelset: str | None
    conventions: Mapping[str, Any]
    raw: Mapping[str, Any]
    fields: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def truth_type(self, name: str) -> str | None:
        """The type of truth ``name``: a declared field's, a built-in kind's, else None.

        >>> DatasetInfo("d", None, {}, {}, {"count": "Int"}).truth_type("count")
        'Int'
        >>> DatasetInfo("d", None, {}, {}).truth_type("depth")
        'DepthMap'
        """
        return self.fields.get(name) or KIND_TYPES.get(name)


class Dataset:
    """A streamed collection of items (from a manifest or a plain image folder).

    Only ids and byte offsets are held; each :class:`Item` is built when requested.
    """

    def __init__(
        self,
        root: Path,
        manifest: Path | None,
        info: DatasetInfo,
        index: Mapping[str, int],
        truth_kinds: frozenset[str],
        input_kinds: frozenset[str],
        max_pixels: int,
    ) -> None:
        self.root = root
        self.manifest = manifest
        self.info = info
        self._index = dict(index)
        self._truth_kinds = truth_kinds
        self._input_kinds = input_kinds
        self._max_pixels = max_pixels

    @property
    def labelset(self) -> str | None:
        """The label set: a built-in name, or an absolute path to a label file."""
        return self.info.labelset

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Item]:
        if self.manifest is None:
            for item_id in self._index:
                yield self._folder_item(item_id)
            return
        with self.manifest.open("rb") as f:
            for lineno, line in enumerate(f, 1):
                record = _parse_line(
                    line, self.manifest, lineno, allow_header=lineno == 1, fields=self.info.fields
                )
                if record is not None and "dataset" not in record:  # not the header line
                    yield self._item(record, lineno)

    def ids(self) -> list[str]:
        """Item ids in manifest order."""
        return list(self._index)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def get(self, item_id: str) -> Item:
        """The item with this id.

        Raises:
            DataError: No such id.
        """
        if item_id not in self._index:
            raise DataError(f"dataset {self.root} has no item {item_id!r}")
        if self.manifest is None:
            return self._folder_item(item_id)
        with self.manifest.open("rb") as f:
            f.seek(self._index[item_id])
            line = f.readline()
        record = _parse_line(line, self.manifest, None, fields=self.info.fields)
        assert record is not None  # the offset was indexed from a non-blank item line
        return self._item(record, None)

    def truth_names(self) -> frozenset[str]:
        """Truth kinds present on at least one item."""
        return self._truth_kinds

    def input_names(self) -> frozenset[str]:
        """Extra input names present on at least one item."""
        return self._input_kinds

    def _item(self, record: Mapping[str, Any], lineno: int | None) -> Item:
        base = self.manifest.parent if self.manifest else self.root
        image = Path(record["image"])
        return Item(
            id=record["id"],
            image_path=image if image.is_absolute() else base / image,
            truth_values=MappingProxyType(dict(record.get("truth", {}))),
            input_values=MappingProxyType(dict(record.get("inputs", {}))),
            meta=MappingProxyType(dict(record.get("meta", {}))),
            base=base,
            conventions=self.info.conventions,
            max_pixels=self._max_pixels,
            fields=self.info.fields,
        )

    def _folder_item(self, item_id: str) -> Item:
        return Item(
            id=item_id,
            image_path=self.root / item_id,
            truth_values=_EMPTY,
            input_values=_EMPTY,
            meta=_EMPTY,
            base=self.root,
            conventions=self.info.conventions,
            max_pixels=self._max_pixels,
        )


def load_dataset(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Dataset:
    """Open a dataset: a ``manifest.jsonl``, a folder holding one, or a plain folder of images.

    Args:
        path: The manifest, its folder, or an image folder (ids are then relative paths).
        max_pixels: Pixel cap applied when images are loaded.

    Raises:
        DataError: The path is missing, the manifest is malformed (naming file and line), ids
            repeat, or a folder holds neither a manifest nor images.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"dataset not found: {p}")
    if p.is_dir() and (p / MANIFEST_NAME).is_file():
        p = p / MANIFEST_NAME
    if p.is_file() and p.name == INFO_NAME:
        p = p.with_name(MANIFEST_NAME)
    if p.is_dir():
        return _load_folder(p.resolve(), max_pixels)
    if not p.is_file():
        raise DataError(f"dataset not found: {p}")
    return _load_manifest(p.resolve(), max_pixels)


def image_files(root: Path) -> list[Path]:
    """The image files under ``root`` (recursively, hidden paths skipped), by relative path."""
    found = [
        f
        for f in root.rglob("*")
        if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() and not _hidden(f.relative_to(root))
    ]
    return sorted(found, key=lambda f: f.relative_to(root).as_posix())


def _load_folder(root: Path, max_pixels: int) -> Dataset:
    ids = [f.relative_to(root).as_posix() for f in image_files(root)]
    if not ids:
        raise DataError(f"{root} holds no {MANIFEST_NAME} and no images")
    info = DatasetInfo(name=root.name, labelset=None, conventions=_EMPTY, raw=_EMPTY)
    index = dict.fromkeys(ids, 0)
    return Dataset(root, None, info, index, frozenset(), frozenset(), max_pixels)


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _load_manifest(manifest: Path, max_pixels: int) -> Dataset:
    sidecar = manifest.with_name(INFO_NAME)
    raw_info: dict[str, Any] = _read_info(sidecar) if sidecar.is_file() else {}
    index: dict[str, int] = {}
    truth_kinds: set[str] = set()
    input_kinds: set[str] = set()
    offset = 0
    with manifest.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            start, offset = offset, offset + len(line)
            fields = _declared(raw_info)
            record = _parse_line(line, manifest, lineno, allow_header=lineno == 1, fields=fields)
            if record is None:
                continue
            if "dataset" in record:  # the optional header line
                raw_info = {**raw_info, **_check_info(record["dataset"], manifest)}
                continue
            if record["id"] in index:
                raise DataError(f"{manifest}:{lineno}: duplicate item id {record['id']!r}")
            index[record["id"]] = start
            truth_kinds.update(record.get("truth", {}))
            input_kinds.update(record.get("inputs", {}))
    info = _info(raw_info, manifest)
    return Dataset(
        manifest.parent,
        manifest,
        info,
        index,
        frozenset(truth_kinds),
        frozenset(input_kinds),
        max_pixels,
    )


def _parse_line(
    line: bytes,
    manifest: Path,
    lineno: int | None,
    *,
    allow_header: bool = False,
    fields: Mapping[str, str] = _EMPTY,
) -> dict[str, Any] | None:
    where = f"{manifest}:{lineno}" if lineno else str(manifest)
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise DataError(f"{where}: each line must be a JSON object")
    if b"\\ud" in line.lower():  # only an escape can smuggle in a lone surrogate
        _check_text(record, where)
    if allow_header and set(record) == {"dataset"}:
        return record
    _check_record(record, where, fields)
    return record


def _check_text(record: Mapping[str, Any], where: str) -> None:
    """Refuse a line whose strings hold a lone surrogate (``"\\ud800"``): not text, so
    no file name, run folder or result line could ever hold it."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
        raise DataError(
            f"{where}: the line holds {bad}, half of a UTF-16 surrogate pair, which is not "
            "text; write the character itself or its full pair of escapes"
        ) from None


def _check_record(
    record: Mapping[str, Any], where: str, fields: Mapping[str, str] = _EMPTY
) -> None:
    unknown = set(record) - _ITEM_KEYS
    if unknown:
        raise DataError(
            f"{where}: unknown item keys {sorted(unknown)} (allowed: {sorted(_ITEM_KEYS)})"
        )
    item_id = record.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise DataError(f"{where}: item needs a non-empty string 'id'")
    if not isinstance(record.get("image"), str) or not record["image"]:
        raise DataError(f"{where}: item {item_id!r} needs an 'image' path string")
    for key in ("truth", "inputs", "meta"):
        if not isinstance(record.get(key, {}), dict):
            raise DataError(f"{where}: item {item_id!r}: {key!r} must be an object")
    unknown_truth = set(record.get("truth", {})) - set(TRUTH_NAMES) - set(fields)
    if unknown_truth:
        raise DataError(
            f"{where}: item {item_id!r}: {_unknown_truth(sorted(unknown_truth), fields)}"
        )
    try:
        check_fields(record.get("truth", {}), fields, item_id)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


def _unknown_truth(names: list[str], fields: Mapping[str, str]) -> str:
    """Why a truth name is refused, with the names a dataset may use and how to add one."""
    declared = ", ".join(fields) or "none"
    close = difflib.get_close_matches(names[0], [*TRUTH_NAMES, *fields], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    example = json.dumps({DECLARATION_KEY: {names[0]: "Int"}})
    return (
        f"unknown truth {', '.join(map(repr, names))} (built-in kinds: {', '.join(TRUTH_NAMES)}; "
        f"declared in dataset.json {DECLARATION_KEY!r}: {declared}).{hint} A new truth field "
        f"is declared with its type in dataset.json, e.g. {example}"
    )


def _declared(raw_info: Mapping[str, Any]) -> Mapping[str, str]:
    """The typed truth fields ``raw_info`` declares (already checked by :func:`_check_info`)."""
    return MappingProxyType(dict(raw_info.get(DECLARATION_KEY, {})))


def _read_info(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {io_reason(exc)}") from exc
    return _check_info(raw, path)


def _check_info(raw: Any, where: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: dataset info must be a JSON object")
    truth = raw.get("truth", {})
    if not isinstance(truth, dict) or not all(isinstance(v, dict) for v in truth.values()):
        raise DataError(f"{where}: 'truth' must map truth kinds to objects of options")
    unknown = set(truth) - set(TRUTH_NAMES)
    if unknown:
        raise DataError(f"{where}: unknown truth kinds {sorted(unknown)} in 'truth'")
    if "labelset" in raw and not isinstance(raw["labelset"], str):
        raise DataError(f"{where}: 'labelset' must be a name or a path string")
    parse_declarations(raw.get(DECLARATION_KEY, {}), where, TRUTH_NAMES)
    return raw


def _info(raw: Mapping[str, Any], manifest: Path) -> DatasetInfo:
    labelset = raw.get("labelset")
    if labelset is not None and _looks_like_path(labelset):
        resolved = Path(labelset) if Path(labelset).is_absolute() else manifest.parent / labelset
        if not resolved.is_file():
            raise DataError(
                f"{manifest.with_name(INFO_NAME)}: label set file not found: {resolved}"
            )
        labelset = str(resolved)
    conventions = MappingProxyType(
        {k: MappingProxyType(dict(v)) for k, v in raw.get("truth", {}).items()}
    )
    name = raw.get("name") or manifest.parent.name
    return DatasetInfo(
        str(name), labelset, conventions, MappingProxyType(dict(raw)), _declared(raw)
    )


def _looks_like_path(labelset: str) -> bool:
    return "/" in labelset or os.sep in labelset or labelset.endswith(".txt")


def write_manifest(
    out: Path, records: Iterable[Mapping[str, Any]], info: Mapping[str, Any]
) -> Path:
    """Write ``manifest.jsonl`` and ``dataset.json`` into ``out`` (atomically, via rename).

    Args:
        out: The dataset folder (created if needed).
        records: Item records (``id``, ``image``, optional ``truth``/``inputs``/``meta``).
        info: The ``dataset.json`` content.

    Returns:
        The manifest path.

    Raises:
        DataError: A record is malformed or an id repeats.
    """
    out.mkdir(parents=True, exist_ok=True)
    checked = _check_info(dict(info), out)
    fields = _declared(checked)
    manifest = out / MANIFEST_NAME
    tmp = out / (MANIFEST_NAME + ".tmp")
    seen: set[str] = set()
    with tmp.open("w", encoding="utf-8") as f:
        for n, record in enumerate(records, 1):
            _check_record(record, f"record {n}", fields)
            if record["id"] in seen:
                raise DataError(f"record {n}: duplicate item id {record['id']!r}")
            seen.add(record["id"])
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
    info_tmp = out / (INFO_NAME + ".tmp")
    info_tmp.write_text(json.dumps(checked, indent=2) + "\n", encoding="utf-8")
    os.replace(info_tmp, out / INFO_NAME)
    os.replace(tmp, manifest)
    return manifest


def relative_image_path(image: Path, out: Path) -> str:
    """The path to store for ``image`` in a manifest in ``out``: relative when inside ``out``."""
    image, out = image.resolve(), out.resolve()
    if image.is_relative_to(out):
        return image.relative_to(out).as_posix()
    return str(image)
