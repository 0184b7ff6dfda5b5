"""The order globalizer: sparse normal equations versus a dense least-squares solve.

Problem: 1,000 regions (a 40 x 25 block map, 4-connected smoothness), 32,000
noisy pairwise answers drawn from a hidden order (10% flipped, 10% "equal").
Ours is ``globalize_order`` end to end (deduplication, adjacency, sparse
solve). The baseline stacks the same rows into one dense matrix and calls
``numpy.linalg.lstsq``. Target: at least 20x faster, solutions equal to 1e-6.
Exits 1 when either is missed.

Run: ``python benchmarks/globalize.py``
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from _reference import dense_order_solve

from chainlang.vision.globalize import globalize_order
from chainlang.vision.graph import adjacency
from chainlang.vision.values import Pair, Region, Regions

SPEED_TARGET = 20.0
TOLERANCE = 1e-6
SMOOTHNESS = 10.0


def block_regions(cols: int = 40, rows: int = 25, cell: int = 16) -> Regions:
    """A ``cols x rows`` map of square regions, ids row-major."""
    ids = np.arange(1, cols * rows + 1, dtype=np.int32).reshape(rows, cols)
    return Regions.from_labels(np.kron(ids, np.ones((cell, cell), dtype=np.int32)))


def noisy_answers(k: int, m: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """``m`` random ordered pairs (1-based ids) and ±1/0 answers from a hidden order."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=k)
    first = rng.integers(1, k + 1, size=m)
    second = (first + rng.integers(1, k, size=m) - 1) % k + 1  # never equal to first
    signs = np.sign(truth[first - 1] - truth[second - 1]).astype(int)
    flip = rng.random(m) < 0.1
    signs[flip] = -signs[flip]
    signs[rng.random(m) < 0.1] = 0
    return np.stack([first, second], axis=1), [int(s) for s in signs]


def deduplicated(ids: np.ndarray, signs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The same last-answer-wins deduplication ``globalize_order`` applies."""
    latest = {(int(a), int(b)): s for (a, b), s in zip(ids, signs, strict=True)}
    keys = np.array(list(latest)) - 1
    return keys, np.array(list(latest.values()), dtype=float)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    regions = block_regions()
    ids, signs = noisy_answers(regions.count, 32_000)
    pairs = [Pair(Region(regions, int(a)), Region(regions, int(b))) for a, b in ids]
    keys, values = deduplicated(ids, signs)
    edges = adjacency(regions, 4).edges()
    print(
        f"{regions.count} regions, {len(pairs)} answers ({len(keys)} distinct ordered pairs), "
        f"{len(edges)} adjacency edges"
    )

    sparse_s, ours = timed(lambda: globalize_order(regions, pairs, signs, SMOOTHNESS), 5)
    dense_s, dense = timed(
        lambda: dense_order_solve(regions.count, keys[:, 0], keys[:, 1], values, edges, SMOOTHNESS),
        2,
    )
    diff = float(np.max(np.abs(np.asarray(ours) - dense)))
    speed = dense_s / sparse_s
    print(f"sparse globalize_order: {sparse_s * 1e3:8.1f} ms")
    print(f"dense numpy lstsq:      {dense_s * 1e3:8.1f} ms")
    print(f"speed-up: {speed:.1f}x   max |x_sparse - x_dense| = {diff:.2e}")
    if speed < SPEED_TARGET or diff > TOLERANCE:
        print(f"FAILED: targets are >= {SPEED_TARGET}x and <= {TOLERANCE:g}")
        return 1
    print(f"ok: >= {SPEED_TARGET}x faster and within {TOLERANCE:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
