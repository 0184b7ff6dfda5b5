"""The engine options of a run: Ray stays out of the default path, and wrong
combinations are usage errors, not tracebacks (these tests need no Ray)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chainlang.api import RunOptions
from chainlang.errors import UsageError
from chainlang.runtime.session import ray_engine

CHAIN = Path(__file__).resolve().parents[1] / "sweep" / "chains" / "spot.chain"


def test_a_local_run_never_imports_ray(tmp_path: Path) -> None:
    script = f"""
import sys
from pathlib import Path
from chainlang.cli.app import build_parser
from chainlang.api import RunOptions, run
from chainlang.data import synthetic

build_parser()
data = synthetic.generate(1, Path({str(tmp_path)!r}) / "data", seed=0, size=(96, 72))
options = RunOptions(cache=Path({str(tmp_path)!r}) / "c.sqlite", progress="none")
result = run({str(CHAIN)!r}, data, "oracle", out=Path({str(tmp_path)!r}) / "run", options=options)
assert result.summary.items_ok == 1
loaded = sorted(m for m, v in sys.modules.items() if v and (m == "ray" or m.startswith("ray.")))
assert not loaded, loaded
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_ray_engine_without_ray_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(UsageError, match=r"pip install 'chainlang\[ray\]'"):
        ray_engine()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "spark"}, "must be 'local' or 'ray'"),
        ({"engine": "ray", "dispatch": "batch"}, "use --dispatch sync"),
        ({"engine": "ray", "cache": None}, "needs a cache file"),
    ],
)
def test_engine_options_that_cannot_work_are_refused(options, message) -> None:
    with pytest.raises(UsageError, match=message):
        RunOptions(**options)


def test_an_address_without_the_ray_engine_is_refused_before_any_work() -> None:
    from chainlang.runtime.session import make_providers, parse_model

    options = RunOptions(address="ray://head:10001")
    with pytest.raises(UsageError, match="use it with --engine ray"):
        make_providers([parse_model("oracle")], options)
