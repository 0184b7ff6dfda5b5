"""The surface AST: frozen dataclasses built by ``builder`` from the parse tree.

Spans and comments are attributes, not part of a node's value: they are
excluded from equality, so ``parse(fmt(x)) == parse(x)`` compares programs,
not layouts. Nothing in here knows about lark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from chainlang.language.source import Span

# ---- types ----


@dataclass(frozen=True, slots=True)
class NamedType:
    """``Int``, ``Image``, ``Regions``, an answer name, ..."""

    name: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class LabelType:
    """``Label(coco80)``: one label of a label set."""

    labelset: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ListType:
    item: TypeNode
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class EnumType:
    """``"red" | "blue"``."""

    values: tuple[str, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class FieldDecl:
    """One field of a record type, with an optional description for schemas."""

    name: str
    type: TypeNode
    doc: str | None = None
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class RecordType:
    fields: tuple[FieldDecl, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class OptionalType:
    """``T?``: a value that may be missing."""

    item: TypeNode
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class RangeType:
    """``Int(0..20)``, ``Float(0.0..1.0)``: a number between two bounds, inclusive."""

    name: str
    lo: int | float
    hi: int | float
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class FixedListType:
    """``[T; 5]``: a list of exactly ``length`` items."""

    item: TypeNode
    length: int
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class PermutationType:
    """``permutation of ["a", "b"]`` or ``permutation of Label(set)``: each value once."""

    values: tuple[str, ...] = ()
    labelset: str | None = None
    span: Span = field(compare=False, repr=False, kw_only=True)


TypeNode: TypeAlias = (
    NamedType
    | LabelType
    | ListType
    | EnumType
    | RecordType
    | OptionalType
    | RangeType
    | FixedListType
    | PermutationType
)

# ---- expressions ----


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class FloatLit:
    value: float
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class StrLit:
    value: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class NoneLit:
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Field:
    """``obj.name``; lifts over lists (``votes.near`` is the list of every ``near``)."""

    obj: Expr
    name: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class KwArg:
    name: str
    value: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Call:
    """A standard-library operation: positional then keyword arguments."""

    op: str
    args: tuple[Expr, ...]
    kwargs: tuple[KwArg, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class IfExpr:
    cond: Expr
    then: Expr
    otherwise: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Comprehension:
    """``[result for var in source if cond]``: map and filter."""

    result: Expr
    var: str
    source: Expr
    cond: Expr | None
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    value: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class RecordLit:
    fields: tuple[Assign, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)


Expr: TypeAlias = (
    IntLit
    | FloatLit
    | StrLit
    | BoolLit
    | NoneLit
    | Name
    | Field
    | Call
    | Binary
    | Unary
    | IfExpr
    | ListLit
    | Comprehension
    | RecordLit
)

# ---- values that ask, loop or branch ----


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Value
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Block:
    """``{ let ... value }``: the body of ``for`` and ``if``."""

    lets: tuple[Let, ...]
    value: Value
    span: Span = field(compare=False, repr=False, kw_only=True)
    #: comments just before the value, and after it before the closing brace
    lead: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)
    tail: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ClauseBody:
    """The body of ``oracle { ... }`` / ``else { ... }``: lets, then fields or one expression."""

    lets: tuple[Let, ...]
    fields: tuple[Assign, ...] | None
    expr: Expr | None
    span: Span = field(compare=False, repr=False, kw_only=True)
    #: comments just before ``expr``, and after the last line before the closing brace
    lead: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)
    tail: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Ask:
    """One question to the model, with optional oracle and fallback clauses."""

    prompt: str
    args: tuple[KwArg, ...]
    oracle: ClauseBody | None
    fallback: ClauseBody | None
    skip: bool  # ``else skip``
    variant: str | None = None  # ``variant NAME``: this ask's variant, whatever the run chose
    samples: Expr | None = None  # ``samples K``: K independent answers, as a list
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class For:
    """``for var in source [batch size] { ... }``: concurrent fan-out."""

    var: str
    source: Expr
    batch: Expr | None
    body: Block
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class StateField:
    name: str
    type: TypeNode | None
    init: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Repeat:
    """``repeat with {state} up to N until cond { lets  next {state} }``."""

    state: tuple[StateField, ...]
    bound: Expr
    until: Expr
    lets: tuple[Let, ...]
    next: RecordLit
    span: Span = field(compare=False, repr=False, kw_only=True)
    #: comments just before ``next``, and after it before the closing brace
    lead: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)
    tail: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class IfBlock:
    """``if cond { ... } else { ... }``: branch over blocks that may ask or loop."""

    cond: Expr
    then: Block
    otherwise: Block
    span: Span = field(compare=False, repr=False, kw_only=True)


Value: TypeAlias = Expr | Ask | For | Repeat | IfBlock

# ---- prompts ----


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class FilePart:
    """Prompt text kept in a file next to the chain."""

    path: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ImagePart:
    param: str
    detail: str | None
    span: Span = field(compare=False, repr=False, kw_only=True)


Part: TypeAlias = TextPart | FilePart | ImagePart


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    each: bool
    parts: tuple[Part, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    flags: tuple[str, ...]
    messages: tuple[Message, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class PromptParam:
    name: str
    type: TypeNode
    each: bool
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class PromptDecl:
    name: str
    params: tuple[PromptParam, ...]
    answer: TypeNode
    items: tuple[Message | Variant, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


# ---- declarations ----


@dataclass(frozen=True, slots=True)
class Import:
    path: str
    names: tuple[str, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class LabelsDecl:
    name: str
    path: str
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class AnswerDecl:
    """``answer N { ... }`` (record) or ``answer N = T`` (alias)."""

    name: str
    type: TypeNode
    alias: bool
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class InputDecl:
    name: str
    type: TypeNode
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class TruthDecl:
    name: str
    type: TypeNode
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class OutputDecl:
    type: TypeNode
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class MetricUse:
    """One item of a ``score`` line: ``pck(truth.centres, r = 0.05)``."""

    metric: str
    truth: Expr  # the checker accepts only ``truth.<field>``
    args: tuple[KwArg, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ScoreDecl:
    """``score m1(truth.f), m2(truth.g, k = v)``: the metrics that score the output."""

    metrics: tuple[MetricUse, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    type: TypeNode
    default: Expr | None
    doc: str | None
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ParamSetting:
    name: str
    value: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class VariantSetting:
    prompt: str
    variant: str
    span: Span = field(compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class DefaultsDecl:
    """``defaults for "gemini-*" { ... }``: per-model parameter and variant choices."""

    pattern: str
    settings: tuple[ParamSetting | VariantSetting, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class BatchDecl:
    """``batch items = B``: pack the asks of B dataset items into one request."""

    size: Expr
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Return:
    value: Value
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


ChainItem: TypeAlias = (
    InputDecl
    | TruthDecl
    | OutputDecl
    | ScoreDecl
    | ParamDecl
    | DefaultsDecl
    | BatchDecl
    | AnswerDecl
    | PromptDecl
    | LabelsDecl
    | Let
    | Return
)


@dataclass(frozen=True, slots=True)
class ChainDecl:
    name: str
    doc: str | None
    items: tuple[ChainItem, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)
    tail: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


ModuleItem: TypeAlias = Import | LabelsDecl | AnswerDecl | PromptDecl | ChainDecl


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed file."""

    items: tuple[ModuleItem, ...]
    span: Span = field(compare=False, repr=False, kw_only=True)
    tail: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)


def to_data(node: object) -> object:
    """A JSON-ready form of an AST (class name plus fields; spans and comments left out).

    Used by ``chainlang dump --stage ast`` and the golden AST files.
    """
    if isinstance(node, tuple):
        return [to_data(x) for x in node]
    fields = getattr(node, "__dataclass_fields__", None)
    if fields is None:
        return node
    out: dict[str, object] = {"node": type(node).__name__}
    for name, f in fields.items():
        if f.compare:
            out[name] = to_data(getattr(node, name))
    return out
