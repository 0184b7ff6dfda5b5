"""Where a metric's variance comes from: images, prompt variants or sampling.

For one model, a sweep runs every prompt variant ``v`` on every image ``i``
``R`` times (``--samples``). Each run gives a per-image metric value
``y[i, v, r]``. We read the table through the two-way crossed random-effects
model with replication::

    y[i, v, r] = μ + a_i + b_v + (ab)_iv + e_ivr

    a_i   ~ (0, σ²_images)        how hard the image is
    b_v   ~ (0, σ²_variants)      how good the prompt wording is
    (ab)_iv ~ (0, σ²_interaction) wording that helps on some images, hurts on others
    e_ivr ~ (0, σ²_sampling)      repeat-to-repeat noise of the sampled answers

all independent. Repeats are nested in (image, variant): repeat 1 of one
variant has nothing to do with repeat 1 of another. For a balanced table the
mean squares have the textbook expectations (I images, V variants, R repeats)::

    E[MS_images]      = σ²_s + R σ²_iv + V R σ²_i
    E[MS_variants]    = σ²_s + R σ²_iv + I R σ²_v
    E[MS_interaction] = σ²_s + R σ²_iv
    E[MS_within]      = σ²_s

and solving them (method of moments, ANOVA estimators) gives unbiased
components, which are then truncated at zero. Shares are components over their
sum, so they add up to 1. With ``R = 1`` sampling cannot be told apart from the
interaction, and with ``V = 1`` there is no variant effect: those components are
reported as NaN and the shares add up to 1 over the rest.

Intervals come from resampling images with replacement (the one image
bootstrap, :mod:`chainlang.scoring.bootstrap`). They capture the uncertainty
due to the image set, not that due to having drawn only V variants, which with
few variants is the larger one for ``variants``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from chainlang.errors import UsageError
from chainlang.scoring.bootstrap import percentile_interval, resample_indices

COMPONENTS = ("images", "variants", "interaction", "sampling")


@dataclass(frozen=True)
class VarianceDecomposition:
    """Variance components of one model's metric.

    Attributes:
        model: the model (or any label the caller grouped by).
        components: estimated variance per component (NaN: not estimable).
        shares: each component's share of the total; finite shares sum to 1
            (NaN everywhere when the metric did not vary at all).
        share_ci: bootstrap-over-images percentile interval of each share.
        n_images: images used (complete over every variant and repeat).
        n_variants: prompt variants.
        n_repeats: repeats per (image, variant).
        n_dropped: images left out because some of their values were missing.
        mean: grand mean of the metric.
        level: confidence level of ``share_ci``.
    """

    model: str
    components: dict[str, float]
    shares: dict[str, float]
    share_ci: dict[str, tuple[float, float]]
    n_images: int
    n_variants: int
    n_repeats: int
    n_dropped: int
    mean: float
    level: float

    @property
    def dominant(self) -> str | None:
        """The component with the largest share (None if no share is finite)."""
        finite = {k: v for k, v in self.shares.items() if np.isfinite(v)}
        return max(finite, key=finite.__getitem__) if finite else None


def components(y: np.ndarray) -> np.ndarray:
    """Variance components of one or many balanced tables.

    Args:
        y: ``(I, V, R)`` values, or a stack ``(B, I, V, R)`` of such tables.

    Returns:
        ``(..., 4)`` estimates in the order of :data:`COMPONENTS`, truncated at
        0, NaN where not estimable.

    >>> y = np.array([[[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    >>> components(y).tolist()
    [0.5, 0.0, 0.0, 0.0]
    """
    stack = y if y.ndim == 4 else y[None]
    _, n_i, n_v, n_r = stack.shape
    cell = stack.mean(axis=3)
    img = cell.mean(axis=2)
    var = cell.mean(axis=1)
    grand = img.mean(axis=1)
    ms_i = n_v * n_r * np.sum((img - grand[:, None]) ** 2, axis=1) / (n_i - 1)
    nan = np.full_like(grand, np.nan)
    ms_e = nan
    if n_r > 1:
        ms_e = np.sum((stack - cell[..., None]) ** 2, axis=(1, 2, 3)) / (n_i * n_v * (n_r - 1))
    if n_v > 1:
        ms_v = n_i * n_r * np.sum((var - grand[:, None]) ** 2, axis=1) / (n_v - 1)
        inter = cell - img[:, :, None] - var[:, None, :] + grand[:, None, None]
        ms_iv = n_r * np.sum(inter**2, axis=(1, 2)) / ((n_i - 1) * (n_v - 1))
        # Without repeats MS_interaction already holds the sampling noise.
        interaction = (ms_iv - ms_e) / n_r if n_r > 1 else ms_iv
        out = [(ms_i - ms_iv) / (n_v * n_r), (ms_v - ms_iv) / (n_i * n_r), interaction, ms_e]
    else:
        out = [(ms_i - ms_e) / n_r, nan, nan, ms_e]
    result = np.maximum(np.stack(out, axis=-1), 0.0)  # NaN stays NaN
    return result if y.ndim == 4 else result[0]


def shares_of(comps: np.ndarray) -> np.ndarray:
    """Components divided by their (NaN-ignoring) sum; NaN when the sum is 0.

    >>> shares_of(np.array([1.0, np.nan, 1.0, 2.0])).tolist()
    [0.25, nan, 0.25, 0.5]
    """
    total = np.nansum(comps, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, comps / np.where(total > 0, total, 1.0), np.nan)


def decompose_array(
    y: np.ndarray,
    *,
    model: str = "",
    n_boot: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator,
    n_dropped: int = 0,
) -> VarianceDecomposition:
    """Decompose a complete ``(images, variants, repeats)`` table of one model.

    Args:
        y: the metric values, finite, at least 2 images and 2 values per image.
        model: label stored in the result.
        n_boot: bootstrap resamples of the images for the share intervals.
        level: confidence level of the intervals.
        rng: the random generator (seeded by the caller).
        n_dropped: images the caller already removed (recorded in the result).

    Returns:
        The :class:`VarianceDecomposition`.

    Raises:
        UsageError: wrong shape, non-finite values, or nothing to decompose.
    """
    arr = np.asarray(y, dtype=np.float64)
    _check_table(arr, n_boot, level)
    comps = components(arr)
    boots = shares_of(_bootstrap_components(arr, n_boot, rng))
    shares = shares_of(comps)
    # NaN shares (a resample with no variance, a component not estimable) are left
    # out; a component with no finite share gets (nan, nan).
    ci = {name: percentile_interval(boots[:, k], level) for k, name in enumerate(COMPONENTS)}
    return VarianceDecomposition(
        model=model,
        components={n: float(c) for n, c in zip(COMPONENTS, comps, strict=True)},
        shares={n: float(s) for n, s in zip(COMPONENTS, shares, strict=True)},
        share_ci=ci,
        n_images=arr.shape[0],
        n_variants=arr.shape[1],
        n_repeats=arr.shape[2],
        n_dropped=n_dropped,
        mean=float(arr.mean()),
        level=level,
    )


def decompose(
    rows: Iterable[Mapping[str, object]],
    *,
    value: str = "value",
    n_boot: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator,
) -> dict[str, VarianceDecomposition]:
    """Decompose a long table of per-image metric values, one result per model.

    Each row is a mapping with keys ``model``, ``variant``, ``repeat``,
    ``image`` and ``value`` (the latter's name is configurable). Within a model,
    images that lack a value (or have a NaN) for some (variant, repeat) seen in
    that model are dropped and counted in ``n_dropped``.

    Args:
        rows: the long table.
        value: the key holding the metric value.
        n_boot: bootstrap resamples of the images.
        level: confidence level of the share intervals.
        rng: the random generator (seeded by the caller).

    Returns:
        Model name → :class:`VarianceDecomposition`, models in sorted order.

    Raises:
        UsageError: a row misses a key, repeats a (model, variant, repeat,
            image) cell, or a model has fewer than 2 complete images.
    """
    tables = _group(rows, value)
    if not tables:
        raise UsageError("the table has no rows")
    return {
        model: _decompose_cells(model, cells, n_boot=n_boot, level=level, rng=rng)
        for model, cells in sorted(tables.items())
    }


_Cells = dict[tuple[str, str, str], float]


def _group(rows: Iterable[Mapping[str, object]], value: str) -> dict[str, _Cells]:
    """model → {(image, variant, repeat): value}, rejecting duplicates."""
    tables: dict[str, _Cells] = {}
    for n, row in enumerate(rows):
        missing = [k for k in ("model", "variant", "repeat", "image", value) if k not in row]
        if missing:
            raise UsageError(f"row {n} has no {', '.join(missing)}: {dict(row)!r}")
        key = (str(row["image"]), str(row["variant"]), str(row["repeat"]))
        cells = tables.setdefault(str(row["model"]), {})
        if key in cells:
            raise UsageError(
                f"row {n} repeats model {row['model']!r}, image {key[0]!r}, "
                f"variant {key[1]!r}, repeat {key[2]!r}"
            )
        try:
            cells[key] = float(row[value])  # type: ignore[arg-type]  # a non-number is reported
        except (TypeError, ValueError) as exc:
            raise UsageError(f"row {n}: {value} is not a number: {row[value]!r}") from exc
    return tables


def _decompose_cells(
    model: str, cells: _Cells, *, n_boot: int, level: float, rng: np.random.Generator
) -> VarianceDecomposition:
    """Build the complete (I, V, R) array of one model and decompose it."""
    images = sorted({k[0] for k in cells})
    variants = sorted({k[1] for k in cells})
    repeats = sorted({k[2] for k in cells})
    y = np.full((len(images), len(variants), len(repeats)), np.nan)
    index = (
        {x: n for n, x in enumerate(images)},
        {x: n for n, x in enumerate(variants)},
        {x: n for n, x in enumerate(repeats)},
    )
    for (i, v, r), val in cells.items():
        y[index[0][i], index[1][v], index[2][r]] = val
    complete = np.all(np.isfinite(y), axis=(1, 2))
    if complete.sum() < 2:
        raise UsageError(
            f"model {model!r}: only {int(complete.sum())} image(s) have a value for every "
            f"one of {len(variants)} variant(s) × {len(repeats)} repeat(s); need at least 2"
        )
    dropped = int((~complete).sum())
    return decompose_array(
        y[complete], model=model, n_boot=n_boot, level=level, rng=rng, n_dropped=dropped
    )


def _bootstrap_components(y: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Components of ``n_boot`` tables whose images are resampled with replacement."""
    # A resample of I images holds all y.size values: chunk by that, not by I.
    blocks = resample_indices(y.shape[0], n_boot, rng, width=y.size)
    return np.concatenate([components(y[picks]) for picks in blocks], axis=0)


def _check_table(y: np.ndarray, n_boot: int, level: float) -> None:
    """Reject tables and settings the decomposition cannot work with."""
    if y.ndim != 3:
        raise UsageError(f"expected an (images, variants, repeats) array, got shape {y.shape}")
    if y.shape[0] < 2:
        raise UsageError(f"need at least 2 images, got {y.shape[0]}")
    if y.shape[1] * y.shape[2] < 2:
        raise UsageError(
            "need at least 2 variants or 2 repeats per image: with one value per image "
            "all variance is image variance"
        )
    if not np.all(np.isfinite(y)):
        raise UsageError("the table has missing or non-finite values")
    if n_boot < 1 or not 0 < level < 1:
        raise UsageError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot}, {level}")
