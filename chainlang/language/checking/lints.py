"""Checker pass: things that are legal but suspicious (warnings W201, W402, W601).

These run once a chain has no errors, so they see a well-formed chain and never
pile up behind a real mistake. Each is conservative: a name that is mentioned
anywhere counts as used, so a warning means the chain cannot be doing what its
text suggests, not merely that it might.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from chainlang.language import codes
from chainlang.language.checking.helpers import _mentions
from chainlang.language.diagnostics import Diagnostic
from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n


def lints(chain: n.ChainDecl, own_prompts: Mapping[str, Span]) -> Iterator[Diagnostic]:
    """Warnings for a chain that compiles; ``own_prompts`` are those its file declares."""
    nodes = list(_walk(chain.items))
    used = _mentions(chain.items)
    for let in (x for x in nodes if isinstance(x, n.Let)):
        if let.name not in used and not let.name.startswith("_"):
            yield codes.unused_let(let.span, let.name)
    asked = {x.prompt for x in nodes if isinstance(x, n.Ask)}
    for name, span in own_prompts.items():
        if name not in asked:
            yield codes.unused_prompt(span, name)
    for r in (x for x in nodes if isinstance(x, n.Repeat)):
        changing = {s.name for s in r.state} | {x.name for x in r.lets}
        if not _mentions(r.until) & changing:
            yield codes.constant_until(r.until.span)


def _walk(root: object) -> Iterator[object]:
    """Every AST node under ``root`` (tuples and dataclass fields; spans and comments left out)."""
    stack = [root]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            stack.extend(reversed(x))
        elif hasattr(x, "__dataclass_fields__") and not isinstance(x, Span):
            yield x
            fields = [f for f in x.__dataclass_fields__ if f not in {"span", "comments"}]
            stack.extend(reversed([getattr(x, f) for f in fields]))
