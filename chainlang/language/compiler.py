"""The compiler's entry points: source text or file → checked IR program.

``compile_file``/``compile_source`` raise :class:`~chainlang.errors.CompileError`
carrying every diagnostic; :func:`check_file`/:func:`check_source` return a
:class:`Result` instead (what ``chainlang check`` uses). Imports are resolved
relative to the importing file; each imported file is parsed and its
declarations checked once per compilation.

Two optional hooks serve editors (``chainlang lsp``) without changing what is
checked: ``observer`` is told the type of every expression and ``let`` of the
checked file, and ``overlay`` supplies the text of imported files that are open
(unsaved) in the editor, by resolved path, in place of what is on disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chainlang.errors import CompileError, io_reason
from chainlang.language import codes, ir
from chainlang.language.checking.checker import Checker
from chainlang.language.checking.scores import MetricSignature
from chainlang.language.checking.state import Scope, TypeObserver
from chainlang.language.diagnostics import Diagnostic, Diagnostics, did_you_mean, render_all
from chainlang.language.lower import lower
from chainlang.language.source import SourceFile
from chainlang.language.syntax import nodes as n
from chainlang.language.syntax.parser import parse
from chainlang.stdlib import Registry, default_registry


@dataclass
class Result:
    """The outcome of checking one file: the program (None on errors) and all diagnostics."""

    program: ir.Program | None
    diagnostics: list[Diagnostic]
    sources: dict[str, SourceFile] = field(default_factory=dict)
    module: n.Module | None = None
    #: What the checked file sees: its own and imported label sets, answers and prompts.
    scope: Scope | None = None

    def render(self) -> str:
        """The diagnostics as plain text (empty when there are none)."""
        return render_all(self.diagnostics, self.sources) if self.diagnostics else ""


Metrics = Mapping[str, MetricSignature]


def check_file(
    path: str | Path, registry: Registry | None = None, metrics: Metrics | None = None
) -> Result:
    """Check a ``.chain`` file; never raises for problems in the file.

    ``registry`` holds the operations and ``metrics`` the metrics a chain may name
    (None: the default registry and ``chainlang.stdlib.metrics.metric_registry()``).
    """
    diags = Diagnostics()
    try:
        src = SourceFile.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        empty = SourceFile.of(str(path), "")
        diags.add(codes.unreadable_file(empty.whole(), path, io_reason(exc)))
        return Result(None, diags.sorted())
    return _check(src, _Compilation(registry or default_registry(), metrics))


def check_source(
    text: str,
    name: str = "<string>",
    registry: Registry | None = None,
    metrics: Metrics | None = None,
    *,
    observer: TypeObserver | None = None,
    overlay: Mapping[str, str] | None = None,
) -> Result:
    """Check chain source text; ``name`` is its path (imports resolve next to it).

    ``observer`` sees each typed expression and ``let`` of this file; ``overlay`` maps
    resolved paths of imported files to the text to check instead of the file's.
    """
    ctx = _Compilation(registry or default_registry(), metrics, overlay)
    ctx.observer = observer
    return _check(SourceFile.of(name, text), ctx)


def _check(src: SourceFile, ctx: _Compilation) -> Result:
    ctx.sources[src.name] = src
    diags = Diagnostics()
    module = parse(src, diags)
    program = None
    if module is not None:
        program = ctx.program(module, src, diags)
    return Result(program, diags.sorted(), ctx.sources, module, ctx.main_scope)


def compile_source(
    text: str,
    name: str = "<string>",
    registry: Registry | None = None,
    metrics: Metrics | None = None,
) -> ir.Program:
    """Compile source text to IR.

    Raises:
        CompileError: The text has errors; ``.diagnostics`` lists them all.
    """
    return _raise_or_program(check_source(text, name, registry, metrics))


def compile_file(
    path: str | Path, registry: Registry | None = None, metrics: Metrics | None = None
) -> ir.Program:
    """Compile a ``.chain`` file to IR.

    Raises:
        CompileError: The file has errors; ``.diagnostics`` lists them all.
    """
    return _raise_or_program(check_file(path, registry, metrics))


def _raise_or_program(result: Result) -> ir.Program:
    if result.program is None:
        err = CompileError(result.diagnostics, result.render())
        err.sources = result.sources
        raise err
    return result.program


class _Compilation:
    """State of one compilation: sources read and imported scopes (never shared)."""

    def __init__(
        self,
        registry: Registry,
        metrics: Metrics | None = None,
        overlay: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.metrics = metrics
        self.overlay = overlay or {}
        self.observer: TypeObserver | None = None
        self.main_scope: Scope | None = None
        self.sources: dict[str, SourceFile] = {}
        self.scopes: dict[str, Scope | None] = {}

    def program(self, module: n.Module, src: SourceFile, diags: Diagnostics) -> ir.Program | None:
        checker = self._checker(module, src, diags, stack=(_key(src.name),))
        self.main_scope = checker.scope
        chains = [i for i in module.items if isinstance(i, n.ChainDecl)]
        if len(chains) != 1:
            where = chains[1].span if len(chains) > 1 else module.span
            diags.add(codes.chain_structure(where, "chain", len(chains)))
            return None
        checked = checker.chain(chains[0])
        if checked is None or diags.has_errors():
            return None
        return lower(checked, src.name, self.registry)

    def _checker(
        self, module: n.Module, src: SourceFile, diags: Diagnostics, stack: tuple[str, ...]
    ) -> Checker:
        base = Path(src.name).parent
        checker = Checker(diags, self.registry, base, self.metrics)
        if len(stack) == 1:  # the checked file itself, not one it imports
            checker.observer = self.observer
        for imp in (i for i in module.items if isinstance(i, n.Import)):
            self._import(imp, base, checker, diags, stack)
        checker.declare(tuple(i for i in module.items if not isinstance(i, n.ChainDecl)))
        return checker

    def _import(
        self, imp: n.Import, base: Path, into: Checker, diags: Diagnostics, stack: tuple[str, ...]
    ) -> None:
        path = base / imp.path
        key = _key(str(path))
        if key in stack:
            diags.add(codes.import_cycle(imp.span, [Path(k).name for k in (*stack, key)]))
            return
        if key not in self.overlay and not path.is_file():
            diags.add(codes.import_not_found(imp.span, imp.path, base))
            return
        scope = self._scope_of(path, key, diags, stack)
        if scope is None:
            diags.add(codes.import_has_errors(imp.span, imp.path))
            return
        for name in imp.names:
            self._bring(name, scope, imp, into, diags, base, path.parent)

    def _scope_of(
        self, path: Path, key: str, diags: Diagnostics, stack: tuple[str, ...]
    ) -> Scope | None:
        if key in self.scopes:
            return self.scopes[key]
        inner = Diagnostics()
        try:
            text = self.overlay.get(key)
            src = SourceFile.read(path) if text is None else SourceFile.of(str(path), text)
        except (OSError, UnicodeDecodeError) as exc:
            whole = SourceFile.of(str(path), "").whole()
            inner.add(codes.unreadable_file(whole, path, io_reason(exc)))
            diags.extend(inner.sorted())
            self.scopes[key] = None
            return None
        self.sources[src.name] = src
        module = parse(src, inner)
        scope = None
        if module is not None:
            checker = self._checker(module, src, inner, (*stack, key))
            scope = None if inner.has_errors() else checker.scope
        diags.extend(inner.sorted())
        self.scopes[key] = scope
        return scope

    def _bring(
        self,
        name: str,
        scope: Scope,
        imp: n.Import,
        into: Checker,
        diags: Diagnostics,
        base: Path,
        their_base: Path,
    ) -> None:
        found = False
        if name in scope.answers:
            into.scope.answers[name], found = scope.answers[name], True
        if name in scope.prompts:
            into.scope.prompts[name], found = scope.prompts[name], True
            # A prompt brings the answers and label sets its types need.
            for ans, t in scope.answers.items():
                into.scope.answers.setdefault(ans, t)
            for ls in scope.labelsets.values():
                into.scope.labelsets.setdefault(ls.name, _rebase(ls, their_base, base))
        if name in scope.labelsets:
            into.scope.labelsets[name], found = (
                _rebase(scope.labelsets[name], their_base, base),
                True,
            )
        if not found:
            known = [*scope.answers, *scope.prompts, *scope.labelsets]
            hint = did_you_mean(name, known)
            diags.add(codes.import_undefined(imp.span, imp.path, name, hint))


def _rebase(ls: ir.LabelSet, theirs: Path, ours: Path) -> ir.LabelSet:
    if ls.source == "builtin":
        return ls
    rel = os.path.relpath(theirs / ls.source, ours)
    return ls.model_copy(update={"source": Path(rel).as_posix()})


def _key(path: str) -> str:
    return str(Path(path).resolve())
