"""Checked chain → :class:`~chainlang.language.ir.Program`, and parameter resolution.

The checker already produced typed IR for every expression; lowering
assembles the program (label sets and answers actually in scope, prompts,
header, body), computes its static call bound, and offers
:func:`resolve_params`, which the runtime uses to turn a model name and
command-line overrides into parameter values and variant choices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from chainlang.errors import UsageError
from chainlang.language import ir
from chainlang.language.analysis.bounds import bound_program
from chainlang.language.checking.checker import Checked, builtin_labelset
from chainlang.language.labelsets import BUILTIN
from chainlang.language.types import BoolT, EnumT, FloatT, IntT, TextT, Type


def lower(checked: Checked, source: str) -> ir.Program:
    """Assemble the IR program of a checked chain (with its call bound)."""
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
    return program.model_copy(update={"bounds": bound_program(program)})


@dataclass(frozen=True)
class Resolved:
    """Parameter values and the variant chosen for each prompt, for one model."""

    params: Mapping[str, ir.Scalar]
    variants: Mapping[str, str]


def resolve_params(
    program: ir.Program, model: str, overrides: Mapping[str, object] | None = None
) -> Resolved:
    """Resolve ``(model, overrides)`` to parameter values and variants.

    Order: parameter defaults, then every ``defaults for`` block whose glob
    matches ``model`` (in file order, later wins), then ``overrides``. An
    override key is a parameter name or ``variant.<prompt>``; string values
    (from ``-p name=value``) are converted to the parameter's type.

    Raises:
        UsageError: Unknown key, a value that does not fit, or a required
            parameter left without a value.
    """
    params = {p.name: p.default for p in program.params}
    variants = {p.name: p.default_variant for p in program.prompts}
    for block in program.defaults:
        if fnmatchcase(model, block.pattern):
            params.update(dict(block.params))
            variants.update(dict(block.variants))
    for key, value in (overrides or {}).items():
        if key.startswith("variant."):
            prompt = _prompt_key(program, key)  # first: an unknown prompt is a clear error
            variants[prompt] = _variant(program, key, value)
        else:
            params[key] = _coerce(program, key, value)
    missing = [p.name for p in program.params if p.required and params.get(p.name) is None]
    if missing:
        raise UsageError(f"parameter(s) {', '.join(missing)} need a value (-p name=value)")
    return Resolved(params, variants)


def _prompt_key(program: ir.Program, key: str) -> str:
    name = key.removeprefix("variant.")
    if all(p.name != name for p in program.prompts):
        raise UsageError(f"chain '{program.name}' has no prompt '{name}' (in '{key}')")
    return name


def _variant(program: ir.Program, key: str, value: object) -> str:
    prompt = program.prompt(key.removeprefix("variant."))
    names = [v.name for v in prompt.variants]
    if value not in names:
        raise UsageError(f"prompt '{prompt.name}' has no variant {value!r} (it has {names})")
    return str(value)


def _coerce(program: ir.Program, key: str, value: object) -> ir.Scalar:
    param = next((p for p in program.params if p.name == key), None)
    if param is None:
        names = ", ".join(p.name for p in program.params)
        raise UsageError(f"chain '{program.name}' has no parameter '{key}' (it has {names})")
    try:
        return _convert(param.type, value)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"parameter '{key}' must be {param.type.show()}: {exc}") from None


def _convert(t: Type, value: object) -> ir.Scalar:
    text = str(value)
    if isinstance(t, BoolT):
        if isinstance(value, bool) or text.lower() in {"true", "false"}:
            return value if isinstance(value, bool) else text.lower() == "true"
        raise ValueError(f"{value!r} is not true or false")
    if isinstance(t, IntT):
        if isinstance(value, float) or isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        return int(text)
    if isinstance(t, FloatT):
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    if isinstance(t, EnumT) and text not in t.values:
        raise ValueError(f"{value!r} is not one of {list(t.values)}")
    if isinstance(t, EnumT | TextT):
        return text
    raise TypeError(f"unsupported parameter type {t.show()}")
