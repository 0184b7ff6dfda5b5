"""Checker pass: the ``score`` line, which names the metrics that score a chain's output.

A metric's signature lives at the language level, like an operation's: its
prediction and truth types are type patterns in the signature syntax of
:mod:`chainlang.stdlib.sigparse` (``"Int | Float"``, ``"Points"``, ``"T"``), its
parameters ``(name, type, default)``. This pass checks each item against those
signatures only; the implementation is bound by ``module:function`` when a run is
scored, so nothing here imports scoring code.

Without a ``score`` line, an output of one of the paper's seven types keeps the
metrics its type selects (the scorer's defaults); any other output needs one (E215).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from chainlang.language import codes, ir
from chainlang.language.checking.helpers import _literal, _subst, unify
from chainlang.language.checking.state import CheckState
from chainlang.language.diagnostics import did_you_mean
from chainlang.language.syntax import nodes as n
from chainlang.language.syntax.unparse import expr_text, type_text
from chainlang.language.types import ERROR_TYPE, FloatT, OptionalT, Type, assignable
from chainlang.stdlib.sigparse import SignatureError, parse_signature
from chainlang.stdlib.typenames import OUTPUTS

ERR = ERROR_TYPE
MetricArg = int | float | str | bool


class MetricSignature(Protocol):
    """What the checker reads of a metric (``chainlang.stdlib.metrics.MetricSpec``)."""

    @property
    def name(self) -> str: ...
    @property
    def prediction(self) -> str: ...
    @property
    def truth(self) -> str: ...
    @property
    def params(self) -> tuple[tuple[str, str, object], ...]: ...


def default_metrics() -> Mapping[str, MetricSignature]:
    """The metric registry: built-ins plus the entry-point group ``chainlang.metrics``."""
    from chainlang.stdlib.metrics import metric_registry  # only chains that score load it

    return metric_registry()


def type_pattern(text: str) -> tuple[Type, ...]:
    """The alternatives of a type pattern written in the signature syntax.

    >>> [t.show() for t in type_pattern("Int | Float")]
    ['Int', 'Float']
    """
    # The signature parser is the one reader of this syntax: wrap the pattern in a signature.
    return parse_signature(f"metric(x: {text}) -> Bool")[1][0].types


def _accepts(pattern: str, actual: Type, env: dict[str, Type]) -> bool:
    """True if one alternative of ``pattern`` accepts ``actual`` (binding type variables)."""
    try:
        alternatives = type_pattern(pattern)
    except SignatureError:
        return False  # a malformed third-party signature fits nothing
    for alt in alternatives:
        trial = dict(env)
        if unify(alt, actual, trial):
            env.update(trial)
            return True
    return False


class ScoreChecks(CheckState):
    """The ``score`` line → :class:`~chainlang.language.ir.MetricUse` (a pass of ``Checker``)."""

    metrics_given: Mapping[str, MetricSignature] | None = None
    _metrics_loaded: Mapping[str, MetricSignature] | None = None

    @property
    def metrics(self) -> Mapping[str, MetricSignature]:
        """The metrics a score line may name (loaded on first use)."""
        if self.metrics_given is not None:
            return self.metrics_given
        if self._metrics_loaded is None:
            self._metrics_loaded = default_metrics()
        return self._metrics_loaded

    def score_line(
        self, c: n.ChainDecl, output: n.OutputDecl | None, out: Type
    ) -> tuple[ir.MetricUse, ...]:
        """Check the chain's ``score`` line against its output type ``out``."""
        decls = [i for i in c.items if isinstance(i, n.ScoreDecl)]
        if len(decls) > 1:
            self.diags.add(codes.chain_structure(decls[1].span, "score"))
        if not decls:
            if output is not None and out != ERR and not _paper_output(output):
                fitting = sorted(
                    m for m, s in self.metrics.items() if _accepts(s.prediction, out, {})
                )
                self.diags.add(
                    codes.output_needs_score(output.type.span, type_text(output.type), fitting)
                )
            return ()
        uses = (self._metric_use(m, out) for m in decls[0].metrics)
        return tuple(u for u in uses if u is not None)

    def _metric_use(self, m: n.MetricUse, out: Type) -> ir.MetricUse | None:
        spec = self.metrics.get(m.metric)
        if spec is None:
            hint = did_you_mean(m.metric, self.metrics)
            self.diags.add(codes.unknown_metric(m.span, m.metric, hint, list(self.metrics)))
            return None
        env: dict[str, Type] = {}
        fits = out == ERR or _accepts(spec.prediction, out, env)
        if not fits:
            self.diags.add(
                codes.metric_misfit(m.span, m.metric, "a prediction", spec.prediction, out.show())
            )
        field = self._truth_field(m)
        if field is not None and fits:
            name, t = field
            if t != ERR and not _accepts(spec.truth, t, env):
                what = f"the truth (truth.{name})"
                want = _bound(spec.truth, env)
                self.diags.add(codes.metric_misfit(m.truth.span, m.metric, what, want, t.show()))
        args = self._metric_args(m, spec)
        if field is None or args is None:
            return None
        return ir.MetricUse(name=m.metric, truth=field[0], args=args, origin=m.span.origin())

    def _truth_field(self, m: n.MetricUse) -> tuple[str, Type] | None:
        """The truth field a metric is scored against: ``truth.<name>`` and its type."""
        e = m.truth
        if not (isinstance(e, n.Field) and isinstance(e.obj, n.Name) and e.obj.name == "truth"):
            self.diags.add(
                codes.wrong_arguments(
                    e.span,
                    f"the first argument of metric '{m.metric}' must be a truth field, "
                    f"not {expr_text(e)}",
                    "write the truth field it is scored against, e.g. `truth.count`",
                )
            )
            return None
        declared = {f.name: f.type for f in self.truth_type.fields} if self.truth_type else {}
        if e.name not in declared:
            hint = did_you_mean(e.name, declared)
            self.diags.add(codes.unknown_field(e.span, "truth", e.name, list(declared), hint))
            return e.name, ERR
        return e.name, declared[e.name]

    def _metric_args(
        self, m: n.MetricUse, spec: MetricSignature
    ) -> tuple[tuple[str, MetricArg], ...] | None:
        """The keyword arguments: known parameters, each once, literals of its type."""
        params = {p[0]: p[1] for p in spec.params}
        out: list[tuple[str, MetricArg]] = []
        ok = True
        for i, k in enumerate(m.args):
            if any(x.name == k.name for x in m.args[:i]):
                self.diags.add(codes.wrong_arguments(k.span, f"'{k.name}' is given twice"))
                ok = False
            elif k.name not in params:
                known = ", ".join(params) or "none"
                hint = did_you_mean(k.name, params)
                message = f"metric '{m.metric}' has no parameter '{k.name}' (parameters: {known})"
                self.diags.add(codes.wrong_arguments(k.span, message, hint))
                ok = False
            else:
                value = self._metric_arg(m.metric, k, params[k.name])
                ok = ok and value is not None
                if value is not None:
                    out.append((k.name, value))
        return tuple(out) if ok else None

    def _metric_arg(self, metric: str, k: n.KwArg, pattern: str) -> MetricArg | None:
        what = f"argument '{k.name}' of metric '{metric}'"
        value, vt = _literal(k.value)
        if vt is None:
            self.diags.add(codes.not_a_literal(k.value.span, what))
            return None
        try:
            wanted = type_pattern(pattern)
        except SignatureError:
            wanted = ()
        match = next((t for t in wanted if assignable(vt, t)), None)
        if value is None or match is None or isinstance(vt, OptionalT):
            got = "none" if value is None else vt.show()
            self.diags.add(codes.not_a_literal(k.value.span, what, pattern, got))
            return None
        if isinstance(match, FloatT) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


def _bound(pattern: str, env: dict[str, Type]) -> str:
    """A pattern with the type variables the prediction bound (``T`` → ``Int``)."""
    if not env:
        return pattern
    return " | ".join(_subst(t, env).show() for t in type_pattern(pattern))


def _paper_output(o: n.OutputDecl) -> bool:
    """One of the seven output types whose metrics the scorer picks by itself."""
    return isinstance(o.type, n.NamedType) and o.type.name in OUTPUTS
