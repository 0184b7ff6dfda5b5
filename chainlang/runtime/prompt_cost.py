"""The prompt-cache hits a run's requests will get, for the planner.

The provider's cache is simulated (:class:`chainlang.providers.prompt_cache.PrefixCache`,
with the rule of the model's provider) over the requests the dry run built, in the order
one item sends them. A long run is in a steady state where what every item shares (the
schema, the system text with its label list) is already cached and what is its own (its
image) is not: each item's requests are therefore sent to a cache that has seen the
requests of another item first (the previous one; the first item is warmed by the last).
A single dry-run item (or packed chunk: ``batch items`` plans its first full chunk only)
is warmed by its own requests with every image replaced by another: what a next item
sends, the same texts and schema around its own images.
"""

from __future__ import annotations

from collections.abc import Sequence

from chainlang.providers.base import ModelRequest
from chainlang.providers.prompt_cache import Block, Hits, PrefixCache, request_blocks
from chainlang.providers.specs import find_spec


def steady_hits(groups: Sequence[Sequence[ModelRequest]]) -> list[Hits]:
    """Cache reads and writes summed over each group (one item's, or one packed chunk's,
    requests in the order they are sent), each group after another group warmed the cache."""
    out = []
    for i, group in enumerate(groups):
        if not group:
            out.append(Hits(0, 0))
            continue
        cache = _cache_for(group[0])
        if cache is None:
            out.append(Hits(0, 0))
            continue
        if len(groups) > 1:
            for request in groups[i - 1]:  # the previous group (the last one for the first)
                cache.send(request_blocks(request))
        else:
            for request in group:
                cache.send([_other_images(b) for b in request_blocks(request)])
        hits = [cache.send(request_blocks(r)) for r in group]
        out.append(Hits(sum(h.read for h in hits), sum(h.written for h in hits)))
    return out


def _other_images(block: Block) -> Block:
    """``block``, or, for an image, a block naming a different image of the same size."""
    return block._replace(ident=block.ident + "|another item") if block.ident[:2] == "i:" else block


def _cache_for(request: ModelRequest) -> PrefixCache | None:
    spec = find_spec(request.model.provider)
    if spec is None or spec.prompt_cache.min_for(request.model.model) is None:
        return None
    return PrefixCache(spec.prompt_cache, request.model.model)
