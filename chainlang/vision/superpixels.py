"""SLIC superpixels, computed once per image and parameters, and region lookups.

SLIC (about a second on a 1024 x 768 image) is the most expensive pure
operation of the depth and normals chains, and every question about an image
refers to the same map, so results are cached by content: the key is the
image digest plus the SLIC parameters, never object identity.

The cache is an explicit :class:`SuperpixelCache` object. For callers that do
not pass one, the module keeps one *bounded* default instance (a small LRU,
``DEFAULT_CACHE_SIZE`` maps); it is the only module-level state and holds
nothing that could change a result, only saved work.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision.values import Point, Region, Regions, as_point

DEFAULT_CACHE_SIZE = 16


@dataclass(frozen=True, slots=True)
class SlicParams:
    """The SLIC settings that decide a superpixel map (part of the cache key)."""

    n: int
    sigma: float
    compactness: float


class SuperpixelCache:
    """A thread-safe LRU of superpixel maps keyed by (image digest, SLIC params).

    Args:
        maxsize: most maps kept; the least recently used is dropped first.
    """

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise OperationError(f"a superpixel cache needs room for at least 1 map, got {maxsize}")
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, SlicParams], Regions] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, digest: str, params: SlicParams) -> Regions | None:
        """The cached map, marked most recently used, or None."""
        with self._lock:
            found = self._items.get((digest, params))
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end((digest, params))
            self.hits += 1
            return found

    def put(self, digest: str, params: SlicParams, regions: Regions) -> None:
        """Store a map, evicting the least recently used one when full."""
        with self._lock:
            self._items[(digest, params)] = regions
            self._items.move_to_end((digest, params))
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)


_DEFAULT_CACHE = SuperpixelCache()


def superpixels(
    image: ImageData,
    n: int = 100,
    sigma: float = 5,
    compactness: float = 10,
    *,
    cache: SuperpixelCache | None = None,
) -> Regions:
    """SLIC superpixels with the reference's settings, cached by content.

    Lab colour space, 10 iterations, connectivity enforced, on the image as
    floats in [0, 1]; ids are renumbered to ``1..K`` in ascending order of
    SLIC's own ids (which is how the reference matches answers to regions).

    Args:
        image: the picture to segment.
        n: the requested number of segments (SLIC's ``n_segments``); the number
            actually produced is ``Regions.count``.
        sigma: Gaussian pre-smoothing width.
        compactness: SLIC's colour/space trade-off.
        cache: where to look up and store the result (a bounded default if None).

    Raises:
        OperationError: non-positive ``n``, negative ``sigma`` or non-positive ``compactness``.
    """
    if int(n) < 1:
        raise OperationError(f"superpixels needs n >= 1, got {n}")
    if sigma < 0 or compactness <= 0:
        raise OperationError(
            f"superpixels needs sigma >= 0 and compactness > 0, got {sigma} and {compactness}"
        )
    params = SlicParams(int(n), float(sigma), float(compactness))
    store = _DEFAULT_CACHE if cache is None else cache
    found = store.get(image.digest, params)
    if found is not None:
        return found
    regions = Regions.from_labels(_slic_labels(image.pixels, params))
    store.put(image.digest, params, regions)
    return regions


def _slic_labels(pixels: np.ndarray, params: SlicParams) -> np.ndarray:
    # scikit-image costs ~0.5 s to import; only chains that segment pay for it.
    from skimage.segmentation import slic
    from skimage.util import img_as_float

    raw = slic(
        img_as_float(pixels),
        n_segments=params.n,
        compactness=params.compactness,
        max_num_iter=10,
        sigma=params.sigma,
        convert2lab=True,
        enforce_connectivity=True,
        start_label=1,
    )
    # Renumber to 1..K in ascending order of SLIC's ids (a no-op when SLIC
    # already produced contiguous ids, as it usually does).
    _, dense = np.unique(raw, return_inverse=True)
    return (dense.reshape(raw.shape) + 1).astype(np.int32)


def count(regions: Regions) -> int:
    """K, the number of regions actually produced."""
    return regions.count


def regions_of(regions: Regions) -> list[Region]:
    """All regions in id order."""
    return [Region(regions, i) for i in range(1, regions.count + 1)]


def region_at(regions: Regions, point: Point) -> Region:
    """The region under pixel ``(x, y)``.

    Raises:
        OperationError: the point lies outside the map.
    """
    x, y = as_point(point)
    width, height = regions.size
    if not (0 <= x < width and 0 <= y < height):
        raise OperationError(f"point ({x}, {y}) is outside the {width}x{height} image")
    return Region(regions, int(regions.labels[y, x]))
