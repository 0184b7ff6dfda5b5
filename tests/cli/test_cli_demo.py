"""``chainlang demo``: the README's first command, run from any folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlang.cli import main
from chainlang.cli.demo import CHAINS, TASKS

ROOT = Path(__file__).resolve().parents[2]


def test_demo_finds_the_repository_chains() -> None:
    assert CHAINS == ROOT / "chains"


@pytest.mark.slow
def test_demo_runs_every_paper_chain_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no chains/ here: the demo must find the shipped ones
    assert main(["demo", "--n", "1", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    # every top-level chain but the strategy variants (experiments/*.toml run those)
    shown = [c for c in sorted(CHAINS.glob("*.chain")) if not c.stem.endswith("_strategies")]
    assert {c.stem for c in shown} == set(TASKS)
    for chain in shown:
        assert f"== {chain.stem} ==" in out
    assert (tmp_path / "demo" / "index.html").stat().st_size > 0
