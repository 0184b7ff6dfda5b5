"""Superpixels, the cache, region lookups and adjacency."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from vision_strategies import label_maps

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision import ops
from chainlang.vision.superpixels import SuperpixelCache
from chainlang.vision.values import Region, Regions


@settings(max_examples=8, deadline=None)
@given(
    pixels=arrays(np.uint8, (48, 64, 3)),
    n=st.integers(2, 40),
)
def test_superpixels_cover_every_pixel_with_ids_1_to_k(pixels: np.ndarray, n: int) -> None:
    regions = ops.superpixels(ImageData.of(pixels), n=n, cache=SuperpixelCache(1))
    ids = np.unique(regions.labels)
    assert regions.labels.shape == (48, 64)
    assert ids.tolist() == list(range(1, regions.count + 1))
    assert ops.count(regions) == regions.count
    assert int(regions.areas.sum()) == 48 * 64


def test_superpixels_same_image_same_labels_and_cached(coffee_small: ImageData) -> None:
    cache = SuperpixelCache(2)
    first = ops.superpixels(coffee_small, n=30, cache=cache)
    again = ops.superpixels(coffee_small, n=30, cache=cache)
    fresh = ops.superpixels(coffee_small, n=30, cache=SuperpixelCache(1))
    assert again is first
    assert (cache.hits, cache.misses) == (1, 1)
    assert np.array_equal(fresh.labels, first.labels)
    assert fresh == first


def test_superpixel_cache_is_bounded(coffee_small: ImageData) -> None:
    cache = SuperpixelCache(2)
    for n in (10, 20, 30):
        ops.superpixels(coffee_small, n=n, cache=cache)
    assert len(cache) == 2
    ops.superpixels(coffee_small, n=10, cache=cache)  # evicted: computed again
    assert cache.misses == 4


def test_superpixel_labels_are_read_only(coffee_small: ImageData) -> None:
    regions = ops.superpixels(coffee_small, n=20, cache=SuperpixelCache(1))
    with pytest.raises(ValueError):
        regions.labels[0, 0] = 5


@pytest.mark.parametrize(("n", "sigma", "compactness"), [(0, 5, 10), (10, -1, 10), (10, 5, 0)])
def test_superpixels_rejects_bad_parameters(
    coffee_small: ImageData, n: int, sigma: float, compactness: float
) -> None:
    with pytest.raises(OperationError, match="superpixels needs"):
        ops.superpixels(coffee_small, n=n, sigma=sigma, compactness=compactness)


@settings(max_examples=40, deadline=None)
@given(labels=label_maps())
def test_inner_point_and_box_belong_to_their_region(labels: np.ndarray) -> None:
    regions = Regions.from_labels(labels)
    for region in ops.regions_of(regions):
        x, y = region.inner_point
        assert regions.labels[y, x] == region.id
        ys, xs = np.nonzero(labels == region.id)
        box = ops.bbox(region)
        assert (box.x0, box.y0, box.x1, box.y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert region.area == xs.size


def test_from_labels_rejects_gaps_and_zero() -> None:
    with pytest.raises(OperationError, match=r"1\.\.K"):
        Regions.from_labels(np.array([[1, 3]]))
    with pytest.raises(OperationError, match=r"1\.\.K"):
        Regions.from_labels(np.array([[0, 1]]))
    with pytest.raises(OperationError, match="2-D"):
        Regions.from_labels(np.zeros((2, 2, 2), dtype=int))


def test_region_at_and_bounds(quads: Regions) -> None:
    assert ops.region_at(quads, (15, 2)).id == 2
    assert ops.region_at(quads, (3, 12)).id == 3
    with pytest.raises(OperationError, match="outside"):
        ops.region_at(quads, (20, 0))
    with pytest.raises(OperationError, match="outside"):
        Region(quads, 5)


def brute_force_adjacency(labels: np.ndarray, connectivity: int) -> set[tuple[int, int]]:
    """Pure-Python loop over every pixel and its forward neighbours."""
    steps = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    height, width = labels.shape
    found = set()
    for y in range(height):
        for x in range(width):
            for dy, dx in steps:
                ny, nx = y + dy, x + dx
                if 0 <= ny < height and 0 <= nx < width and labels[y, x] != labels[ny, nx]:
                    a, b = int(labels[y, x]), int(labels[ny, nx])
                    found.add((min(a, b), max(a, b)))
    return found


@settings(max_examples=60, deadline=None)
@given(labels=label_maps(), connectivity=st.sampled_from([4, 8]))
def test_adjacency_equals_brute_force(labels: np.ndarray, connectivity: int) -> None:
    regions = Regions.from_labels(labels)
    graph = ops.adjacency(regions, connectivity)
    edges = {(int(i) + 1, int(j) + 1) for i, j in graph.edges()}
    assert edges == brute_force_adjacency(labels, connectivity)
    dense = graph.matrix.toarray()
    assert np.array_equal(dense, dense.T)
    for region in ops.regions_of(regions):
        expected = sorted(
            {b for a, b in edges if a == region.id} | {a for a, b in edges if b == region.id}
        )
        assert [r.id for r in ops.neighbours(graph, region)] == expected


def test_adjacency_diagonal_only_in_8_connectivity() -> None:
    regions = Regions.from_labels(np.array([[1, 2], [3, 1]]))
    four = {tuple(e) for e in ops.adjacency(regions, 4).edges().tolist()}
    eight = {tuple(e) for e in ops.adjacency(regions, 8).edges().tolist()}
    assert (1, 2) not in four  # regions 2 and 3 touch only at a corner
    assert (1, 2) in eight
    with pytest.raises(OperationError, match="4 or 8"):
        ops.adjacency(regions, 6)


def test_frontier_is_a_bfs_step() -> None:
    # A 1 x 5 strip: 1-2-3-4-5
    regions = Regions.from_labels(np.array([[1, 2, 3, 4, 5]]))
    graph = ops.adjacency(regions)
    r = ops.regions_of(regions)
    assert [x.id for x in ops.frontier(graph, [r[2]], [r[2]])] == [2, 4]
    assert [x.id for x in ops.frontier(graph, [r[1], r[2]], [r[0], r[1], r[2]])] == [4]
    assert ops.frontier(graph, [], []) == []
    other = Regions.from_labels(np.array([[1, 2]]))
    with pytest.raises(OperationError, match="not from the graph"):
        ops.frontier(graph, [Region(other, 1)], [])
