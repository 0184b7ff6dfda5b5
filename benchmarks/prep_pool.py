"""Preparation throughput with the process pool: ``--workers 1`` versus ``--workers N``.

For the depth and the segmentation chains, on the same synthetic scenes, this runs
the whole chain twice through :func:`chainlang.api.arun` against ``openai:gpt-4o``
served by the fake provider server (in its own process, answering at once), so the
run does everything a real one does (superpixels, markers, crops, JPEG encoding,
the SDK, the journal) except wait for a model:

* ``--workers 1``: today's serial path, everything on the run's event loop;
* ``--workers N`` (default 2): the image work in N worker processes.

Reported per chain: items per second each way and their ratio (the pool's start
counted in its time), the longest stall of the run's event loop once the first item
is written (a 1 ms ticker records how late it wakes; the start-up's imports and
compilation are left out), and whether the two run folders are identical (records
compared by key with the clocks left out; outputs and pictures byte for byte).
Target: ratio >= 1.7 with 2 workers on 2 free cores, identical folders. Exits 1 on a
miss; the ratio depends on free cores, so the machine's load is printed too.

Run: ``python benchmarks/prep_pool.py [--n 8] [--size 640x480] [--workers 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chainlang.api import RunOptions, arun
from chainlang.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.7
# chain: (parameters, label rebinding onto the scenes' classes)
CHAINS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "depth": ({}, {}),
    "segment": ({}, {"coco_stuff133": "synthetic"}),
}
TICK_S = 0.001

SERVER = """
import sys
from chainlang.testing.fake_provider import FakeProviderServer
srv = FakeProviderServer(answer=lambda call: _fill(call.schema) if call.schema else None).start()
def _fill(schema):
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: _fill(v) for k, v in schema["properties"].items()}
    if kind == "array":
        return [_fill(schema.get("items", {}))]
    return {"integer": 1, "number": 1.0, "boolean": True}.get(kind, "wall")
print(srv.port, flush=True)
sys.stdin.read()
srv.stop()
"""


async def lag_ticker(worst: list[float], results: Path) -> None:
    """Record how late the event loop woke from a 1 ms sleep, at worst: ``worst[0]`` over
    the whole run, ``worst[1]`` once the first item is written (the start-up, which
    compiles the chain and imports the SDK, left out)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(TICK_S)
        late = loop.time() - start - TICK_S
        worst[0] = max(worst[0], late)
        if results.exists() and results.stat().st_size:
            worst[1] = max(worst[1], late)


def timed_run(chain: str, data: Path, out: Path, workers: int) -> tuple[float, float, int]:
    """(seconds, worst loop stall after the first item, items ok) of one run, against
    a fresh fake server (its prompt cache must not carry over from one run to the next)."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    os.environ.update(OPENAI_API_KEY="k", OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
    try:
        return asyncio.run(_timed_run(chain, data, out, workers))
    finally:
        server.stdin.close()
        server.wait(timeout=10)


async def _timed_run(chain: str, data: Path, out: Path, workers: int) -> tuple[float, float, int]:
    params, labels = CHAINS[chain]
    options = RunOptions(
        params=params,
        labels=labels,
        workers=workers,
        cache=out.with_suffix(".sqlite"),
        progress="none",
        concurrency=64,
    )
    worst = [0.0, 0.0]
    ticker = asyncio.create_task(lag_ticker(worst, out / "results.jsonl"))
    start = time.perf_counter()
    result = await arun(REPO / "chains" / f"{chain}.chain", data, "openai:gpt-4o", out=out,
                        options=options)  # fmt: skip
    elapsed = time.perf_counter() - start
    ticker.cancel()
    return elapsed, worst[1], result.summary.items_ok


def folder(out: Path) -> dict[str, Any]:
    """A run folder with its clocks left out (records by key, questions by key)."""
    records = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        r.pop("wall_s")
        for q in r["questions"]:
            q.pop("latency_s")
        r["questions"].sort(key=lambda q: (q["origin"], q["key"]))
        records[r["key"]] = r
    files = {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.parent != out
    }
    return {"records": records, "files": files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="synthetic scenes")
    parser.add_argument("--size", default="640x480", help="scene size WxH")
    parser.add_argument("--workers", type=int, default=2, help="workers of the pooled run")
    parser.add_argument("--chains", default="depth,segment")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        data = generate(args.n, Path(tmp) / "scenes", seed=0, size=(width, height))
        print(f"{args.n} scenes {args.size}, workers 1 vs {args.workers}, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"{'chain':<9}{'serial':>10}{'pooled':>10}{'ratio':>8}"
              f"{'loop stall serial':>19}{'pooled':>9}  identical")  # fmt: skip
        for chain in args.chains.split(","):
            serial_out, pooled_out = Path(tmp) / f"{chain}-1", Path(tmp) / f"{chain}-n"
            s_t, s_lag, s_ok = timed_run(chain, data, serial_out, 1)
            p_t, p_lag, p_ok = timed_run(chain, data, pooled_out, args.workers)
            same = folder(serial_out) == folder(pooled_out) and s_ok == p_ok == args.n
            ratio = s_t / p_t
            print(
                f"{chain:<9}{args.n / s_t:>7.2f}i/s{args.n / p_t:>7.2f}i/s{ratio:>7.2f}x"
                f"{s_lag * 1e3:>17.0f}ms{p_lag * 1e3:>7.0f}ms  {'yes' if same else 'NO'}"
            )
            if ratio < TARGET or not same:
                missed.append(chain)
    print(f"load after: {os.getloadavg()[0]:.1f}")
    if missed:
        print(f"MISSED ({TARGET}x and identical folders) for {missed}", file=sys.stderr)
        return 1
    print(f"ok: >= {TARGET}x with {args.workers} workers, identical run folders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
