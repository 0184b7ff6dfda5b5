"""Metrics against independent formulations (brute force, scipy) and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from chainlang.errors import ScoringError
from chainlang.scoring.metrics import (
    PairAnswers,
    Sample,
    SegAccumulator,
    align_scale_shift,
    angle_stats,
    angular_error_deg,
    depth_pixel_stats,
    instance_masks_for_points,
    mask_iou,
    normalise_label,
    pairwise_depth_accuracy,
    score_classification,
    score_depth,
    score_grouping,
    score_normals,
    score_segmentation,
    segmentation_stats,
    spearman,
)

# --------------------------------------------------------------------- correlations


@pytest.mark.parametrize("levels", [3, 50, 10_000])
def test_spearman_matches_scipy_with_and_without_ties(
    rng: np.random.Generator, levels: int
) -> None:
    for _ in range(5):
        a = rng.integers(0, levels, 2000).astype(float)
        b = a + rng.normal(0, levels / 3, 2000)
        assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-9)


def test_spearman_constant_input_is_zero_and_bad_input_raises() -> None:
    assert spearman(np.ones(5), np.arange(5.0)) == 0.0
    with pytest.raises(ScoringError, match="at least two"):
        spearman(np.ones(1), np.ones(1))
    with pytest.raises(ScoringError, match="values"):
        spearman(np.ones(3), np.ones(4))


# --------------------------------------------------------------------- depth


def test_align_scale_shift_matches_lstsq(rng: np.random.Generator) -> None:
    p = rng.random(500)
    g = 3.0 * p + 0.7 + rng.normal(0, 0.05, 500)
    sol, *_ = np.linalg.lstsq(np.stack([p, np.ones_like(p)], 1), g, rcond=None)
    s, t = align_scale_shift(p, g)
    assert (s, t) == pytest.approx(tuple(sol), abs=1e-9)


def test_align_negative_scale_falls_back_to_mean() -> None:
    g = np.array([1.0, 2.0, 6.0])
    assert align_scale_shift(np.array([3.0, 2.0, 1.0]), g) == (0.0, 3.0)
    assert align_scale_shift(np.array([2.0, 2.0, 2.0]), g) == (0.0, 3.0)


def test_depth_pixel_stats_match_brute_force(rng: np.random.Generator) -> None:
    p = rng.normal(2.0, 1.0, 300)  # includes negatives: the reference formula's quirk
    g = rng.uniform(0.5, 4.0, 300)
    counts = [0, 0, 0]
    absrel = 0.0
    for pi, gi in zip(p, g, strict=True):
        ratio = max(pi / gi, gi / pi)
        for k in range(3):
            counts[k] += ratio < 1.25 ** (k + 1)
        absrel += abs(pi - gi) / gi
    got = depth_pixel_stats(p, g)
    assert got[:4].tolist() == [300, *counts]
    assert got[4] == pytest.approx(absrel, rel=1e-12)


def test_score_depth_pools_pixels_over_images() -> None:
    # Image a is exact up to an affine map; image b is constant, so it aligns to
    # mean(g2) = 2 and every ratio (2, 2, 2, 2.5) exceeds 1.25**3 ≈ 1.95.
    g1 = np.array([[1.0, 2.0], [3.0, 4.0]])
    g2 = np.array([[1.0, 1.0, 1.0, 5.0]])
    samples = [
        Sample("a", 2 * g1 + 1, g1),  # aligns exactly: 4/4 within, AbsRel 0
        Sample("b", np.zeros((1, 4)), g2),  # constant → s=0, t=2: ratios 2,2,2,2.5
        Sample("c", None, g1, questions=3, questions_failed=3),
    ]
    out = score_depth(samples, bootstrap=None)
    assert out["delta1"].value == pytest.approx(4 / 8)  # pooled, not (1 + 0) / 2 per image
    assert out["delta3"].value == pytest.approx(4 / 8)
    assert out["absrel"].value == pytest.approx((0 + 1 + 1 + 1 + 0.6) / 8)
    assert out["spearman"].value == pytest.approx(0.5)  # (1 + 0) / 2
    assert out["absrel"].higher_is_better is False
    cov = out["delta1"].coverage
    assert (cov.items, cov.items_failed, cov.questions, cov.questions_failed) == (3, 1, 3, 3)


def test_depth_valid_mask_and_reference_mode() -> None:
    g = np.array([[1.0, 2.0, 0.0, np.nan]])
    p = np.array([[1.0, 2.0, 9.0, 9.0]])
    out = score_depth([Sample("a", p, g)], bootstrap=None)
    assert out["delta1"].value == 1.0 and out["absrel"].value == 0.0
    with pytest.raises(ScoringError, match="NaN"):
        score_depth([Sample("a", p, g)], mask="all")
    with pytest.raises(ScoringError, match="vs truth"):
        score_depth([Sample("a", p[:, :2], g)])


def test_pairwise_accuracy_ties_count_red_wrong_and_mean_over_images() -> None:
    regions = np.array([[1, 1, 2, 2, 3, 3]])
    depth = np.array([[1.0, 1.0, 5.0, 5.0, 5.0, 5.0]])
    tie = PairAnswers(regions, [(2, 3), (2, 3)], ["red", "blue"])
    assert pairwise_depth_accuracy(tie, depth) == (1, 2)
    good = PairAnswers(regions, [(1, 2)], ["red"])
    samples = [
        Sample("a", depth, depth + 1, answers=tie),
        Sample("b", depth, depth + 1, answers=good),
    ]
    assert score_depth(samples, bootstrap=None)["pairwise_acc"].value == pytest.approx(0.75)
    with pytest.raises(ScoringError, match="neither"):
        pairwise_depth_accuracy(PairAnswers(regions, [(1, 2)], ["left"]), depth)


# --------------------------------------------------------------------- segmentation


def _seg_brute(preds: list[np.ndarray], gts: list[np.ndarray], c: int) -> tuple[float, float]:
    inter = np.zeros(c)
    parea = np.zeros(c)
    garea = np.zeros(c)
    for pred, gt in zip(preds, gts, strict=True):
        for pv, gv in zip(pred.ravel().tolist(), gt.ravel().tolist(), strict=True):
            if gv == 255:
                continue
            garea[gv] += 1
            if pv < c:
                parea[pv] += 1
                inter[pv] += pv == gv
    union = parea + garea - inter
    ious = [inter[k] / union[k] for k in range(c) if union[k] > 0]
    return sum(ious) / len(ious), inter.sum() / garea.sum()


def test_segmentation_matches_brute_force(rng: np.random.Generator) -> None:
    c = 7
    preds, gts = [], []
    for _ in range(6):
        gt = rng.integers(0, c, (12, 9))
        gt[rng.random(gt.shape) < 0.2] = 255
        pred = np.where(rng.random(gt.shape) < 0.5, gt, rng.integers(0, c + 2, gt.shape))
        pred[rng.random(gt.shape) < 0.1] = 255
        preds.append(pred)
        gts.append(gt)
    acc = SegAccumulator(c)
    for p, g in zip(preds, gts, strict=True):
        acc.add(p, g)
    res = acc.result()
    miou, pix = _seg_brute(preds, gts, c)
    assert res["miou"] == pytest.approx(miou, abs=1e-12)
    assert res["pixel_acc"] == pytest.approx(pix, abs=1e-12)
    out = score_segmentation(
        [Sample(str(i), p, g) for i, (p, g) in enumerate(zip(preds, gts, strict=True))],
        num_classes=c,
    )
    assert out["miou"].value == pytest.approx(miou, abs=1e-12)
    assert out["miou"].ci_low <= out["miou"].value <= out["miou"].ci_high


def test_segmentation_failures_count_against_truth_area() -> None:
    gt = np.array([[0, 0], [1, 1]])
    samples = [Sample("a", gt.copy(), gt), Sample("b", None, gt)]
    out = score_segmentation(samples, num_classes=2, bootstrap=None)
    assert out["miou"].value == 1.0 and out["pixel_acc"].value == 1.0
    assert out["miou_with_failures"].value == pytest.approx(0.5)
    assert out["pixel_acc_with_failures"].value == pytest.approx(0.5)


def test_segmentation_stats_shape_mismatch_names_item() -> None:
    with pytest.raises(ScoringError, match="item x"):
        score_segmentation([Sample("x", np.zeros((2, 2)), np.zeros((3, 2)))])
    assert segmentation_stats(np.zeros((1, 1)), np.full((1, 1), 255), 3).sum() == 0


# --------------------------------------------------------------------- grouping


def test_mask_iou_matches_brute_force(rng: np.random.Generator) -> None:
    for _ in range(10):
        p = rng.random((8, 8)) < 0.4
        g = rng.random((8, 8)) < 0.4
        g[0, 0] = True
        inter = sum(bool(a and b) for a, b in zip(p.ravel(), g.ravel(), strict=True))
        union = sum(bool(a or b) for a, b in zip(p.ravel(), g.ravel(), strict=True))
        assert mask_iou(p, g) == pytest.approx(inter / union, abs=1e-12)


def test_grouping_is_plain_mean_over_instances() -> None:
    inst = np.array([[1, 1, 2, 2]], np.int32)
    full = instance_masks_for_points(inst, [(0, 0), (3, 0)])
    half = np.array([[True, False, False, False]])
    samples = [
        Sample("a", [full[0], full[1]], full),  # IoUs 1, 1
        Sample("b", [half], [full[0]]),  # IoU 0.5
        Sample("c", None, [full[0]]),
    ]
    out = score_grouping(samples, bootstrap=None)
    assert out["miou"].value == pytest.approx(2.5 / 3)  # not (1 + 0.5) / 2
    assert out["miou_with_failures"].value == pytest.approx(2.5 / 4)
    with pytest.raises(ScoringError, match="background"):
        instance_masks_for_points(inst * 0, [(0, 0)])


# --------------------------------------------------------------------- normals


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_angular_error_matches_arccos(rng: np.random.Generator) -> None:
    a = _unit(rng.normal(size=(200, 3)))
    b = _unit(rng.normal(size=(200, 3)))
    ref = np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))
    assert np.allclose(angular_error_deg(a, b), ref, atol=1e-6)


def test_score_normals_rotation_and_per_axis_spearman(rng: np.random.Generator) -> None:
    gt = _unit(rng.normal(size=(6, 5, 3)) + np.array([0.0, 0.0, 2.0]))
    out = score_normals([Sample("a", gt * 3.0, gt)], bootstrap=None)
    for axis in "xyz":
        assert out[f"spearman_{axis}"].value == pytest.approx(1.0)
    assert out["angle_mean"].value == pytest.approx(0.0, abs=1e-6)
    flipped = gt * np.array([-1.0, 1.0, 1.0])
    out = score_normals([Sample("a", flipped, gt)], bootstrap=None)
    assert out["spearman_x"].value == pytest.approx(-1.0)
    angles = angular_error_deg(flipped.reshape(-1, 3), gt.reshape(-1, 3))
    assert out["angle_mean"].value == pytest.approx(angles.mean())
    assert out["within_30"].value == pytest.approx(np.mean(angles < 30))
    assert out["angle_median"].value == pytest.approx(np.median(angles), abs=0.026)


def test_angle_median_within_half_a_bin(rng: np.random.Generator) -> None:
    angles = rng.uniform(0, 60, 100_001)
    from chainlang.scoring.dense import _median_rows

    med = _median_rows(angle_stats(angles)[None])[0]
    assert med == pytest.approx(np.median(angles), abs=0.026)


def test_normals_mask_excludes_zero_truth() -> None:
    gt = np.array([[[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    pred = np.array([[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    out = score_normals([Sample("a", pred, gt)], bootstrap=None)
    assert out["within_11.25"].value == 1.0
    assert out["angle_mean"].n_items == 1


# --------------------------------------------------------------------- classification


def test_classification_exact_and_normalised() -> None:
    samples = [
        Sample("a", " tabby cat ", "tabby cat"),
        Sample("b", "Tabby_Cat", "tabby cat"),
        Sample("c", "dog", "tabby cat"),
        Sample("d", None, "dog", questions=1, questions_failed=1),
    ]
    out = score_classification(samples, bootstrap=None)
    assert out["top1"].value == pytest.approx(1 / 3)
    assert out["top1_normalised"].value == pytest.approx(2 / 3)
    assert out["top1_with_failures"].value == pytest.approx(1 / 4)
    assert out["top1_normalised_with_failures"].value == pytest.approx(2 / 4)
    assert out["top1"].coverage.items_failed == 1
    assert normalise_label("Great-white   SHARK") == "great white shark"


def test_scorers_reject_empty_and_malformed_input() -> None:
    with pytest.raises(ScoringError, match="no item"):
        score_classification([Sample("a", None, "x")])
    with pytest.raises(ScoringError, match="string"):
        score_classification([Sample("a", 3, "x")])  # type: ignore[arg-type]
    with pytest.raises(ScoringError, match="H×W×3"):
        score_normals([Sample("a", np.zeros((2, 2)), np.zeros((2, 2)))])


def test_per_image_values_are_the_images_of_the_mean(rng: np.random.Generator) -> None:
    """Mean-over-images metrics carry each image's value (for paired comparisons)."""
    from chainlang.scoring.metrics import Sample, score_classification, score_depth

    gts = [rng.uniform(1, 5, (6, 7)) for _ in range(3)]
    preds = [g + rng.normal(0, s, g.shape) for g, s in zip(gts, (0.1, 1.0, 3.0), strict=True)]
    samples = [Sample(f"i{k}", p, g) for k, (p, g) in enumerate(zip(preds, gts, strict=True))]
    samples.append(Sample("failed", None, gts[0]))
    rho = score_depth(samples, bootstrap=None)["spearman"]
    expected = [spearmanr(p.ravel(), g.ravel())[0] for p, g in zip(preds, gts, strict=True)]
    assert rho.per_image == pytest.approx(expected, abs=1e-12)
    assert rho.value == pytest.approx(np.mean(expected))
    assert score_depth(samples, bootstrap=None)["delta1"].per_image == ()  # pooled: none
    labels = [Sample("a", "cat", "cat"), Sample("b", "dog", "cat"), Sample("c", None, "cat")]
    assert score_classification(labels, bootstrap=None)["top1"].per_image == (1.0, 0.0)


def test_normals_reference_rho_ranks_the_0_255_integer_levels(rng: np.random.Generator) -> None:
    # The reference scales each axis of the prediction to 0..255 and truncates to int before
    # its Spearman ρ, so scores closer than one level tie. A prediction with a few outliers
    # squeezes the rest into few levels: ρ on the levels differs from ρ on the scores.
    gt = _unit(rng.normal(size=(20, 20, 3)) + np.array([0.0, 0.0, 2.0]))
    pred = gt + rng.normal(scale=0.05, size=gt.shape)
    pred[0, 0] = [40.0, -40.0, 40.0]
    exact = score_normals([Sample("a", pred, gt)], bootstrap=None)
    ref = score_normals([Sample("a", pred, gt)], bootstrap=None, rho="reference")
    for a, axis in enumerate("xyz"):
        p = pred[..., a].ravel()
        levels = ((p - p.min()) / (p.max() - p.min()) * 255).astype(int)
        want = spearmanr(levels, gt[..., a].ravel()).correlation
        assert ref[f"spearman_{axis}"].value == pytest.approx(want, abs=1e-12)
        assert abs(ref[f"spearman_{axis}"].value - exact[f"spearman_{axis}"].value) > 1e-3
    assert ref["angle_mean"].value == exact["angle_mean"].value  # angles use the scores
