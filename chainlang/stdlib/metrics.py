"""The signatures of the metrics a chain's ``score`` line may name.

A metric is declared like an operation: a signature in the signature syntax
of :mod:`chainlang.stdlib.sigparse`, whose first parameter is the chain's
output (the *prediction*), whose second is the truth field it is scored
against, and whose remaining parameters are the keyword arguments a
``score`` line may give::

    pck(prediction: Point | Points, truth: Point | Points, r: Float = 0.05)

The implementation is named by ``"module:function"`` and imported only when a
run is scored (:meth:`MetricSpec.resolve`), so checking a chain never imports
:mod:`chainlang.scoring`. An implementation is called as
``fn(prediction, truth, *, image_size, **args)`` for one item and returns that
item's value (a float; the run's value is the mean over items), or raises
``ValueError`` with a message when the item cannot be scored (the item then
counts against coverage). ``image_size`` is ``(width, height)`` of the item's
image.

Third parties add metrics in two ways, neither touching global state:

* decorate a function with :func:`metric` and expose it (or a module holding
  several) under the ``chainlang.metrics`` entry-point group;
  :func:`metric_registry` loads them;
* pass decorated functions to :func:`metric_registry` (``extra=``) directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.metadata import entry_points
from typing import Any, TypeVar

from chainlang.errors import UsageError
from chainlang.language.types import Type
from chainlang.stdlib.impl import load_impl
from chainlang.stdlib.sigparse import SignatureError, parse_signature

__all__ = [
    "ENTRY_POINT_GROUP",
    "MetricSpec",
    "metric",
    "metric_registry",
    "parse_metric_type",
]

ENTRY_POINT_GROUP = "chainlang.metrics"
GENERIC_IMPL = "chainlang.scoring.generic"
F = TypeVar("F", bound=Callable[..., Any])

Literal = int | float | str | bool | None


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A metric's signature, direction and lazily bound implementation.

    Attributes:
        name: How a ``score`` line names it.
        prediction: The output types it accepts, a type pattern (``"Int | Float"``).
        truth: The truth-field types it accepts, a type pattern.
        params: ``(name, type pattern, default)`` of each keyword argument, in order.
        higher_is_better: The direction (accuracy: True; an error: False).
        doc: One line for the docs and diagnostics.
        impl: ``"package.module:function"``, imported on first use.
    """

    name: str
    prediction: str
    truth: str
    params: tuple[tuple[str, str, Literal], ...]
    higher_is_better: bool
    doc: str
    impl: str
    _fn: list[Callable[..., Any]] = field(default_factory=list, compare=False, repr=False)

    def prediction_types(self) -> tuple[Type, ...]:
        """The parsed alternatives of :attr:`prediction`."""
        return parse_metric_type(self.prediction)

    def truth_types(self) -> tuple[Type, ...]:
        """The parsed alternatives of :attr:`truth`."""
        return parse_metric_type(self.truth)

    def param(self, name: str) -> tuple[str, str, Literal] | None:
        """The keyword parameter called ``name``, or None."""
        return next((p for p in self.params if p[0] == name), None)

    def arguments(self, given: Iterable[tuple[str, Literal]] = ()) -> dict[str, Literal]:
        """The keyword arguments of one use: its defaults overridden by ``given``.

        Raises:
            UsageError: An argument the metric does not take.
        """
        args = {name: default for name, _, default in self.params}
        for key, value in given:
            if key not in args:
                known = ", ".join(args) or "none"
                raise UsageError(
                    f"metric '{self.name}' takes no argument '{key}' (its arguments: {known})"
                )
            args[key] = value
        return args

    def resolve(self) -> Callable[..., Any]:
        """Import and return the implementation (cached on this spec).

        Raises:
            UsageError: The module or function does not exist.
        """
        if not self._fn:
            self._fn.append(load_impl("metric", self.name, self.impl))
        return self._fn[0]


def parse_metric_type(text: str) -> tuple[Type, ...]:
    """The alternatives of a type pattern in signature syntax.

    >>> [t.show() for t in parse_metric_type("Int | Float")]
    ['Int', 'Float']
    """
    _, params, _ = parse_signature(f"_(x: {text}) -> Float")
    return params[0].types


def _split_params(inside: str) -> list[str]:
    """Split a parameter list at its top-level commas (not inside brackets or quotes)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(inside):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "([":
            depth += 1
        elif not quoted and ch in ")]":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append(inside[start:i])
            start = i + 1
    parts.append(inside[start:])
    return [p.strip() for p in parts if p.strip()]


def _spec(signature: str, *, higher_is_better: bool, doc: str, impl: str) -> MetricSpec:
    """Parse ``name(prediction: P, truth: T, k: K = v, ...)`` into a :class:`MetricSpec`."""
    text = signature.strip()
    head = text.split("->", 1)[0].strip()
    try:
        name, params, _ = parse_signature(f"{head} -> Float")
    except SignatureError as exc:
        raise SignatureError(f"metric signature {signature!r}: {exc}") from exc
    if len(params) < 2:
        raise SignatureError(
            f"metric signature {signature!r}: the first two parameters are the prediction "
            "and the truth"
        )
    inside = head[head.index("(") + 1 : head.rindex(")")]
    patterns = [p.split(":", 1)[1].split("=", 1)[0].strip() for p in _split_params(inside)]
    keywords = []
    for p, pattern in zip(params[2:], patterns[2:], strict=True):
        if not p.has_default:
            raise SignatureError(
                f"metric signature {signature!r}: keyword parameter '{p.name}' needs a default"
            )
        keywords.append((p.name, pattern, p.default))
    return MetricSpec(
        name=name,
        prediction=patterns[0],
        truth=patterns[1],
        params=tuple(keywords),
        higher_is_better=higher_is_better,
        doc=doc,
        impl=impl,
    )


def metric(signature: str, *, higher_is_better: bool, doc: str) -> Callable[[F], F]:
    """Declare a Python function as a metric a ``score`` line may name.

    Args:
        signature: ``"name(prediction: P, truth: T, k: K = default, ...)"``.
        higher_is_better: The direction of the metric.
        doc: A one-line description.

    Returns:
        A decorator that records the spec on the function (nothing global).

    Example:
        >>> @metric("within(prediction: Int | Float, truth: Int | Float, tol: Float = 1.0)",
        ...         higher_is_better=True, doc="1 when |prediction - truth| <= tol")
        ... def within(prediction, truth, *, image_size, tol=1.0):
        ...     return float(abs(prediction - truth) <= tol)
        >>> metric_registry(extra=[within])["within"].params
        (('tol', 'Float', 1.0),)
    """
    declared = _spec(signature, higher_is_better=higher_is_better, doc=doc, impl="")

    def wrap(fn: F) -> F:
        spec = replace(declared, impl=f"{fn.__module__}:{fn.__qualname__}", _fn=[fn])
        fn.__chainlang_metric__ = spec  # type: ignore[attr-defined]  # a marker on the function
        return fn

    return wrap


#: The built-in metrics, implemented in :mod:`chainlang.scoring.generic` (docs/scoring.md).
BUILTIN: tuple[tuple[str, bool, str], ...] = (
    ("exact(prediction: T, truth: T)", True, "fraction of items whose answer equals the truth"),
    ("mae(prediction: Int | Float, truth: Int | Float)", False, "mean absolute error"),
    ("rmse(prediction: Int | Float, truth: Int | Float)", False, "root mean squared error"),
    (
        "point_error(prediction: Point | Points, truth: Point | Points)",
        False,
        "pixel distance to the truth point(s), points matched by the Hungarian algorithm",
    ),
    (
        "pck(prediction: Point | Points, truth: Point | Points, r: Float = 0.05)",
        True,
        "fraction of truth points with a matched prediction within r × the image diagonal",
    ),
    (
        "kendall_tau(prediction: Ranking, truth: Ranking)",
        True,
        "Kendall's tau-b between the predicted and the true ranking, per item",
    ),
    (
        "spearman(prediction: Ranking, truth: Ranking)",
        True,
        "Spearman's rank correlation between the predicted and the true ranking, per item",
    ),
    (
        "ap(prediction: Boxes, truth: Boxes)",
        True,
        "COCO AP over IoU 0.50:0.95 with several instances per class (pycocotools)",
    ),
)


def builtin_metrics() -> list[MetricSpec]:
    """The metrics of docs/scoring.md."""
    out = []
    for signature, higher, doc in BUILTIN:
        name = signature.split("(", 1)[0]
        out.append(
            _spec(signature, higher_is_better=higher, doc=doc, impl=f"{GENERIC_IMPL}:{name}")
        )
    return out


def metric_registry(
    extra: Iterable[Callable[..., Any] | MetricSpec] = (),
) -> Mapping[str, MetricSpec]:
    """The built-in metrics, those of ``chainlang.metrics`` entry points, and ``extra``.

    Raises:
        UsageError: An ``extra`` function not declared with :func:`metric`.
    """
    specs = dict(_installed())
    for item in extra:
        spec = item if isinstance(item, MetricSpec) else _spec_of(item)
        specs[spec.name] = spec
    return specs


@cache
def _installed() -> tuple[tuple[str, MetricSpec], ...]:
    # Cached per process: the installed packages do not change while it runs.
    specs = {s.name: s for s in builtin_metrics()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        for spec in _from_entry_point(ep.load()):
            specs[spec.name] = spec
    return tuple(specs.items())


def _spec_of(fn: Callable[..., Any]) -> MetricSpec:
    spec = getattr(fn, "__chainlang_metric__", None)
    if not isinstance(spec, MetricSpec):
        raise UsageError(f"{fn!r} is not declared with @chainlang.stdlib.metrics.metric")
    return spec


def _from_entry_point(obj: Any) -> list[MetricSpec]:
    # An entry point may name one decorated function or a module holding several.
    if isinstance(obj, MetricSpec):
        return [obj]
    if callable(obj) and hasattr(obj, "__chainlang_metric__"):
        return [_spec_of(obj)]
    found = [getattr(v, "__chainlang_metric__", None) for v in vars(obj).values()]
    return [s for s in found if isinstance(s, MetricSpec)]
