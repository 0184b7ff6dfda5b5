"""Label sets: the built-in ones (ImageNet-1k, COCO-80, COCO-stuff-133) and user files.

A label file is UTF-8 text with one label per line; blank lines and lines
starting with ``#`` are ignored. It must be a regular file of at most
:data:`MAX_FILE_BYTES`, and a chain may only declare one inside its own
directory tree (:func:`declared_path`): its lines become the choices sent to a
provider, so ``labels x = "/etc/passwd"`` must not read a file the user never
meant to share. A path given on the command line (``--labels``) may be anywhere.

``imagenet1k`` holds the first lemma of each of the 1,000 ImageNet synsets in the
standard class-index order (two names, "crane" and "maillot", occur twice, as in the
synset list).
"""

from __future__ import annotations

import re
import stat
from functools import cache
from importlib import resources
from pathlib import Path

from chainlang.errors import ChainlangError, io_reason

#: Built-in label set name → file inside this package.
BUILTIN: dict[str, str] = {
    "imagenet1k": "imagenet1k.txt",
    "coco80": "coco80.txt",
    "coco_stuff133": "coco_stuff133.txt",
    "synthetic": "synthetic.txt",
}


#: The largest label file read (1 MiB: some 50,000 labels, far more than a prompt holds).
MAX_FILE_BYTES = 1 << 20


class LabelSetError(ChainlangError):
    """A label set name is unknown or its file cannot be read."""


def declared_path(path: str, chain_dir: Path) -> Path:
    """The file a chain's ``labels NAME = "path"`` names, resolved against the chain's folder.

    Raises:
        LabelSetError: the path leads outside the chain's directory tree (absolute,
            ``..``, or a symbolic link out of it).
    """
    root = chain_dir.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        raise LabelSetError(
            f"label file {path!r} is outside the chain's folder; a chain reads label files "
            "only from its own folder tree (give a file kept elsewhere on the command line: "
            "--labels NAME=PATH)"
        )
    return target


def normalise(text: str) -> str:
    """Canonical comparison form: case-folded, underscores/hyphens/whitespace runs as one space.

    The one spelling rule for labels: the answer validator, scoring and the checker use it.

    >>> normalise("Teddy_Bear "), normalise("hot-dog")
    ('teddy bear', 'hot dog')
    """
    return " ".join(re.split(r"[\s_\-]+", text.strip().casefold())).strip()


def load(name_or_path: str) -> tuple[str, ...]:
    """The labels of a built-in set (by name) or of a label file (by path).

    Raises:
        LabelSetError: Unknown name, unreadable file, or a file with no labels.

    >>> len(load("coco80")), load("coco80")[0]
    (80, 'person')
    """
    if name_or_path in BUILTIN:
        return _builtin(name_or_path)
    return _file(str(Path(name_or_path).resolve()))


@cache
def _builtin(name: str) -> tuple[str, ...]:
    text = resources.files(__package__).joinpath(BUILTIN[name]).read_text("utf-8")
    return _lines(text)


def _file(path: str) -> tuple[str, ...]:
    try:
        info = Path(path).stat()
        if not stat.S_ISREG(info.st_mode):
            raise LabelSetError(f"label file {path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise LabelSetError(
                f"label file {path} is {info.st_size:,} bytes, more than the "
                f"{MAX_FILE_BYTES:,} a label file may hold"
            )
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # a file that grew since stat is still capped
        if len(data) > MAX_FILE_BYTES:
            raise LabelSetError(f"label file {path} holds more than {MAX_FILE_BYTES:,} bytes")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelSetError(f"cannot read label file {path}: {io_reason(exc)}") from exc
    labels = _lines(text)
    if not labels:
        raise LabelSetError(f"label file {path} has no labels")
    return labels


def _lines(text: str) -> tuple[str, ...]:
    return tuple(s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#"))
