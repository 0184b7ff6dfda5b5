"""Parameters, in one place: how a value is written, chosen, checked and read back.

A chain's parameters get their values, in order, from

1. the parameter's own default (``param pairs: Int = 12``),
2. every ``defaults for "<glob>"`` block whose glob matches the model (file order,
   later wins),
3. overrides: ``-p NAME=VALUE`` on the command line, ``[params]`` of an experiment
   file, the grid values of a sweep; ``variant.<prompt>=<name>`` picks a prompt's
   variant the same way.

This module owns every step: parsing ``NAME=VALUE`` and sweep values
(:func:`parse_assignment`, :func:`parse_overrides`, :func:`parse_param_spec`),
converting a value to the parameter's type with a message that names the type
expected (:func:`convert`), resolving the final values for a model
(:func:`resolve_params`), and reading a run's resolved values back from its
``run.json`` for ``trace`` and the report (:func:`recorded_overrides`,
:func:`recorded_choices`). ``run.json`` records the *resolved* values, so a
value set by a ``defaults for`` block is there too.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from chainlang.errors import UsageError
from chainlang.language import ir
from chainlang.language.diagnostics import did_you_mean
from chainlang.language.types import BoolT, EnumT, FloatT, IntT, TextT, Type

VARIANT_PREFIX = "variant."


# --------------------------------------------------------------------------- writing values


def parse_assignment(spec: str, flag: str = "-p") -> tuple[str, str]:
    """``"pairs=12"`` → ``("pairs", "12")``, both stripped.

    Raises:
        UsageError: no ``=`` or an empty name.
    """
    name, sep, text = spec.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"{flag} expects NAME=VALUE, got {spec!r}")
    return name.strip(), text.strip()


def parse_overrides(specs: Iterable[str], flag: str = "-p") -> dict[str, str]:
    """``-p NAME=VALUE`` arguments as overrides; the values stay text until
    :func:`resolve_params` converts them to each parameter's type (so ``-p name=true``
    is the word for a Text parameter and the truth value for a Bool one)."""
    return dict(parse_assignment(spec, flag) for spec in specs)


def parse_value(text: str) -> Any:
    """A sweep value: a TOML value (``12``, ``0.5``, ``true``, ``[6, 12]``, ``"a b"``),
    else a bare word, or a list of bare words (``[point, curve]``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if text.startswith("["):
            return [w.strip() for w in text.strip("[]").split(",") if w.strip()]
        return text


def parse_param_spec(spec: str) -> tuple[str, Any]:
    """``"pairs=[6,12]"`` → ``("pairs", [6, 12])``; ``"marker=point"`` → ``("marker", "point")``.

    Raises:
        UsageError: no ``=`` or an empty name.
    """
    name, sep, _ = spec.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"parameters must look like name=value or name=[a,b]; got {spec!r}")
    name, text = parse_assignment(spec)
    return name, parse_value(text)


# --------------------------------------------------------------------------- types


_EXPECTED = {
    BoolT: "true or false",
    IntT: "a whole number",
    FloatT: "a finite number",
    TextT: "text",
}


def expected(t: Type) -> str:
    """What a value of type ``t`` looks like, in words: ``Int (a whole number)``."""
    if isinstance(t, EnumT):
        return f"one of {', '.join(t.values)}"
    words = _EXPECTED.get(type(t))
    return f"{t.show()} ({words})" if words else t.show()


def convert(t: Type, value: object) -> ir.Scalar:
    """``value`` (text from ``-p``, or a TOML or JSON value) as a value of type ``t``.

    Raises:
        ValueError: the value does not fit ``t``.
        TypeError: ``t`` is no parameter type.
    """
    if isinstance(t, BoolT):
        return _bool(value)
    if isinstance(t, IntT):
        return _int(value)
    if isinstance(t, FloatT):
        return _float(value)
    if isinstance(t, EnumT | TextT):
        text = _text(value)
        if isinstance(t, EnumT) and text not in t.values:
            raise ValueError(f"{value!r} is not one of them")
        return text
    raise TypeError(f"unsupported parameter type {t.show()}")


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ValueError(f"got {value!r}")


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"got {value!r}")


def _float(value: object) -> float:
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None or not math.isfinite(number):
        raise ValueError(f"got {value!r}")
    return number


def _text(value: object) -> str:
    if isinstance(value, bool):  # a TOML true/false: the word the user wrote
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"got {value!r}")


# --------------------------------------------------------------------------- resolving


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
    override key is a parameter name or ``variant.<prompt>``; values are
    converted to the parameter's type (:func:`convert`).

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
        if key.startswith(VARIANT_PREFIX):
            prompt = _prompt_key(program, key)  # first: an unknown prompt is a clear error
            variants[prompt] = _variant(program, prompt, value)
        else:
            params[key] = _coerce(program, key, value)
    missing = [p.name for p in program.params if p.required and params.get(p.name) is None]
    if missing:
        raise UsageError(f"parameter(s) {', '.join(missing)} need a value (-p name=value)")
    return Resolved(params, variants)


def _prompt_key(program: ir.Program, key: str) -> str:
    name = key.removeprefix(VARIANT_PREFIX)
    names = [p.name for p in program.prompts]
    if name not in names:
        raise UsageError(
            f"chain '{program.name}' has no prompt '{name}' (in '{key}'; its prompts: "
            f"{', '.join(names) or 'none'})" + _suggest(name, names)
        )
    return name


def _variant(program: ir.Program, prompt_name: str, value: object) -> str:
    prompt = program.prompt(prompt_name)
    names = [v.name for v in prompt.variants]
    if value not in names:
        raise UsageError(
            f"prompt '{prompt.name}' has no variant '{value}' (its variants: {', '.join(names)})"
            + _suggest(str(value), names)
        )
    return str(value)


def _suggest(name: str, names: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names``, or nothing."""
    hint = did_you_mean(name, names)
    return f"; {hint}" if hint else ""


def _coerce(program: ir.Program, key: str, value: object) -> ir.Scalar:
    param = next((p for p in program.params if p.name == key), None)
    if param is None:
        names = [p.name for p in program.params]
        raise UsageError(
            f"chain '{program.name}' has no parameter '{key}' (it has {', '.join(names) or 'none'})"
            + _suggest(key, names)
        )
    try:
        return convert(param.type, value)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"parameter '{key}' must be {expected(param.type)}: {exc}") from None


# --------------------------------------------------------------------------- reading back


def recorded_overrides(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run's resolved parameters and variants (from ``run.json``) as overrides that
    reproduce them exactly, whatever ``defaults for`` block set them."""
    overrides: dict[str, Any] = dict(run.get("params") or {})
    variants = run.get("variants") or {}
    overrides.update({f"{VARIANT_PREFIX}{p}": v for p, v in variants.items()})
    return overrides


def recorded_choices(run: Mapping[str, Any]) -> str:
    """A run's resolved parameters and variants in words: ``pairs=12, compare=careful``."""
    params = run.get("params") or {}
    parts = [f"{k}={_show(v)}" for k, v in params.items()]
    parts += [f"{p}={v}" for p, v in (run.get("variants") or {}).items()]
    return ", ".join(parts) or "none"


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
