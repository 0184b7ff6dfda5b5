"""An operation that fails at run time names the ``.chain`` file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import CHAINS, results, run_chain

from chainlang.cli.app import main

CHAIN = """\
labels animals = "animals.labels"

chain cropped "Crop the centre, then ask" {
  input image: Image
  truth label: Label
  output Label

  param size: Int = 224 "side of the centre crop"

  prompt which(view: Image) -> Label(animals) {
    user [view high] "Which animal is this?"
  }

  let view = center_crop(image, size = size)
  return ask which(view = view)
    oracle {
      truth.label
    }
}
"""


def _chain(tmp_path: Path) -> tuple[Path, str]:
    """The chain file and the ``file:line:col`` of its ``center_crop`` call."""
    labels = (CHAINS / "examples" / "animals.labels").read_text(encoding="utf-8")
    (tmp_path / "animals.labels").write_text(labels, encoding="utf-8")
    path = tmp_path / "crop.chain"
    path.write_text(CHAIN, encoding="utf-8")
    lines = CHAIN.splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "center_crop(" in text)
    col = lines[line - 1].index("center_crop(") + 1
    return path, f"{path}:{line}:{col}"


def test_operation_error_points_at_the_chain(sample_manifest: Path, tmp_path: Path) -> None:
    chain, where = _chain(tmp_path)
    out = tmp_path / "run"
    result = run_chain(chain, sample_manifest, "oracle", out, {"size": "0"})

    assert result.summary.items_failed == result.summary.items == 3
    assert result.summary.item_failures == {"operation": 3}
    assert result.summary.questions == 0, "no question is asked after the failed crop"
    for record in results(out).values():
        error = record["error"]
        assert error["kind"] == "operation"
        assert error["origin"] == where
        assert where in error["message"] and "center_crop" in error["message"]
        assert "size" in error["message"] and "0" in error["message"]


def test_operation_error_from_the_cli(
    sample_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain, where = _chain(tmp_path)

    def run_cli(out: Path, size: int) -> int:
        return main([
            "run", str(chain), "--data", str(sample_manifest), "--model", "oracle",
            "--out", str(out), "--cache", str(tmp_path / "c.sqlite"), "-p", f"size={size}",
            "--progress", "none",
        ])  # fmt: skip

    assert run_cli(tmp_path / "bad", 0) == 3, "a run with failed items exits 3"
    bad = results(tmp_path / "bad")
    assert {r["status"] for r in bad.values()} == {"failed"}
    # The report names each failed item (up to five), its cause and where, and the remedy.
    out = capsys.readouterr().out
    assert f"failed items: {len(bad)} (operation {len(bad)})" in out
    shown = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(shown) == min(len(bad), 5) + (len(bad) > 5)
    assert all(f": operation at {where}: " in line for line in shown[:5])
    assert "rerun the same command to retry them" in out
    # The same chain with a valid size succeeds: the failure was the value, not the chain.
    assert run_cli(tmp_path / "good", 64) == 0
    assert {r["status"] for r in results(tmp_path / "good").values()} == {"ok"}
