"""The metric signatures a `score` line is checked against (chainlang.stdlib.metrics)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from chainlang.errors import UsageError
from chainlang.stdlib import metrics as metrics_module
from chainlang.stdlib.metrics import MetricSpec, metric, metric_registry
from chainlang.stdlib.sigparse import SignatureError

BUILTINS = ("exact", "mae", "rmse", "point_error", "pck", "kendall_tau", "spearman", "ap")


@metric(
    "within(prediction: Int | Float, truth: Int | Float, tol: Float = 1.0)",
    higher_is_better=True,
    doc="1 when the answer is within tol of the truth",
)
def within(prediction: float, truth: float, *, image_size: Any = None, tol: float = 1.0) -> float:
    return float(abs(prediction - truth) <= tol)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A package exposing this module's metrics under the ``chainlang.metrics`` group."""
    here = sys.modules[__name__]
    ep = SimpleNamespace(load=lambda: here)

    def fake_entry_points(group: str) -> list[Any]:
        return [ep] if group == metrics_module.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(metrics_module, "entry_points", fake_entry_points)
    metrics_module._installed.cache_clear()
    yield
    metrics_module._installed.cache_clear()


def test_every_builtin_parses_and_resolves() -> None:
    reg = metric_registry()
    assert set(BUILTINS) <= set(reg)
    for name in BUILTINS:
        spec = reg[name]
        assert spec.prediction_types() and spec.truth_types() and spec.doc
        assert callable(spec.resolve())
    assert [t.show() for t in reg["mae"].prediction_types()] == ["Int", "Float"]
    assert reg["pck"].params == (("r", "Float", 0.05),)
    assert not reg["point_error"].higher_is_better and reg["kendall_tau"].higher_is_better


def test_the_registry_imports_no_scoring_code() -> None:
    code = (
        "import sys; from chainlang.stdlib.metrics import metric_registry; "
        "r = metric_registry(); r['pck'].truth_types(); "
        "assert not [m for m in sys.modules if m.startswith('chainlang.scoring')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_arguments_fill_defaults_and_refuse_unknown_names() -> None:
    pck = metric_registry()["pck"]
    assert pck.arguments() == {"r": 0.05}
    assert pck.arguments([("r", 0.1)]) == {"r": 0.1}
    with pytest.raises(UsageError, match=r"takes no argument 'radius' \(its arguments: r\)"):
        pck.arguments([("radius", 0.1)])


def test_a_decorated_function_joins_the_registry_passed_to_it() -> None:
    spec = metric_registry(extra=[within])["within"]
    assert spec.params == (("tol", "Float", 1.0),)
    assert spec.impl == f"{__name__}:within"
    assert spec.resolve() is within
    assert "within" not in metric_registry()  # nothing global


def test_an_entry_point_adds_its_metrics(installed: None) -> None:
    reg = metric_registry()
    assert reg["within"].resolve()(3, 3.5, tol=1.0) == 1.0
    assert "exact" in reg


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("lonely(prediction: Int)", "first two parameters"),
        ("near(prediction: Int, truth: Int, tol: Float)", "'tol' needs a default"),
        ("bad(prediction: Nope, truth: Int)", "unknown type"),
    ],
)
def test_malformed_signatures_are_refused(signature: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        metric(signature, higher_is_better=True, doc="")


def test_an_undecorated_function_is_refused() -> None:
    with pytest.raises(UsageError, match="not declared with"):
        metric_registry(extra=[len])


def test_a_spec_with_a_missing_implementation_says_so() -> None:
    spec = MetricSpec("ghost", "Int", "Int", (), True, "", "chainlang.nowhere:ghost")
    with pytest.raises(UsageError, match="cannot be loaded"):
        spec.resolve()
