"""The static checks run with the tests, so the README's test command (and CI) runs them.

ruff lints and checks formatting over the repository; mypy checks ``chainlang`` with the
configuration in pyproject.toml: strict on ``chainlang.language`` and ``chainlang.runtime``,
mypy's default mode elsewhere. Each runs as its own process, exactly as a person would run it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def _require_success(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        command = " ".join(map(str, done.args[2:]))
        pytest.fail(f"`{command}` failed:\n{done.stdout}{done.stderr}", pytrace=False)


@pytest.mark.parametrize("args", [("ruff", "check", "."), ("ruff", "format", "--check", ".")])
def test_ruff_passes(args: tuple[str, ...]) -> None:
    _require_success(_run(*args))


@pytest.mark.slow
def test_mypy_passes(tmp_path_factory: pytest.TempPathFactory) -> None:
    # a fresh cache under pytest's temporary folder: the result never depends on a stale
    # cache, and the checkout stays clean (a cold run takes about half a minute)
    cache = tmp_path_factory.mktemp("mypy") / ".mypy_cache"
    _require_success(_run("mypy", "--cache-dir", str(cache)))
