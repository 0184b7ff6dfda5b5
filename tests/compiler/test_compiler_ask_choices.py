"""Per-ask choices in the compiler: ``ask p(...) variant NAME`` and ``samples K``.

Parsing and ``chainlang fmt`` round-trip them; the checker types a sampled ask
as a list of K answers and keeps ``variant`` and ``samples`` in the IR; asks
that pin different variants are different requests (no W401), while an ask
like the first sample of a sampled ask repeats it (W401).
"""

from __future__ import annotations

from chainlang.language import ir
from chainlang.language.compiler import check_source
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile
from chainlang.language.syntax.nodes import Module
from chainlang.language.syntax.parser import parse
from chainlang.language.syntax.unparse import unparse
from chainlang.language.types import ListT, OptionalT

CHAIN = """chain t {
  input image: Image
  output Label

  param k: Int = 2

  prompt which(view: Image) -> Label(synthetic) {
    user [view high] "Which object is this?"
    variant quick default {
      system "Answer at once."
    }
    variant careful {
      system "Look twice."
    }
  }

  let votes = ask which(view = image) variant careful samples k * 2
    oracle {
      truth_free
    }
    else skip
  let quick = ask which(view = image) variant quick
  let careful = ask which(view = image) variant careful
  let more = ask which(view = image) samples 3
  return first([quick, careful, first(more)])
}
"""


def _module(text: str) -> Module:
    module = parse(SourceFile.of("t.chain", text), Diagnostics())
    assert module is not None
    return module


def test_variant_and_samples_round_trip_through_fmt() -> None:
    text = CHAIN.replace("truth_free", '"cube"')
    module = _module(text)
    out = unparse(module)
    assert out == text  # already canonical: fmt leaves it as written
    assert _module(out) == module


def test_a_sampled_ask_is_a_list_and_keeps_its_choices() -> None:
    result = check_source(CHAIN.replace("truth_free", '"cube"'), "t.chain")
    assert result.program is not None, result.render()
    # `quick` and `careful` pin different variants: different requests. `careful` is
    # the first sample of `votes` (same variant and arguments), so it repeats it.
    [w401] = [d for d in result.diagnostics if d.code == "W401"]
    assert w401.span.line == 23, result.render()
    asks = {let.name: let.value for let in result.program.body}
    votes, more = asks["votes"], asks["more"]
    assert isinstance(votes, ir.Ask) and isinstance(more, ir.Ask)
    assert votes.variant == "careful" and votes.samples is not None
    assert isinstance(more.type, ListT) and more.variant is None
    assert votes.type == ListT(item=OptionalT(item=more.type.item))  # `else skip`: [T?]
    bound = result.program.bounds
    assert bound is not None and bound.evaluate({"k": 2}) == 4 + 1 + 1 + 3
