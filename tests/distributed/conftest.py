"""Fixtures of the Ray engine tests: ONE local Ray cluster for the whole session.

Ray takes seconds to start, so every test shares the cluster this fixture starts
(two CPUs, so two workers; no dashboard; a small object store) and makes its own
engine, cache and fake server. Without Ray installed (the ``ray`` extra) the
tests are skipped (each test module skips itself; this file imports no Ray).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address of a local two-CPU Ray cluster (started once per session)."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file, no warning
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 2**20,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small synthetic scenes with their manifest."""
    from chainlang.data import synthetic

    return synthetic.generate(6, tmp_path_factory.mktemp("scenes"), seed=5, size=(160, 120))
