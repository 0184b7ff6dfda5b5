"""One constructor per diagnostic code: typed arguments in, a :class:`Diagnostic` out.

A pass never spells a code or a message itself: it calls the constructor of the
mistake it found (``codes.duplicate_name(span, "prompt", name, first)``) and adds
the result to its bag. So each code has one wording, one place to change it,
and one meaning; :data:`CONSTRUCTORS` maps each code to its constructor, and a
test checks that every code of :data:`~chainlang.language.diagnostics.CODES`
has exactly one and is documented in ``docs/diagnostics.md``.

Constructors that know a second relevant place (the first of two definitions)
attach it as a :class:`~chainlang.language.diagnostics.Related` span.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from chainlang.language.diagnostics import CODES, Diagnostic, Related, Severity
from chainlang.language.source import Span

F = TypeVar("F", bound=Callable[..., Diagnostic])

#: code -> the one function that builds its diagnostics.
CONSTRUCTORS: dict[str, Callable[..., Diagnostic]] = {}


def _constructs(code: str) -> Callable[[F], F]:
    """Register the decorated function as the constructor of ``code``."""

    def register(fn: F) -> F:
        if code not in CODES:
            raise KeyError(f"{fn.__name__}: unregistered diagnostic code {code}")
        if code in CONSTRUCTORS:
            raise KeyError(
                f"{code} has two constructors: {CONSTRUCTORS[code].__name__}, {fn.__name__}"
            )
        CONSTRUCTORS[code] = fn
        return fn

    return register


def _error(
    code: str, span: Span, message: str, hint: str | None = None, related: Sequence[Related] = ()
) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, span, hint, tuple(related))


def _warning(code: str, span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, span, hint)


def _first(span: Span | None, what: str = "first defined here") -> tuple[Related, ...]:
    return () if span is None else (Related(span, what),)


# ---- reading and syntax (E1xx) ----
@_constructs("E100")
def unreadable_file(span: Span, path: object, reason: str) -> Diagnostic:
    """A source file (or an imported one) that cannot be read."""
    return _error("E100", span, f"cannot read {path}: {reason}")


@_constructs("E101")
def unexpected_token(span: Span, shown: str, expected: str, hint: str | None) -> Diagnostic:
    """A token where the grammar wants something else."""
    return _error("E101", span, f"unexpected {shown}; expected {expected}", hint)


@_constructs("E102")
def unexpected_character(span: Span, char: str, expected: str) -> Diagnostic:
    """A character that starts no token."""
    hint = "close the string with '\"'" if char == '"' else None
    return _error("E102", span, f"unexpected character {char!r}; expected {expected}", hint)


@_constructs("E103")
def unexpected_eof(
    span: Span, expected: str, opened: Span | None = None, opener: str = "", context: str = ""
) -> Diagnostic:
    """The file ends inside a construct.

    With ``opened`` (the innermost bracket left open, ``opener`` its character and
    ``context`` the source before it on its line) the message names that block and
    where it began instead of listing the tokens the parser would take.
    """
    if opened is None:
        return _error("E103", span, f"the file ends early; expected {expected}")
    kind = {"{": "block", "[": "list", "(": "parenthesis"}[opener]
    closer = {"{": "}", "[": "]", "(": ")"}[opener]
    message = (
        f"the file ends early: the {kind} `{context}` opened at line {opened.line} is never closed"
    )
    return _error(
        "E103", span, message, f"close it with '{closer}'", (Related(opened, "opened here"),)
    )


@_constructs("E104")
def nesting_too_deep(span: Span, limit: int) -> Diagnostic:
    """The program nests deeper than the parser allows."""
    return _error(
        "E104",
        span,
        f"the program nests more than {limit} levels deep",
        "split deep expressions into `let` steps",
    )


@_constructs("E105")
def malformed_literal(span: Span, *, escape: bool = False) -> Diagnostic:
    """A string with a bad escape (``escape=True``) or a number too large to represent."""
    what = (
        "this string has a malformed escape" if escape else "this number is too large to represent"
    )
    return _error("E105", span, what)


# ---- names (E2xx) ----
@_constructs("E201")
def unknown_name(span: Span, name: str, hint: str | None) -> Diagnostic:
    """A name that nothing in scope defines."""
    return _error("E201", span, f"unknown name '{name}'", hint)


@_constructs("E202")
def duplicate_name(span: Span, what: str, name: str, first: Span | None) -> Diagnostic:
    """A second definition of a name (``what``: name, prompt, answer, label set, truth)."""
    return _error("E202", span, f"{what} '{name}' is defined twice", related=_first(first))


@_constructs("E203")
def unknown_type(span: Span, name: str | None, hint: str | None) -> Diagnostic:
    """An unknown type name."""
    return _error("E203", span, f"unknown type '{name}'", hint)


@_constructs("E204")
def unknown_labelset(span: Span, name: str, hint: str | None, problem: str = "") -> Diagnostic:
    """An unknown label set, or (with ``problem``) a declared label file that cannot be used."""
    message = f"label set '{name}': {problem}" if problem else f"unknown label set '{name}'"
    return _error("E204", span, message, hint)


@_constructs("E205")
def unknown_operation(span: Span, name: str, hint: str | None) -> Diagnostic:
    """A call of an operation the registry does not know."""
    return _error("E205", span, f"unknown operation '{name}'", hint)


@_constructs("E206")
def unknown_prompt(span: Span, name: str, hint: str | None) -> Diagnostic:
    """An ``ask`` or defaults block that names an unknown prompt."""
    return _error("E206", span, f"unknown prompt '{name}'", hint)


@_constructs("E207")
def truth_outside_oracle(span: Span) -> Diagnostic:
    """``truth`` read outside an oracle clause."""
    return _error("E207", span, "`truth` is only available inside `oracle { ... }`")


@_constructs("E208")
def chain_structure(span: Span, missing: str, found: int | None = None) -> Diagnostic:
    """A chain without exactly one ``output``/``return`` (or with two ``score`` lines), or a
    file without exactly one chain."""
    messages = {
        "output": f"a chain needs exactly one `output`, found {found}",
        "return": "a chain needs exactly one `return`, as its last step",
        "chain": f"a file compiled as a chain must hold exactly one `chain`, found {found}",
        "score": "a chain has at most one `score` line (list every metric on it)",
    }
    return _error("E208", span, messages[missing])


@_constructs("E209")
def let_rebinds(span: Span, name: str, scope: str, first: Span | None) -> Diagnostic:
    """A ``let`` whose name is already an input, a parameter or a label set."""
    return _error(
        "E209",
        span,
        f"'{name}' is already a {scope}",
        "give the `let` another name",
        _first(first, f"the {scope} is declared here"),
    )


@_constructs("E210")
def duplicate_field(span: Span, what: str, name: str, first: Span | None) -> Diagnostic:
    """A field written twice in an answer type, a record value or a loop state."""
    return _error("E210", span, f"{what} '{name}' is defined twice", related=_first(first))


@_constructs("E211")
def empty_shape(span: Span, shown: str, why: str, hint: str | None = None) -> Diagnostic:
    """A range, fixed-length list or permutation type that no answer could fill."""
    return _error("E211", span, f"type {shown} {why}", hint)


@_constructs("E215")
def output_needs_score(span: Span, output: str, fitting: Sequence[str]) -> Diagnostic:
    """An output type that is not one of the paper's seven, without a ``score`` line."""
    fits = ", ".join(fitting) if fitting else "none (register one: docs/stdlib.md)"
    example = f"score {fitting[0]}(truth.<field>)" if fitting else "score <metric>(truth.<field>)"
    return _error(
        "E215",
        span,
        f"output {output} needs a `score` line: metrics that fit {output} are {fits}",
        f"add a line after `output`, e.g. `{example}`",
    )


@_constructs("E216")
def unknown_metric(span: Span, name: str, hint: str | None, known: Sequence[str]) -> Diagnostic:
    """A ``score`` item that names a metric the metric registry does not know."""
    listed = f"the metrics are {', '.join(sorted(known))}" if known else "no metric is installed"
    return _error(
        "E216", span, f"unknown metric '{name}'", f"{hint} ({listed})" if hint else listed
    )


@_constructs("E217")
def metric_misfit(span: Span, metric: str, what: str, want: str, got: str) -> Diagnostic:
    """A metric whose prediction or truth type does not accept the chain's."""
    return _error("E217", span, f"metric '{metric}' scores {what} of type {want}, got {got}")


# ---- types (E3xx) ----
@_constructs("E301")
def wrong_argument_type(span: Span, what: str, want: str, got: str) -> Diagnostic:
    """An argument (of an operation or a prompt) of the wrong type."""
    return _error("E301", span, f"{what} must be {want}, got {got}")


@_constructs("E302")
def bad_operands(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    """An operator on types it does not combine (``message`` names the operator and types)."""
    return _error("E302", span, message, hint)


@_constructs("E303")
def wrong_arguments(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    """Wrong arguments to a call: unknown keyword, given twice, too many, missing."""
    return _error("E303", span, message, hint)


@_constructs("E304")
def not_bool(span: Span, what: str, got: str) -> Diagnostic:
    """A condition that is not Bool."""
    return _error("E304", span, f"{what} needs a Bool condition, got {got}")


@_constructs("E305")
def wrong_output(span: Span, got: str, output: str) -> Diagnostic:
    """The returned value does not match the chain's ``output``."""
    return _error("E305", span, f"the chain returns {got} but its output is {output}")


@_constructs("E306")
def not_a_list(span: Span, what: str, got: str) -> Diagnostic:
    """Iteration over something that is not a list."""
    return _error("E306", span, f"{what} needs a list, got {got}")


@_constructs("E307")
def incompatible_branches(span: Span, a: str, b: str, *, elements: bool = False) -> Diagnostic:
    """``if`` branches (or, with ``elements``, list elements) of incompatible types."""
    message = f"list elements mix {a} and {b}" if elements else f"the branches give {a} and {b}"
    return _error("E307", span, message)


@_constructs("E308")
def maybe_missing(span: Span, what: str, got: str, want: str) -> Diagnostic:
    """A value that may be missing where a present one is required."""
    return _error(
        "E308",
        span,
        f"{what} may be missing ({got}) but {want} is required",
        "use present(...) or an `else` value",
    )


# ---- prompts and answers (E4xx) ----
@_constructs("E401")
def unknown_field(
    span: Span, owner: str, name: str, fields: Sequence[str], hint: str | None
) -> Diagnostic:
    """A field ``owner`` does not have; the message lists the ``fields`` it has.

    ``owner`` is the type shown (``Region``, ``an answer of type {...}``), or
    ``"truth"`` for a truth field the chain does not declare.
    """
    listed = ", ".join(fields)
    if owner == "truth":
        message = f"the chain declares no truth field '{name}' (truth fields: {listed or 'none'})"
    elif fields:
        message = f"{owner} has no field '{name}' (its fields: {listed})"
    else:
        message = f"{owner} has no field '{name}' ({owner} has no fields)"
    return _error("E401", span, message, hint)


@_constructs("E402")
def unknown_hole(span: Span, name: str, params: Sequence[str], hint: str | None) -> Diagnostic:
    """A ``{hole}`` that is not a prompt parameter; the message lists the ``params`` it has."""
    listed = ", ".join(params) or "none"
    fix = hint or f"add a parameter `{name}: Text` to the prompt, or write {{{{ for a literal brace"
    return _error(
        "E402",
        span,
        f"hole {{{name}}} is not a parameter of the prompt (parameters: {listed})",
        fix,
    )


@_constructs("E403")
def image_slot(
    span: Span, name: str, *, as_hole: bool = False, hint: str | None = None
) -> Diagnostic:
    """An image slot that is not an Image parameter, or (``as_hole``) an image in a text hole."""
    if as_hole:
        return _error("E403", span, f"'{name}' is an image; show it with [{name}], not {{{name}}}")
    return _error(
        "E403", span, f"image slot '{name}' is not an Image parameter of the prompt", hint
    )


@_constructs("E404")
def missing_prompt_argument(span: Span, name: str) -> Diagnostic:
    """An ``ask`` that does not give a prompt parameter."""
    return _error("E404", span, f"the ask does not give prompt parameter '{name}'")


@_constructs("E405")
def unknown_prompt_argument(span: Span, prompt: str, name: str, hint: str | None) -> Diagnostic:
    """An ``ask`` argument the prompt does not declare."""
    return _error("E405", span, f"prompt '{prompt}' has no parameter '{name}'", hint)


@_constructs("E406")
def unknown_variant(
    span: Span, prompt: str, name: str, have: Sequence[str], hint: str | None
) -> Diagnostic:
    """A defaults block selecting a variant the prompt does not have."""
    return _error(
        "E406", span, f"prompt '{prompt}' has no variant '{name}' (it has {', '.join(have)})", hint
    )


@_constructs("E407")
def no_json_form(span: Span, type_shown: str, answer: str | None = None) -> Diagnostic:
    """An answer type without a JSON form."""
    if answer is None:
        return _error("E407", span, f"the answer type {type_shown} has no JSON form")
    return _error("E407", span, f"answer '{answer}' has type {type_shown}, which has no JSON form")


@_constructs("E408")
def clause_mismatch(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    """An oracle or fallback that does not produce the answer type."""
    return _error("E408", span, message, hint)


@_constructs("E409")
def shared_depends_on_item(span: Span, name: str, var: str) -> Diagnostic:
    """A shared argument of a batched ask that depends on the element."""
    return _error(
        "E409",
        span,
        f"'{name}' is shared by every item of a batch "
        f"but depends on '{var}'; make it an `each` parameter",
    )


@_constructs("E410")
def per_item_outside_each(span: Span, name: str, *, hole: bool) -> Diagnostic:
    """An ``each`` parameter or ``{key}`` used in a message that is not ``each``."""
    if hole:
        return _error("E410", span, f"hole {{{name}}} is per item; use it in an `each` message")
    return _error("E410", span, f"'{name}' is an `each` parameter; use it in an `each` message")


@_constructs("E411")
def unreadable_prompt_text(span: Span, path: str, reason: str) -> Diagnostic:
    """A ``file "..."`` prompt text that cannot be read."""
    return _error("E411", span, f"cannot read prompt text '{path}': {reason}")


@_constructs("E412")
def duplicate_variant(span: Span, name: str, first: Span | None) -> Diagnostic:
    """Two variants of one prompt with the same name."""
    return _error("E412", span, f"variant '{name}' is defined twice", related=_first(first))


@_constructs("E413")
def several_defaults(span: Span, prompt: str, defaults: Sequence[Span]) -> Diagnostic:
    """A prompt with more than one ``default`` variant."""
    return _error(
        "E413",
        span,
        f"prompt '{prompt}' has more than one default variant",
        "mark one variant `default`",
        tuple(Related(s, "a default variant") for s in defaults),
    )


@_constructs("E414")
def no_user_message(span: Span, prompt: str) -> Diagnostic:
    """A prompt (or one of its variants) that sends no user message."""
    return _error("E414", span, f"prompt '{prompt}' has no user message", "add a `user` message")


# ---- parameters and defaults (E5xx) ----
@_constructs("E501")
def bad_param_type(span: Span, name: str, shown: str) -> Diagnostic:
    """A parameter of a type parameters cannot have."""
    return _error(
        "E501",
        span,
        f"parameter '{name}' has type {shown}; parameters are "
        "Int, Float, Bool, Text or a choice of strings",
    )


@_constructs("E502")
def unknown_param(span: Span, name: str, hint: str | None) -> Diagnostic:
    """A defaults block that sets a parameter the chain does not declare."""
    return _error("E502", span, f"'{name}' is not a parameter of this chain", hint)


@_constructs("E503")
def not_a_literal(
    span: Span, what: str, want: str | None = None, got: str | None = None
) -> Diagnostic:
    """A default that is an expression (no ``want``) or a literal of the wrong type."""
    if want is None:
        return _error("E503", span, f"{what} must be a literal, not an expression")
    return _error("E503", span, f"{what} must be {want}, got {got}")


@_constructs("E504")
def bad_glob(span: Span, pattern: str) -> Diagnostic:
    """A defaults pattern that is empty or has spaces."""
    return _error("E504", span, f"'{pattern}' is not a model glob such as \"gpt-4o*\"")


# ---- loops and batching (E6xx) ----
@_constructs("E601")
def unbounded_repeat(span: Span) -> Diagnostic:
    """A ``repeat`` bound the static evaluator cannot bound from above."""
    return _error(
        "E601",
        span,
        "`up to` needs an Int computed from "
        "parameters and data sizes (e.g. n_iters, ceil(count(regions) / 8))",
    )


@_constructs("E602")
def batched_body(span: Span) -> Diagnostic:
    """A batched ``for`` whose body does not end in exactly one ``ask``."""
    return _error(
        "E602", span, "a batched `for` body must end in one `ask` and contain no other ask"
    )


@_constructs("E603")
def bad_batch_size(span: Span, *, params_only: bool) -> Diagnostic:
    """A batch size that is not an exactly computed Int."""
    where = "parameters and literals" if params_only else "parameters and data sizes"
    return _error("E603", span, f"a batch size must be an Int computed from {where}")


@_constructs("E604")
def ask_in_loop_with_batch_items(span: Span) -> Diagnostic:
    """An ``ask`` inside a loop of a chain with ``batch items``."""
    return _error("E604", span, "with `batch items`, asks must be outside loops")


@_constructs("E605")
def bad_next(span: Span, name: str, *, missing: bool, hint: str | None = None) -> Diagnostic:
    """A ``next`` that misses a state field (``missing``) or gives one the loop lacks."""
    if missing:
        return _error("E605", span, f"`next` must give a value for '{name}'")
    return _error("E605", span, f"'{name}' is not a state field of this loop", hint)


@_constructs("E606")
def batch_items_twice(span: Span, first: Span) -> Diagnostic:
    """A chain with two ``batch items`` lines."""
    return _error(
        "E606", span, "`batch items` is given twice", related=_first(first, "first given here")
    )


@_constructs("E607")
def state_type_unknown(span: Span, name: str) -> Diagnostic:
    """A loop state field whose type its start value does not tell."""
    return _error(
        "E607",
        span,
        f"cannot tell the type of '{name}' from its "
        f"start value; write it, e.g. `{name}: [Region] = []`",
    )


@_constructs("E608")
def bad_samples(span: Span, got: object = None) -> Diagnostic:
    """``samples K`` whose K is not a positive Int computed from parameters and literals."""
    if got is not None:
        return _error("E608", span, f"`samples` must be at least 1, got {got}", "write `samples 3`")
    return _error(
        "E608",
        span,
        "`samples` must be an Int computed from parameters and literals",
        "write a literal (`samples 3`) or a parameter (`samples k` with `param k: Int = 3`)",
    )


# ---- imports (E7xx) ----
@_constructs("E701")
def import_not_found(span: Span, path: str, base: object) -> Diagnostic:
    """``from "file"`` naming a file that does not exist."""
    return _error("E701", span, f"cannot find imported file '{path}' (looked in {base})")


@_constructs("E702")
def import_cycle(span: Span, names: Sequence[str]) -> Diagnostic:
    """Files that import each other in a cycle."""
    return _error("E702", span, "import cycle: " + " -> ".join(names))


@_constructs("E703")
def import_undefined(span: Span, path: str, name: str, hint: str | None) -> Diagnostic:
    """An imported name the file does not define."""
    return _error("E703", span, f"'{path}' defines no answer, prompt or label set '{name}'", hint)


@_constructs("E704")
def import_has_errors(span: Span, path: str) -> Diagnostic:
    """An imported file with errors of its own."""
    return _error("E704", span, f"'{path}' has errors; fix them first")


# ---- warnings ----
@_constructs("W201")
def unused_let(span: Span, name: str) -> Diagnostic:
    """A ``let`` that nothing reads: its work (and any question it asks) is wasted."""
    return _warning(
        "W201",
        span,
        f"'{name}' is never used",
        "remove the `let`, use its value, or start its name with '_' to keep it",
    )


@_constructs("W401")
def identical_asks(span: Span, message: str, first: Span | None) -> Diagnostic:
    """Two asks of an item that build the same request (``message`` says which and why)."""
    return Diagnostic(
        "W401", Severity.WARNING, message, span, None, _first(first, "asked first here")
    )


@_constructs("W402")
def unused_prompt(span: Span, name: str) -> Diagnostic:
    """A prompt of the chain's file that no ``ask`` uses, so none of its variants is ever sent."""
    return _warning(
        "W402",
        span,
        f"prompt '{name}' is never asked",
        "ask it, remove it, or move it into a file that is imported",
    )


@_constructs("W601")
def constant_until(span: Span) -> Diagnostic:
    """A ``repeat`` whose ``until`` mentions nothing that changes from round to round."""
    return _warning(
        "W601",
        span,
        "`until` mentions no state field or value of the loop body, so it cannot change "
        "between rounds: the loop stops after one round or always runs to its bound",
        "make `until` read the state that `next` updates",
    )
