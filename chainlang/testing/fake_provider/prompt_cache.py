"""The fake server's prompt caches: hits reported the way each real API reports them.

Each wire body is cut into the blocks its provider reads in order (schema or tools
first, then the system text, then every content part), and one
:class:`~chainlang.providers.prompt_cache.PrefixCache` per provider family and model,
with that provider's documented rule, says how many tokens of a request were read from
the cache and how many written (Anthropic, at its ``cache_control`` breakpoints). Token
counts are the server's own estimate (:func:`estimate_tokens`), so hits stay within the
input tokens it reports.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from chainlang.providers.prompt_cache import (
    ANTHROPIC_CACHE,
    GEMINI_CACHE,
    OPENAI_CACHE,
    Block,
    CacheRule,
    Hits,
    PrefixCache,
)
from chainlang.testing.fake_provider.answers import estimate_tokens

_RULES: dict[str, CacheRule] = {
    "openai-chat": OPENAI_CACHE,
    "openai-responses": OPENAI_CACHE,
    "anthropic": ANTHROPIC_CACHE,
    "gemini": GEMINI_CACHE,
}


class FakePromptCaches:
    """Every prompt cache the fake server keeps (thread-safe; cleared by ``reset``)."""

    def __init__(self) -> None:
        self._caches: dict[tuple[str, str], PrefixCache] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every cached prefix."""
        with self._lock:
            self._caches.clear()

    def send(self, dialect: str, model: str, body: dict[str, Any]) -> Hits:
        """Account one request: the tokens it read from and wrote to its provider's cache."""
        rule = _RULES.get(dialect)
        if rule is None:
            return Hits(0, 0)
        family = "openai" if dialect.startswith("openai") else dialect
        blocks = wire_blocks(dialect, body)
        with self._lock:
            cache = self._caches.setdefault((family, model), PrefixCache(rule, model))
            return cache.send(blocks)


def wire_blocks(dialect: str, body: dict[str, Any]) -> list[Block]:
    """``body`` as the blocks its provider caches, in the order it reads them."""
    if dialect == "anthropic":
        head = {k: body.get(k) for k in ("model", "tools", "tool_choice", "output_config")}
        blocks = [_block(head)]
        system = body.get("system")
        blocks += [_block(b) for b in system] if isinstance(system, list) else [_block(system)]
        for msg in body.get("messages", []):
            blocks += _content_blocks(msg)
        return blocks
    if dialect == "gemini":
        gen = body.get("generationConfig") or {}
        head = {"schema": gen.get("responseJsonSchema") or gen.get("responseSchema")}
        blocks = [_block(head), _block(body.get("systemInstruction"))]
        for content in body.get("contents", []):
            blocks += [_block(part) for part in content.get("parts", [])]
        return blocks
    if dialect == "openai-responses":
        head = {k: body.get(k) for k in ("model", "text", "tools", "instructions")}
        blocks = [_block(head)]
        for msg in body.get("input", []):
            blocks += _content_blocks(msg)
        return blocks
    head = {k: body.get(k) for k in ("model", "response_format", "tools")}
    blocks = [_block(head)]
    for msg in body.get("messages", []):
        blocks += _content_blocks(msg)
    return blocks


def _content_blocks(msg: dict[str, Any]) -> list[Block]:
    content = msg.get("content")
    if not isinstance(content, list):
        return [_block({"role": msg.get("role"), "content": content})]
    return [_block(part) for part in content]


def _block(value: Any) -> Block:
    """One block: its exact JSON (minus the breakpoint marker), its tokens, its marker."""
    marked = isinstance(value, dict) and "cache_control" in value
    if marked:
        value = {k: v for k, v in value.items() if k != "cache_control"}
    return Block(json.dumps(value, sort_keys=True), estimate_tokens(value), marked)
