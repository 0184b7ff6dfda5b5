"""take(xs, n) bounds a loop by n even when the length of xs is known only at run time."""

from __future__ import annotations

from chainlang.language.compiler import compile_source

CHAIN = """
chain t {
  input image: Image
  output Label
  param budget: Int = 10
  prompt is_sky(view: Image) -> Bool {
    user [view] "Sky?"
  }
  let sp = superpixels(image, n = 50)
  let big = flatten([regions_of(sp), regions_of(sp)])
  let asked = for r in take(big, max(budget, 0)) {
    ask is_sky(view = mark(image, [r], ["red"]))
  }
  return if len(asked) > 0 then "cat" else "dog"
}
"""


def test_take_of_a_filtered_list_is_bounded_by_its_count() -> None:
    program = compile_source(CHAIN)
    assert program.bounds is not None
    # flatten's length is known only while the chain runs (no estimate); take keeps at
    # most the budget, so the bound is the budget (it was a bare len(...) before)
    assert program.bounds.show() == "calls <= max(budget, 0)"
    assert program.bounds.evaluate({"budget": 7}) == 7
