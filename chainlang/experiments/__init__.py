"""Experiments over a sweep: paired statistics, variance decomposition, reports.

``stats`` compares cells of a sweep on the same images (paired bootstrap,
permutation and McNemar tests, Benjamini–Hochberg); ``power`` sizes a sweep
before it runs (minimum detectable effects, images needed); ``variance``
splits a metric's variance into images, prompt variants and sampling. The
sweep runner and the report live in their own modules and import from these.
"""

from __future__ import annotations

from chainlang.experiments.power import mde_mcnemar, mde_paired, n_mcnemar, n_paired
from chainlang.experiments.stats import (
    Comparison,
    McNemar,
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
from chainlang.experiments.variance import (
    COMPONENTS,
    VarianceDecomposition,
    decompose,
    decompose_array,
)

__all__ = [
    "COMPONENTS",
    "Comparison",
    "McNemar",
    "PerImage",
    "VarianceDecomposition",
    "adjust_bh",
    "adjust_comparisons",
    "clustered_mean",
    "compare",
    "decompose",
    "decompose_array",
    "mcnemar",
    "mde_mcnemar",
    "mde_paired",
    "n_mcnemar",
    "n_paired",
    "paired_bootstrap",
    "paired_permutation",
    "wilson_interval",
]
