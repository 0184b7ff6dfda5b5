"""Scoring: the paper's metrics, bootstrap intervals and specialist models.

Importing this package never imports torch, timm or transformers; the
specialists that need them import them when they are built.
"""

from __future__ import annotations

from chainlang.scoring.bootstrap import BootstrapSpec, bootstrap_mean, bootstrap_pooled
from chainlang.scoring.metrics import (
    Coverage,
    MetricValue,
    PairAnswers,
    Sample,
    ScoredBox,
    SegAccumulator,
    detection_ap,
    score_classification,
    score_depth,
    score_detection,
    score_grouping,
    score_normals,
    score_segmentation,
)
from chainlang.scoring.specialists import Specialist, SpecialistOptions, get_specialist

__all__ = [
    "BootstrapSpec",
    "Coverage",
    "MetricValue",
    "PairAnswers",
    "Sample",
    "ScoredBox",
    "SegAccumulator",
    "Specialist",
    "SpecialistOptions",
    "bootstrap_mean",
    "bootstrap_pooled",
    "detection_ap",
    "get_specialist",
    "score_classification",
    "score_depth",
    "score_detection",
    "score_grouping",
    "score_normals",
    "score_segmentation",
]
