"""What the checker's passes share while checking one module, declared in one place.

The passes (:class:`~.prompts.PromptChecks`, :class:`~.values.ValueChecks`,
:class:`~.exprs.ExprChecks`) derive from :class:`CheckState`, so every piece of
state they read has one typed declaration and one initial value. Entering a
block, a loop, a comprehension or an oracle clause goes through
:meth:`CheckState.scoped`, which restores the environment (and the loop depth
and oracle flag) on the way out, also when checking raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chainlang.language import ir
from chainlang.language.checking.helpers import Binding
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n
from chainlang.language.types import RecordT, Type
from chainlang.stdlib import Registry

#: Told the type of every expression and ``let`` the checker types (the language server's
#: index of types by position); never changes what the checker does.
TypeObserver = Callable[[n.Expr | n.Let, Type], None]


@dataclass
class Scope:
    """Declarations visible in a module: label sets, answers and prompts."""

    labelsets: dict[str, ir.LabelSet] = field(default_factory=dict)
    answers: dict[str, Type] = field(default_factory=dict)
    prompts: dict[str, ir.Prompt] = field(default_factory=dict)


class CheckState:
    """The state of one module's check; create one :class:`Checker` per compilation."""

    diags: Diagnostics
    registry: Registry
    base_dir: Path  # prompt text files and label files are read relative to it
    scope: Scope
    env: dict[str, Binding]  # names in scope where the check is now
    truth_type: RecordT | None
    in_oracle: bool  # `truth` is readable only inside an oracle clause
    batch_items: ir.Expr | None
    loop_depth: int
    broken: set[str]  # prompts with errors: later uses stay quiet
    first_spans: dict[tuple[str, str], Span]  # where each name was first declared
    own_prompts: dict[str, Span]  # declared in this file (not imported)
    observer: TypeObserver | None  # sees each typed expression and let (None: nobody)

    def __init__(self, diags: Diagnostics, registry: Registry, base_dir: Path) -> None:
        self.diags = diags
        self.registry = registry
        self.base_dir = base_dir
        self.scope = Scope()
        self.env = {}
        self.truth_type = None
        self.in_oracle = False
        self.batch_items = None
        self.loop_depth = 0
        self.broken = set()
        self.first_spans = {}
        self.own_prompts = {}
        self.observer = None

    @contextmanager
    def scoped(
        self,
        bindings: Mapping[str, Binding] | None = None,
        *,
        loop: bool = False,
        oracle: bool | None = None,
    ) -> Iterator[None]:
        """A child environment with ``bindings`` added; nothing bound inside leaks out.

        ``loop`` counts one more enclosing loop; ``oracle`` sets whether ``truth``
        is visible inside.
        """
        saved = self.env, self.loop_depth, self.in_oracle
        self.env = {**self.env, **(bindings or {})}
        self.loop_depth += loop
        if oracle is not None:
            self.in_oracle = oracle
        try:
            yield
        finally:
            self.env, self.loop_depth, self.in_oracle = saved
