"""Datasets: the manifest, robust image and truth loading, converters and synthetic scenes.

The public entry points are :func:`load_dataset` (a manifest, its folder, or an image folder),
:func:`load_image`, the ``convert_*`` functions in :mod:`chainlang.data.convert` and
:func:`chainlang.data.synthetic.generate`.
"""

from __future__ import annotations

from chainlang.data.fields import FIELD_TYPES, TruthXY
from chainlang.data.images import DEFAULT_MAX_PIXELS, image_size, load_image
from chainlang.data.manifest import Dataset, DatasetInfo, Item, load_dataset, write_manifest
from chainlang.data.truth import TRUTH_NAMES, TruthBox, TruthPoint

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FIELD_TYPES",
    "TRUTH_NAMES",
    "Dataset",
    "DatasetInfo",
    "Item",
    "TruthBox",
    "TruthPoint",
    "TruthXY",
    "image_size",
    "load_dataset",
    "load_image",
    "write_manifest",
]
