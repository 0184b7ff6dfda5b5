"""The example plugin package (examples/plugin, docs/stdlib.md) installed into a temporary
venv: its operation and its metric are found through their entry points, and a chain that
uses both checks, runs with the oracle and is scored. Offline: the venv sees this
environment's packages (chainlang, hatchling, pip) and the package builds without isolation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from chainlang.data.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugin"


def _venv(tmp_path: Path) -> Path:
    """A venv without pip that also sees this interpreter's packages (and their .pth files,
    so an editable chainlang too): ``--system-site-packages`` alone would give the base
    interpreter's, not this environment's."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
        timeout=60,
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    (Path(site) / "outer_env.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONNOUSERSITE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_a_plugin_package_adds_an_operation_and_a_metric(tmp_path: Path) -> None:
    python = _venv(tmp_path)
    chain = PLUGIN / "snap.chain"
    # not installed yet: neither the operation nor the metric exists
    before = _run(python, "-m", "chainlang", "check", str(chain), cwd=tmp_path)
    assert before.returncode != 0
    assert "unknown metric 'within'" in before.stdout + before.stderr
    assert "unknown operation 'snap'" in before.stdout + before.stderr

    install = _run(
        python,
        *("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index"),
        *("--disable-pip-version-check", str(PLUGIN)),
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    checked = _run(python, "-m", "chainlang", "check", str(chain), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok" in checked.stdout

    data = tmp_path / "syn"
    generate(2, data, seed=1, size=(160, 120))
    out = tmp_path / "run"
    ran = _run(
        python,
        *("-m", "chainlang", "run", str(chain), "--data", str(data), "--model", "oracle"),
        *("--out", str(out), "--progress", "none"),
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    outputs = [json.loads(line)["output"]["value"] for line in (out / "results.jsonl").open()]
    assert len(outputs) == 2
    assert all(c % 8 == 0 for points in outputs for p in points for c in p)  # snapped

    scored = _run(python, "-m", "chainlang", "score", str(out), "--json", cwd=tmp_path)
    assert scored.returncode == 0, scored.stdout + scored.stderr
    metrics = json.loads(scored.stdout)
    text = json.dumps(metrics)
    assert '"within"' in text and '"point_error"' in text
    # the oracle's centres, snapped by at most 4 * sqrt(2) px: all within 12 px, error > 0
    values = _metric_values(metrics)
    assert values["within"] == 1.0
    assert 0 < values["point_error"] <= 4 * 2**0.5
    # the plugin stayed in the temporary venv
    assert "chainlang_snap" not in {
        p.name for p in Path(sysconfig.get_paths()["purelib"]).iterdir()
    }


def _metric_values(report: object) -> dict[str, float]:
    """Each metric's value from ``chainlang score --json`` (one run)."""
    run = report[0] if isinstance(report, list) else report
    if isinstance(run, dict) and "runs" in run:
        run = run["runs"][0]
    assert isinstance(run, dict)
    return {name: float(m["value"]) for name, m in run["metrics"].items()}
