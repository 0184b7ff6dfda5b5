"""Names of the built-in types, shared by the checker and the signature parser."""

from __future__ import annotations

from typing import TypeGuard

from chainlang.language.types import (
    ANY_TYPE,
    RANKING,
    BoolT,
    FloatT,
    ImageT,
    IntT,
    ListT,
    OpaqueT,
    TextT,
    Type,
)

#: Values produced and consumed only by operations (``OpaqueT`` names).
OPAQUE: frozenset[str] = frozenset(
    {
        "Regions",
        "Region",
        "Pair",
        "Box",
        "Grid",
        "Cell",
        "Mask",
        "Point",
        "Graph",
        "DepthMap",
        "NormalMap",
        "SemanticMask",
        "InstanceMask",
        "Boxes",
        "Label",
    }
)

#: The paper's output types: their metrics are chosen by the type, so a chain with one of
#: these outputs needs no ``score`` line (any other output type needs one, E215).
OUTPUTS: frozenset[str] = frozenset(
    {"Label", "Boxes", "SemanticMask", "InstanceMask", "DepthMap", "NormalMap", "Image"}
)

#: Placeholder for "any type" (the element type of ``[]`` and of ``none``).
ANY = ANY_TYPE

_SCALARS: dict[str, Type] = {
    "Int": IntT(),
    "Float": FloatT(),
    "Bool": BoolT(),
    "Text": TextT(),
    "Image": ImageT(),
}

#: Every name :func:`named_type` knows (for "did you mean" suggestions).
BUILTIN_NAMES: frozenset[str] = frozenset({*_SCALARS, "Points", "Ranking", *OPAQUE})


def named_type(name: str) -> Type | None:
    """The type a bare type name denotes, or None if it is not built in.

    >>> named_type("Int").show(), named_type("Points").show()
    ('Int', '[Point]')
    """
    if name in _SCALARS:
        return _SCALARS[name]
    if name == "Points":  # grouping queries: a list of points
        return ListT(item=OpaqueT(name="Point"))
    if name == "Ranking":  # an order over instance ids or labels
        return RANKING
    if name in OPAQUE:
        return OpaqueT(name=name)
    return None


def type_var(name: str) -> OpaqueT:
    """The internal form of a signature's type variable ``T``."""
    return OpaqueT(name=f"'{name}")


def is_type_var(t: Type) -> TypeGuard[OpaqueT]:
    """True for a signature type variable."""
    return isinstance(t, OpaqueT) and t.name.startswith("'")
