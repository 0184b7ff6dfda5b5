"""Outputs of any type and the ``score`` line (issue 12): syntax, checks, IR, ``fmt``.

The checker reads metric signatures only; these tests pass a small registry in, the
way operation tests pass an operation registry, so they do not depend on which
metrics are built in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from compiler_helpers import ROOT

from chainlang.cli.app import main
from chainlang.language import ir
from chainlang.language.compiler import check_source, compile_file, compile_source
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile
from chainlang.language.syntax.parser import parse
from chainlang.language.syntax.unparse import unparse
from chainlang.language.types import IntT, ListT, OpaqueT


@dataclass(frozen=True)
class Spec:
    """The fields of ``chainlang.stdlib.metrics.MetricSpec`` that the checker reads."""

    name: str
    prediction: str
    truth: str
    params: tuple[tuple[str, str, object], ...] = ()
    higher_is_better: bool = True
    doc: str = ""
    impl: str = "tests:nothing"


METRICS = {
    s.name: s
    for s in [
        Spec("exact", "T", "T"),
        Spec("mae", "Int | Float", "Int | Float", higher_is_better=False),
        Spec("pck", "Points", "Points", (("r", "Float", 0.05),)),
        Spec("point_error", "Points", "Points", (("median", "Bool", False),)),
    ]
}

COUNT = """\
chain count {
  input image: Image
  truth count: Int
  truth centres: Points
  output Int
  score exact(truth.count), mae(truth.count)

  return 3
}
"""


def check(text: str) -> tuple[list[str], str]:
    """The codes of the diagnostics and their rendering."""
    result = check_source(text, "t.chain", metrics=METRICS)
    return [d.code for d in result.diagnostics], result.render()


def with_lines(output: str, score: str | None, ret: str = "3") -> str:
    text = COUNT.replace("  output Int\n", f"  output {output}\n").replace(
        "return 3", f"return {ret}"
    )
    old = "  score exact(truth.count), mae(truth.count)\n"
    return text.replace(old, f"  score {score}\n" if score is not None else "")


def test_an_int_output_with_a_score_line_compiles_to_metric_uses() -> None:
    program = compile_source(COUNT, "t.chain", metrics=METRICS)
    assert program.output == IntT()
    assert program.scores == (
        ir.MetricUse(name="exact", truth="count", origin="t.chain:6:9"),
        ir.MetricUse(name="mae", truth="count", origin="t.chain:6:29"),
    )
    assert ir.Program.model_validate_json(program.model_dump_json()) == program


def test_metric_arguments_are_literals_converted_to_the_parameter_type() -> None:
    text = with_lines(
        "Points", "pck(truth.centres, r = 1), point_error(truth.centres, median = true)", "[]"
    )
    program = compile_source(text, "t.chain", metrics=METRICS)
    assert program.output == ListT(item=OpaqueT(name="Point"))
    assert [u.args for u in program.scores] == [(("r", 1.0),), (("median", True),)]
    assert isinstance(program.scores[0].args[0][1], float)


def test_the_paper_chains_have_no_score_line_and_keep_their_output() -> None:
    program = compile_file(ROOT / "chains" / "classify.chain")
    assert program.scores == ()
    assert program.output == OpaqueT(name="Label")


@pytest.mark.parametrize(
    ("output", "ret"),
    [("Float", "1.5"), ("Bool", "true"), ("Text", '"a"'), ("Points", "[]"), ("[Int]", "[1, 2]")],
)
def test_any_written_type_can_be_an_output(output: str, ret: str) -> None:
    score = "pck(truth.centres)" if output == "Points" else "exact(truth.count)"
    codes, _ = check(with_lines(output, score, ret))
    # exact's truth must match the prediction; only the output's acceptance is tested here
    assert "E203" not in codes and "E215" not in codes and "E305" not in codes


def test_a_new_output_without_a_score_line_is_e215_listing_the_metrics_that_fit() -> None:
    codes, text = check(with_lines("Int", None))
    assert codes == ["E215"]
    assert "output Int needs a `score` line: metrics that fit Int are exact, mae" in text
    assert "score exact(truth.<field>)" in text


def test_an_unknown_metric_is_e216_with_a_suggestion() -> None:
    codes, text = check(with_lines("Int", "maes(truth.count)"))
    assert codes == ["E216"]
    assert "unknown metric 'maes'" in text and "did you mean 'mae'?" in text
    codes, text = check(with_lines("Int", "zzz(truth.count)"))
    assert codes == ["E216"] and "the metrics are exact, mae, pck, point_error" in text


@pytest.mark.parametrize(
    ("output", "score", "ret", "message"),
    [
        (
            "Int",
            "pck(truth.centres)",
            "3",
            "metric 'pck' scores a prediction of type Points, got Int",
        ),
        ("Int", "mae(truth.centres)", "3", "metric 'mae' scores the truth (truth.centres) of type"),
        (
            "Int",
            "exact(truth.centres)",
            "3",
            "metric 'exact' scores the truth (truth.centres) of type Int, got [Point]",
        ),
    ],
)
def test_a_metric_that_does_not_fit_is_e217(
    output: str, score: str, ret: str, message: str
) -> None:
    codes, text = check(with_lines(output, score, ret))
    assert codes == ["E217"]
    assert message in text


@pytest.mark.parametrize(
    ("score", "code", "message"),
    [
        (
            "mae(count)",
            "E303",
            "the first argument of metric 'mae' must be a truth field, not count",
        ),
        (
            "mae(truth.cnt)",
            "E401",
            "the chain declares no truth field 'cnt' (truth fields: count, centres)",
        ),
        ("mae(truth.count, r = 1)", "E303", "metric 'mae' has no parameter 'r' (parameters: none)"),
        ("pck(truth.centres, r = 0.1, r = 0.2)", "E303", "'r' is given twice"),
        ("pck(truth.centres, r = 1 + 1)", "E503", "argument 'r' of metric 'pck' must be a literal"),
        ('pck(truth.centres, r = "x")', "E503", "argument 'r' of metric 'pck' must be Float"),
    ],
)
def test_score_arguments_are_checked(score: str, code: str, message: str) -> None:
    output, ret = ("Points", "[]") if "pck" in score else ("Int", "3")
    codes, text = check(with_lines(output, score, ret))
    assert codes == [code], text
    assert message in text


def test_two_score_lines_are_e208() -> None:
    text = COUNT.replace("  return 3", "  score mae(truth.count)\n  return 3")
    codes, rendered = check(text)
    assert codes == ["E208"]
    assert "at most one `score` line" in rendered


def test_the_returned_value_must_match_any_output_type() -> None:
    codes, text = check(with_lines("Int", "mae(truth.count)", '"three"'))
    assert codes == ["E305"]
    assert "the chain returns" in text and "but its output is Int" in text
    codes, text = check(with_lines("Points", "pck(truth.centres)", "none"))
    assert codes == ["E305"] and "the chain returns none but its output is Points" in text


def test_score_lines_round_trip_through_fmt(tmp_path: Path) -> None:
    messy = COUNT.replace(
        "score exact(truth.count), mae(truth.count)",
        "score   exact( truth.count ) ,\n    pck(truth.centres,r=0.05)   # the metrics",
    )
    module = parse(SourceFile.of("x", messy), Diagnostics())
    assert module is not None
    text = unparse(module)
    assert "  score exact(truth.count), pck(truth.centres, r = 0.05)\n" in text
    again = parse(SourceFile.of("x", text), Diagnostics())
    assert again == module and unparse(again) == text
    path = tmp_path / "c.chain"
    path.write_text(messy)
    assert main(["fmt", str(path)]) == 0
    assert path.read_text() == text
