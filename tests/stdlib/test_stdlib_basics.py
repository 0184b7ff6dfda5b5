"""The list, number and text basics of the standard library (issue 12, point 3).

Each operation is checked three ways: its Python implementation on small
values, its signature as the checker sees it in a chain, and the size fact the
call bounds read (a ``for`` over ``range(n)`` asks ``n`` questions).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from chainlang.errors import OperationError
from chainlang.language.compiler import check_source, compile_source
from chainlang.stdlib import core, default_registry


def test_numbers_over_lists() -> None:
    assert core.sum_([1, 2, 3]) == 6 and core.sum_([]) == 0
    assert core.mean([1, 2]) == 1.5
    assert core.min_of([3, 1, 2]) == 1 and core.max_of(["b", "c", "a"]) == "c"
    with pytest.raises(OperationError, match="missing value at index 1; use present"):
        core.sum_([1, None])
    with pytest.raises(OperationError, match="mean\\(\\) of an empty list"):
        core.mean([])
    with pytest.raises(OperationError, match="takes numbers"):
        core.sum_(["a"])
    with pytest.raises(OperationError, match="cannot compare"):
        core.max_of([1, "a"])


def test_ordering_is_stable_and_ranks_are_a_permutation() -> None:
    xs = [30, 10, 20, 10]
    assert core.sort(xs) == [10, 10, 20, 30]
    assert core.argsort(xs) == [1, 3, 2, 0]
    # Ties keep list order in both directions.
    assert core.argsort(xs, descending=True) == [0, 2, 1, 3]
    assert core.rank(xs) == [4, 1, 3, 2]
    assert core.rank(xs, descending=True) == [1, 3, 2, 4]
    assert core.sort_by(["far", "near", "mid"], [9.0, 1.0, 5.0]) == ["near", "mid", "far"]
    assert core.reverse([1, 2, 3]) == [3, 2, 1]
    with pytest.raises(OperationError, match="2 elements but 1 keys"):
        core.sort_by(["a", "b"], [1])
    with pytest.raises(OperationError, match="missing values"):
        core.sort([1, None])


def test_building_and_searching_lists() -> None:
    assert core.range_(3) == [0, 1, 2] and core.range_(3, start=1) == [1, 2, 3]
    assert core.range_(-2) == []
    assert core.enumerate_(["a"]) == [{"index": 0, "item": "a"}]
    assert core.zip_([1, 2, 3], ["x", "y"]) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert core.index_of(["1", "2", "3"], "3") == 2
    with pytest.raises(OperationError, match='"9" is not in \\["1", "2"\\]'):
        core.index_of(["1", "2"], "9")


def test_text() -> None:
    assert [core.str_(v) for v in (3, 0.5, True, None, "a")] == ["3", "0.5", "true", "none", "a"]
    assert core.str_(["a", 1, {"x": 2}]) == '["a", 1, {x = 2}]'
    assert core.concat(["a", "b"], sep=", ") == "a, b"
    assert core.format_("{} of {}", 2, "five") == "2 of five"
    assert core.format_("{{{}}}", 1) == "{1}"
    with pytest.raises(OperationError, match="use str"):
        core.concat(["a", 1])
    with pytest.raises(OperationError, match="has 1 \\{\\} but more values"):
        core.format_("{}", 1, 2)
    with pytest.raises(OperationError, match="may hold only"):
        core.format_("{0.__class__}", 1)


def test_every_operation_takes_the_parameters_its_signature_names() -> None:
    # The interpreter calls an implementation with keyword arguments named as in the
    # signature, so a renamed Python parameter would fail only when a chain runs.
    for name in default_registry().names():
        op = default_registry().get(name)
        assert op is not None
        accepted = inspect.signature(op.resolve()).parameters
        missing = [p.name for p in op.params if p.name not in accepted]
        assert not missing, f"{name}: {op.impl} lacks parameters {missing}"


BASICS = """
chain basics {
  input image: Image
  output Label

  param n: Int = 4
  prompt pick(view: Image, what: Text) -> Bool {
    user [view] "Is there a {what}?"
  }

  let ids = [i * 2 for i in range(n, start = 1)]
  let pairs = zip(ids, rank(ids, descending = true))
  let scores = [p.a + p.b for p in pairs]
  let named = [format("{} at {}", e.item, e.index) for e in enumerate(sort_by(ids, scores))]
  let asked = for i in range(n) {
    ask pick(view = image, what = concat([str(i), at(named, index_of(ids, 2))], sep = " "))
  }
  let _stats = [sum(ids), min_of(ids), max_of(reverse(argsort(ids)))]
  return if mean(scores) > 1.0 and len(asked) > 0 then "cat" else "dog"
}
"""


def test_the_basics_type_check_and_range_gives_a_call_bound() -> None:
    program = compile_source(BASICS)
    assert program.bounds is not None
    assert program.bounds.show() == "calls = max(n, 0)"
    assert program.bounds.evaluate({"n": 7}) == 7


def test_zip_gives_records_whose_fields_keep_their_types() -> None:
    wrong = BASICS.replace("[p.a + p.b for p in pairs]", '[p.a + "x" for p in pairs]')
    result = check_source(wrong)
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    assert errors and "Int" in result.render(), "Int + Text should be refused"


DOC = Path(__file__).resolve().parents[2] / "docs" / "stdlib.md"


def test_every_chain_example_in_the_stdlib_docs_checks_clean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks = re.findall(r"```chain\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    # the worked plugin example checks with the plugin's operation and metric, and is the
    # chain the package ships
    plugin = DOC.parents[1] / "examples" / "plugin"
    monkeypatch.syspath_prepend(str(plugin / "src"))
    from chainlang_snap.metrics import within
    from chainlang_snap.operations import snap

    from chainlang.stdlib.metrics import metric_registry

    ops, metrics = default_registry().with_operations([snap]), metric_registry(extra=[within])
    for block in blocks:
        if "chainlang-snap plugin" in block:
            assert block == (plugin / "snap.chain").read_text(encoding="utf-8")
            result = check_source(block, registry=ops, metrics=metrics)
        else:
            result = check_source(block)
        assert not result.diagnostics, result.render()


OR_ELSE = """
answer Order { order: permutation of ["1", "2", "3"] }

chain fallback "A skipped answer read as an empty order" {
  input image: Image
  truth count: Int
  output Int
  score exact(truth.count)

  prompt rank(view: Image) -> Order {
    user [view] "Order the three numbered regions, nearest first."
  }

  let o = ask rank(view = image) else skip
  return len([t for t in or_else(o.order, [])])
}
"""


def test_or_else_gives_the_fallback_only_for_a_missing_value() -> None:
    assert core.or_else(None, []) == [] and core.or_else(["2"], []) == ["2"]
    assert core.or_else(0, 5) == 0  # a falsy value is not missing
    # A comprehension over an `else skip` answer's list needs a list, not `T?` (E306).
    assert not check_source(OR_ELSE).diagnostics
    wrong = OR_ELSE.replace("or_else(o.order, [])", "o.order")
    assert "E306" in check_source(wrong).render()
    mistyped = check_source(OR_ELSE.replace("or_else(o.order, [])", "or_else(o.order, 3)"))
    assert "argument 'fallback' of 'or_else' must be permutation" in mistyped.render()
