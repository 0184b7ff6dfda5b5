"""The registry of operations a chain may call.

An :class:`Operation` is a typed signature plus the dotted path of its
implementation, which is imported only when the operation runs
(:meth:`Operation.resolve`), so checking a chain never imports
``chainlang.vision`` or scikit-image.

Users add operations in two ways, neither of which touches global state:

* decorate a function with :func:`operation` and pass it to
  :meth:`Registry.with_operations` (or to ``compile_file(operations=...)``);
* expose such functions from a package under the ``chainlang.operations``
  entry-point group; :func:`default_registry` loads them.

What the static evaluator may know about an operation's result (its length,
its number of parts, its value, the label set it needs) is declared with the
signature (``@operation(..., size="len(xs)")``; :mod:`chainlang.stdlib.facts`)
and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.metadata import entry_points
from typing import Any, TypeVar

from chainlang.errors import UsageError
from chainlang.language.types import Type
from chainlang.stdlib.facts import Formula, LabelSource, check_labels, parse_formula
from chainlang.stdlib.impl import load_impl
from chainlang.stdlib.signatures import CORE, CORE_IMPL, VISION, VISION_IMPL, Sig
from chainlang.stdlib.sigparse import OpParam, SignatureError, parse_signature

__all__ = [
    "OpParam",
    "Operation",
    "Registry",
    "SignatureError",
    "default_registry",
    "operation",
]

ENTRY_POINT_GROUP = "chainlang.operations"
F = TypeVar("F", bound=Callable[..., Any])

# Core helpers whose Python names avoid shadowing builtins.
_CORE_NAMES = {
    "len": "len_",
    "abs": "abs_",
    "min": "min_",
    "max": "max_",
    "sum": "sum_",
    "range": "range_",
    "enumerate": "enumerate_",
    "zip": "zip_",
    "str": "str_",
    "format": "format_",
}


@dataclass(frozen=True, slots=True)
class Operation:
    """A typed operation bound lazily to its implementation.

    Attributes:
        name: How chains call it.
        params: Parameters in order; each accepts one or more types.
        result: The result type (may mention the type variables of the params).
        impl: ``"package.module:function"``, imported on first use.
        doc: One line shown by ``chainlang check --explain`` and the docs.
        size: Formula for the length of a list result (the call bounds read it).
        count: Formula for the parts of the result (``count(arg)`` in formulas).
        value: Formula for the value when the arguments are static.
        labels: Which label set the implementation receives as ``label_set``.
    """

    name: str
    params: tuple[OpParam, ...]
    result: Type
    impl: str
    doc: str = ""
    size: Formula | None = None
    count: Formula | None = None
    value: Formula | None = None
    labels: LabelSource | None = None
    _fn: list[Callable[..., Any]] = field(default_factory=list, compare=False, repr=False)

    @property
    def static(self) -> bool:
        """True if the value is known before the chain runs when its arguments are."""
        return self.value is not None

    def param(self, name: str) -> OpParam | None:
        """The parameter called ``name``, or None."""
        return next((p for p in self.params if p.name == name), None)

    def resolve(self) -> Callable[..., Any]:
        """Import and return the implementation (cached on this operation).

        Raises:
            UsageError: The module or function does not exist.
        """
        if not self._fn:
            self._fn.append(load_impl("operation", self.name, self.impl))
        return self._fn[0]


class Registry:
    """An immutable name → :class:`Operation` table."""

    def __init__(self, ops: Iterable[Operation] = ()) -> None:
        self._ops: Mapping[str, Operation] = {op.name: op for op in ops}

    def get(self, name: str) -> Operation | None:
        """The operation called ``name``, or None."""
        return self._ops.get(name)

    def names(self) -> list[str]:
        """All operation names, sorted."""
        return sorted(self._ops)

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __len__(self) -> int:
        return len(self._ops)

    def with_operations(self, fns: Iterable[Callable[..., Any] | Operation]) -> Registry:
        """A new registry with extra operations (``@operation`` functions or ``Operation``s)."""
        extra = [fn if isinstance(fn, Operation) else _operation_of(fn) for fn in fns]
        return Registry([*self._ops.values(), *extra])


def operation(
    signature: str,
    doc: str = "",
    *,
    size: str | None = None,
    count: str | None = None,
    value: str | None = None,
    labels: str | None = None,
) -> Callable[[F], F]:
    """Declare a Python function as a chain operation.

    Args:
        signature: ``"name(param: Type = default, ...) -> Type"``.
        doc: A one-line description.
        size: The length of its list result, a formula over the parameters
            (``"len(xs)"``, ``"rows * cols"``, ``"at_most(n)"``); the call
            bounds of a ``for`` over the result use it.
        count: How many parts its result has (``count(arg)`` in formulas).
        value: Its value when the arguments are static (``"min(a, b)"``).
        labels: ``"argument"`` or ``"dataset"``: which label set it receives
            as the keyword ``label_set``.

    Returns:
        A decorator that records the signature on the function (it does not
        register it anywhere global).

    Example:
        >>> @operation("brighter(image: Image, amount: Float = 0.1) -> Image")
        ... def brighter(image, amount=0.1):
        ...     return image
        >>> Registry().with_operations([brighter]).get("brighter").result.show()
        'Image'
    """
    facts = Sig(signature, size, count, value, labels)
    name, params, result = parse_signature(signature)
    declared = _with_facts(Operation(name, params, result, ""), facts)

    def wrap(fn: F) -> F:
        impl = f"{fn.__module__}:{fn.__qualname__}"
        op = replace(declared, impl=impl, doc=doc or (fn.__doc__ or "").strip(), _fn=[fn])
        fn.__chainlang_operation__ = op  # type: ignore[attr-defined]  # a marker on the function
        return fn

    return wrap


def _operation_of(fn: Callable[..., Any]) -> Operation:
    op = getattr(fn, "__chainlang_operation__", None)
    if not isinstance(op, Operation):
        raise UsageError(f"{fn!r} is not declared with @chainlang.stdlib.operation")
    return op


def _with_facts(op: Operation, declared: Sig) -> Operation:
    """``op`` with the facts of ``declared``, each formula parsed and checked."""
    names = tuple(p.name for p in op.params)
    what = f"operation '{op.name}'"

    def formula(text: str | None, fact: str) -> Formula | None:
        return None if text is None else parse_formula(text, names, f"{what}, {fact}=")

    return replace(
        op,
        size=formula(declared.size, "size"),
        count=formula(declared.count, "count"),
        value=formula(declared.value, "value"),
        labels=check_labels(declared.labels, what),
    )


def _builtin(declared: str | Sig, module: str) -> Operation:
    declared = declared if isinstance(declared, Sig) else Sig(declared)
    name, params, result = parse_signature(declared.signature)
    impl = f"{module}:{_CORE_NAMES.get(name, name) if module == CORE_IMPL else name}"
    return _with_facts(Operation(name, params, result, impl), declared)


def builtin_operations() -> list[Operation]:
    """The operations of docs/stdlib.md plus the core helpers."""
    return [_builtin(s, VISION_IMPL) for s in VISION] + [_builtin(s, CORE_IMPL) for s in CORE]


@cache
def default_registry() -> Registry:
    """The built-in operations plus those of installed ``chainlang.operations`` entry points.

    Cached per process: the installed packages do not change while it runs.
    """
    ops = builtin_operations()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ops.extend(_from_entry_point(ep.load()))
    return Registry(ops)


def _from_entry_point(obj: Any) -> list[Operation]:
    # An entry point may name one decorated function or a module holding several.
    if isinstance(obj, Operation):
        return [obj]
    if callable(obj) and hasattr(obj, "__chainlang_operation__"):
        return [_operation_of(obj)]
    found = [getattr(v, "__chainlang_operation__", None) for v in vars(obj).values()]
    return [op for op in found if isinstance(op, Operation)]
