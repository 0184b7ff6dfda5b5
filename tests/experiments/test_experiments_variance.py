"""Variance decomposition: recovery of known components and table handling."""

from __future__ import annotations

import re

import numpy as np
import pytest

from chainlang.errors import UsageError
from chainlang.experiments.analysis import format_variance
from chainlang.experiments.variance import (
    COMPONENTS,
    components,
    decompose,
    decompose_array,
)

TRUE = {"images": 1.0, "variants": 0.5, "interaction": 0.2, "sampling": 0.8}


def _simulate(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Tables (..., I, V, R) drawn from the crossed model with the TRUE components."""
    *lead, n_i, n_v, n_r = shape
    lead = tuple(lead)
    a = rng.normal(0, np.sqrt(TRUE["images"]), (*lead, n_i, 1, 1))
    b = rng.normal(0, np.sqrt(TRUE["variants"]), (*lead, 1, n_v, 1))
    ab = rng.normal(0, np.sqrt(TRUE["interaction"]), (*lead, n_i, n_v, 1))
    e = rng.normal(0, np.sqrt(TRUE["sampling"]), (*lead, n_i, n_v, n_r))
    return 3.0 + a + b + ab + e


def _rows(y: np.ndarray, model: str) -> list[dict[str, object]]:
    return [
        {
            "model": model,
            "image": f"im{i:03d}",
            "variant": f"v{v}",
            "repeat": r,
            "value": y[i, v, r],
        }
        for i, v, r in np.ndindex(*y.shape)
    ]


def test_estimators_are_unbiased_over_replications(rng: np.random.Generator) -> None:
    # 300 replicate sweeps; the average estimate must sit near the truth for
    # every component, including the variant one that a single sweep barely pins down.
    est = components(_simulate(rng, (300, 60, 8, 3)))
    means = dict(zip(COMPONENTS, est.mean(axis=0), strict=True))
    for name, truth in TRUE.items():
        assert means[name] == pytest.approx(truth, rel=0.1), name


def test_single_sweep_recovers_well_determined_components(rng: np.random.Generator) -> None:
    d = decompose_array(_simulate(rng, (400, 10, 4)), n_boot=200, rng=rng)
    assert d.components["images"] == pytest.approx(TRUE["images"], rel=0.2)
    assert d.components["interaction"] == pytest.approx(TRUE["interaction"], rel=0.25)
    assert d.components["sampling"] == pytest.approx(TRUE["sampling"], rel=0.1)
    assert sum(d.shares.values()) == pytest.approx(1.0)
    for name in COMPONENTS:
        low, high = d.share_ci[name]
        assert low <= d.shares[name] <= high
    assert (d.n_images, d.n_variants, d.n_repeats, d.n_dropped) == (400, 10, 4, 0)
    assert d.mean == pytest.approx(3.0, abs=0.6)


def test_sampling_dominates_when_prompts_and_images_do_not_matter(
    rng: np.random.Generator,
) -> None:
    y = rng.normal(0, 1, (100, 5, 4))
    d = decompose_array(y, n_boot=100, rng=rng)
    assert d.dominant == "sampling"
    assert d.shares["sampling"] > 0.8


def test_negative_estimates_are_truncated_at_zero(rng: np.random.Generator) -> None:
    est = components(rng.normal(0, 1, (200, 30, 4, 3)))  # no image or variant effect
    assert np.all(est >= 0)
    assert np.any(est[:, 0] == 0)


def test_without_repeats_sampling_is_not_estimable(rng: np.random.Generator) -> None:
    d = decompose_array(_simulate(rng, (200, 6, 1)), n_boot=50, rng=rng)
    assert np.isnan(d.shares["sampling"])
    finite = [s for s in d.shares.values() if np.isfinite(s)]
    assert sum(finite) == pytest.approx(1.0)
    # The residual now carries interaction + sampling.
    assert d.components["interaction"] == pytest.approx(1.0, rel=0.2)


def test_single_variant_leaves_images_and_sampling(rng: np.random.Generator) -> None:
    d = decompose_array(_simulate(rng, (300, 1, 5)), n_boot=50, rng=rng)
    assert np.isnan(d.components["variants"]) and np.isnan(d.components["interaction"])
    # With one variant the interaction is absorbed into the image component.
    assert d.components["images"] == pytest.approx(1.2, rel=0.2)
    assert d.components["sampling"] == pytest.approx(0.8, rel=0.15)


def test_constant_metric_has_undefined_shares(rng: np.random.Generator) -> None:
    d = decompose_array(np.ones((5, 2, 2)), n_boot=10, rng=rng)
    assert all(np.isnan(s) for s in d.shares.values())
    assert d.dominant is None


def test_table_tells_a_constant_metric_from_an_inestimable_component(
    rng: np.random.Generator,
) -> None:
    flat = decompose_array(np.ones((4, 1, 2)), model="flat", n_boot=10, rng=rng)
    noisy = decompose_array(rng.normal(size=(4, 1, 2)), model="noisy", n_boot=10, rng=rng)
    lines = format_variance({"flat": flat, "noisy": noisy}).splitlines()
    flat_cells = re.split(r"\s{2,}", lines[2])
    noisy_cells = re.split(r"\s{2,}", lines[3])
    # One variant: variants and interaction are not estimable for either model.
    assert flat_cells[2:4] == noisy_cells[2:4] == ["n/a", "n/a"]
    # The flat model's images and sampling are estimable, just zero.
    assert flat_cells[1] == flat_cells[4] == "0 (constant)"
    assert re.fullmatch(r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\]", noisy_cells[4])


def test_long_table_matches_array_and_drops_incomplete_images(rng: np.random.Generator) -> None:
    y1 = _simulate(rng, (30, 3, 2))
    y2 = _simulate(rng, (20, 2, 3))
    rows = _rows(y1, "model-a") + _rows(y2, "model-b")
    rows.append({"model": "model-a", "image": "partial", "variant": "v0", "repeat": 0, "value": 1})
    result = decompose(rows, n_boot=50, rng=np.random.default_rng(5))
    assert list(result) == ["model-a", "model-b"]
    expected = decompose_array(y1, model="model-a", n_boot=50, rng=np.random.default_rng(5))
    assert result["model-a"].components == pytest.approx(expected.components)
    assert result["model-a"].n_dropped == 1
    assert result["model-b"].n_repeats == 3


def test_nan_values_drop_the_image(rng: np.random.Generator) -> None:
    y = _simulate(rng, (10, 2, 2))
    y[3, 1, 0] = np.nan
    d = decompose(_rows(y, "m"), n_boot=20, rng=rng)["m"]
    assert (d.n_images, d.n_dropped) == (9, 1)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no rows"),
        ([{"model": "m", "image": "i", "variant": "v", "value": 1.0}], "has no repeat"),
        ([{"model": "m", "image": "i", "variant": "v", "repeat": 0, "value": "x"}], "not a number"),
        (
            [{"model": "m", "image": "i", "variant": "v", "repeat": 0, "value": 1.0}] * 2,
            "repeats model 'm', image 'i'",
        ),
        (
            [{"model": "m", "image": "i", "variant": v, "repeat": 0, "value": 1.0} for v in "ab"],
            "only 1 image",
        ),
    ],
)
def test_bad_tables_are_explained(
    rows: list[dict[str, object]], message: str, rng: np.random.Generator
) -> None:
    with pytest.raises(UsageError, match=message):
        decompose(rows, rng=rng)


def test_one_value_per_image_is_rejected(rng: np.random.Generator) -> None:
    with pytest.raises(UsageError, match="at least 2 variants or 2 repeats"):
        decompose_array(np.ones((5, 1, 1)), rng=rng)
