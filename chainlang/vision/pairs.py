"""Sampling the region pairs that pairwise chains (depth, normals) ask about.

Three schemes:

``reference``
    The paper's scheme, bit for bit: seed a legacy NumPy stream, then in
    passes shuffle the (persisting) id array in place and pair neighbours
    ``(0, 1), (2, 3), ...``; an odd count adds ``(last, first)``. Passes repeat
    until at least ``n`` pairs exist, and the list is cut to ``n`` only when
    more than one pass was made. So ``P = n`` when ``ceil(K / 2) < n`` and
    ``P = ceil(K / 2)`` otherwise. The reference seeds NumPy's *global*
    generator; a private ``RandomState`` with the same seed yields the same
    stream without touching anyone else's randomness.
``balanced``
    Rounds of a round-robin tournament over a shuffled id order: every round
    pairs each region at most once, and no unordered pair repeats, so every
    region is in about the same number of pairs.
``adjacent``
    Neighbouring regions first (the comparisons the smoothness prior cannot
    make for free), then balanced pairs to fill up to ``n``.

In ``balanced`` and ``adjacent`` the order within a pair is drawn at random so
that neither marker colour is systematically the first region.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from chainlang.errors import OperationError
from chainlang.vision.graph import adjacency
from chainlang.vision.values import Pair, Region, Regions

SCHEMES = ("reference", "balanced", "adjacent")


def sample_pairs(
    regions: Regions, n: int = 200, seed: int = 25, scheme: str = "reference"
) -> list[Pair]:
    """Pairs of regions to compare; the same map, ``n``, seed and scheme give the same pairs.

    Raises:
        OperationError: fewer than 2 regions, negative ``n`` or an unknown scheme.
    """
    if regions.count < 2:
        raise OperationError(f"sample_pairs needs at least 2 regions, the map has {regions.count}")
    if int(n) < 0:
        raise OperationError(f"sample_pairs needs n >= 0, got {n}")
    if scheme == "reference":
        ids = reference_pair_ids(regions.count, int(n), seed)
    elif scheme == "balanced":
        ids = balanced_pair_ids(regions.count, int(n), seed)
    elif scheme == "adjacent":
        ids = adjacent_pair_ids(regions, int(n), seed)
    else:
        raise OperationError(f"unknown pair scheme {scheme!r}; expected one of {SCHEMES}")
    return [Pair(Region(regions, a), Region(regions, b)) for a, b in ids]


def reference_pair_ids(k: int, n: int, seed: int = 25) -> list[tuple[int, int]]:
    """The reference's pass-and-pair scheme over ids ``1..k`` (see the module docstring)."""
    rng = np.random.RandomState(seed)
    ids = np.arange(1, k + 1)
    pairs: list[tuple[int, int]] = []
    passes = 0
    while len(pairs) < n or passes < 1:
        rng.shuffle(ids)  # in place: the next pass starts from this order
        pairs.extend((int(ids[i]), int(ids[i + 1])) for i in range(0, k - 1, 2))
        if k % 2:
            pairs.append((int(ids[-1]), int(ids[0])))
        passes += 1
    return pairs[:n] if len(pairs) > n and passes > 1 else pairs


def balanced_pair_ids(
    k: int, n: int, seed: int, exclude: frozenset[tuple[int, int]] = frozenset()
) -> list[tuple[int, int]]:
    """Up to ``n`` distinct unordered pairs, round by round, skipping ``exclude``.

    Stops early when all ``k (k - 1) / 2`` pairs are used.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.arange(1, k + 1))
    out: list[tuple[int, int]] = []
    for a, b in _round_robin(order):
        key = (min(a, b), max(a, b))
        if key in exclude:
            continue
        out.append((a, b) if rng.random() < 0.5 else (b, a))
        if len(out) == n:
            break
    return out


def _round_robin(order: np.ndarray) -> Iterator[tuple[int, int]]:
    """Circle-method tournament: ``k - 1`` (or ``k``) rounds covering every pair once."""
    players = [int(v) for v in order]
    if len(players) % 2:
        players.append(0)  # 0 = sits out this round
    m = len(players)
    for _ in range(m - 1):
        for i in range(m // 2):
            a, b = players[i], players[m - 1 - i]
            if a and b:
                yield a, b
        players = [players[0], players[-1], *players[1:-1]]


def adjacent_pair_ids(regions: Regions, n: int, seed: int) -> list[tuple[int, int]]:
    """Neighbouring pairs (4-connected) in random order, then balanced pairs up to ``n``."""
    rng = np.random.default_rng(seed)
    edges = adjacency(regions, 4).edges() + 1
    edges = edges[rng.permutation(len(edges))]
    flips = rng.random(len(edges)) < 0.5
    chosen = [
        (int(b), int(a)) if flip else (int(a), int(b))
        for (a, b), flip in zip(edges[:n], flips[:n], strict=True)
    ]
    if len(chosen) < n:
        used = frozenset((min(a, b), max(a, b)) for a, b in chosen)
        chosen += balanced_pair_ids(regions.count, n - len(chosen), seed + 1, exclude=used)
    return chosen


def _permutation(n: int, seed: int) -> np.ndarray:
    """The seeded order used by :func:`shuffle` and undone by :func:`unshuffle`."""
    if int(seed) < 0:
        raise OperationError(f"a shuffle seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed)).permutation(n)


def shuffle(xs: Sequence[Any], seed: int = 0) -> list[Any]:
    """The elements of ``xs`` in a seeded random order.

    The order depends only on ``len(xs)`` and ``seed``, so :func:`unshuffle`
    with the same seed puts a list computed from the shuffled one back in the
    original order (the Set-of-Mark segmentation form labels regions in
    shuffled batches and paints them in id order).

    Raises:
        OperationError: a negative seed.
    """
    return [xs[i] for i in _permutation(len(xs), seed)]


def unshuffle(xs: Sequence[Any], seed: int = 0) -> list[Any]:
    """Undo :func:`shuffle`: ``unshuffle(shuffle(xs, s), s) == xs``.

    Raises:
        OperationError: a negative seed.
    """
    out: list[Any] = [None] * len(xs)
    for position, source in enumerate(_permutation(len(xs), seed)):
        out[source] = xs[position]
    return out


def pair(a: Region, b: Region) -> Pair:
    """The pair ``(a, b)``: in marked views ``a`` is drawn first, and a +1 vote means ``a``."""
    if not isinstance(a, Region) or not isinstance(b, Region):
        raise OperationError(
            f"pair() takes two regions, got {type(a).__name__} and {type(b).__name__}"
        )
    return Pair(a, b)


def pairs_of(regions: Sequence[Region]) -> list[Pair]:
    """Every unordered pair of distinct list positions once, ``(xs[i], xs[j])`` for ``i < j``.

    ``n`` regions give ``n * (n - 1) / 2`` pairs, in row-major order of ``(i, j)``.
    """
    return [
        pair(regions[i], regions[j])
        for i in range(len(regions))
        for j in range(i + 1, len(regions))
    ]


def order_pairs(order: Sequence[Region]) -> list[Pair]:
    """The pairs an order implies: ``(earlier, later)`` for every two of its elements.

    With ``order`` nearest first, each pair's ``a`` is the nearer region, so a vote of
    +1 for every pair (``[1 for p in pairs]``) gives ``globalize_order`` the order
    itself. A region listed twice is an error (the order would contradict itself).
    """
    ids = [r.id for r in order]
    if len(set(ids)) != len(ids):
        raise OperationError(f"order_pairs() got a region twice in {ids}")
    return pairs_of(order)


def numbered_order_pairs(
    groups: Sequence[Sequence[Region]], orders: Sequence[Sequence[int] | None]
) -> list[Pair]:
    """The pairs implied by answers that order numbered regions, group by group.

    ``orders[g]`` is the answer for ``groups[g]`` drawn with ``number_regions``: region
    numbers from 1, first = highest. A skipped answer (none) implies nothing; a number
    outside the group and a repeat are dropped (the first mention counts), so a partial
    or sloppy answer keeps what it does say. A model's listwise answer is read as it came.
    """
    if len(groups) != len(orders):
        raise OperationError(
            f"numbered_order_pairs() got {len(groups)} groups but {len(orders)} orders"
        )
    out: list[Pair] = []
    for group, order in zip(groups, orders, strict=True):
        picked = [group[i - 1] for i in dict.fromkeys(order or ()) if 1 <= i <= len(group)]
        out.extend(order_pairs(picked))
    return out
