"""Fixtures of the end-to-end tests.

Datasets are session-scoped (rendering scenes is the slow part); each test gets
its own fake server and its own cache file so request counts are its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import build_photo_dataset, provider_env, valid_answer

from chainlang.data.synthetic import generate
from chainlang.testing.fake_provider import FakeProviderServer


@pytest.fixture(scope="session")
def syn_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small synthetic scenes with every kind of truth."""
    return generate(2, tmp_path_factory.mktemp("syn"), seed=0, size=(320, 240))


@pytest.fixture(scope="session")
def syn_four(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small synthetic scenes: enough answers for the example chains' flip column."""
    return generate(4, tmp_path_factory.mktemp("syn4"), seed=0, size=(320, 240))


@pytest.fixture(scope="session")
def photo_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four real photos (scikit-image data) with ``truth.label`` and ``truth.boxes``."""
    return build_photo_dataset(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def sample_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The label example's photos (``chainlang.data.samples``): labels from animals.labels."""
    from chainlang.data.samples import write_samples

    return write_samples(tmp_path_factory.mktemp("samples"))


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    """A fresh fake provider server giving schema-valid answers."""
    with FakeProviderServer(answer=valid_answer) as srv:
        yield srv


@pytest.fixture
def fake_env(fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> FakeProviderServer:
    """The fake server with every provider's environment pointing at it."""
    provider_env(monkeypatch, fake)
    return fake
