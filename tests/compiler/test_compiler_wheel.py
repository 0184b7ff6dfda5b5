"""The built wheel carries the grammar and label sets: check a chain from an installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from compiler_helpers import ROOT

# The compiler's only third-party needs; linked in so the test stays offline.
_DEPS = (
    "lark",
    "pydantic",
    "pydantic_core",
    "typing_extensions.py",
    "annotated_types",
    "typing_inspection",
)


@pytest.mark.slow
def test_wheel_checks_a_chain(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next(dist.glob("chainlang-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "chainlang/grammars/chain.lark" in names
    assert "chainlang/language/labelsets/imagenet1k.txt" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    deps = tmp_path / "deps"
    deps.mkdir()
    here = Path(__import__("lark").__file__).resolve().parents[1]
    for name in _DEPS:
        (deps / name).symlink_to(here / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    work = tmp_path / "work"
    shutil.copytree(ROOT / "chains", work)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{deps}", "PYTHONNOUSERSITE": "1"}
    code = (
        "import chainlang, sys; from chainlang.cli.app import main; print(chainlang.__file__); "
        "sys.exit(main(['check', '--explain', 'depth.chain', 'examples/label.chain']))"
    )
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert str(site) in run.stdout and "calls = max(pairs, ceil(K / 2)) per item" in run.stdout
