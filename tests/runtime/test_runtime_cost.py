"""Prices, estimates, the budget, and progress rendering."""

from __future__ import annotations

import io

import numpy as np
import pytest
from runtime_helpers import make_request

from chainlang.errors import UsageError
from chainlang.image import ImageData
from chainlang.providers.base import ImagePart, Message, ModelRef, TextPart, Usage
from chainlang.runtime.cost import INPUT_MARGIN, Budget, PriceTable
from chainlang.runtime.outcome import Outcome
from chainlang.runtime.progress import PlainProgress, RichProgress, Tally

TABLE = PriceTable.load()


@pytest.mark.parametrize(
    ("provider", "model", "inp", "out"),
    [
        ("openai", "gpt-4o", 2.50, 10.0),
        ("openai", "gpt-4o-2024-08-06", 2.50, 10.0),
        ("openai", "gpt-4o-mini", 0.15, 0.60),
        ("openai", "o1", 15.0, 60.0),
        ("openai", "o3", 10.0, 40.0),
        ("openai", "o4-mini", 1.10, 4.40),
        ("anthropic", "claude-3-5-sonnet-20241022", 3.0, 15.0),
        ("anthropic", "claude-sonnet-4-5-20250929", 3.0, 15.0),
        ("anthropic", "claude-opus-4-1-20250805", 15.0, 75.0),
        ("anthropic", "claude-opus-4-5", 5.0, 25.0),  # the longer pattern wins
        ("gemini", "gemini-1.5-pro-002", 3.50, 10.50),
        ("gemini", "gemini-2.0-flash", 0.10, 0.40),
        ("gemini", "gemini-2.5-flash-lite", 0.10, 0.40),
    ],
)
def test_shipped_prices(provider, model, inp, out):
    ref = ModelRef(provider, model)
    assert TABLE.price(ref, Usage(1_000_000, 0)) == pytest.approx(inp)
    assert TABLE.price(ref, Usage(0, 1_000_000)) == pytest.approx(out)


def test_cached_tokens_and_batch_discount():
    ref = ModelRef("openai", "gpt-4o")
    usage = Usage(input_tokens=1_000_000, output_tokens=0, cached_input_tokens=400_000)
    assert TABLE.price(ref, usage) == pytest.approx(0.6 * 2.5 + 0.4 * 1.25)
    # gpt-4o's batch API gives no cache discount: every input token at the batch price
    assert TABLE.price(ref, usage, batch=True) == pytest.approx(2.5 / 2)


def test_anthropic_cache_writes_cost_a_premium_and_stack_with_the_batch_discount():
    ref = ModelRef("anthropic", "claude-sonnet-4-5")
    usage = Usage(1_000_000, 0, cached_input_tokens=300_000, cache_write_tokens=200_000)
    # 0.5 M plain at $3, 0.3 M read at $0.30, 0.2 M written at 1.25 x $3
    full = 0.5 * 3 + 0.3 * 0.30 + 0.2 * 3.75
    assert TABLE.price(ref, usage) == pytest.approx(full)
    assert TABLE.price(ref, usage, batch=True) == pytest.approx(full / 2)
    assert TABLE.lookup(ref).cache_write == pytest.approx(1.25 * TABLE.lookup(ref).input)


def test_the_worst_case_of_a_call_covers_writing_its_whole_prompt_to_the_cache():
    from chainlang.language.types import TextT
    from chainlang.providers.base import Message, ModelRequest, Params, TextPart

    ref = ModelRef("anthropic", "claude-sonnet-4-5")
    text = "x" * 40_000  # 10,000 tokens
    request = ModelRequest(
        ref, (Message("user", (TextPart(text),)),), TextT(), None, params=Params(max_tokens=10)
    )
    est = TABLE.estimate(request, margin=1.0)
    all_written = TABLE.price(ref, Usage(est.input_tokens, 10, 0, 0, est.input_tokens))
    assert est.worst_case_usd == pytest.approx(all_written)
    assert est.worst_case_usd > TABLE.price(ref, Usage(est.input_tokens, 10))


def test_unknown_model_has_unknown_price_and_simulated_are_free():
    assert TABLE.price(ModelRef("openai", "gpt-4o-like"), Usage(10, 10)) is None
    assert TABLE.price(ModelRef("openai-compat", "gpt-4o"), Usage(10, 10)) is None
    assert TABLE.price(ModelRef("oracle", ""), Usage(10, 10)) == 0.0


def test_user_prices_take_precedence_and_are_validated(tmp_path):
    table = PriceTable.load(
        {"model": [{"provider": "openai-compat", "match": "qwen*", "input": 0.2, "output": 0.6}]}
    )
    assert table.price(ModelRef("openai-compat", "qwen2-vl"), Usage(10**6, 0)) == pytest.approx(0.2)
    with pytest.raises(UsageError, match="missing 'output'"):
        PriceTable.load({"model": [{"provider": "x", "match": "y", "input": 1}]})
    with pytest.raises(UsageError, match="unknown keys"):
        PriceTable.load(
            {"model": [{"provider": "x", "match": "y", "input": 1, "output": 1, "outptu": 2}]}
        )
    bad = tmp_path / "p.toml"
    bad.write_text("[[model]\n")
    with pytest.raises(UsageError, match="cannot read price table"):
        PriceTable.load(bad)


def test_estimate_counts_text_images_and_the_output_cap():
    image = ImageData.of(np.zeros((768, 1024, 3), np.uint8))
    request = make_request(max_tokens=500)
    request = type(request)(
        model=request.model,
        messages=(Message("user", (TextPart("x" * 400), ImagePart(image))),),
        answer_type=request.answer_type,
        schema=None,
        params=request.params,
    )
    est = TABLE.estimate(request)
    assert est.max_output_tokens == 500
    assert est.input_tokens == 100 + 4 + 765  # text, message overhead, 2x2 OpenAI tiles
    expected = (np.ceil(est.input_tokens * INPUT_MARGIN) * 2.5 + 500 * 10.0) / 1e6
    assert est.worst_case_usd == pytest.approx(expected, rel=1e-3)


def test_budget_reserve_and_settle():
    budget = Budget(1.0)
    assert budget.try_reserve(0.6)
    assert not budget.try_reserve(0.5)  # would exceed with the outstanding reservation
    budget.settle(0.6, 0.1)
    assert budget.try_reserve(0.5)
    assert budget.spent == pytest.approx(0.1) and budget.remaining == pytest.approx(0.4)
    with pytest.raises(UsageError):
        Budget(-1)


def _outcome(ok=True, kind=None, cost=0.01, cached=False) -> Outcome:
    return Outcome(
        ok,
        "red" if ok else None,
        None,
        Usage(100, 10),
        1,
        0,
        0.1,
        cached,
        cost,
        kind,
        None if ok else "boom",
        "k",
    )


def test_tally_and_plain_lines():
    now = [0.0]
    stream = io.StringIO()
    progress = PlainProgress(total=4, stream=stream, every_s=10.0, now=lambda: now[0])
    progress.on_done(_outcome())
    assert stream.getvalue() == ""  # not yet time for a line
    now[0] = 11.0
    progress.on_done(_outcome(ok=False, kind="server", cost=None))
    progress.on_retry("rate_limit", 1.0)
    progress.on_done(_outcome(cached=True, cost=0.0))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[-1].startswith("3/≤4 questions, 1 cached, failures: server 1, retries 1")
    assert "(+1 unpriced)" in lines[-1] and "$0.0100" in lines[-1]


def test_rich_progress_renders():
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RichProgress(total=2, console=console) as progress:
        progress.on_start(make_request())
        progress.on_done(_outcome(ok=False, kind="timeout"))
    out = console.file.getvalue()
    assert "questions" in out and "timeout 1" in out


def test_tally_eta():
    tally = Tally(total=10, started_at=0.0)
    for _ in range(5):
        tally.on_done(_outcome())
    assert tally.eta_s(now=10.0) == pytest.approx(10.0)
