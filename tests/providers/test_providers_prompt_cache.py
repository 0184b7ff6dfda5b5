"""Each provider's prompt-cache rule, as its documentation states it (providers/prompt_cache.py)."""

from __future__ import annotations

from chainlang.providers.prompt_cache import (
    ANTHROPIC_CACHE,
    GEMINI_CACHE,
    OPENAI_CACHE,
    Block,
    Hits,
    PrefixCache,
)
from chainlang.providers.specs import SPECS


def _blocks(*sizes: int, marks: tuple[int, ...] = (), tag: str = "") -> list[Block]:
    return [Block(f"{tag}{i}" if i > 0 else f"b{i}", n, i in marks) for i, n in enumerate(sizes)]


def test_openai_caches_prefixes_of_1024_tokens_or_more_in_steps_of_128() -> None:
    cache = PrefixCache(OPENAI_CACHE, "gpt-4o")
    assert cache.send(_blocks(1000, 300, tag="a")) == Hits(0, 0)  # nothing cached yet
    # the same first block (1,000 tokens) is below the minimum: no hit
    assert cache.send(_blocks(1000, 300, tag="b")) == Hits(0, 0)
    # the whole 1,300-token prompt repeated: 1,024 + 2 x 128 of it are hits
    assert cache.send(_blocks(1000, 300, tag="a")) == Hits(1280, 0)
    assert cache.send(_blocks(500)) == Hits(0, 0)  # a short prompt is never cached


def test_anthropic_reads_and_writes_only_at_breakpoints() -> None:
    cache = PrefixCache(ANTHROPIC_CACHE, "claude-sonnet-4-5")
    first = cache.send(_blocks(600, 600, 900, marks=(1,), tag="x"))
    assert first == Hits(0, 1200)  # the prefix up to the breakpoint is written
    again = cache.send(_blocks(600, 600, 50, marks=(1,), tag="x"))
    assert again == Hits(1200, 0)
    # a marked prefix below the model's minimum is neither written nor read
    assert cache.send(_blocks(300, 300, marks=(1,), tag="y")) == Hits(0, 0)
    assert PrefixCache(ANTHROPIC_CACHE, "claude-haiku-4-5").send(
        _blocks(1500, 1000, marks=(1,), tag="z")
    ) == Hits(0, 0)  # Haiku 4.5 caches from 4,096 tokens


def test_gemini_caches_implicitly_from_2_5_only() -> None:
    blocks = _blocks(2500, 10)
    flash = PrefixCache(GEMINI_CACHE, "gemini-2.5-flash")
    flash.send(blocks)
    assert flash.send(blocks).read == 2510
    old = PrefixCache(GEMINI_CACHE, "gemini-2.0-flash")
    old.send(blocks)
    assert old.send(blocks) == Hits(0, 0)


def test_every_real_provider_with_a_price_table_names_its_cache_rule() -> None:
    rules = {name: spec.prompt_cache.kind for name, spec in SPECS.items() if not spec.simulated}
    assert rules["openai"] == "automatic" and rules["gemini"] == "automatic"
    assert rules["anthropic"] == "breakpoints"
    assert ANTHROPIC_CACHE.max_breakpoints == 4
