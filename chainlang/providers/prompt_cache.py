"""Prompt caching: each provider's rule, where its breakpoints go, and what a cache holds.

Every provider caches the *prefix* of a request: tokens that start a request exactly as an
earlier one started are read from the cache at a lower price. What differs is how:

* **OpenAI** caches automatically. A prompt of 1,024 tokens or more is cacheable, and hits
  are counted in steps of 128 tokens (OpenAI cookbook "Prompt Caching 201", cells 1.1,
  github.com/openai/openai-cookbook examples/Prompt_Caching_201.ipynb; and
  developers.openai.com/api/docs/guides/prompt-caching: "enabled automatically for prompts
  that are 1024 tokens or longer", both read 2026-12-04). Requests are routed by a hash of
  their first tokens; ``prompt_cache_key`` joins that hash, so requests sharing a prefix
  reach the same machine (same guide, "Cache Routing").
* **Anthropic** caches only where the request says so: up to 4 ``cache_control``
  breakpoints; the prefix up to a breakpoint is written (at a premium) and later read. A
  prefix shorter than the model's minimum is not cached, and costs no premium either:
  1,024 tokens for Sonnet 4.x, Sonnet 3.7, Opus 4 and 4.1; 2,048 for Haiku 3 and 3.5;
  4,096 for Opus 4.5 and Haiku 4.5 (docs.litellm.ai/docs/completion/prompt_caching,
  "Minimum token requirements", updated 2026-10-07; the 4-breakpoint cap: Anthropic's
  prompt-caching guide as summarised by docs.rs/claude-api 0.5.3 and skills.sh
  softspark/prompt-caching-patterns; all read 2026-12-04).
* **Gemini** 2.5 and later cache implicitly, like OpenAI but best effort, from 2,048
  tokens for Gemini 2.5 Flash and Pro and 4,096 for Gemini 3 and later
  (ai.google.dev/gemini-api/docs/caching, "Implicit caching", last updated 2026-10-13;
  it read 1,024 for 2.5 Flash in May 2026). Gemini 2.0 and 1.5 have no implicit cache.
  Explicit ``cachedContents`` need 32,768 tokens and are billed for storage per hour, more
  than any chain's shared prefix (one image and a label list), so chainlang does not use
  them.

The hits reported back are read from each response: OpenAI
``usage.prompt_tokens_details.cached_tokens`` (Responses: ``input_tokens_details``),
Anthropic ``cache_read_input_tokens`` and ``cache_creation_input_tokens``, Gemini
``usageMetadata.cachedContentTokenCount``. Their prices are in ``runtime/models.toml``.

:class:`PrefixCache` simulates one provider's cache over a sequence of requests given as
:class:`Block` lists; the planner uses it to price the hits a run will get, and the fake
server to report hits the way each API does.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from chainlang.providers.base import ImagePart, ModelRequest, TextPart

CacheKind = Literal["automatic", "breakpoints", "none"]


@dataclass(frozen=True, slots=True)
class CacheRule:
    """How one provider caches prompt prefixes.

    Attributes:
        kind: ``automatic`` (every prefix of a long enough prompt), ``breakpoints``
            (only prefixes ending at a marked block), or ``none``.
        min_tokens: the shortest cacheable prefix, unless ``per_model`` says otherwise.
        per_model: ``(glob over the model id, min_tokens)``; the first match wins, and a
            ``min_tokens`` of 0 there means the model has no cache.
        step: hits are counted in steps of this many tokens above ``min_tokens``.
        max_breakpoints: the most breakpoints one request may carry.
    """

    kind: CacheKind = "none"
    min_tokens: int = 0
    per_model: tuple[tuple[str, int], ...] = ()
    step: int = 1
    max_breakpoints: int = 0

    def min_for(self, model: str) -> int | None:
        """The shortest cacheable prefix for ``model``; None: ``model`` has no cache."""
        if self.kind == "none":
            return None
        for pattern, tokens in self.per_model:
            if fnmatch.fnmatchcase(model, pattern):
                return tokens or None
        return self.min_tokens or None


NO_CACHE = CacheRule()
OPENAI_CACHE = CacheRule("automatic", min_tokens=1024, step=128)
ANTHROPIC_CACHE = CacheRule(
    "breakpoints",
    min_tokens=1024,
    per_model=(
        ("claude-opus-4-5*", 4096),
        ("claude-haiku-4*", 4096),
        ("claude-3-haiku*", 2048),
        ("claude-3-5-haiku*", 2048),
    ),
    max_breakpoints=4,
)
GEMINI_CACHE = CacheRule(
    "automatic",
    min_tokens=4096,  # Gemini 3 and later
    per_model=(("gemini-2.5-*", 2048), ("gemini-2.0-*", 0), ("gemini-1.5-*", 0)),
)


class Block(NamedTuple):
    """One piece of a request's prefix, in the order the provider reads it.

    ``ident`` names the content exactly (text, image digest and detail, schema);
    ``tokens`` its estimated size; ``breakpoint`` whether a cache breakpoint follows it.
    """

    ident: str
    tokens: int
    breakpoint: bool = False


class Hits(NamedTuple):
    """Prompt-cache tokens of one request: read from the cache, and written to it."""

    read: int
    written: int


@dataclass
class PrefixCache:
    """One provider's prompt cache for one model, as its documentation describes it.

    Feed it a run's requests in the order they are sent (:meth:`send`); each returns the
    tokens read from and written to the cache. Entries never expire here: a run that
    pauses longer than the provider keeps them (OpenAI and Anthropic: minutes) hits less.
    """

    rule: CacheRule
    model: str
    _seen: set[str] = field(default_factory=set)

    def send(self, blocks: Sequence[Block]) -> Hits:
        """Account one request; returns its hits and remembers what it leaves cached."""
        least = self.rule.min_for(self.model)
        if least is None or not blocks:
            return Hits(0, 0)
        ends = _prefix_ends(blocks)
        if self.rule.kind == "breakpoints":
            return self._breakpoints(blocks, ends, least)
        return self._automatic(ends, least)

    def _automatic(self, ends: list[tuple[str, int]], least: int) -> Hits:
        total = ends[-1][1]
        if total < least:
            return Hits(0, 0)
        hit = max((n for h, n in ends if h in self._seen), default=0)
        self._seen.update(h for h, _ in ends)
        if hit < least:
            return Hits(0, 0)
        step = max(1, self.rule.step)
        return Hits(least + (hit - least) // step * step, 0)

    def _breakpoints(
        self, blocks: Sequence[Block], ends: list[tuple[str, int]], least: int
    ) -> Hits:
        marks = [
            end
            for block, end in zip(blocks, ends, strict=True)
            if block.breakpoint and end[1] >= least
        ][: self.rule.max_breakpoints]
        if not marks:
            return Hits(0, 0)
        read = max((n for h, n in marks if h in self._seen), default=0)
        written = max(0, marks[-1][1] - read) if marks[-1][0] not in self._seen else 0
        self._seen.update(h for h, _ in marks)
        return Hits(read, written)


def _prefix_ends(blocks: Sequence[Block]) -> list[tuple[str, int]]:
    """For each block: a digest of the prefix ending with it, and the prefix's tokens."""
    h = hashlib.sha256()
    out = []
    tokens = 0
    for block in blocks:
        h.update(f"{len(block.ident)}:{block.ident}|".encode())
        tokens += block.tokens
        out.append((h.copy().hexdigest(), tokens))
    return out


# ------------------------------------------------------------------ a neutral request's prefix


def _system_parts(request: ModelRequest) -> list[TextPart | ImagePart]:
    return [p for m in request.messages if m.role == "system" for p in m.parts]


def _conversation_parts(request: ModelRequest) -> list[TextPart | ImagePart]:
    return [p for m in request.messages if m.role != "system" for p in m.parts]


def shared_end(request: ModelRequest) -> int | None:
    """Index, among the non-system parts in order, of the last part of the request's
    shared prefix (a batched ask's shared arguments), or None when it has none beyond
    the system text. Adapters that mark breakpoints put one after this part."""
    end = request.shared_parts - len(_system_parts(request)) - 1
    return end if request.shared_parts and end >= 0 else None


def routing_key(request: ModelRequest) -> str:
    """A key naming the request's static prefix (schema, system text, shared parts), for
    providers that route requests sharing it to one cache (OpenAI's ``prompt_cache_key``)."""
    h = hashlib.sha256()
    end = shared_end(request)
    shared = _conversation_parts(request)[: (end + 1) if end is not None else 0]
    for ident in (_schema_ident(request), *map(_ident, _system_parts(request) + shared)):
        h.update(f"{len(ident)}:{ident}|".encode())
    return "chainlang-" + h.hexdigest()[:24]


def request_blocks(request: ModelRequest) -> list[Block]:
    """The request's prefix as the provider reads it: the answer schema (tools and
    response formats come first), the system text, then every part in order, with
    breakpoints where the adapters put them (after the system text and after the shared
    prefix). Tokens are estimated as the planner does: text ÷ 4, images by the
    provider's image rule."""
    from chainlang.providers.capabilities import image_tokens  # loads PIL: only when used

    schema = _schema_ident(request)
    blocks = [Block(schema, math.ceil(len(str(request.schema or "")) / 4))]
    system = _system_parts(request)
    for i, part in enumerate(system):
        blocks.append(
            Block(_ident(part), _part_tokens(request, part, image_tokens), i == len(system) - 1)
        )
    end = shared_end(request)
    for i, part in enumerate(_conversation_parts(request)):
        blocks.append(Block(_ident(part), _part_tokens(request, part, image_tokens), i == end))
    return blocks


def _schema_ident(request: ModelRequest) -> str:
    return f"{request.model.model}|{request.schema_name}|{_schema_text(request.schema)}"


# id(schema) -> (schema, its canonical text). The requests of one ask share one schema
# object, and serialising it was a tenth of the scheduler's own time per question; the
# schema is kept in the entry so its id cannot be reused while the entry lives.
_SCHEMA_TEXT: dict[int, tuple[Any, str]] = {}


def _schema_text(schema: Any) -> str:
    if schema is None:
        return ""
    hit = _SCHEMA_TEXT.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    if len(_SCHEMA_TEXT) >= 512:
        _SCHEMA_TEXT.clear()
    text = json.dumps(schema, sort_keys=True)
    _SCHEMA_TEXT[id(schema)] = (schema, text)
    return text


def _ident(part: TextPart | ImagePart) -> str:
    if isinstance(part, TextPart):
        return "t:" + part.text
    return f"i:{part.image.digest}:{part.detail}"


def _part_tokens(request: ModelRequest, part: TextPart | ImagePart, image_tokens: Any) -> int:
    if isinstance(part, TextPart):
        return math.ceil(len(part.text) / 4)
    return int(image_tokens(request.model, part.image.size, part.detail))
