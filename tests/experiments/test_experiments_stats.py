"""Unit tests of the paired statistics: data handling, exact cases, cross-checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from chainlang.errors import UsageError
from chainlang.experiments.stats import (
    PerImage,
    adjust_bh,
    adjust_comparisons,
    clustered_mean,
    compare,
    mcnemar,
    paired_bootstrap,
    paired_permutation,
    wilson_interval,
)


def iou(sums: np.ndarray) -> np.ndarray:
    """Pooled IoU of summed (intersection, union) pairs; works on stacks."""
    return sums[..., 0] / sums[..., 1]


def miou(sums: np.ndarray) -> float:
    """Mean over classes of pooled IoU; sums is (classes, 2), absent classes skipped."""
    present = sums[:, 1] > 0
    return float(np.mean(sums[present, 0] / sums[present, 1]))


class TestPerImage:
    def test_repeats_are_averaged_within_image(self) -> None:
        cell = PerImage(("b", "a", "b", "b"), np.array([1.0, 0.5, 0.0, 0.5]))
        collapsed = cell.collapsed()
        assert collapsed.ids == ("a", "b")
        np.testing.assert_allclose(collapsed.stats, [0.5, 0.5])

    def test_pooled_value_uses_summed_statistics(self) -> None:
        cell = PerImage(("a", "b"), np.array([[1.0, 4.0], [3.0, 4.0]]), iou, batched=True)
        assert cell.value() == pytest.approx(0.5)

    @pytest.mark.parametrize(
        ("ids", "stats", "message"),
        [
            (("a", "b"), [1.0], "2 ids but stats"),
            (("a",), [np.nan], "not finite for image 'a'"),
            (("a",), [[1.0, 2.0]], "need a metric"),
            ((1, 2), [1.0, 2.0], "must be strings"),
            (("a",), ["x"], "must be numbers"),
        ],
    )
    def test_bad_input_is_named(self, ids: tuple, stats: list, message: str) -> None:
        with pytest.raises(UsageError, match=message):
            PerImage(ids, np.array(stats))


class TestAlignment:
    def test_images_missing_in_one_cell_are_dropped_and_counted(
        self, rng: np.random.Generator
    ) -> None:
        a = PerImage(("x", "y", "z", "only_a"), np.array([0.0, 1.0, 0.0, 1.0]))
        b = PerImage(("x", "y", "z", "only_b1", "only_b2"), np.array([1.0, 1.0, 1.0, 0.0, 0.0]))
        c = compare(a, b, n_boot=100, n_perm=100, rng=rng)
        assert c.n_images == 3
        assert c.n_dropped == 3
        assert c.diff == pytest.approx(2 / 3)
        assert (c.value_a, c.value_b) == pytest.approx((1 / 3, 1.0))

    def test_repeats_keep_the_image_as_cluster(self, rng: np.random.Generator) -> None:
        # Three samples of each image in B; the comparison must see 4 images, not 12.
        ids = ("p", "q", "r", "s")
        a = PerImage(ids, np.array([0.2, 0.4, 0.6, 0.8]))
        b = PerImage(ids * 3, np.tile([0.3, 0.5, 0.7, 0.9], 3) + np.repeat([-0.1, 0.0, 0.1], 4))
        c = compare(a, b, n_boot=200, n_perm=100, rng=rng)
        assert c.n_images == 4 and c.n_dropped == 0
        assert c.diff == pytest.approx(0.1)
        # Every difference is +0.1, so the exact sign-flip test has 2 extreme patterns of 16.
        assert c.test_name == "paired permutation (exact)"
        assert c.p_value == pytest.approx(2 / 16)

    def test_too_few_common_images(self, rng: np.random.Generator) -> None:
        a = PerImage(("x", "y"), np.array([0.0, 1.0]))
        b = PerImage(("y", "z"), np.array([0.0, 1.0]))
        with pytest.raises(UsageError, match="share 1 image"):
            compare(a, b, rng=rng)

    def test_mismatched_metrics_rejected(self, rng: np.random.Generator) -> None:
        a = PerImage(("x", "y"), np.array([0.0, 1.0]))
        b = PerImage(("x", "y"), np.array([[1.0, 2.0], [1.0, 2.0]]), iou, batched=True)
        with pytest.raises(UsageError, match="same metric"):
            compare(a, b, rng=rng)


class TestPermutation:
    def test_exact_matches_brute_force_enumeration(self, rng: np.random.Generator) -> None:
        a_vals = rng.normal(size=8)
        b_vals = a_vals + rng.normal(0.4, 1.0, size=8)
        ids = tuple(f"i{k}" for k in range(8))
        p, exact = paired_permutation(PerImage(ids, a_vals), PerImage(ids, b_vals), rng=rng)
        d = b_vals - a_vals
        observed = abs(d.mean())
        signs = np.array(list(itertools.product([-1, 1], repeat=8)))
        expected = np.mean(np.abs(signs @ d / 8) >= observed - 1e-12)
        assert exact
        assert p == pytest.approx(expected)

    def test_pooled_metric_permutation_swaps_statistics(self, rng: np.random.Generator) -> None:
        # Brute force with the metric computed from swapped sums, 6 images.
        inter_a = rng.integers(0, 50, size=6)
        inter_b = rng.integers(0, 50, size=6)
        union = rng.integers(50, 100, size=6)
        sa = np.stack([inter_a, union], axis=1).astype(float)
        sb = np.stack([inter_b, union], axis=1).astype(float)
        ids = tuple("abcdef")
        p, exact = paired_permutation(PerImage(ids, sa, iou), PerImage(ids, sb, iou), rng=rng)
        observed = abs(iou(sb.sum(0)) - iou(sa.sum(0)))
        hits = 0
        for flips in itertools.product([False, True], repeat=6):
            f = np.array(flips)[:, None]
            na, nb = np.where(f, sb, sa), np.where(f, sa, sb)
            hits += abs(iou(nb.sum(0)) - iou(na.sum(0))) >= observed - 1e-12
        assert exact and p == pytest.approx(hits / 64)

    def test_monte_carlo_p_is_never_zero(self, rng: np.random.Generator) -> None:
        ids = tuple(str(k) for k in range(40))
        p, exact = paired_permutation(
            PerImage(ids, np.zeros(40)), PerImage(ids, np.ones(40)), n_perm=999, rng=rng
        )
        assert not exact
        assert p == pytest.approx(1 / 1000)


class TestBootstrap:
    def test_pooled_bootstrap_agrees_with_explicit_resampling(self) -> None:
        gen = np.random.default_rng(3)
        n = 30
        union = gen.integers(20, 200, size=(n, 3)).astype(float)
        sa = np.stack([np.floor(union * gen.uniform(0.2, 0.8, (n, 3))), union], axis=2)
        sb = np.stack([np.floor(union * gen.uniform(0.3, 0.9, (n, 3))), union], axis=2)
        ids = tuple(f"img{k:03d}" for k in range(n))  # sorted order = row order
        diff, low, high = paired_bootstrap(
            PerImage(ids, sa, miou),
            PerImage(ids, sb, miou),
            n_boot=300,
            rng=np.random.default_rng(11),
        )
        # Redo the resampling by hand with the same generator stream.
        picks = np.random.default_rng(11).integers(0, n, size=(300, n))
        boots = [miou(sb[p].sum(0)) - miou(sa[p].sum(0)) for p in picks]
        assert diff == pytest.approx(miou(sb.sum(0)) - miou(sa.sum(0)))
        assert (low, high) == pytest.approx(tuple(np.quantile(boots, [0.025, 0.975])))

    def test_non_finite_metric_is_reported(self, rng: np.random.Generator) -> None:
        stats = np.array([[0.0, 0.0], [1.0, 2.0]])
        a = PerImage(("x", "y"), stats, iou, batched=True)
        with pytest.raises(UsageError, match="non-finite"):
            paired_bootstrap(a, a, n_boot=200, rng=rng)


class TestMcNemar:
    def test_exact_matches_hand_computation(self) -> None:
        # 1 discordant pair in A's favour, 7 in B's: p = 2 · (1 + 8) / 2**8.
        a = np.array([1, 0, 0, 0, 0, 0, 0, 0, 1, 0])
        b = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0])
        r = mcnemar(a, b)
        assert (r.only_a, r.only_b, r.exact) == (1, 7, True)
        assert r.p_value == pytest.approx(2 * 9 / 256)

    def test_chi_square_with_continuity_correction_for_many_discordant(self) -> None:
        a = np.array([1] * 10 + [0] * 30 + [1] * 50)
        b = np.array([0] * 10 + [1] * 30 + [1] * 50)
        r = mcnemar(a, b)
        assert not r.exact
        assert r.statistic == pytest.approx((20 - 1) ** 2 / 40)
        assert r.p_value == pytest.approx(sps.chi2.sf(361 / 40, 1))

    def test_exact_agrees_with_scipy_binomtest(self) -> None:
        a = np.array([1] * 3 + [0] * 12)
        b = np.array([0] * 3 + [1] * 12)
        assert mcnemar(a, b).p_value == pytest.approx(sps.binomtest(3, 15, 0.5).pvalue)

    def test_no_discordant_pairs(self) -> None:
        r = mcnemar(np.array([1, 0, 1]), np.array([1, 0, 1]))
        assert r.p_value == 1.0

    def test_rejects_non_binary(self) -> None:
        with pytest.raises(UsageError, match="correct_b must hold right/wrong"):
            mcnemar(np.array([1, 0]), np.array([0.5, 1]))

    def test_compare_refuses_mcnemar_on_averaged_repeats(self, rng: np.random.Generator) -> None:
        a = PerImage(("x", "x", "y", "y"), np.array([1.0, 0.0, 1.0, 1.0]))
        with pytest.raises(UsageError, match="test='permutation'"):
            compare(a, a, test="mcnemar", rng=rng)

    def test_auto_picks_permutation_for_averaged_repeats(self, rng: np.random.Generator) -> None:
        a = PerImage(("x", "x", "y", "y"), np.array([1.0, 0.0, 1.0, 1.0]))
        b = PerImage(("x", "y"), np.array([1.0, 0.0]))
        assert compare(a, b, n_boot=50, rng=rng).test_name.startswith("paired permutation")

    def test_unknown_test_name(self, rng: np.random.Generator) -> None:
        a = PerImage(("x", "y"), np.array([1.0, 0.0]))
        with pytest.raises(UsageError, match="unknown test 'wilcoxon'"):
            compare(a, a, test="wilcoxon", rng=rng)  # type: ignore[arg-type]


class TestBenjaminiHochberg:
    def test_matches_scipy(self, rng: np.random.Generator) -> None:
        for size in (1, 2, 7, 50):
            p = np.concatenate([rng.uniform(size=size), rng.uniform(0, 0.01, size=size)])
            np.testing.assert_allclose(adjust_bh(p), sps.false_discovery_control(p))

    def test_monotone_in_p_and_bounded(self, rng: np.random.Generator) -> None:
        p = rng.uniform(size=40) ** 3
        q = adjust_bh(p)
        order = np.argsort(p)
        assert np.all(np.diff(q[order]) >= 0)
        assert np.all(q >= p) and np.all(q <= 1)

    def test_ties_and_empty(self) -> None:
        np.testing.assert_allclose(adjust_bh([0.02, 0.02, 0.02]), [0.02, 0.02, 0.02])
        assert adjust_bh([]).shape == (0,)

    def test_rejects_invalid(self) -> None:
        with pytest.raises(UsageError, match="between 0 and 1"):
            adjust_bh([0.1, 1.5])

    def test_attaches_q_values_to_comparisons(self, rng: np.random.Generator) -> None:
        ids = tuple(str(k) for k in range(30))
        base = PerImage(ids, rng.normal(size=30))
        others = [PerImage(ids, base.stats + rng.normal(shift, 1, 30)) for shift in (0, 0.8)]
        comps = [compare(base, o, n_boot=50, n_perm=200, rng=rng) for o in others]
        adjusted = adjust_comparisons(comps)
        q = adjust_bh([c.p_value for c in comps])
        assert [c.q_value for c in adjusted] == pytest.approx(list(q))
        assert all(c.q_value is None for c in comps)


class TestSmallHelpers:
    def test_wilson_matches_hand_computed_values(self) -> None:
        # Reference values of the Wilson interval for 7/20 at 95%.
        low, high = wilson_interval(7, 20)
        assert (low, high) == pytest.approx((0.18121, 0.56714), abs=1e-4)

    def test_clustered_se_exceeds_naive_se_for_correlated_questions(
        self, rng: np.random.Generator
    ) -> None:
        images = np.repeat(np.arange(50), 10)
        y = (rng.uniform(size=50)[images] > 0.5).astype(float)  # all questions of an image agree
        _, se = clustered_mean([str(i) for i in images], y)
        naive = y.std(ddof=1) / np.sqrt(len(y))
        assert se > 2.5 * naive
