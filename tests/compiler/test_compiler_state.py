"""The checker's shared state: a scoped environment restores what it changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlang.language.checking.helpers import Binding
from chainlang.language.checking.state import CheckState
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.types import IntT
from chainlang.stdlib import Registry


def _state() -> CheckState:
    state = CheckState(Diagnostics(), Registry(), Path("."))
    state.env["n"] = Binding(IntT(), "param")
    return state


def test_scoped_names_do_not_leak_and_outer_names_stay() -> None:
    state = _state()
    outer = state.env
    with state.scoped({"x": Binding(IntT(), "var")}, loop=True, oracle=True):
        state.env["y"] = Binding(IntT(), "let")
        assert {"n", "x", "y"} <= set(state.env)
        assert (state.loop_depth, state.in_oracle) == (1, True)
    assert set(state.env) == {"n"} and state.env is outer
    assert (state.loop_depth, state.in_oracle) == (0, False)


def test_scoped_restores_when_checking_raises() -> None:
    state = _state()
    with pytest.raises(RuntimeError), state.scoped({"x": Binding(IntT(), "var")}, loop=True):
        raise RuntimeError("a bug inside a pass")
    assert set(state.env) == {"n"} and state.loop_depth == 0
