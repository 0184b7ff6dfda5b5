"""The reference implementation's approach, re-written for side-by-side timing.

These functions follow what the paper's code does per question (see
``/work/shared/reference/paper-chains.md`` §2 and §6.5) so that the
benchmarks measure our implementation against the same work done the
reference's way. They are baselines only; nothing in ``chainlang`` uses them.
"""

from __future__ import annotations

import base64
import copy
import io

import numpy as np
from PIL import Image, ImageDraw

_RGB = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0)}


def reference_marker(
    picture: Image.Image,
    segments: np.ndarray,
    segment: int,
    shape: str,
    colour: str,
    radius: int = 16,
    line: int = 4,
) -> Image.Image:
    """One marker drawn the reference's way: copy, float image, full-size mask, PIL or skimage."""
    from skimage.segmentation import mark_boundaries
    from skimage.util import img_as_float

    as_float = img_as_float(copy.deepcopy(picture))
    mask = np.zeros_like(segments)
    mask[segments == segment] = 1
    if shape == "curve":
        marked = mark_boundaries(as_float, mask, color=_RGB[colour])
        return Image.fromarray((marked * 255).astype(np.uint8))
    rows, cols = np.where(mask)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    out = Image.fromarray((as_float * 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    if shape == "rectangle":
        draw.rectangle([left, top, right, bottom], outline=colour, width=line)
    else:  # point: the reference's inscribed-rectangle search ends at the bbox centre
        cy, cx = (top + bottom) // 2, (left + right) // 2
        width, height = out.size
        corners = [
            (max(0, cx - radius), max(0, cy - radius)),
            (min(width, cx + radius), min(height, cy + radius)),
        ]
        draw.ellipse(corners, fill=colour, outline=colour)
    return out


def reference_question_payload(
    picture: Image.Image, segments: np.ndarray, first: int, second: int, shape: str
) -> str:
    """The request image for one depth question: two markers, PNG, base64."""
    marked = reference_marker(picture, segments, first, shape, "red")
    marked = reference_marker(marked, segments, second, shape, "blue")
    buffer = io.BytesIO()
    marked.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def dense_order_system(
    k: int,
    first: np.ndarray,
    second: np.ndarray,
    signs: np.ndarray,
    edges: np.ndarray,
    smoothness: float,
    ridge: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray]:
    """The globalizer's least-squares problem as one dense stacked system ``(M, y)``.

    Rows: one per comparison (``x_a − x_b`` towards its sign), one per
    adjacency edge weighted by sqrt(λ), and sqrt(ε) times the identity.
    """
    m, e = first.size, edges.shape[0]
    matrix = np.zeros((m + e + k, k))
    rows = np.arange(m)
    matrix[rows, first] += 1.0
    matrix[rows, second] -= 1.0
    weight = np.sqrt(smoothness)
    edge_rows = m + np.arange(e)
    matrix[edge_rows, edges[:, 0]] = weight
    matrix[edge_rows, edges[:, 1]] = -weight
    matrix[m + e + np.arange(k), np.arange(k)] = np.sqrt(ridge)
    target = np.concatenate([signs, np.zeros(e + k)])
    return matrix, target


def dense_order_solve(
    k: int,
    first: np.ndarray,
    second: np.ndarray,
    signs: np.ndarray,
    edges: np.ndarray,
    smoothness: float,
) -> np.ndarray:
    """Solve the stacked dense system with ``numpy.linalg.lstsq`` (the dense baseline)."""
    matrix, target = dense_order_system(k, first, second, signs, edges, smoothness)
    solution, *_ = np.linalg.lstsq(matrix, target, rcond=None)
    return solution
