"""The static checks run with the tests, so the README's test command (and CI) runs them.

ruff lints and checks formatting over the repository; mypy checks ``chainlang`` with the
configuration in pyproject.toml: strict on ``chainlang.language``, ``chainlang.runtime`` and
``chainlang.lsp``, mypy's default mode elsewhere. Each runs as its own process, exactly as a
person would run it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_IGNORE = re.compile(r"#\s*type:\s*ignore(\[[\w\-, ]+\])?(.*)$")


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


def _unexplained_ignores(text: str) -> list[int]:
    """Lines whose ``type: ignore`` has no reason: neither a comment after it on the
    line nor a comment line right above."""
    lines = text.splitlines()
    bad = []
    for i, line in enumerate(lines):
        found = _IGNORE.search(line)
        if found is None:
            continue
        reason = found.group(2).strip().lstrip("#").strip()
        above = lines[i - 1].strip() if i else ""
        if not reason and not above.startswith("#"):
            bad.append(i + 1)
    return bad


def test_unexplained_ignores_are_found() -> None:
    text = (
        "a = 1  # type: ignore[misc]\n"
        "# why\n"
        "b = 2  # type: ignore[misc]\n"
        "c = 3  # type: ignore[misc]  # why\n"
    )
    assert _unexplained_ignores(text) == [1]


def test_every_type_ignore_says_why() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "chainlang").rglob("*.py"))
        for n in _unexplained_ignores(path.read_text(encoding="utf-8"))
    ]
    assert not bad, (
        "`type: ignore` without a reason (add `# why` after it or above):\n" + "\n".join(bad)
    )
