"""Hypothesis strategies shared by the vision tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def dense_labels(raw: np.ndarray) -> np.ndarray:
    """Renumber any integer map to ids 1..K (K = number of distinct values)."""
    _, inverse = np.unique(raw, return_inverse=True)
    return inverse.reshape(raw.shape).astype(np.int32) + 1


@st.composite
def label_maps(draw: st.DrawFn, max_side: int = 12, max_ids: int = 6) -> np.ndarray:
    """Small random label maps with ids exactly 1..K."""
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    raw = draw(arrays(np.int32, (height, width), elements=st.integers(0, max_ids - 1)))
    return dense_labels(raw)


@st.composite
def blocky_maps(draw: st.DrawFn) -> np.ndarray:
    """Label maps made of blocks (regions larger than a pixel), upsampled from a coarse map."""
    coarse = draw(label_maps(max_side=5, max_ids=5))
    scale = draw(st.integers(3, 8))
    return dense_labels(np.kron(coarse, np.ones((scale, scale), dtype=np.int32)))
