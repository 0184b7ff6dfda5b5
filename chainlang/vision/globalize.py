"""Turning pairwise answers into per-region values, and painting values into maps.

The order globalizer (after Zoran et al., ICCV 2015, as used by the paper for
depth and normals) finds per-region scores ``x`` minimising

    Σ_{a ≻ b} (x_a − x_b − 1)²  +  Σ_{a ≈ b} (x_a − x_b)²
      + λ Σ_{(i, j) adjacent} (x_i − x_j)²  +  ε ‖x‖²,      ε = 1e-8.

Every comparison is a row ``e_a − e_b`` with target +1, −1 or 0, so this is
linear least squares; its normal equations ``(AᵀA + λL + εI) x = Aᵀb`` are a
sparse K x K system (``L`` the adjacency Laplacian) that one sparse LU solve
handles in milliseconds, where the reference posed a dense QP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg, sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import spsolve

from chainlang.errors import OperationError
from chainlang.vision.graph import adjacency
from chainlang.vision.values import Detection, Mask, Pair, Regions

RIDGE = 1e-8
_DENSE_FILL = 0.02  # nonzero fraction above which a dense Cholesky wins


def globalize_order(
    regions: Regions,
    pairs: Sequence[Pair],
    order: Sequence[int | bool | None],
    smoothness: float = 10,
    connectivity: int = 4,
) -> list[float]:
    """Per-region scores (index ``id - 1``) that agree best with the pairwise answers.

    ``order[i]`` says how ``pairs[i].a`` compares with ``pairs[i].b``: +1 (or
    True) ``a`` is greater/nearer, −1 (or False) ``b`` is, 0 they are equal,
    None no answer (ignored). When the same ordered pair is asked twice the
    last answer wins, as in the reference.

    Raises:
        OperationError: mismatched lengths, pairs from another map, a negative
            smoothness or an order value outside {−1, 0, +1, True, False, None}.
    """
    if len(pairs) != len(order):
        raise OperationError(f"globalize_order got {len(pairs)} pairs but {len(order)} answers")
    if smoothness < 0:
        raise OperationError(f"smoothness must be >= 0, got {smoothness}")
    latest: dict[tuple[int, int], int] = {}
    for pair, value in zip(pairs, order, strict=True):
        if not (_same(pair.a.owner, regions) and _same(pair.b.owner, regions)):
            raise OperationError("globalize_order got a pair from another superpixel map")
        sign = _sign(value)
        if sign is not None:
            latest[(pair.a.id, pair.b.id)] = sign
    keys = np.array(list(latest), dtype=np.int64).reshape(-1, 2) - 1
    signs = np.fromiter(latest.values(), dtype=np.float64, count=len(latest))
    edges = adjacency(regions, connectivity).edges()
    x = solve_order(regions.count, keys[:, 0], keys[:, 1], signs, edges, smoothness)
    return [float(v) for v in x]


def _same(owner: Regions, regions: Regions) -> bool:
    return owner is regions or owner == regions


def _sign(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return 1 if value else -1
    if value in (1, 0, -1):
        return int(value)
    raise OperationError(f"an order answer must be +1, 0, -1, True, False or None, got {value!r}")


def solve_order(
    k: int,
    first: np.ndarray,
    second: np.ndarray,
    signs: np.ndarray,
    edges: np.ndarray,
    smoothness: float,
    ridge: float = RIDGE,
) -> np.ndarray:
    """Solve the globalizer's normal equations for ``k`` unknowns (0-based indices).

    Args:
        k: number of regions.
        first, second: region indices of each comparison.
        signs: +1 (first greater), −1 (second greater) or 0 (equal) per comparison.
        edges: E x 2 index pairs of adjacent regions, each edge once.
        smoothness: λ, the weight of the adjacency term.
        ridge: ε, the tiny weight that pins the otherwise free offset.
    """
    laplacian = _laplacian(k, first, second, np.ones(first.size))
    laplacian = laplacian + smoothness * _laplacian(
        k, edges[:, 0], edges[:, 1], np.ones(edges.shape[0])
    )
    system = (laplacian + ridge * sparse.identity(k, format="csc")).tocsc()
    rhs = np.bincount(first, signs, minlength=k) - np.bincount(second, signs, minlength=k)
    return _centre_components(laplacian, _solve_spd(system, rhs))


def _solve_spd(system: sparse.csc_array, rhs: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive definite system, sparse LU or dense Cholesky by fill.

    Random comparisons connect far-apart regions, so with many answers per
    region the factor fills in completely; past ``_DENSE_FILL`` a dense
    Cholesky of the (small, K x K) matrix is cheaper than sparse LU.
    """
    k = system.shape[0]
    if system.nnz >= _DENSE_FILL * k * k:
        try:
            factor = linalg.cho_factor(system.toarray(), lower=True, check_finite=False)
            return linalg.cho_solve(factor, rhs, check_finite=False)
        except linalg.LinAlgError:
            pass  # numerically not positive definite: sparse LU copes
    return np.atleast_1d(spsolve(system, rhs))


def _laplacian(k: int, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> sparse.csc_array:
    """Σ w (e_i − e_j)(e_i − e_j)ᵀ as a sparse K x K matrix."""
    rows = np.concatenate([i, j, i, j])
    cols = np.concatenate([i, j, j, i])
    data = np.concatenate([w, w, -w, -w])
    return sparse.csc_array((data, (rows, cols)), shape=(k, k))


def _centre_components(laplacian: sparse.csc_array, x: np.ndarray) -> np.ndarray:
    """Remove each connected component's mean from ``x``.

    The exact minimiser has zero mean on every component (each comparison and
    edge row sums to zero, so the right-hand side is orthogonal to the
    component indicators, which are eigenvectors of the system). Only the ε
    ridge pins that direction, so it is where rounding error is amplified by
    1/ε; projecting it out restores full precision without changing the answer.
    """
    n_comp, comp = csgraph.connected_components(laplacian, directed=False)
    sums = np.bincount(comp, x, minlength=n_comp)
    sizes = np.bincount(comp, minlength=n_comp)
    return x - (sums / sizes)[comp]


def paint(regions: Regions, values: Sequence[float | None]) -> np.ndarray:
    """A float32 map holding each region's value (NaN where the value is None).

    Raises:
        OperationError: not one value per region.
    """
    table = _per_region(regions, values, "paint")
    return table[regions.labels].astype(np.float32)


def _per_region(regions: Regions, values: Sequence[float | None], what: str) -> np.ndarray:
    if len(values) != regions.count:
        raise OperationError(
            f"{what} needs one value per region ({regions.count}), got {len(values)}"
        )
    table = np.full(regions.count + 1, np.nan, dtype=np.float64)
    table[1:] = [np.nan if v is None else float(v) for v in values]
    return table


def depth_from_order(regions: Regions, nearness: Sequence[float | None]) -> np.ndarray:
    """Depth map = −nearness painted per region (the reference's convention)."""
    table = _per_region(regions, nearness, "depth_from_order")
    return (-table)[regions.labels].astype(np.float32)


def normal_scores(
    regions: Regions,
    right: Sequence[float | None],
    up: Sequence[float | None],
    out: Sequence[float | None],
) -> np.ndarray:
    """The raw per-axis scores painted as an H x W x 3 map (what rank metrics should use)."""
    axes = [_per_region(regions, v, "normal_scores") for v in (right, up, out)]
    return np.stack(axes, axis=1)[regions.labels].astype(np.float32)


def normals_from_order(
    regions: Regions,
    right: Sequence[float | None],
    up: Sequence[float | None],
    out: Sequence[float | None],
) -> np.ndarray:
    """Normals from per-axis scores: each axis min–max scaled to [−1, 1], stacked.

    The vectors are deliberately not scaled to unit length: scaling keeps each
    pixel's direction (so angular errors are unchanged) but would reorder the
    values along each axis, and the paper's per-axis Spearman ρ is computed on
    the globalized scores themselves. Per-axis min–max is affine, so ρ here
    equals ρ of the raw scores. A region whose three scaled scores are all 0
    gets the zero vector (the "no data" normal); missing scores count as 0.

    Raises:
        OperationError: not one score per region on every axis.
    """
    axes = []
    for values in (right, up, out):
        table = _per_region(regions, values, "normals_from_order")[1:]
        axes.append(_to_unit_range(table))
    vectors = np.stack(axes, axis=1)
    table = np.vstack([np.zeros((1, 3)), vectors])
    return table[regions.labels].astype(np.float32)


def _to_unit_range(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    out = np.zeros_like(values)
    if not finite.any():
        return out
    low, high = values[finite].min(), values[finite].max()
    if high > low:
        out[finite] = 2 * (values[finite] - low) / (high - low) - 1
    return out


def semantic_from_labels(
    regions: Regions,
    labels: Sequence[str | None],
    *,
    label_set: Sequence[str] | None = None,
    ignore: int = 255,
) -> np.ndarray:
    """A uint8 class-index map from one label per region; ``ignore`` where missing or unknown.

    Raises:
        OperationError: not one label per region, no label set, or one too large for uint8.
    """
    if len(labels) != regions.count:
        raise OperationError(
            f"semantic_from_labels needs one label per region ({regions.count}), got {len(labels)}"
        )
    if label_set is None:
        raise OperationError(
            "semantic_from_labels needs the label set that class indices refer to (label_set=...)"
        )
    if len(label_set) > ignore:
        raise OperationError(f"a label set of {len(label_set)} classes does not fit below {ignore}")
    index = {name: i for i, name in enumerate(label_set)}
    table = np.full(regions.count + 1, ignore, dtype=np.uint8)
    table[1:] = [index.get(label, ignore) if label is not None else ignore for label in labels]
    return table[regions.labels]


def instances_from_masks(masks: Sequence[Mask | None]) -> np.ndarray:
    """An int32 instance map: mask ``i`` becomes id ``i + 1``; 0 is background.

    Where masks overlap the earlier query keeps the pixel; a missing mask
    (None) keeps its id unused so ids stay aligned with the query points.

    Raises:
        OperationError: no mask at all, or masks of different sizes.
    """
    present = [m for m in masks if m is not None]
    if not present:
        raise OperationError("instances_from_masks needs at least one mask")
    shape = present[0].pixels.shape
    out = np.zeros(shape, dtype=np.int32)
    for i, m in reversed(list(enumerate(masks))):
        if m is None:
            continue
        if m.pixels.shape != shape:
            raise OperationError(
                f"instances_from_masks got masks of sizes {shape} and {m.pixels.shape}"
            )
        out[m.pixels] = i + 1
    return out


def boxes_from(labels: Sequence[str], boxes: Sequence[Any]) -> list[Detection]:
    """Detections pairing each label with its box, all with score 1.0 (as in the paper).

    Raises:
        OperationError: mismatched lengths.
    """
    if len(labels) != len(boxes):
        raise OperationError(f"boxes_from got {len(labels)} labels but {len(boxes)} boxes")
    return [
        Detection(str(lab), b.x0, b.y0, b.x1, b.y1, 1.0)
        for lab, b in zip(labels, boxes, strict=True)
    ]
