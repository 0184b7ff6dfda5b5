"""Memory benchmark: a run's peak RSS must not grow with the number of items.

Runs the depth chain (``pairs=200``) with the ``random`` answerer on 50 and on
100 small synthetic scenes (10,000 and 20,000 asks; the reference's seed-25 pair
scheme draws a few pairs twice, so about 3% of them are repeats the journal
answers once), each in a fresh subprocess, and compares the two peak resident
set sizes. Items are streamed,
the run folder keeps only the keys of finished items, and the summary streams
``results.jsonl``, so doubling the dataset should leave the peak nearly unchanged.

    .venv/bin/python benchmarks/memory.py            # exits 1 if the ratio exceeds 1.2
    .venv/bin/python benchmarks/memory.py --trace    # also list where memory grows

The child mode (``--child MANIFEST OUT``) is what each subprocess runs; with
``--trace`` it runs under :mod:`tracemalloc` (several times slower) and prints
the source lines holding the most memory still alive at the end of the run, the
place to look when the ratio creeps up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAIN = REPO / "chains" / "depth.chain"
PARAMS = {"pairs": "200", "segments": "60"}  # 60 regions leave room for 200 distinct pairs
SIZES = (50, 100)
LIMIT = 1.2


def child(manifest: Path, out: Path, trace: bool) -> None:
    """Run the chain once and print the questions asked and this process's peak RSS."""
    import tracemalloc

    from chainlang.api import RunOptions, run
    from chainlang.runtime.runfolder import iter_results

    if trace:
        tracemalloc.start(8)
    options = RunOptions(params=PARAMS, cache=out.parent / f"{out.name}.sqlite", progress="none")
    result = run(CHAIN, manifest, "random", out=out, options=options)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if trace:
        _print_top(tracemalloc.take_snapshot(), tracemalloc.get_traced_memory()[1])
    # Asks include the repeats of a pair the seed-25 scheme drew twice; the journal
    # answers each distinct request once, which is what summary.questions counts.
    asks = sum(len(r["questions"]) for r in iter_results(out))
    print(json.dumps({"asks": asks, "questions": result.summary.questions,
                      "items": result.summary.items_ok, "peak_kib": peak_kib}))  # fmt: skip


def _print_top(snapshot: object, traced_peak: int, n: int = 8) -> None:
    """The source lines holding the most live memory (to stderr: stdout carries the report)."""
    stats = snapshot.statistics("lineno")  # type: ignore[attr-defined]
    print(f"traced peak {traced_peak / 2**20:.1f} MiB; largest live allocations:", file=sys.stderr)
    for stat in stats[:n]:
        print(f"  {stat.size / 2**20:7.2f} MiB  {stat.traceback}", file=sys.stderr)


def subset(manifest: Path, n: int, root: Path) -> Path:
    """A manifest of the first ``n`` items (paths stay relative to the scenes' folder)."""
    lines = manifest.read_text(encoding="utf-8").splitlines()[:n]
    target = manifest.parent / f"manifest_{n}.jsonl"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def measure(manifest: Path, out: Path, trace: bool) -> dict[str, int]:
    """Run one size in a fresh interpreter; return its report."""
    cmd = [sys.executable, __file__, "--child", str(manifest), str(out)]
    cmd += ["--trace"] if trace else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"child run failed:\n{done.stderr[-4000:]}")
    if trace:
        print(f"--- {manifest.name}\n{done.stderr}", end="")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(trace: bool = False) -> int:
    from chainlang.data.synthetic import generate

    with tempfile.TemporaryDirectory(prefix="chainlang-mem-") as tmp:
        root = Path(tmp)
        full = generate(max(SIZES), root / "scenes", seed=3, size=(96, 72))
        reports = {n: measure(subset(full, n, root), root / f"run_{n}", trace) for n in SIZES}
    small, large = (reports[n] for n in SIZES)
    for n, r in reports.items():
        print(
            f"{n:4d} items  {r['asks']:6d} asks ({r['questions']} distinct requests)  "
            f"peak RSS {r['peak_kib'] / 1024:7.1f} MiB"
        )
    ratio = large["peak_kib"] / small["peak_kib"]
    print(f"ratio {SIZES[1]}/{SIZES[0]} items: {ratio:.3f} (limit {LIMIT})")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("MANIFEST", "OUT"))
    parser.add_argument("--trace", action="store_true", help="profile with tracemalloc")
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.trace)
        sys.exit(0)
    sys.exit(main(args.trace))
