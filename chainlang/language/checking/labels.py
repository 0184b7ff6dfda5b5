"""Checker pass: string literals that stand for labels of a label set.

A literal such as ``"cat"`` has the one-value enum type ``"cat"``. Where the
answer (or a comparison) wants ``Label(coco80)`` the literal fits when it is a
label of that set, with the answer validator's spelling rule
(:func:`chainlang.language.answers.normalise`), so a label accepted from a model is
accepted from the chain's own text too. Types alone cannot see a literal once
it is joined with a truth label (``if c then "zebra" else truth.label`` has the
type ``Label``), so oracle and fallback clauses are also walked syntactically:
every literal that can become (part of) the clause's value is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from chainlang.language import ir
from chainlang.language.diagnostics import did_you_mean
from chainlang.language.labelsets import LabelSetError, load, normalise
from chainlang.language.syntax import nodes as n
from chainlang.language.types import EnumT, LabelT, ListT, OptionalT, RecordT, Type, assignable

#: Label-set name → its labels by normalised form, or None when unknown.
LabelLookup = Callable[[str], "dict[str, str] | None"]


def label_names(ls: ir.LabelSet | None, base_dir: Path) -> dict[str, str] | None:
    """The labels of a set indexed by normalised form, or None when it cannot be read."""
    if ls is None:
        return None
    try:
        labels = load(ls.name if ls.source == "builtin" else str(base_dir / ls.source))
    except LabelSetError:
        return None  # already reported where the set was declared
    return {normalise(v): v for v in labels}


def literal_sites(
    e: n.Value | None, want: Type, lets: dict[str, n.Value]
) -> Iterator[tuple[n.StrLit, str]]:
    """Each string literal that can become a label of ``want``, with its label set.

    ``lets`` maps names bound inside the clause to their values, so a literal
    bound by a ``let`` and returned by name is found too.
    """
    if isinstance(want, OptionalT):
        yield from literal_sites(e, want.item, lets)
        return
    if isinstance(e, n.Name) and e.name in lets:
        inner = dict(lets)
        value = inner.pop(e.name)  # a let cannot refer to itself
        yield from literal_sites(value, want, inner)
    elif isinstance(e, n.IfExpr):
        yield from literal_sites(e.then, want, lets)
        yield from literal_sites(e.otherwise, want, lets)
    elif isinstance(e, n.IfBlock):
        for b in (e.then, e.otherwise):
            yield from literal_sites(b.value, want, {**lets, **{x.name: x.value for x in b.lets}})
    elif isinstance(want, LabelT) and isinstance(e, n.StrLit):
        yield e, want.labelset
    elif isinstance(want, ListT) and isinstance(e, n.ListLit):
        for item in e.items:
            yield from literal_sites(item, want.item, lets)
    elif isinstance(want, RecordT) and isinstance(e, n.RecordLit):
        for f in e.fields:
            af = want.field(f.name)
            if af is not None:
                yield from literal_sites(f.value, af.type, lets)


def enum_fits_labels(got: Type, want: Type, labels_of: LabelLookup) -> bool:
    """True if ``got`` is assignable to ``want`` once literals may name labels."""
    if isinstance(want, LabelT) and isinstance(got, EnumT):
        names = labels_of(want.labelset)
        return names is not None and all(normalise(v) in names for v in got.values)
    if isinstance(want, OptionalT):
        inner = got.item if isinstance(got, OptionalT) else got
        return enum_fits_labels(inner, want.item, labels_of)
    if isinstance(want, ListT) and isinstance(got, ListT):
        return enum_fits_labels(got.item, want.item, labels_of)
    if isinstance(want, RecordT) and isinstance(got, RecordT):
        for f in want.fields:
            g = got.field(f.name)
            if g is None or not enum_fits_labels(g.type, f.type, labels_of):
                return False
        return True
    return assignable(got, want)


def not_a_label(value: str, labelset: str, names: dict[str, str]) -> tuple[str, str | None]:
    """The message and suggestion for a literal that is not a label of ``labelset``."""
    hint = did_you_mean(normalise(value), names)
    if hint is not None:  # name the label as the set spells it
        close = hint.split("'")[1]
        hint = f"did you mean '{names[close]}'?"
    return f'"{value}" is not a label of {labelset}', hint
