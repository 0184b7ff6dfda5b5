"""Shared fixtures: one fake provider server per session (reset per test), images, label sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from providers_helpers import LABELS

from chainlang.image import ImageData
from chainlang.testing import FakeProviderServer


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture
def fake(_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """The session's fake server with no requests, scripts or faults left over."""
    _server.reset()
    _server.cached_tokens = 0
    yield _server
    _server.reset()


@pytest.fixture(scope="session")
def labels_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("labels") / "small.txt"
    path.write_text("\n".join(LABELS) + "\n")
    return str(path)


@pytest.fixture(scope="session")
def image() -> ImageData:
    rng = np.random.default_rng(0)
    return ImageData.of(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))


@pytest.fixture
def big_labels(tmp_path: Path) -> str:
    path = tmp_path / "big.txt"
    path.write_text("\n".join(f"class {i}" for i in range(400)))
    return str(path)
