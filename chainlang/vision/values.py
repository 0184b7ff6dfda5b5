"""Runtime values of the standard library.

These are what chain operations pass to one another: superpixel maps and
their regions, pairs, boxes, grids and cells, masks and adjacency graphs.
Every value is a frozen dataclass; numpy arrays inside are made read-only
when the value is built, so a value can be shared between concurrent
questions without copying.

Coordinates are integer pixels in the original image, boxes half-open
(``x0 <= x < x1``), points ``(x, y)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, sparse

from chainlang.errors import OperationError
from chainlang.image import digest_of

Point = tuple[int, int]


def as_point(point: object) -> Point:
    """``(x, y)`` as integer pixels (numbers are rounded).

    Query points from a dataset may carry a third field (the instance id under
    the point, for scoring); only ``x`` and ``y`` are used.

    Raises:
        OperationError: ``point`` is not a pair of numbers.
    """
    # Any: whatever ``point`` holds, a wrong shape or a non-number fails below and is reported
    pair: Any = point[:2] if isinstance(point, (tuple, list)) else point
    try:
        x, y = pair
        return round(float(x)), round(float(y))
    except (TypeError, ValueError) as exc:
        raise OperationError(f"a point must be (x, y) numbers, got {point!r}") from exc


def frozen_array(array: np.ndarray) -> np.ndarray:
    """Return ``array`` (contiguous) with its write flag cleared."""
    out = np.ascontiguousarray(array)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in integer pixels, half-open: ``[x0, x1) x [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise OperationError(
                f"box ({self.x0}, {self.y0}, {self.x1}, {self.y1}) has its far corner "
                "before its near corner"
            )

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        """Number of pixels inside the box."""
        return self.width * self.height

    @property
    def empty(self) -> bool:
        """True when the box holds no pixel."""
        return self.width == 0 or self.height == 0

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices that cut this box out of an H x W array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def intersects(self, other: Box) -> bool:
        """True when the two boxes share at least one pixel."""
        return min(self.x1, other.x1) > max(self.x0, other.x0) and min(self.y1, other.y1) > max(
            self.y0, other.y0
        )

    def shifted(self, dx: int, dy: int) -> Box:
        """This box moved by ``(dx, dy)`` (e.g. from crop to image coordinates)."""
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)


@dataclass(frozen=True, slots=True)
class Detection:
    """One labelled box of a ``Boxes`` value (truth or prediction)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class Regions:
    """A superpixel map with ids ``1..count`` and per-region geometry computed once.

    Build one with :meth:`from_labels`; the precomputed fields are what lets a
    marker touch only its own region's pixels instead of the whole image.

    Attributes:
        labels: H x W int32 map, every pixel holds an id in ``1..count``.
        count: K, the number of regions.
        digest: content digest of ``labels`` (equality and caching use it).
        boxes: K x 4 int64 ``(x0, y0, x1, y1)`` half-open bounding boxes, row ``id - 1``.
        areas: K pixel counts.
        inner: K x 2 ``(x, y)`` points inside each region, as far from its border as possible.
        edge_distance: H x W float32 distance of each pixel to the nearest pixel on a
            region border (pixels whose 4-neighbour has another id, or the image edge).
    """

    labels: np.ndarray
    count: int
    digest: str
    boxes: np.ndarray
    areas: np.ndarray
    inner: np.ndarray
    edge_distance: np.ndarray = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regions) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the map."""
        return int(self.labels.shape[1]), int(self.labels.shape[0])

    @staticmethod
    def from_labels(labels: np.ndarray) -> Regions:
        """Wrap a label map whose ids are exactly ``1..K`` and precompute the geometry.

        Raises:
            OperationError: the map is not 2-D, empty, or its ids are not ``1..K``.
        """
        arr = np.asarray(labels)
        if arr.ndim != 2 or arr.size == 0:
            raise OperationError(f"a region map must be a non-empty 2-D array, got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise OperationError(f"a region map must hold integer ids, got {arr.dtype}")
        arr = arr.astype(np.int32, copy=True)
        count = int(arr.max())
        present = np.bincount(arr.ravel(), minlength=count + 1) if arr.min() >= 0 else None
        if present is None or arr.min() < 1 or not np.all(present[1:] > 0):
            raise OperationError("region ids must cover 1..K exactly (no 0, no gaps)")
        return _build_regions(arr, count, present[1:])

    def region(self, rid: int) -> Region:
        """The region with id ``rid``.

        Raises:
            OperationError: ``rid`` is not in ``1..count``.
        """
        if not 1 <= int(rid) <= self.count:
            raise OperationError(f"region id {rid} is outside 1..{self.count}")
        return Region(self, int(rid))

    def box_of(self, rid: int) -> Box:
        """Bounding box of region ``rid``."""
        x0, y0, x1, y1 = (int(v) for v in self.boxes[rid - 1])
        return Box(x0, y0, x1, y1)


def _build_regions(labels: np.ndarray, count: int, areas: np.ndarray) -> Regions:
    slices = ndimage.find_objects(labels, max_label=count)
    boxes = np.array(
        [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices], dtype=np.int64
    )
    edge = _border_pixels(labels)
    distance = ndimage.distance_transform_edt(~edge).astype(np.float32)
    # Pixels of a region that are farthest from any border: a point guaranteed
    # inside even a non-convex region (the bbox centre is not).
    ids = np.arange(1, count + 1)
    positions = ndimage.maximum_position(distance, labels, ids)
    inner = np.array([(c, r) for r, c in positions], dtype=np.int64).reshape(count, 2)
    return Regions(
        labels=frozen_array(labels),
        count=count,
        digest=digest_of(labels),
        boxes=frozen_array(boxes),
        areas=frozen_array(areas.astype(np.int64)),
        inner=frozen_array(inner),
        edge_distance=frozen_array(distance),
    )


def _border_pixels(labels: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbour has another id, plus the image's outer frame."""
    edge = np.zeros(labels.shape, dtype=bool)
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    edge[0, :] = edge[-1, :] = True
    edge[:, 0] = edge[:, -1] = True
    return edge


@dataclass(frozen=True, slots=True)
class Region:
    """One superpixel: an id in ``1..owner.count`` of its :class:`Regions`."""

    owner: Regions = field(repr=False)
    id: int

    def __post_init__(self) -> None:
        if not 1 <= self.id <= self.owner.count:
            raise OperationError(f"region id {self.id} is outside 1..{self.owner.count}")

    @property
    def box(self) -> Box:
        """Bounding box."""
        return self.owner.box_of(self.id)

    @property
    def area(self) -> int:
        """Number of pixels."""
        return int(self.owner.areas[self.id - 1])

    @property
    def inner_point(self) -> Point:
        """A pixel ``(x, y)`` inside the region, as far from its border as possible."""
        x, y = self.owner.inner[self.id - 1]
        return int(x), int(y)

    def window(self, box: Box | None = None) -> np.ndarray:
        """Boolean mask of this region cut to ``box`` (its own bbox by default)."""
        rows, cols = (box or self.box).slices()
        return self.owner.labels[rows, cols] == self.id


@dataclass(frozen=True, slots=True)
class Pair:
    """Two regions to compare; in marked views ``a`` is drawn first (e.g. red)."""

    a: Region
    b: Region


@dataclass(frozen=True, slots=True)
class Cell:
    """One grid cell: ``index`` counts 1.. row-major; ``row``/``col`` from 0.

    ``rows``/``cols`` give the shape of the grid the cell belongs to.
    """

    index: int
    row: int
    col: int
    box: Box
    rows: int = 3
    cols: int = 3


@dataclass(frozen=True, slots=True)
class Grid:
    """A ``rows x cols`` grid of cells that tile ``box`` exactly."""

    box: Box
    rows: int
    cols: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Mask:
    """A boolean H x W map (a union of regions, a predicted instance)."""

    pixels: np.ndarray

    def __post_init__(self) -> None:
        if self.pixels.ndim != 2 or self.pixels.dtype != np.bool_:
            raise OperationError(
                f"a mask must be a 2-D boolean array, got {self.pixels.dtype} {self.pixels.shape}"
            )
        if self.pixels.flags.writeable:
            object.__setattr__(self, "pixels", frozen_array(self.pixels.copy()))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Mask)
            and other.pixels.shape == self.pixels.shape
            and bool(np.array_equal(other.pixels, self.pixels))
        )

    __hash__ = None  # type: ignore[assignment]  # masks are compared by content, not hashed

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    @property
    def area(self) -> int:
        """Number of set pixels."""
        return int(np.count_nonzero(self.pixels))


@dataclass(frozen=True, slots=True, eq=False)
class Graph:
    """Region adjacency over a :class:`Regions`: a symmetric K x K sparse matrix.

    Row ``i`` lists the neighbours of region ``i + 1``; ``indices`` are sorted.
    """

    owner: Regions = field(repr=False)
    connectivity: int
    matrix: sparse.csr_array = field(repr=False)

    def neighbour_ids(self, rid: int) -> np.ndarray:
        """Ids of the regions adjacent to region ``rid``, ascending."""
        start, stop = self.matrix.indptr[rid - 1], self.matrix.indptr[rid]
        return self.matrix.indices[start:stop] + 1

    def edges(self) -> np.ndarray:
        """E x 2 array of 0-based index pairs ``(i, j)`` with ``i < j``, one per edge."""
        coo = sparse.triu(self.matrix, k=1).tocoo()
        return np.stack([coo.row, coo.col], axis=1).astype(np.int64)


def same_owner(regions: Sequence[Region], what: str) -> Regions:
    """The :class:`Regions` all of ``regions`` belong to.

    Raises:
        OperationError: the list is empty or mixes regions of different maps.
    """
    if not regions:
        raise OperationError(f"{what} needs at least one region, got an empty list")
    owner = regions[0].owner
    for r in regions[1:]:
        if r.owner != owner:
            raise OperationError(f"{what} got regions from different superpixel maps")
    return owner
