"""Value types of the chain language.

One vocabulary of types is shared by every stage: the checker infers them,
the IR stores them, ``answers`` turns answer types into JSON Schema and
validates model replies against them, and the simulated answerers draw
random valid values from them.

Types are frozen pydantic models discriminated on ``kind`` so that they are
hashable, JSON round-trippable and usable as part of cache keys.

    Type
     ├─ BoolT, IntT, FloatT, TextT       scalars
     ├─ EnumT                             "red" | "blue" | "equal"
     ├─ LabelT                            one label of a named label set
     ├─ ListT                             [T]
     ├─ RecordT                           { field: T, ... }
     ├─ KeyedT                            {"1": T, ..., "n": T}   (batched asks)
     ├─ OptionalT                         T?  (may be missing)
     ├─ ImageT                            an image (inputs, crops, generated images)
     └─ OpaqueT                           stdlib values: Regions, Pair, Box, Grid, Mask, ...

Refinements (answer shapes; each is a subclass of the type it narrows, so
code that handles an ``Int`` or a list handles them too):

    IntRangeT    Int(0..20)             FloatRangeT  Float(0.0..1.0)
    FixedListT   [T; 5]                 PermutationT permutation of ["1", "2", "3"]
    RankingT     Ranking                (an order over instance ids or labels)

``Point`` is the opaque ``Point`` (``POINT``) and ``Points`` a list of them
(``POINTS``); both also have an answer form (see ``answers``).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field


class _T(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def show(self) -> str:
        """Render the type the way a user writes it in a `.chain` file."""
        raise NotImplementedError


class BoolT(_T):
    kind: Literal["bool"] = "bool"

    def show(self) -> str:
        return "Bool"


class IntT(_T):
    kind: Literal["int"] = "int"

    def show(self) -> str:
        return "Int"


class FloatT(_T):
    kind: Literal["float"] = "float"

    def show(self) -> str:
        return "Float"


class TextT(_T):
    kind: Literal["text"] = "text"

    def show(self) -> str:
        return "Text"


class EnumT(_T):
    """A closed set of string literals, e.g. ``"red" | "blue"``."""

    kind: Literal["enum"] = "enum"
    values: tuple[str, ...]

    def show(self) -> str:
        return " | ".join(f'"{v}"' for v in self.values)


class LabelT(_T):
    """One label from a named label set (``Label(coco80)``)."""

    kind: Literal["label"] = "label"
    labelset: str

    def show(self) -> str:
        return f"Label({self.labelset})"


class ListT(_T):
    kind: Literal["list"] = "list"
    item: Type

    def show(self) -> str:
        return f"[{self.item.show()}]"


class FieldT(BaseModel):
    """One named field of a record, with an optional description for schemas."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    type: Type
    doc: str | None = None


class RecordT(_T):
    """A record of named fields; every field is required in answers."""

    kind: Literal["record"] = "record"
    name: str | None = None
    fields: tuple[FieldT, ...]

    def field(self, name: str) -> FieldT | None:
        """Return the field called ``name``, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def show(self) -> str:
        if self.name:
            return self.name
        return "{ " + ", ".join(f"{f.name}: {f.type.show()}" for f in self.fields) + " }"


class KeyedT(_T):
    """The answer to a batched ask: one ``item`` per key ``"1".."n"``.

    ``keys`` is filled in per request (the last batch may be shorter), so in
    the IR it is usually empty and only ``item`` is fixed.
    """

    kind: Literal["keyed"] = "keyed"
    item: Type
    keys: tuple[str, ...] = ()

    def show(self) -> str:
        return f"Keyed[{self.item.show()}]"


class OptionalT(_T):
    """A value that may be missing (``T?``): e.g. an answer whose ask failed with ``else skip``."""

    kind: Literal["optional"] = "optional"
    item: Type

    def show(self) -> str:
        return f"{self.item.show()}?"


class IntRangeT(IntT):
    """A whole number between ``lo`` and ``hi`` inclusive (``Int(0..20)``)."""

    kind: Literal["int_range"] = "int_range"  # type: ignore[assignment]  # a refinement of Int: pydantic discriminates subclasses by their own kind
    lo: int
    hi: int

    def show(self) -> str:
        return f"Int({self.lo}..{self.hi})"


class FloatRangeT(FloatT):
    """A finite number between ``lo`` and ``hi`` inclusive (``Float(0.0..1.0)``)."""

    kind: Literal["float_range"] = "float_range"  # type: ignore[assignment]  # a refinement of Float: pydantic discriminates subclasses by their own kind
    lo: float
    hi: float

    def show(self) -> str:
        return f"Float({self.lo!r}..{self.hi!r})"


class FixedListT(ListT):
    """A list of exactly ``length`` items (``[T; 5]``)."""

    kind: Literal["fixed_list"] = "fixed_list"  # type: ignore[assignment]  # a refinement of lists: pydantic discriminates subclasses by their own kind
    length: int

    def show(self) -> str:
        return f"[{self.item.show()}; {self.length}]"


class PermutationT(ListT):
    """Every one of a set of values exactly once, in some order.

    ``permutation of ["a", "b"]`` has an :class:`EnumT` item; ``permutation of
    Label(set)`` a :class:`LabelT` item (its values are the label set's, read
    where labels are read: by ``answers``).
    """

    kind: Literal["permutation"] = "permutation"  # type: ignore[assignment]  # a refinement of lists: pydantic discriminates subclasses by their own kind
    item: EnumT | LabelT  # narrows ListT.item: the values being ordered

    @property
    def values(self) -> tuple[str, ...]:
        """The values to order (empty for a label set: its file holds them)."""
        return self.item.values if isinstance(self.item, EnumT) else ()

    def show(self) -> str:
        if isinstance(self.item, LabelT):
            return f"permutation of {self.item.show()}"
        return "permutation of [" + ", ".join(f'"{v}"' for v in self.values) + "]"


def permutation_of(values: tuple[str, ...] = (), labelset: str | None = None) -> PermutationT:
    """The type of an order over ``values``, or over the labels of ``labelset``."""
    if labelset is not None:
        return PermutationT(item=LabelT(labelset=labelset))
    return PermutationT(item=EnumT(values=values))


class RankingT(ListT):
    """An order over instance ids or labels, first = highest (``Ranking``).

    Any list of texts, labels or whole numbers may be used as a ranking.
    """

    kind: Literal["ranking"] = "ranking"  # type: ignore[assignment]  # a refinement of lists: pydantic discriminates subclasses by their own kind
    item: Type = Field(default_factory=lambda: TextT())

    def show(self) -> str:
        return "Ranking"


class ImageT(_T):
    kind: Literal["image"] = "image"

    def show(self) -> str:
        return "Image"


class OpaqueT(_T):
    """A value produced and consumed only by standard-library operations.

    Names in use: Regions, Region, Pair, Box, Grid, Cell, Mask, Marker, Point,
    DepthMap, NormalMap, SemanticMask, InstanceMask, Boxes, Label, Points,
    Graph, Colour.
    """

    kind: Literal["opaque"] = "opaque"
    name: str

    def show(self) -> str:
        return self.name


Type = Annotated[
    BoolT
    | IntT
    | FloatT
    | IntRangeT
    | FloatRangeT
    | TextT
    | EnumT
    | LabelT
    | ListT
    | FixedListT
    | PermutationT
    | RankingT
    | RecordT
    | KeyedT
    | OptionalT
    | ImageT
    | OpaqueT,
    Field(discriminator="kind"),
]

for _model in (ListT, FixedListT, PermutationT, RankingT, FieldT, RecordT, KeyedT, OptionalT):
    _model.model_rebuild()

#: A point in pixels (``Point``): the opaque stdlib value, with an answer form ``{x, y}``.
POINT: Final = OpaqueT(name="Point")
#: Several points (``Points``).
POINTS: Final = ListT(item=POINT)
#: An order over instance ids or labels (``Ranking``).
RANKING: Final = RankingT()

ANSWER_KINDS = frozenset(
    {
        "bool",
        "int",
        "float",
        "int_range",
        "float_range",
        "text",
        "enum",
        "label",
        "list",
        "fixed_list",
        "permutation",
        "ranking",
        "record",
        "keyed",
        "image",
    }
)


def is_answer_type(t: Type) -> bool:
    """True if ``t`` can be the answer of an ``ask`` (it has a JSON form)."""
    if isinstance(t, ListT):
        return is_answer_type(t.item)
    if isinstance(t, RecordT):
        return all(is_answer_type(f.type) for f in t.fields)
    if isinstance(t, KeyedT):
        return is_answer_type(t.item)
    return t.kind in ANSWER_KINDS or t == POINT


def widen(t: Type) -> Type:
    """``t`` without answer-shape refinements: ``Int(0..5)`` is ``Int``, ``[T; 3]`` is ``[T]``."""
    if isinstance(t, IntRangeT):
        return IntT()
    if isinstance(t, FloatRangeT):
        return FloatT()
    if isinstance(t, ListT) and type(t) is not ListT:
        return ListT(item=widen(t.item))
    return t


def loosen(t: Type) -> Type:
    """``t`` with every answer shape replaced by its plain form, at any depth.

    What an ``oracle`` or ``else`` clause must give for an answer of type ``t``:
    the shape itself (a range, a length, each value once) is checked on the
    value when it is used as an answer, since no type can prove it.
    """
    if isinstance(t, PermutationT):
        return ListT(item=TextT())
    if isinstance(t, RecordT):
        fields = tuple(f.model_copy(update={"type": loosen(f.type)}) for f in t.fields)
        return t.model_copy(update={"fields": fields})
    if isinstance(t, ListT):
        return ListT(item=loosen(t.item))  # a fixed length is checked on the value too
    if isinstance(t, OptionalT):
        return OptionalT(item=loosen(t.item))
    if isinstance(t, KeyedT):
        return t.model_copy(update={"item": loosen(t.item)})
    return widen(t)


def _refined(t: Type) -> bool:
    return type(t) in (IntRangeT, FloatRangeT, FixedListT, PermutationT, RankingT)


def _refinement_assignable(actual: Type, expected: Type) -> bool:
    """``expected`` is a refinement: ``actual`` must be at least as narrow."""
    if isinstance(expected, IntRangeT | FloatRangeT):
        lo_hi = (actual.lo, actual.hi) if isinstance(actual, IntRangeT | FloatRangeT) else None
        if isinstance(expected, IntRangeT) and not isinstance(actual, IntRangeT):
            return False
        return lo_hi is not None and expected.lo <= lo_hi[0] and lo_hi[1] <= expected.hi
    if isinstance(expected, RankingT):
        item = widen(actual.item) if isinstance(actual, ListT) else None
        return item is not None and (
            assignable(item, expected.item) or isinstance(item, EnumT | LabelT | IntT)
        )
    if isinstance(expected, PermutationT):
        return isinstance(actual, PermutationT) and (
            actual.item == expected.item or set(actual.values) == set(expected.values) != set()
        )
    if isinstance(expected, FixedListT):
        length = actual.length if isinstance(actual, FixedListT) else None
        if isinstance(actual, PermutationT):
            length = len(actual.values)
        return (
            isinstance(actual, ListT)
            and length == expected.length
            and assignable(actual.item, expected.item)
        )
    return False


# ---- helpers for the checker (appended; the classes above are unchanged) ----

#: The type of an expression that already has an error: every check accepts it silently.
ERROR_TYPE = OpaqueT(name="!")
#: Any type: the element type of ``[]`` and of ``none``.
ANY_TYPE = OpaqueT(name="?")


def _wild(t: Type) -> bool:
    return isinstance(t, OpaqueT) and t.name in {"!", "?"}


def assignable(actual: Type, expected: Type) -> bool:
    """True if a value of type ``actual`` may be used where ``expected`` is required.

    >>> assignable(EnumT(values=("red",)), TextT()), assignable(TextT(), EnumT(values=("red",)))
    (True, False)
    """
    if _wild(actual) or _wild(expected) or actual == expected:
        return True
    if _refined(expected):
        return _refinement_assignable(actual, expected)
    if _refined(actual):
        return assignable(widen(actual), expected)
    if isinstance(expected, OptionalT):
        inner = actual.item if isinstance(actual, OptionalT) else actual
        return assignable(inner, expected.item)
    if isinstance(actual, OptionalT):
        return False
    if isinstance(actual, ListT) and isinstance(expected, ListT):
        return assignable(actual.item, expected.item)
    if isinstance(actual, EnumT):
        if isinstance(expected, EnumT):
            return set(actual.values) <= set(expected.values)
        # A literal may name a label where any label set's label is accepted.
        return isinstance(expected, TextT) or expected == OpaqueT(name="Label")
    if isinstance(actual, LabelT):
        return isinstance(expected, TextT) or expected == OpaqueT(name="Label")
    if actual == OpaqueT(name="Label"):
        return isinstance(expected, LabelT | TextT)
    if isinstance(actual, IntT):
        return isinstance(expected, FloatT)
    if isinstance(actual, RecordT) and isinstance(expected, RecordT):
        return _record_assignable(actual, expected)
    return False


def _record_assignable(actual: RecordT, expected: RecordT) -> bool:
    # Width subtyping: extra fields (an answer's ``reasoning``) may be dropped.
    for f in expected.fields:
        got = actual.field(f.name)
        if got is None or not assignable(got.type, f.type):
            return False
    return True


def join(a: Type, b: Type) -> Type | None:
    """The least type both ``a`` and ``b`` are assignable to, or None.

    >>> join(EnumT(values=("red",)), EnumT(values=("blue",))).show()
    '"red" | "blue"'
    """
    if _wild(a):
        return b
    if _wild(b):
        return a
    if (_refined(a) or _refined(b)) and not (assignable(a, b) or assignable(b, a)):
        return join(widen(a), widen(b))
    if isinstance(a, EnumT) and isinstance(b, EnumT):
        return EnumT(values=tuple(dict.fromkeys(a.values + b.values)))
    if isinstance(a, OptionalT) or isinstance(b, OptionalT):
        inner = join(_strip(a), _strip(b))
        return None if inner is None else OptionalT(item=inner)
    if isinstance(a, ListT) and isinstance(b, ListT):
        item = join(a.item, b.item)
        return None if item is None else ListT(item=item)
    if assignable(a, b):
        return b
    if assignable(b, a):
        return a
    return None


def _strip(t: Type) -> Type:
    return t.item if isinstance(t, OptionalT) else t


def contains_any(t: Type) -> bool:
    """True if ``t`` mentions the ``ANY`` placeholder (e.g. the type of ``[]``)."""
    if t == ANY_TYPE:
        return True
    if isinstance(t, ListT | OptionalT | KeyedT):
        return contains_any(t.item)
    if isinstance(t, RecordT):
        return any(contains_any(f.type) for f in t.fields)
    return False


def ordered_paths(t: Type, prefix: str = "") -> tuple[str, ...]:
    """Where in an answer of type ``t`` a list's order is part of its meaning.

    Paths are dotted field names (``""`` for the answer itself; ``*`` stands for any key of a
    batched answer). A ranking, a permutation or a fixed-length list (a vector) is ordered;
    a plain list is a set of picks ("which cells contain the dog?"), whose order is not.
    Scoring compares answers to the truth's answers by this (``answer_acc``).
    """
    if isinstance(t, PermutationT | RankingT | FixedListT):
        return (prefix,)
    if isinstance(t, OptionalT):
        return ordered_paths(t.item, prefix)
    if isinstance(t, KeyedT):
        return ordered_paths(t.item, _join_path(prefix, "*"))
    if isinstance(t, RecordT):
        return tuple(p for f in t.fields for p in ordered_paths(f.type, _join_path(prefix, f.name)))
    return ()


def _join_path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
