"""The HTML report, rendered in headless Chromium, and the per-question trace."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chainlang.errors import RunError
from chainlang.experiments.sweep import sweep_cells
from chainlang.reporting.report import render_report
from chainlang.reporting.trace import format_trace, save_trace_images, trace_item

CHROMIUM = Path("/usr/bin/chromium")
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_is_self_contained(finished_sweep: Path, tmp_path: Path) -> None:
    out = render_report(
        finished_sweep, tmp_path / "r.html", cache=finished_sweep.parent / "cache.sqlite"
    )
    page = out.read_text()
    for cell in sweep_cells(finished_sweep):
        assert cell.name in page
    assert not re.search(r"(src|href)=['\"]https?:", page), "nothing may be fetched"
    assert page.count("<svg") >= 4  # forest, variance, one sensitivity plot per model
    assert "Quality per call" not in page  # no numeric swept parameter: no curves
    assert "data:image/png;base64," in page
    assert "Question trace" in page and "class='sent'" in page


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_report_renders_in_chromium(finished_sweep: Path, tmp_path: Path) -> None:
    page = render_report(
        finished_sweep, tmp_path / "r.html", cache=finished_sweep.parent / "cache.sqlite"
    )
    dom = _chromium(page, tmp_path / "p1", "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    for cell in sweep_cells(finished_sweep):
        assert cell.name in dom.stdout
    shot = tmp_path / "shot.png"
    res = _chromium(page, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1400,2000")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1400, 2000)
        lo, hi = img.convert("L").getextrema()
    assert hi - lo > 100, "the screenshot is blank"


def test_report_of_a_single_run(finished_sweep: Path, tmp_path: Path) -> None:
    run = next((finished_sweep / "cells").iterdir())
    page = render_report(run, tmp_path / "one.html").read_text()
    assert "Paired comparisons" not in page and "Results" in page and run.name in page
    with pytest.raises(RunError, match="neither a run folder"):
        render_report(tmp_path, tmp_path / "x.html")


def test_relative_depth_prediction_is_not_painted_invalid(tmp_path: Path) -> None:
    from chainlang.reporting import pictures as viz
    from chainlang.reporting.report import _prediction_panel

    # A chain's depth map is relative: about half of it is 0 or below.
    depth = np.linspace(-0.3, 0.3, 12 * 16, dtype=np.float32).reshape(12, 16)
    np.savez(tmp_path / "d.npz", output=depth)
    record = {"output": {"kind": "DepthMap", "arrays": "d.npz"}}
    _, picture = _prediction_panel("cell", record, tmp_path, np.zeros((12, 16, 3), np.uint8))
    pixels = np.asarray(picture)
    assert not np.any(np.all(pixels == viz.GREY, axis=-1))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # a gradient, not one colour


def test_forest_plot_marks_a_zero_q_value_as_significant() -> None:
    from chainlang.experiments.analysis import CellComparison
    from chainlang.experiments.stats import Comparison
    from chainlang.reporting.report import _forest_svg

    def comp(q: float) -> CellComparison:
        result = Comparison(0.2, 0.1, 0.3, q, "mcnemar", 500, 0, 0.95, 0.5, 0.7, q_value=q)
        return CellComparison("a", "b", "top1", result)

    assert _forest_svg([comp(0.0)]).count("#c0392b") == 2  # CI line and point in red
    assert "#c0392b" not in _forest_svg([comp(0.5)])


def test_trace_shows_every_question_with_its_images(finished_sweep: Path, tmp_path: Path) -> None:
    run = finished_sweep / "cells" / "oracle-flip=0.7__name-careful"
    trace = trace_item(run, "scene_00001", sample=1, cache=tmp_path / "absent.sqlite")
    assert len(trace.steps) == 6 and trace.sample == 1
    sizes = sorted(s.images[0].size for s in trace.steps)
    assert sizes[-1] == (160, 120)  # the whole image, after five crops
    assert all(w < 160 for w, _ in sizes[:-1])
    assert all(s.ok and s.variant == "careful" for s in trace.steps)
    assert all("largest one" in s.messages[0].text for s in trace.steps)  # careful's system text
    saved = save_trace_images(trace, tmp_path / "imgs")
    assert len(saved) == len({img.digest for s in trace.steps for img in s.images})
    text = format_trace(trace, saved)
    assert text.count("<image ") == 6 and "answer:" in text
    assert str(next(iter(saved.values()))) in text


def test_trace_answers_match_the_run(finished_sweep: Path) -> None:
    import json

    run = finished_sweep / "cells" / "oracle-flip=0.1__name-terse"
    trace = trace_item(run, "scene_00000")
    record = next(
        json.loads(line)
        for line in (run / "results.jsonl").read_text().splitlines()
        if json.loads(line)["key"] == "scene_00000#0"
    )
    assert [s.answer for s in trace.steps] == [q["answer"] for q in record["questions"]]


def test_trace_errors_are_named(finished_sweep: Path, tmp_path: Path) -> None:
    run = finished_sweep / "cells" / "oracle-flip=0.1__name-terse"
    with pytest.raises(RunError, match="no result 'nope#0'"):
        trace_item(run, "nope")
    with pytest.raises(RunError, match="not a run folder"):
        trace_item(tmp_path, "scene_00000")
