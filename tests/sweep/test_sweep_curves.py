"""Quality per call: the report's curves of a metric against a numeric swept parameter,
the cheapest non-inferior cell per model, and the standalone SVG export."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from chainlang.experiments.analysis import CellComparison, CellScore, compare_cells
from chainlang.experiments.grid import sweep_cells
from chainlang.reporting.curves import (
    cheapest_non_inferior,
    curve_svgs,
    numeric_parameter,
    quality_section,
)
from chainlang.scoring.bootstrap import PerImage
from chainlang.scoring.common import MetricValue

IDS = tuple(f"img{i}" for i in range(12))
# The baseline's per-image rho; other cells add a shift (and a little noise so the
# paired intervals are not all a point).
BASE = np.linspace(0.80, 0.90, len(IDS))
NOISE = np.random.default_rng(0).normal(0, 0.002, len(IDS))
SHIFT = {
    # model m1: "fast" is as good as the baseline from 50 calls, "ref" only at 200.
    ("m1", "ref", 50): -0.10,
    ("m1", "ref", 100): -0.05,
    ("m1", "ref", 200): 0.0,
    ("m1", "fast", 50): +0.002,
    ("m1", "fast", 100): +0.004,
    ("m1", "fast", 200): +0.006,
    # model m2: nothing comes near its baseline.
    ("m2", "ref", 50): -0.20,
    ("m2", "ref", 100): -0.10,
    ("m2", "ref", 200): 0.0,
    ("m2", "fast", 50): -0.15,
    ("m2", "fast", 100): -0.08,
    ("m2", "fast", 200): -0.05,
}


def _synthetic_sweep(folder: Path, *, margin: float | None = 0.01) -> dict[str, CellScore]:
    """A sweep.json over two models × strategy × calls and made-up scores for its cells."""
    cells, scores = [], {}
    for (model, strategy, calls), shift in SHIFT.items():
        name = f"{model}__strategy-{strategy}__calls-{calls}"
        params = {"strategy": strategy, "calls": calls}
        cells.append({"name": name, "model": model, "variants": {}, "params": params})
        base_cell = strategy == "ref" and calls == 200
        values = BASE + shift + (0.0 if base_cell else NOISE)
        mv = MetricValue("rho", float(values.mean()), float(values.mean() - 0.01),
                         float(values.mean() + 0.01), len(IDS), True)  # fmt: skip
        scores[name] = CellScore({"rho": mv}, {"rho": PerImage(IDS, values)}, ("rho",))
    doc = {
        "format": 1,
        "models": ["m1", "m2"],
        "variants": {},
        "params": {"strategy": ["ref", "fast"], "calls": [50, 100, 200]},
        "fixed": {},
        "samples": 1,
        "baseline": None,
        "baseline_params": {"strategy": "ref", "calls": 200},
        "margin": margin,
        "metrics": ["rho"],
        "cells": cells,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.json").write_text(json.dumps(doc), encoding="utf-8")
    return scores


def _compare(
    folder: Path, scores: Mapping[str, CellScore]
) -> dict[str | None, Sequence[CellComparison]]:
    return {"rho": compare_cells(folder, "rho", scores=scores, n_boot=500, n_perm=500)}


def test_the_numeric_parameter_prefers_calls_and_skips_words_and_booleans() -> None:
    assert numeric_parameter({"strategy": ["a", "b"], "calls": [50, 100]}) == "calls"
    assert numeric_parameter({"k": [3, 5], "calls": [50, 100]}) == "calls"
    assert numeric_parameter({"k": [3, 5.5], "window": [1, 2]}) == "k"
    assert numeric_parameter({"flag": [True, False], "one": [1]}) is None
    assert numeric_parameter({"strategy": ["a", "b"]}) is None


def test_one_chart_per_model_and_the_cheapest_non_inferior_cell(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    scores = _synthetic_sweep(folder)
    comps = _compare(folder, scores)
    cells = sweep_cells(folder)
    best = cheapest_non_inferior(cells, comps["rho"], "calls", 0.01)
    assert best["m1"].cell == "m1__strategy-fast__calls-50" and best["m1"].x == 50
    assert best["m1"].bound >= -0.01 and best["m1"].ties == ()
    assert best["m2"].cell is None and best["m2"].compared == 5

    html = quality_section(folder, cells, scores, ["rho"], comps.__getitem__)
    assert html is not None
    assert html.count("<svg") == 2  # one chart per model
    assert "stroke-dasharray" in html  # the baseline's dashed line
    assert "strategy=fast" in html and "strategy=ref" in html  # one line each, in the legend
    rows = html.split("<tbody>", 1)[1]
    m1, m2 = rows.split("</tr>")[:2]
    assert "m1__strategy-fast__calls-50" in m1 and "<td>50</td>" in m1
    assert "<td>none</td>" in m2


def test_without_a_margin_the_table_is_left_out_and_the_section_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    scores = _synthetic_sweep(folder, margin=None)
    comps = _compare(folder, scores)
    html = quality_section(folder, sweep_cells(folder), scores, ["rho"], comps.__getitem__)
    assert html is not None and html.count("<svg") == 2
    assert "<table" not in html and "no non-inferiority margin" in html


def test_no_numeric_parameter_no_section(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    scores = _synthetic_sweep(folder)
    doc = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    doc["params"] = {"strategy": ["ref", "fast"]}
    for cell in doc["cells"]:
        cell["params"] = {"strategy": cell["params"]["strategy"]}
    (folder / "sweep.json").write_text(json.dumps(doc), encoding="utf-8")
    assert quality_section(folder, sweep_cells(folder), scores, ["rho"], lambda m: []) is None


def test_the_exported_svg_is_a_standalone_xml_document(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    scores = _synthetic_sweep(folder)
    svgs = curve_svgs(folder, scores=scores)
    assert list(svgs) == ["rho"]
    root = ET.fromstring(svgs["rho"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    panels = root.findall("{http://www.w3.org/2000/svg}g/{http://www.w3.org/2000/svg}svg")
    assert len(panels) == 2  # a panel per model
    assert "<image" not in svgs["rho"] and "@font-face" not in svgs["rho"]
