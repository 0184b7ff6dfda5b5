"""Diagnostics as values: codes, the bag that collects them, and the renderer.

Every user mistake becomes a :class:`Diagnostic` with a stable code from
:data:`CODES`, a span, a message that says what was expected and, where one
exists, a suggestion. Passes add to a :class:`Diagnostics` bag; nothing is
raised until the compiler entry points turn a bag with errors into a
:class:`chainlang.errors.CompileError`.

Rendering is plain text (``path:line:col: error[E123]: message`` plus the
source line and a caret run) so it can be golden-tested; colour is the CLI's
business.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from chainlang.language.source import SourceFile, Span


class Severity(StrEnum):
    """How bad a diagnostic is: errors stop compilation, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


#: Every code with a one-line summary (docs/diagnostics.md explains cause and fix).
CODES: Mapping[str, str] = {
    "E100": "cannot read a source file",
    "E101": "unexpected token",
    "E102": "unexpected character",
    "E103": "unexpected end of file",
    "E104": "nesting too deep",
    "E105": "malformed literal",
    "E201": "unknown name",
    "E202": "name defined twice",
    "E203": "unknown type",
    "E204": "unknown label set",
    "E205": "unknown operation",
    "E206": "unknown prompt",
    "E207": "truth used outside an oracle clause",
    "E208": "chain structure (missing or repeated output/return/score)",
    "E209": "a `let` rebinds an input, parameter or label set",
    "E210": "field defined twice",
    "E211": "empty answer shape",
    "E215": "output needs a `score` line",
    "E216": "unknown metric",
    "E217": "metric does not fit the output or truth type",
    "E301": "argument has the wrong type",
    "E302": "operator applied to the wrong types",
    "E303": "wrong arguments to a call",
    "E304": "condition is not Bool",
    "E305": "returned value does not match the output type",
    "E306": "value is not a list",
    "E307": "branches have incompatible types",
    "E308": "value may be missing",
    "E401": "unknown field",
    "E402": "prompt hole is not a prompt parameter",
    "E403": "image slot is not an image parameter",
    "E404": "prompt parameter not bound by the ask",
    "E405": "ask argument is not a prompt parameter",
    "E406": "unknown variant",
    "E407": "answer type has no JSON form",
    "E408": "oracle or fallback does not match the answer type",
    "E409": "shared prompt argument depends on the batch item",
    "E410": "per-item hole or slot outside an `each` message",
    "E411": "prompt text file cannot be read",
    "E412": "variant defined twice in a prompt",
    "E413": "prompt with more than one default variant",
    "E414": "prompt without a user message",
    "E501": "parameter type not allowed",
    "E502": "unknown parameter in a defaults block",
    "E503": "default is not a literal of the parameter's type",
    "E504": "bad model glob",
    "E601": "loop bound is not a static expression of the parameters",
    "E602": "batched loop body must end in exactly one ask",
    "E603": "batch size is not a static positive expression",
    "E604": "item batching inside a loop",
    "E605": "loop state update does not match the state",
    "E606": "`batch items` given twice",
    "E607": "loop state type cannot be inferred",
    "E608": "ask samples is not a positive static Int",
    "E701": "imported file not found",
    "E702": "import cycle",
    "E703": "imported name not defined in the file",
    "E704": "imported file has errors",
    "W201": "a `let` whose value is never used",
    "W401": "two asks of an item are identical by construction (one request, one answer)",
    "W402": "a prompt that no `ask` uses",
    "W601": "a `repeat` whose `until` cannot change between rounds",
}


@dataclass(frozen=True, slots=True)
class Related:
    """A second place a diagnostic points at (e.g. the first of two definitions)."""

    span: Span
    message: str

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (inside a diagnostic's ``related`` list)."""
        return {"message": self.message, **_where(self.span)}


def _where(span: Span) -> dict[str, object]:
    return {
        "file": span.file,
        "line": span.line,
        "col": span.col,
        "end_line": span.end_line,
        "end_col": span.end_col,
    }


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a source file.

    Attributes:
        code: A key of :data:`CODES`, e.g. ``"E201"``.
        severity: Error or warning.
        message: What is wrong and what was expected.
        span: Where it is.
        suggestion: An optional fix ("did you mean 'depth'?").
        related: Other places that explain it (the first definition of a duplicate).
    """

    code: str
    severity: Severity
    message: str
    span: Span
    suggestion: str | None = None
    related: tuple[Related, ...] = ()

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (the ``--json`` output of ``chainlang check``)."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            **_where(self.span),
            "suggestion": self.suggestion,
            "related": [r.to_json() for r in self.related],
        }


class Diagnostics:
    """An ordered bag of diagnostics collected by the passes of one compilation."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []

    def add(self, diag: Diagnostic) -> None:
        """Add a diagnostic built by a constructor of :mod:`chainlang.language.codes`."""
        if diag.code not in CODES:  # an internal bug, not a user mistake
            raise KeyError(f"unregistered diagnostic code {diag.code}")
        self._items.append(diag)

    def error(self, code: str, span: Span, message: str, suggestion: str | None = None) -> None:
        """Add an error; ``code`` must be a key of :data:`CODES`."""
        if code not in CODES:  # an internal bug, not a user mistake
            raise KeyError(f"unregistered diagnostic code {code}")
        self._items.append(Diagnostic(code, Severity.ERROR, message, span, suggestion))

    def warning(self, code: str, span: Span, message: str, suggestion: str | None = None) -> None:
        """Add a warning (compilation goes on); ``code`` must be a key of :data:`CODES`."""
        if code not in CODES:
            raise KeyError(f"unregistered diagnostic code {code}")
        self._items.append(Diagnostic(code, Severity.WARNING, message, span, suggestion))

    def extend(self, items: Iterable[Diagnostic]) -> None:
        """Add diagnostics produced elsewhere (e.g. by an imported file)."""
        self._items.extend(items)

    def has_errors(self) -> bool:
        """True if any error was reported (later passes skip when so)."""
        return any(d.severity is Severity.ERROR for d in self._items)

    def sorted(self) -> list[Diagnostic]:
        """The diagnostics in file/position order, duplicates removed."""
        unique = dict.fromkeys(self._items)
        return sorted(unique, key=lambda d: (d.span.file, d.span.start, d.code))

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        # As many as iteration yields: a diagnostic reported twice counts once.
        return len(dict.fromkeys(self._items))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A suggestion naming the closest candidate, or None.

    A name that only adds words to one candidate, or abbreviates one, also finds it
    (``exact_accuracy`` → ``exact``, ``spear`` → ``spearman``), when only one fits.

    >>> did_you_mean("dpeth", ["depth", "normals"])
    "did you mean 'depth'?"
    >>> did_you_mean("exact_accuracy", ["exact", "mae", "spearman"])
    "did you mean 'exact'?"
    """
    options = sorted(set(candidates))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not close and len(name) >= 3:
        close = [c for c in options if _extends(name, c) or _extends(c, name)]
    return f"did you mean '{close[0]}'?" if len(close) == 1 else None


def _extends(longer: str, shorter: str) -> bool:
    """Whether ``longer`` is ``shorter`` with more words (or letters) after it."""
    return len(shorter) >= 3 and longer != shorter and longer.lower().startswith(shorter.lower())


def render(diag: Diagnostic, sources: Mapping[str, SourceFile]) -> str:
    """Render one diagnostic as stable plain text with a caret run under the span."""
    span = diag.span
    head = f"{span.file}:{span.line}:{span.col}: {diag.severity.value}[{diag.code}]: {diag.message}"
    excerpt = _excerpt(span, sources)
    out = [head, *excerpt]
    if diag.suggestion:  # indented under the gutter when there is an excerpt
        out.append(f"{'     ' if excerpt else '  '}= help: {diag.suggestion}")
    for r in diag.related:
        s = r.span
        out.append(f"     = note: {r.message}: {s.file}:{s.line}:{s.col}")
        out.extend(_excerpt(s, sources))
    return "\n".join(out)


def _excerpt(span: Span, sources: Mapping[str, SourceFile]) -> list[str]:
    """The span's source line with a caret run under it (nothing if the file is unknown)."""
    src = sources.get(span.file)
    if src is None:
        return []
    line = src.line_text(span.line)
    width = span.end_col - span.col if span.end_line == span.line else len(line) - span.col + 1
    gutter = f"{span.line:>4} | "
    caret = " " * (len(gutter) + span.col - 1) + "^" * max(1, width)
    return [gutter + line.expandtabs(1), caret.rstrip()]


def render_all(diags: Iterable[Diagnostic], sources: Mapping[str, SourceFile]) -> str:
    """Render several diagnostics, separated by blank lines, plus a summary line."""
    items = list(diags)
    parts = [render(d, sources) for d in items]
    errors = sum(1 for d in items if d.severity is Severity.ERROR)
    warnings = len(items) - errors
    tail = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    parts.append(f"{errors} error{'s' if errors != 1 else ''}{tail}")
    return "\n\n".join(parts)


def to_json(diags: Iterable[Diagnostic]) -> str:
    """All diagnostics as a JSON array (stable key order)."""
    return json.dumps([d.to_json() for d in diags], indent=2)
