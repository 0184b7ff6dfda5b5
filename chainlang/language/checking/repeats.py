"""Checker pass: asks of one item that are identical by construction (warning W401).

Two asks with the same prompt and the same argument expressions in one scope
build the same request: the run asks it once and both get that one answer
(the journal serves the second). So does an ask inside a loop whose arguments
mention nothing that changes from one round to the next. A chain that asks
"three times" to measure agreement therefore gets one answer three times; the
warning says so and points to ``ask p(...) samples K``, which asks K distinct
samples (each its own request and journal entry). The variant is chosen per
prompt for the whole run unless an ask pins one (``variant NAME``), so the
same prompt and the same pinned variant mean the same request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chainlang.language.checking.helpers import _mentions
from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n

HINT = (
    "identical asks of an item are one request and share one answer; "
    "to ask one question K times, write `ask p(...) samples K` (a list of K answers)"
)


@dataclass(frozen=True)
class _Seen:
    """An ask met earlier in an enclosing scope: its request signature and where it is."""

    signature: tuple[object, ...]
    span: Span


#: Where an ask is, what the warning says, and the earlier ask it repeats (if one).
Repeat = tuple[Span, str, Span | None]


def repeated_asks(stmts: Sequence[n.Let | n.Return]) -> Iterator[Repeat]:
    """(span, message, first) for each ask that repeats an earlier one or every loop round."""
    values = [s.value for s in stmts]
    yield from _scope(values, [], frozenset())


def _signature(a: n.Ask) -> tuple[object, ...]:
    # AST nodes compare without their spans, so equal text means an equal request.
    args = tuple(sorted(((k.name, k.value) for k in a.args), key=lambda x: x[0]))
    return (a.prompt, a.variant, args)


def _scope(
    values: Sequence[n.Value], outer: list[_Seen], varying: frozenset[str]
) -> Iterator[Repeat]:
    """Walk one scope's values in order; ``varying`` names change between loop rounds."""
    seen = list(outer)
    for v in values:
        if isinstance(v, n.Ask):
            yield from _ask(v, seen)
        elif isinstance(v, n.For):
            inner = varying | {v.var} | {x.name for x in v.body.lets}
            yield from _loop(v.body.lets, v.body.value, seen, inner, "`for` element")
        elif isinstance(v, n.Repeat):
            inner = varying | {s.name for s in v.state} | {x.name for x in v.lets}
            yield from _loop(v.lets, None, seen, inner, "`repeat` round")
        elif isinstance(v, n.IfBlock):
            for b in (v.then, v.otherwise):  # branches exclude each other: no cross-check
                inner = varying | {x.name for x in b.lets}
                yield from _scope([*(x.value for x in b.lets), b.value], seen, inner)


def _ask(a: n.Ask, seen: list[_Seen]) -> Iterator[Repeat]:
    sig = _signature(a)
    first = next((s for s in seen if s.signature == sig), None)
    if first is not None:
        yield (
            a.span,
            f"this ask repeats the one at line {first.span.line} (prompt '{a.prompt}', "
            f"same arguments): {HINT}",
            first.span,
        )
    seen.append(_Seen(sig, a.span))


def _loop(
    lets: Sequence[n.Let],
    value: n.Value | None,
    seen: list[_Seen],
    varying: frozenset[str],
    round_name: str,
) -> Iterator[Repeat]:
    body = [*(x.value for x in lets), *([value] if value is not None else [])]
    for v in body:
        if isinstance(v, n.Ask) and not (_mentions(v.args) & varying):
            yield (
                v.span,
                f"this ask's arguments are the same in every {round_name} "
                f"(prompt '{v.prompt}'): {HINT}",
                None,
            )
    yield from _scope(body, seen, varying)
