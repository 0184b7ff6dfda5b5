"""Result and input types and helpers shared by the metric modules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np

from chainlang.errors import ScoringError
from chainlang.scoring.bootstrap import BootstrapSpec, PerImage, bootstrap_mean, bootstrap_pooled

P = TypeVar("P")
T = TypeVar("T")

MaskMode = Literal["valid", "all"]
#: What normals ρ ranks: the predicted scores, or the reference's 0..255 integer levels.
NormalsRho = Literal["scores", "reference"]
IGNORE_INDEX = 255
#: COCO-stuff panoptic classes used by the paper's segmentation eval.
COCO_SEMANTIC_CLASSES = 133
#: The paper's single-instance detection thresholds: AP@0.1, then COCO's 0.5:0.95.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
#: Bin width (degrees) of the angular-error histogram used for the pooled median.
ANGLE_BIN_DEG = 0.05
_ANGLE_BINS = round(180.0 / ANGLE_BIN_DEG)
_ANGLE_THRESHOLDS = (11.25, 22.5, 30.0)
#: Intervals used when a scorer is not told otherwise (frozen, so safe to share).
DEFAULT_BOOTSTRAP = BootstrapSpec()


# ---------------------------------------------------------------------------
# Result and input types
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a run could be scored.

    Attributes:
        items: items seen.
        items_failed: items without a prediction (their chain failed).
        questions: model questions asked over all items.
        questions_failed: questions that failed (counted by the executor).
    """

    items: int = 0
    items_failed: int = 0
    questions: int = 0
    questions_failed: int = 0

    @property
    def items_scored(self) -> int:
        """Items that had a prediction."""
        return self.items - self.items_failed


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One metric over a dataset, with its bootstrap interval and coverage.

    Attributes:
        name: metric name, e.g. ``"miou"`` or ``"delta1"``.
        value: the point estimate (fractions, not percent; degrees for angles).
        ci_low: lower end of the percentile bootstrap CI (NaN when not computed).
        ci_high: upper end of the CI (NaN when not computed).
        n_items: images the value is computed over.
        higher_is_better: the direction of the metric.
        coverage: items and questions seen and failed.
        per_image: for metrics that are a mean over images, each scored image's
            value in the order the samples came (empty for pooled metrics);
            paired comparisons reuse them instead of recomputing.
        pooled: for metrics pooled over images (δ1, AbsRel, angular errors), each
            scored image's sufficient statistics keyed by image id, with the
            function from their sum to the value: what a paired, image-clustered
            comparison resamples. None for means and for metrics without one.
            Not part of equality, and never written to disk.
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    n_items: int
    higher_is_better: bool
    coverage: Coverage = field(default_factory=Coverage)
    per_image: tuple[float, ...] = ()
    pooled: PerImage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PairAnswers:
    """A depth chain's raw pairwise answers for one image.

    Attributes:
        regions: ``H × W`` integer region map (superpixels) the pairs index into.
        pairs: ``(a, b)`` region ids; ``a`` wears the red marker, ``b`` the blue.
        answers: per pair ``"red"`` (a is nearer), ``"blue"`` (b is nearer) or
            None (the question failed; it is not counted).
    """

    regions: np.ndarray
    pairs: Sequence[tuple[int, int]]
    answers: Sequence[str | None]


@dataclass(frozen=True, slots=True)
class Sample(Generic[P, T]):
    """One dataset item: the chain's prediction (None if it failed) and the truth.

    Attributes:
        item_id: the dataset item id (used in error messages).
        pred: the prediction in the truth's in-memory form, or None.
        truth: the ground truth (see ``docs/architecture.md``, "Dataset items").
        questions: questions the chain asked for this item.
        questions_failed: of which failed.
        answers: depth only, the raw pairwise answers for pairwise accuracy.
    """

    item_id: str
    pred: P | None
    truth: T
    questions: int = 0
    questions_failed: int = 0
    answers: PairAnswers | None = None


class BoxLike(Protocol):
    """A labelled pixel box ``[x0, x1) × [y0, y1)``; ``score`` is optional (default 1)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True, slots=True)
class ScoredBox:
    """A labelled detection with a confidence (a :class:`BoxLike`)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0


class _CoverageCounter:
    """Counts items and questions while a scorer streams over samples."""

    def __init__(self) -> None:
        self.items = 0
        self.failed = 0
        self.questions = 0
        self.questions_failed = 0

    def see(self, sample: Sample[Any, Any]) -> bool:
        """Record a sample; True when it has a prediction to score."""
        self.items += 1
        self.questions += sample.questions
        self.questions_failed += sample.questions_failed
        if sample.pred is None:
            self.failed += 1
            return False
        return True

    def result(self) -> Coverage:
        return Coverage(self.items, self.failed, self.questions, self.questions_failed)


def _metric(
    name: str,
    value: float,
    ci: tuple[float, float],
    n_items: int,
    higher: bool,
    coverage: Coverage,
    per_image: Sequence[float] = (),
    pooled: PerImage | None = None,
) -> MetricValue:
    values = tuple(float(v) for v in per_image)
    return MetricValue(name, float(value), ci[0], ci[1], n_items, higher, coverage, values, pooled)


def _pooled_cell(
    ids: Sequence[str], rows: Sequence[np.ndarray] | np.ndarray, fn: Callable[[np.ndarray], Any]
) -> PerImage | None:
    """Per-image sufficient statistics of a pooled metric, for paired comparisons.

    ``fn`` maps a stack of summed rows ``(k, d)`` to ``k`` values (the function the
    metric's own interval uses). None when a row is not finite (say, AbsRel over
    zero truth with ``mask="all"``): such a metric is reported but not paired.
    """
    arr = np.asarray(rows, dtype=np.float64)
    if len(ids) != len(arr) or arr.ndim != 2 or not np.all(np.isfinite(arr)):
        return None
    return PerImage(tuple(ids), arr, fn, batched=True)


_NO_CI = (float("nan"), float("nan"))


def _ci_pooled(
    rows: Sequence[np.ndarray] | np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    spec: BootstrapSpec | None,
) -> tuple[float, float]:
    """CI of ``fn`` over per-image rows (a list of rows or an ``n × k`` array)."""
    if spec is None or len(rows) == 0:
        return _NO_CI
    return bootstrap_pooled(np.asarray(rows), fn, spec)


def _ci_mean(values: Sequence[float], spec: BootstrapSpec | None) -> tuple[float, float]:
    if spec is None or not values:
        return _NO_CI
    return bootstrap_mean(np.asarray(values, dtype=np.float64), spec)


def _require_items(n: int, task: str) -> None:
    if n == 0:
        raise ScoringError(f"{task}: no item has a prediction to score")
