"""The run folder: everything needed to score, inspect and reproduce a run.

Layout::

    runs/depth-gpt4o/
      run.json          identity (chain source hash, params, variants, model, samples,
                        dataset) + package versions; written once when the run starts
      results.jsonl     one line per finished item, appended and flushed as each item ends
      outputs/<id>.npz  dense outputs (depth, normals, masks) of each item
      images/<digest>.png  image answers (and the truth's image answers), named by the
                        first 16 hex digits of their content digest, so each is stored once
      summary.json      calls, failures by cause, tokens, cost, wall time (rewritten at the end)
      .lock             held (``flock``) by the one process running into the folder

Resuming is the default: rerunning the same command into the same folder reads
``results.jsonl``, skips items that finished, and retries the rest; their
questions that were already answered come from the journal (cache) for free.
A run whose identity differs from the folder's is refused unless the caller
asks for a fresh start.

One process at a time: :meth:`RunFolder.open` takes an exclusive OS lock
(``fcntl.flock``) on ``.lock`` before it reads or changes anything, and holds it
until :meth:`RunFolder.close`. The OS drops the lock when the process ends, however
it ends (``kill -9`` included), so a stale lock never blocks a rerun. A second
run into a folder in use is refused with :class:`FolderInUse`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np

# The readers live below scoring and reporting; these names stay importable from here.
from chainlang.data.runs import RESULTS_FILE as RESULTS_FILE
from chainlang.data.runs import RUN_FILE as RUN_FILE
from chainlang.data.runs import iter_results as iter_results
from chainlang.data.runs import read_results as read_results
from chainlang.data.runs import read_run as read_run
from chainlang.data.runs import record_key as _key
from chainlang.errors import RunError
from chainlang.image import ImageData, decode_image
from chainlang.providers.capabilities import encode_png

SUMMARY_FILE = "summary.json"
OUTPUTS_DIR = "outputs"
IMAGES_DIR = "images"
LOCK_FILE = ".lock"

_PACKAGES = ("chainlang", "numpy", "scikit-image", "pillow", "openai", "anthropic", "google-genai")


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs "the same run" (so one may resume the other)."""

    chain: str  # path as given
    chain_sha256: str
    params: Mapping[str, Any]
    variants: Mapping[str, str]
    model: str
    samples: int
    dataset: str
    dataset_sha256: str
    ir_version: int
    labels: Mapping[str, str] = field(default_factory=dict)
    sampling: Mapping[str, Any] = field(default_factory=dict)  # temperature, max_tokens, seed
    info: Mapping[str, Any] = field(default_factory=dict)  # recorded, not compared

    def key(self) -> dict[str, Any]:
        """The fields compared on resume (paths are informational only)."""
        return {
            "chain_sha256": self.chain_sha256,
            "params": dict(self.params),
            "variants": dict(self.variants),
            "model": self.model,
            "samples": self.samples,
            "dataset_sha256": self.dataset_sha256,
            "ir_version": self.ir_version,
            "labels": dict(self.labels),
            "sampling": dict(self.sampling),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "dataset": self.dataset,
            **dict(self.info),
            **self.key(),
        }


def package_versions() -> dict[str, str]:
    """Versions of the packages that can change a run's answers or numbers."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class FolderInUse(RunError):
    """Another live process is running into the same run folder."""


@dataclass
class RunFolder:
    """A run's folder on disk. Create with :meth:`open`; :meth:`close` releases its lock."""

    path: Path
    identity: RunIdentity
    done: set[str] = field(default_factory=set)  # keys only: records stay on disk
    _lock: IO[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(cls, path: Path, identity: RunIdentity, *, force_new: bool = False) -> RunFolder:
        """Lock ``path`` and open it for ``identity``: create it, resume it, or refuse.

        Raises:
            FolderInUse: another process holds the folder's lock.
            RunError: the folder holds a different run and ``force_new`` is false.
        """
        path.mkdir(parents=True, exist_ok=True)
        lock = lock_folder(path)
        try:
            run_file = path / RUN_FILE
            if run_file.exists() and not force_new:
                _check_same_run(run_file, identity)
            elif run_file.exists():
                _clear(path)
            if not run_file.exists():
                doc = {**identity.to_json(), "packages": package_versions()}
                _write_json_atomic(run_file, doc)
            (path / OUTPUTS_DIR).mkdir(exist_ok=True)
            _end_cut_line(path / RESULTS_FILE)
            folder = cls(path, identity, _lock=lock)
            folder.done = {_key(r) for r in iter_results(path) if r.get("status") == "ok"}
        except BaseException:
            lock.close()
            raise
        return folder

    def close(self) -> None:
        """Release the folder's lock (idempotent; the OS releases it anyway at exit)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def is_done(self, key: str) -> bool:
        """True if the (item, sample) result ``key`` finished successfully before."""
        return key in self.done

    def output_path(self, item_id: str) -> Path:
        """Where an item's dense arrays live."""
        return self.path / OUTPUTS_DIR / f"{safe_name(item_id)}.npz"

    def write_arrays(self, item_id: str, arrays: Mapping[str, np.ndarray]) -> str:
        """Save an item's dense outputs; return the path relative to the folder."""
        target = self.output_path(item_id)
        tmp = target.with_suffix(".tmp.npz")
        # typed loosely: numpy's stub reads any str key as possibly its ``allow_pickle`` flag
        fields: dict[str, Any] = dict(arrays)
        np.savez_compressed(tmp, **fields)
        os.replace(tmp, target)
        return str(target.relative_to(self.path))

    def write_image(self, image: ImageData) -> str:
        """Save an image answer as PNG (once per content); return the path relative to
        the folder, as the item's record names it."""
        target = self.path / IMAGES_DIR / f"{image.digest[:16]}.png"
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            tmp = target.with_suffix(".tmp.png")
            tmp.write_bytes(encode_png(image))
            os.replace(tmp, target)
        return target.relative_to(self.path).as_posix()

    def append_result(self, record: Mapping[str, Any]) -> None:
        """Append one item's record and flush it (survives a kill of the process)."""
        line = json.dumps(record, sort_keys=True, default=_json_default)
        with open(self.path / RESULTS_FILE, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
        if record.get("status") == "ok":
            self.done.add(_key(record))

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Replace ``summary.json``."""
        _write_json_atomic(self.path / SUMMARY_FILE, dict(summary))


def read_image(run_dir: Path, name: str) -> ImageData:
    """An image a record names (``answer_image``, ``expected_image``), read back.

    Raises:
        RunError: the file is missing or not an image.
    """
    path = Path(run_dir) / name
    try:
        return decode_image(path.read_bytes())
    except (OSError, ValueError) as err:
        raise RunError(f"{run_dir}: cannot read the recorded image {name}: {err}") from err


def safe_name(item_id: str) -> str:
    """A file name for an item id (ids may contain slashes)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", item_id).strip("._") or "item"
    digest = hashlib.sha1(item_id.encode()).hexdigest()[:8]
    return f"{cleaned[:80]}-{digest}"


def _check_same_run(run_file: Path, identity: RunIdentity) -> None:
    try:
        old = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(
            f"{run_file} cannot be read ({exc}), so this folder cannot be resumed; "
            "use another --out folder, or --force-new to start this folder afresh"
        ) from None
    if not isinstance(old, dict):
        raise RunError(
            f"{run_file} does not describe a run (not a JSON object); use another --out "
            "folder, or --force-new to start this folder afresh"
        )
    new = identity.key()
    changed = [k for k in new if old.get(k) != json.loads(json.dumps(new[k]))]
    if changed:
        what = ", ".join(changed)
        raise RunError(
            f"{run_file.parent} holds a different run (changed: {what}); "
            "use another --out folder, or --force-new to start this folder afresh"
        )


def _end_cut_line(file: Path) -> None:
    """Close a last line cut short by a kill, so the next record starts on its own line.

    Without this, the first record appended on resume would be glued onto the
    fragment and both would be unreadable.
    """
    if not file.exists() or file.stat().st_size == 0:
        return
    with open(file, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")


def _clear(path: Path) -> None:
    for name in (RUN_FILE, RESULTS_FILE, SUMMARY_FILE):
        (path / name).unlink(missing_ok=True)
    for folder in (path / OUTPUTS_DIR, path / IMAGES_DIR):
        if folder.exists():
            for f in folder.iterdir():
                f.unlink()


def lock_folder(path: Path) -> IO[str]:
    """Take the exclusive lock of run folder ``path``; the open lock file holds it.

    ``flock`` locks belong to the open file, so the OS releases them when the
    process dies, whatever kills it. The holder writes its pid, host and start
    time into the file, for the message the next process prints.

    Raises:
        FolderInUse: another process holds the lock.
        RunError: the file system refuses locks.
    """
    f = open(path / LOCK_FILE, "a+", encoding="utf-8")  # held open: the lock lives with it
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = _holder(f.read())
        f.close()
        raise FolderInUse(
            f"{path} is in use by another chainlang run{holder}; wait for it to finish "
            "(or stop it), or use another --out folder"
        ) from None
    except OSError as e:
        f.close()
        raise RunError(f"cannot lock the run folder {path}: {e.strerror or e}") from e
    f.seek(0)
    f.truncate()
    stamp = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    f.write(json.dumps(stamp))
    f.flush()
    return f


def _holder(text: str) -> str:
    """`` (pid N on HOST since HH:MM:SS)`` from a lock file's stamp, or nothing."""
    try:
        stamp = json.loads(text)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(stamp["since"])))
        return f" (pid {int(stamp['pid'])} on {stamp['host']}, since {since})"
    except (ValueError, KeyError, TypeError):
        return ""  # written at this very moment, or by an older version


def _write_json_atomic(path: Path, doc: Mapping[str, Any]) -> None:
    """Write ``doc`` to a temporary file of its own, then rename it over ``path``.

    The temporary name is unique, so two writers never rename each other's file
    away (a fixed ``summary.tmp`` made one of two concurrent writers fail).
    """
    text = json.dumps(doc, indent=2, sort_keys=True, default=_json_default)
    # Not mkstemp: its files are private (0600); "x" mode keeps the umask's permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a run record")
