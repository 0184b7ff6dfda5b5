"""The operations added for the chain forms: seeded shuffle and its inverse, first_each."""

from __future__ import annotations

import pytest

from chainlang.errors import OperationError
from chainlang.stdlib import default_registry
from chainlang.vision import ops


def test_unshuffle_inverts_shuffle() -> None:
    xs = list(range(37))
    mixed = ops.shuffle(xs, seed=4)
    assert sorted(mixed) == xs and mixed != xs
    assert ops.unshuffle(mixed, seed=4) == xs
    assert ops.shuffle(xs, seed=4) == mixed, "the same seed gives the same order"
    assert ops.shuffle(xs, seed=5) != mixed


def test_unshuffle_restores_values_computed_from_a_shuffled_list() -> None:
    names = ["a", "b", "c", "d", "e"]
    shouted = [n.upper() for n in ops.shuffle(names, seed=1)]
    assert ops.unshuffle(shouted, seed=1) == ["A", "B", "C", "D", "E"]


def test_shuffle_edge_cases_and_errors() -> None:
    assert ops.shuffle([], seed=0) == [] and ops.unshuffle([], seed=0) == []
    assert ops.shuffle(["x"], seed=9) == ["x"]
    with pytest.raises(OperationError, match="seed must be >= 0"):
        ops.shuffle([1, 2], seed=-1)


def test_first_each_reads_the_first_of_every_order() -> None:
    orders = [["blue", "red"], ["red", "blue"], None, [], ["red"]]
    assert ops.first_each(orders) == ["blue", "red", None, None, "red"]


def test_operations_are_registered_with_their_types() -> None:
    registry = default_registry()
    for name in ("shuffle", "unshuffle", "first_each"):
        op = registry.get(name)
        assert op is not None and op.resolve() is getattr(ops, name)
    first_each = registry.get("first_each")
    assert first_each is not None and first_each.result.show() == "['T?]"
