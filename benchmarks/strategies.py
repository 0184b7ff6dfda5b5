"""Preparation CPU of the adaptive depth strategy against the paper's 200-pair chain.

The adaptive strategy (chains/depth_strategies.chain, ``strategy = "adaptive"``)
re-solves the globalizer after every round to choose the next pairs. Its solve is
a direct sparse (or dense Cholesky) solve of a K x K system, K ~ 100 regions,
which costs about a millisecond, so each re-solve starts from nothing; this
benchmark checks that the rounds keep the preparation CPU per image within 2x of
the paper's chain (chains/depth.chain, 200 random pairs) at the same 200 calls.
Listwise and sortrefine are measured too (their questions draw numbered regions).

Both run under ``oracle`` (no network, no waiting: the CPU is the chain's own
work: superpixels, marking, the globalizer, the interpreter and the scheduler),
on the same synthetic scenes, each with a fresh journal, in this process.
Exits 1 when the adaptive chain needs more than 2x the reference's CPU per image.

Run: ``python benchmarks/strategies.py [--scenes N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chainlang.api import RunOptions, run
from chainlang.data.synthetic import generate

CHAINS = Path(__file__).resolve().parents[1] / "chains"
TARGET = 2.0


def _options(tmp: Path, name: str, params: dict[str, Any]) -> RunOptions:
    extra: dict[str, Any] = {}
    if "workers" in {f.name for f in dataclasses.fields(RunOptions)}:
        extra["workers"] = 1  # every item in this process, so process_time sees it all
    return RunOptions(params=params, cache=tmp / f"{name}.sqlite", progress="none", **extra)


def cpu_per_image(data: Path, tmp: Path, chain: str, params: dict[str, Any], n: int) -> float:
    """Process CPU seconds per image of one oracle run (a fresh journal)."""
    name = f"{chain}-{'-'.join(f'{k}{v}' for k, v in params.items())}"
    start = time.process_time()
    result = run(
        CHAINS / chain, data, "oracle", out=tmp / name, options=_options(tmp, name, params)
    )
    spent = time.process_time() - start
    assert result.summary.items_ok == n, f"{name}: {result.summary.items_ok}/{n} items ok"
    return spent / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=8, help="adaptive rounds (default 8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        data = generate(args.scenes, tmp / "scenes", seed=0, size=(320, 240))
        # warm-up: imports and first-use caches are not the chains' cost
        cpu_per_image(data, tmp, "depth.chain", {"pairs": 8}, args.scenes)
        reference = cpu_per_image(data, tmp, "depth.chain", {"pairs": 200}, args.scenes)
        rows = [("depth.chain, 200 pairs", reference)]
        for strategy in ("adaptive", "listwise", "sortrefine"):
            params = {"strategy": strategy, "calls": 200, "rounds": args.rounds}
            rows.append(
                (
                    f"depth_strategies {strategy}, 200 calls",
                    cpu_per_image(data, tmp, "depth_strategies.chain", params, args.scenes),
                )
            )
    print(f"prep CPU per image, {args.scenes} scenes at 320x240, oracle answers")
    for label, seconds in rows:
        print(f"  {label:<40} {seconds * 1000:8.1f} ms  {seconds / reference:5.2f}x")
    adaptive = rows[1][1] / reference
    ok = adaptive <= TARGET
    verdict = "ok" if ok else "MISSED"
    print(f"adaptive / reference = {adaptive:.2f} (target <= {TARGET:.1f}): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
