"""Extreme inputs check in time linear in their size.

Times are ratios measured in the same test (best of three each), never wall-clock
limits. A linear checker gives about the size ratio; the quadratic one it replaces
gave its square (a 5 MB literal took 322 s, a 400 KB one 3.2 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from chainlang.language.compiler import check_source


def _best_of_three(source: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = check_source(source, "extreme.chain")
        best = min(best, time.perf_counter() - start)
        assert result.diagnostics == [], result.render()
    return best


def _prompt_literal(size: int) -> str:
    body = "word " * (size // 5)
    return (
        "chain t {\n  input image: Image\n  output Label\n"
        "  prompt q(view: Image) -> Label(coco80) {\n"
        f'    user [view high] "{body}"\n  }}\n'
        "  return ask q(view = image)\n}\n"
    )


def _let_literal(size: int) -> str:
    body = "a\\n{b}}{{" * (size // 9)  # escapes and brace pairs too
    head = "chain t {\n  input image: Image\n  output Label\n"
    return f'{head}  let _s = "{body}"\n  return "cat"\n}}\n'


def _lets(count: int) -> str:
    # `_` names: kept on purpose, so the chain checks clean (no unused-let warning)
    body = "".join(f"  let _v{i} = {i} + 1\n" for i in range(count))
    return f'chain t {{\n  input image: Image\n  output Label\n{body}  return "cat"\n}}\n'


@pytest.mark.parametrize("make", [_prompt_literal, _let_literal], ids=["prompt", "let"])
def test_a_5_mb_literal_checks_in_linear_time(make: Callable[[int], str]) -> None:
    small = _best_of_three(make(1_000_000))
    large = _best_of_three(make(5_000_000))
    # Five times the text: about 5x when linear, 25x when quadratic.
    assert large / small <= 8.0, (small, large)


@pytest.mark.slow
def test_many_lets_check_in_linear_time() -> None:
    small = _best_of_three(_lets(1_000))
    large = _best_of_three(_lets(4_000))
    assert large / small <= 8.0, (small, large)  # 4x the lets: ~4x linear, 16x quadratic
