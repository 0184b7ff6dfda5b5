"""Region adjacency, built from shifted label arrays (no per-pixel Python loop)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from chainlang.errors import OperationError
from chainlang.vision.values import Graph, Region, Regions

# (row, col) offsets compared with each pixel; the opposite directions are
# covered by symmetry.
_OFFSETS = {4: ((0, 1), (1, 0)), 8: ((0, 1), (1, 0), (1, 1), (1, -1))}


def adjacency(regions: Regions, connectivity: int = 4) -> Graph:
    """Which regions touch, under 4- or 8-connectivity.

    Raises:
        OperationError: ``connectivity`` is not 4 or 8.
    """
    if connectivity not in _OFFSETS:
        raise OperationError(f"connectivity must be 4 or 8, got {connectivity}")
    first, second = _touching_pairs(regions.labels, _OFFSETS[connectivity])
    k = regions.count
    rows = np.concatenate([first, second]) - 1
    cols = np.concatenate([second, first]) - 1
    data = np.ones(rows.size, dtype=np.int8)
    matrix = sparse.csr_array((data, (rows, cols)), shape=(k, k))
    matrix.sum_duplicates()
    matrix.data[:] = 1
    matrix.sort_indices()
    return Graph(regions, connectivity, matrix)


def _touching_pairs(
    labels: np.ndarray, offsets: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Unique unordered id pairs ``(a < b)`` of pixels that touch along ``offsets``."""
    height, width = labels.shape
    k = int(labels.max())
    codes = []
    for dr, dc in offsets:
        if dc >= 0:
            here, there = labels[: height - dr, : width - dc], labels[dr:, dc:]
        else:
            here, there = labels[: height - dr, -dc:], labels[dr:, : width + dc]
        differ = here != there
        low = np.minimum(here[differ], there[differ]).astype(np.int64)
        high = np.maximum(here[differ], there[differ]).astype(np.int64)
        codes.append(low * (k + 1) + high)
    unique = np.unique(np.concatenate(codes)) if codes else np.empty(0, np.int64)
    return unique // (k + 1), unique % (k + 1)


def neighbours(graph: Graph, region: Region) -> list[Region]:
    """The regions adjacent to ``region``, in id order.

    Raises:
        OperationError: the region belongs to another superpixel map.
    """
    _check_owner(graph, [region], "neighbours")
    return [Region(graph.owner, int(i)) for i in graph.neighbour_ids(region.id)]


def frontier(graph: Graph, accepted: Sequence[Region], seen: Sequence[Region]) -> list[Region]:
    """One BFS step: neighbours of ``accepted`` that are neither accepted nor seen.

    Returns the regions in id order, each once.

    Raises:
        OperationError: a region belongs to another superpixel map.
    """
    _check_owner(graph, [*accepted, *seen], "frontier")
    k = graph.owner.count
    if not accepted:
        return []
    rows = np.fromiter((r.id - 1 for r in accepted), dtype=np.int64, count=len(accepted))
    reached = np.zeros(k, dtype=bool)
    reached[graph.matrix[rows].indices] = True
    reached[rows] = False
    if seen:
        reached[[r.id - 1 for r in seen]] = False
    return [Region(graph.owner, int(i) + 1) for i in np.flatnonzero(reached)]


def _check_owner(graph: Graph, regions: Sequence[Region], what: str) -> None:
    for r in regions:
        if r.owner != graph.owner:
            raise OperationError(f"{what}: region {r.id} is not from the graph's superpixel map")
