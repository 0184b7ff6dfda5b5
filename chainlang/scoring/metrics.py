"""The paper's metrics, computed exactly as the reference evaluation does.

Two layers live here:

* **pure functions** on one image or one dataset (``spearman``, ``mask_iou``,
  ``align_scale_shift``, ``detection_ap``, ...), each doctested and
  cross-checked against an independent formulation in ``tests/scoring``;
* **per-task scorers** (``score_classification`` ... ``score_normals``) that
  stream over :class:`Sample` values (one per dataset item), keep only
  per-image sufficient statistics (never whole prediction maps), and return a
  ``dict[str, MetricValue]`` with coverage and a per-image bootstrap CI.

Conventions that differ from the reference evaluation are opt-in or reported
under a separate name (see ``docs/scoring.md``): normalised label match,
multi-instance AP, valid-pixel masks, angular normal errors, and the
``*_with_failures`` variants that count failed items instead of dropping them.
"""

from __future__ import annotations

from chainlang.scoring.bootstrap import BootstrapSpec
from chainlang.scoring.classification import (
    exact_match,
    label_match,
    normalise_label,
    score_classification,
)
from chainlang.scoring.common import (
    ANGLE_BIN_DEG,
    COCO_IOU_THRESHOLDS,
    COCO_SEMANTIC_CLASSES,
    DEFAULT_BOOTSTRAP,
    IGNORE_INDEX,
    BoxLike,
    Coverage,
    MaskMode,
    MetricValue,
    P,
    PairAnswers,
    Sample,
    ScoredBox,
    T,
)
from chainlang.scoring.dense import (
    align_scale_shift,
    angle_stats,
    angular_error_deg,
    depth_pixel_stats,
    pairwise_depth_accuracy,
    score_depth,
    score_normals,
    spearman,
)
from chainlang.scoring.detection import (
    detection_ap,
    first_box_per_label,
    score_detection,
)
from chainlang.scoring.segmentation import (
    SegAccumulator,
    instance_masks_for_points,
    mask_iou,
    score_grouping,
    score_segmentation,
    segmentation_stats,
)

__all__ = [
    "ANGLE_BIN_DEG",
    "COCO_IOU_THRESHOLDS",
    "COCO_SEMANTIC_CLASSES",
    "DEFAULT_BOOTSTRAP",
    "IGNORE_INDEX",
    "BootstrapSpec",
    "BoxLike",
    "Coverage",
    "MaskMode",
    "MetricValue",
    "P",
    "PairAnswers",
    "Sample",
    "ScoredBox",
    "SegAccumulator",
    "T",
    "align_scale_shift",
    "angle_stats",
    "angular_error_deg",
    "depth_pixel_stats",
    "detection_ap",
    "exact_match",
    "first_box_per_label",
    "instance_masks_for_points",
    "label_match",
    "mask_iou",
    "normalise_label",
    "pairwise_depth_accuracy",
    "score_classification",
    "score_depth",
    "score_detection",
    "score_grouping",
    "score_normals",
    "score_segmentation",
    "segmentation_stats",
    "spearman",
]
