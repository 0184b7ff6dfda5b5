"""Classification metrics: top-1, exact (reference) and normalised label match.

Part of :mod:`chainlang.scoring.metrics`, which re-exports every public name.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from chainlang.errors import ScoringError
from chainlang.language.labelsets import normalise
from chainlang.scoring.bootstrap import BootstrapSpec
from chainlang.scoring.common import (
    DEFAULT_BOOTSTRAP,
    MetricValue,
    Sample,
    _ci_mean,
    _CoverageCounter,
    _metric,
    _require_items,
)

# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def exact_match(pred: str, truth: str) -> bool:
    """The reference's top-1 test: ``pred.strip() == truth`` (case-sensitive).

    >>> exact_match(" tabby cat ", "tabby cat"), exact_match("Tabby cat", "tabby cat")
    (True, False)
    """
    return pred.strip() == truth


def normalise_label(text: str) -> str:
    """Case-fold, treat ``_`` and ``-`` as spaces, collapse and trim whitespace: the
    same rule that validates label answers (:func:`chainlang.language.labelsets.normalise`), so a
    label accepted when asked is matched when scored.

    >>> normalise_label("  Great_White-Shark \\n")
    'great white shark'
    """
    return normalise(text)


def label_match(pred: str, truth: str) -> bool:
    """Label equality after :func:`normalise_label` on both sides (our addition).

    >>> label_match("Tabby_Cat", "tabby cat")
    True
    """
    return normalise_label(pred) == normalise_label(truth)


def score_classification(
    samples: Iterable[Sample[str, str]], *, bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP
) -> dict[str, MetricValue]:
    """Top-1 accuracy, exact (reference) and normalised, over and with failures.

    Args:
        samples: predicted label (or None) against the true label name.
        bootstrap: CI settings, or None for no intervals.

    Returns:
        ``top1``, ``top1_normalised`` over items with a prediction (the paper's
        convention) and ``top1_with_failures``, ``top1_normalised_with_failures``
        where failed items count as wrong.
    """
    cov = _CoverageCounter()
    exact: list[float] = []
    norm: list[float] = []
    for s in samples:
        if not isinstance(s.truth, str):
            raise ScoringError(f"item {s.item_id}: label truth must be a string")
        if not cov.see(s):
            continue
        if not isinstance(s.pred, str):
            raise ScoringError(f"item {s.item_id}: label prediction must be a string")
        exact.append(float(exact_match(s.pred, s.truth)))
        norm.append(float(label_match(s.pred, s.truth)))
    _require_items(len(exact), "classification")
    c = cov.result()
    zeros = [0.0] * c.items_failed
    out: dict[str, MetricValue] = {}
    for name, vals in (("top1", exact), ("top1_normalised", norm)):
        out[name] = _metric(
            name, float(np.mean(vals)), _ci_mean(vals, bootstrap), len(vals), True, c, vals
        )
        allv = vals + zeros
        wname = f"{name}_with_failures"
        mean = float(np.mean(allv))
        out[wname] = _metric(wname, mean, _ci_mean(allv, bootstrap), len(allv), True, c)
    return out
