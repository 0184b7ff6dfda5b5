"""Shared fixtures and strategies for the vision tests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from chainlang.image import ImageData
from chainlang.vision.values import Regions


@pytest.fixture(scope="session")
def coffee_small() -> ImageData:
    """scikit-image's coffee photo at 64 x 48 (a real photo, small enough for SLIC in tests)."""
    from skimage import data

    picture = Image.fromarray(data.coffee()).resize((64, 48), Image.Resampling.LANCZOS)
    return ImageData.of(np.asarray(picture))


@pytest.fixture(scope="session")
def coffee_medium() -> ImageData:
    """The coffee photo at 256 x 192."""
    from skimage import data

    picture = Image.fromarray(data.coffee()).resize((256, 192), Image.Resampling.LANCZOS)
    return ImageData.of(np.asarray(picture))


@pytest.fixture()
def quads() -> Regions:
    """A 20 x 16 map of four 10 x 8 quadrant regions, ids 1 2 / 3 4."""
    ids = np.array([[1, 2], [3, 4]], dtype=np.int32)
    return Regions.from_labels(np.kron(ids, np.ones((8, 10), dtype=np.int32)))
