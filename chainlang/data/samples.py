"""A tiny photo dataset for ``chains/examples/label.chain``, built from scikit-image's photos.

scikit-image installs a handful of images with the package, so this dataset
needs no download. Only two of them show an animal (the cat *Chelsea* and a
horse silhouette), so a third item is a tighter crop of the cat's face (eyes and nose):
a harder view of the same label. Every label is one of
``chains/examples/animals.labels``.

    >>> from chainlang.data.samples import write_samples
    >>> manifest = write_samples("data/samples")        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from chainlang.data.manifest import write_manifest
from chainlang.errors import DataError


@dataclass(frozen=True)
class Sample:
    """One bundled photo: how to get its pixels and its true label."""

    id: str
    label: str
    pixels: Callable[[], np.ndarray]
    source: str


def _chelsea() -> np.ndarray:
    from skimage import data

    return np.asarray(data.chelsea())


def _chelsea_face() -> np.ndarray:
    # Rows/columns hand-picked around the eyes and nose in the 300×451 photo.
    return _chelsea()[60:300, 100:380]


def _horse() -> np.ndarray:
    from skimage import data

    # A boolean silhouette (True = background): draw the horse dark on white.
    mask = np.asarray(data.horse(), dtype=bool)
    grey = np.where(mask, 255, 40).astype(np.uint8)
    return np.stack([grey] * 3, axis=-1)


SAMPLES: tuple[Sample, ...] = (
    Sample("chelsea", "cat", _chelsea, "skimage.data.chelsea"),
    Sample("chelsea_face", "cat", _chelsea_face, "skimage.data.chelsea, cropped to the face"),
    Sample("horse", "horse", _horse, "skimage.data.horse, silhouette drawn in RGB"),
)


def write_samples(out: str | Path) -> Path:
    """Write the sample photos as PNG files plus a manifest into ``out``.

    Args:
        out: The dataset folder (created if needed; existing sample files are replaced).

    Returns:
        The path of the written ``manifest.jsonl``.

    Raises:
        DataError: scikit-image is missing or ``out`` cannot be written.
    """
    root = Path(out)
    images = root / "images"
    try:
        images.mkdir(parents=True, exist_ok=True)
        records = [_write_one(s, images) for s in SAMPLES]
    except ImportError as exc:
        raise DataError(f"the sample photos need scikit-image, which is missing: {exc}") from exc
    except OSError as exc:
        raise DataError(f"cannot write the sample photos into {root}: {exc}") from exc
    info = {
        "name": "samples",
        "truth": {"label": {}},
        "source": {
            "generator": "chainlang.data.samples",
            "photos": "scikit-image",
            "labels": "chains/examples/animals.labels",
        },
    }
    return write_manifest(root, records, info)


def _write_one(sample: Sample, images: Path) -> dict[str, object]:
    target = images / f"{sample.id}.png"
    Image.fromarray(np.ascontiguousarray(sample.pixels())).save(target)
    return {
        "id": sample.id,
        "image": f"images/{sample.id}.png",
        "truth": {"label": sample.label},
        "meta": {"source": sample.source},
    }


__all__ = ["SAMPLES", "Sample", "write_samples"]
