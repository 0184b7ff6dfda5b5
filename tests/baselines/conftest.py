"""Fixtures of the baseline tests: tiny synthetic scenes and folders of specialist predictions.

Every prediction folder is derived from the scenes' own truth, so each test
knows exactly how far a specialist is from the truth:

* ``exact``: the true depth, unchanged (Specialist + Chain must equal Oracle + Chain);
* ``noisy``: the true depth times a random scale and a smooth random field
  (a specialist that gets some region orderings wrong);
* ``inverse``: the negated inverse depth, as relative depth models give it
  (every value negative, every ordering right);
* ``labels``: one label per scene, the last one wrong (another class of the set).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from baselines_helpers import SCENES, Folders
from PIL import Image

from chainlang.data.manifest import load_dataset
from chainlang.data.synthetic import generate
from chainlang.language import labelsets


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small synthetic scenes with every kind of truth."""
    return generate(SCENES, tmp_path_factory.mktemp("syn"), seed=3, size=(160, 120))


@pytest.fixture(scope="session")
def folders(manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Folders:
    """Prediction folders in the layout ``folder:`` specialists read (``<id>.npy|json``)."""
    root = tmp_path_factory.mktemp("preds")
    out = Folders(*(root / name for name in Folders._fields))
    for folder in out:
        folder.mkdir()
    rng = np.random.default_rng(7)
    items = list(load_dataset(manifest))
    for index, item in enumerate(items):
        depth = item.truth("depth").astype(np.float32)
        np.save(out.exact / f"{item.id}.npy", depth)
        np.save(out.noisy / f"{item.id}.npy", _noisy(depth, rng))
        np.save(out.inverse / f"{item.id}.npy", (-1.0 / depth).astype(np.float32))
        label = item.truth("label")
        if index == len(items) - 1:
            label = next(x for x in labelsets.load("synthetic") if x != label)
        (out.labels / f"{item.id}.json").write_text(json.dumps(label))
    return out


def _noisy(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Depth × a global scale × (1 + a smooth field): wrong on some close pairs."""
    h, w = depth.shape
    coarse = rng.normal(size=(3, 4)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BILINEAR))
    scale = rng.uniform(0.5, 2.0)
    return (depth * scale * (1.0 + 0.3 * field)).astype(np.float32)
