"""Checked chain → :class:`~chainlang.language.ir.Program`.

The checker already produced typed IR for every expression; lowering
assembles the program (label sets and answers actually in scope, prompts,
header, body) and computes its static call bound. Parameter resolution lives
in :mod:`chainlang.language.params` (``resolve_params`` stays importable from
here for older callers).
"""

from __future__ import annotations

from chainlang.language import ir
from chainlang.language.analysis.bounds import bound_program
from chainlang.language.checking.checker import Checked, builtin_labelset
from chainlang.language.labelsets import BUILTIN
from chainlang.language.params import Resolved, resolve_params
from chainlang.stdlib import Registry

__all__ = ["Resolved", "lower", "resolve_params"]


def lower(checked: Checked, source: str, registry: Registry | None = None) -> ir.Program:
    """Assemble the IR program of a checked chain (with its call bound).

    ``registry`` holds the operations the chain was checked against: their declared
    facts (result sizes, parts) measure the calls (None: the default registry).
    """
    c = checked.chain
    labelsets = dict(checked.scope.labelsets)
    for name in BUILTIN:
        labelsets.setdefault(name, builtin_labelset(name))
    program = ir.Program(
        name=c.name,
        doc=c.doc,
        source=source,
        inputs=tuple(checked.inputs),
        truth=tuple(checked.truth),
        output=checked.output,
        scores=checked.scores,
        params=tuple(checked.params),
        defaults=tuple(checked.defaults),
        labelsets=tuple(labelsets.values()),
        answers=tuple(ir.Decl(name=k, type=v) for k, v in checked.scope.answers.items()),
        prompts=tuple(checked.scope.prompts.values()),
        batch_items=checked.batch_items,
        body=tuple(checked.body),
        result=checked.result,
        origin=c.span.origin(),
    )
    return program.model_copy(update={"bounds": bound_program(program, registry)})
