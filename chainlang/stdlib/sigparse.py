"""Parse operation signatures: ``name(p: Type = default, ...) -> Type``.

A small hand-written parser (the chain grammar is for chains; signatures are
a few dozen fixed strings plus user declarations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chainlang.errors import UsageError
from chainlang.language.types import EnumT, FieldT, ListT, OptionalT, RecordT, Type
from chainlang.stdlib.typenames import named_type, type_var

_TOKEN = re.compile(r'\s*(->|"[^"]*"|[A-Za-z_][A-Za-z0-9_]*|-?[0-9.]+|[()\[\]{}?|,:=])')


class SignatureError(UsageError):
    """A signature string is malformed."""


@dataclass(frozen=True, slots=True)
class OpParam:
    """One parameter: accepted types, and a default (``has_default``) for optional ones."""

    name: str
    types: tuple[Type, ...]
    has_default: bool = False
    default: bool | int | float | str | None = None


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip():
                raise SignatureError(f"cannot read signature at {text[pos:]!r}")
            break
        out.append(m.group(1))
        pos = m.end()
    return out


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise SignatureError(f"in {self.text!r}: expected {expected or 'more'}, got {tok!r}")
        self.i += 1
        return tok

    def type(self) -> Type:
        tok = self.take()
        if tok == "[":
            item = self.type()
            self.take("]")
            t: Type = ListT(item=item)
        elif tok == "{":
            t = self.record()
        elif tok.startswith('"'):
            values = [tok[1:-1]]
            while self.peek() == "|" and (self.peek(1) or "").startswith('"'):
                self.take()
                values.append(self.take()[1:-1])
            t = EnumT(values=tuple(values))
        elif len(tok) == 1 and tok.isupper():
            t = type_var(tok)
        else:
            found = named_type(tok)
            if found is None:
                raise SignatureError(f"in {self.text!r}: unknown type {tok!r}")
            t = found
        if self.peek() == "?":
            self.take()
            t = OptionalT(item=t)
        return t

    def record(self) -> RecordT:
        """``{name: Type, ...}`` after its opening brace (a record result, e.g. ``zip``)."""
        fields: list[FieldT] = []
        while self.peek() != "}":
            name = self.take()
            self.take(":")
            fields.append(FieldT(name=name, type=self.type()))
            if self.peek() == ",":
                self.take()
        self.take("}")
        return RecordT(fields=tuple(fields))

    def alternatives(self) -> tuple[Type, ...]:
        types = [self.type()]
        while self.peek() == "|":
            self.take()
            types.append(self.type())
        return tuple(types)

    def default(self) -> bool | int | float | str | None:
        tok = self.take()
        literals: dict[str, bool | None] = {"true": True, "false": False, "none": None}
        if tok in literals:
            return literals[tok]
        if tok.startswith('"'):
            return tok[1:-1]
        try:
            return int(tok) if re.fullmatch(r"-?[0-9]+", tok) else float(tok)
        except ValueError as exc:
            raise SignatureError(f"in {self.text!r}: bad default {tok!r}") from exc

    def param(self) -> OpParam:
        name = self.take()
        self.take(":")
        types = self.alternatives()
        if self.peek() == "=":
            self.take()
            return OpParam(name, types, True, self.default())
        return OpParam(name, types)


def parse_signature(text: str) -> tuple[str, tuple[OpParam, ...], Type]:
    """Split a signature into its name, parameters and result type.

    >>> name, params, result = parse_signature("take(xs: [T], n: Int = 3) -> [T]")
    >>> name, [p.name for p in params], params[1].default, result.show()
    ('take', ['xs', 'n'], 3, "['T]")
    """
    r = _Reader(text)
    name = r.take()
    r.take("(")
    params: list[OpParam] = []
    while r.peek() != ")":
        params.append(r.param())
        if r.peek() == ",":
            r.take()
    r.take(")")
    r.take("->")
    result = r.type()
    if r.peek() is not None:
        raise SignatureError(f"in {text!r}: unexpected {r.peek()!r} after the result type")
    return name, tuple(params), result
