"""Choosing what to ask next: pairs whose order is least determined, balanced colours.

The adaptive depth and normals strategies (``chains/depth_strategies.chain``,
``chains/normals_strategies.chain``) ask in rounds: fit the globalizer on the
answers so far, then ask about the regions whose order the fit leaves most open.
The fit ranks every region; two regions next to each other in that ranking are
the comparisons one answer can still overturn, so :func:`closest_pairs` pairs
regions a few places apart in the current order, least-asked regions first.

:func:`balance_colours` orients pairs so each region is marked first (red) about
as often as second (blue): an answerer that favours the first-listed region then
pushes every region up as often as down, and the globalizer cancels the push.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainlang.errors import OperationError
from chainlang.vision.values import Pair, Region, Regions

# How many places apart in the current order two regions are paired. Next-door
# regions (1 place) are the least determined but, under a noisy answerer, close to a
# coin flip; a spread of distances gave better fits on the synthetic scenes
# (docs/results.md, "Depth and normals at fewer calls").
_DISTANCES = (2, 4, 8, 16)


def closest_pairs(
    regions: Regions,
    scores: Sequence[float],
    asked: Sequence[Pair],
    n: int,
    seed: int = 0,
) -> list[Pair]:
    """Up to ``n`` pairs not asked yet whose order the current ``scores`` leave most open.

    Candidates are regions 2, 4, 8 or 16 places apart when sorted by score; nearer
    places come first, then the regions asked least so far. Each region is used
    once per pass before any is used again, so a round spreads over the map.
    Colours are balanced against ``asked`` (see :func:`balance_colours`).

    Raises:
        OperationError: ``scores`` not one per region, negative ``n``, or a pair
            from another superpixel map.
    """
    k = regions.count
    if len(scores) != k:
        raise OperationError(f"closest_pairs got {len(scores)} scores for {k} regions")
    if n < 0:
        raise OperationError(f"closest_pairs: n must be >= 0, got {n}")
    for p in asked:
        if p.a.owner != regions or p.b.owner != regions:
            raise OperationError("closest_pairs got a pair from another superpixel map")
    rng = np.random.default_rng(seed)
    times = np.zeros(k + 1, dtype=np.int64)
    seen: set[tuple[int, int]] = set()
    for p in asked:
        times[p.a.id] += 1
        times[p.b.id] += 1
        seen.add((min(p.a.id, p.b.id), max(p.a.id, p.b.id)))
    # ties in the scores (regions nothing has been said about) in random order
    order = np.lexsort((rng.random(k), np.asarray(scores, dtype=np.float64))) + 1
    candidates = []
    for d in _DISTANCES:
        for place in range(k - d):
            a, b = int(order[place]), int(order[place + d])
            if (min(a, b), max(a, b)) not in seen:
                candidates.append((d, int(times[a] + times[b]), float(rng.random()), a, b))
    candidates.sort()
    chosen: list[tuple[int, int]] = []
    taken: set[tuple[int, int]] = set()
    while len(chosen) < n:
        used: set[int] = set()
        before = len(chosen)
        for _, _, _, a, b in candidates:
            key = (min(a, b), max(a, b))
            if a in used or b in used or key in taken:
                continue
            chosen.append((a, b))
            taken.add(key)
            used.update((a, b))
            if len(chosen) == n:
                break
        if len(chosen) == before:
            break  # every candidate is asked: fewer than n new pairs exist
    pairs = [Pair(Region(regions, a), Region(regions, b)) for a, b in chosen]
    return balance_colours(pairs, asked)


def balance_colours(pairs: Sequence[Pair], asked: Sequence[Pair] | None = None) -> list[Pair]:
    """``pairs`` each oriented so its regions have been first (red) about as often as
    second (blue), counting ``asked`` too; the pairs and their order are kept.

    A region that has been first more often goes second, and the other way round;
    on a tie the pair keeps its orientation.
    """
    lead: dict[int, int] = {}
    for p in asked or ():
        lead[p.a.id] = lead.get(p.a.id, 0) + 1
        lead[p.b.id] = lead.get(p.b.id, 0) - 1
    out = []
    for p in pairs:
        if lead.get(p.a.id, 0) - lead.get(p.b.id, 0) > 0:
            p = Pair(p.b, p.a)
        lead[p.a.id] = lead.get(p.a.id, 0) + 1
        lead[p.b.id] = lead.get(p.b.id, 0) - 1
        out.append(p)
    return out
