"""Sizing before a run: minimum detectable effects and image counts."""

from __future__ import annotations

import pytest

from chainlang.errors import UsageError
from chainlang.experiments.power import mde_mcnemar, mde_paired, n_mcnemar, n_paired


class TestPlanning:
    def test_mde_and_n_are_inverse(self) -> None:
        for n in (60, 137, 1000):
            effect = mde_paired(n, 0.7, alpha=0.01, power=0.9)
            assert n_paired(effect, 0.7, alpha=0.01, power=0.9) in (n, n + 1)
            delta = mde_mcnemar(n, discordance=0.3)
            assert n_mcnemar(delta, discordance=0.3) in (n, n + 1)

    def test_mcnemar_accuracy_form_uses_independent_discordance(self) -> None:
        assert mde_mcnemar(400, accuracy=0.8) == pytest.approx(mde_mcnemar(400, discordance=0.32))

    def test_more_images_detect_smaller_effects(self) -> None:
        assert mde_paired(400, 1.0) == pytest.approx(mde_paired(100, 1.0) / 2)

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda: mde_paired(1, 1.0), "n >= 2"),
            (lambda: mde_paired(10, 1.0, alpha=1.2), "alpha and power"),
            (lambda: n_paired(0.0, 1.0), "non-zero effect"),
            (lambda: mde_mcnemar(3, discordance=0.1), "too few"),
            (lambda: n_mcnemar(0.5, discordance=0.1), "at most the discordance"),
            (lambda: mde_mcnemar(100), "discordance rate"),
        ],
    )
    def test_bad_plans_are_explained(self, call: object, message: str) -> None:
        with pytest.raises(UsageError, match=message):
            call()  # type: ignore[operator]
