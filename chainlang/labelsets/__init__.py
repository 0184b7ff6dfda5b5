"""Label sets: the built-in ones (ImageNet-1k, COCO-80, COCO-stuff-133) and user files.

A label file is UTF-8 text with one label per line; blank lines and lines
starting with ``#`` are ignored. ``imagenet1k`` holds the first lemma of each
of the 1,000 ImageNet synsets in the standard class-index order (two names,
"crane" and "maillot", occur twice, as in the synset list).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

from chainlang.errors import ChainlangError

#: Built-in label set name → file inside this package.
BUILTIN: dict[str, str] = {
    "imagenet1k": "imagenet1k.txt",
    "coco80": "coco80.txt",
    "coco_stuff133": "coco_stuff133.txt",
    "synthetic": "synthetic.txt",
}


class LabelSetError(ChainlangError):
    """A label set name is unknown or its file cannot be read."""


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
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelSetError(f"cannot read label file {path} ({exc.__class__.__name__})") from exc
    labels = _lines(text)
    if not labels:
        raise LabelSetError(f"label file {path} has no labels")
    return labels


def _lines(text: str) -> tuple[str, ...]:
    return tuple(s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#"))
