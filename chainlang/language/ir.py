"""The typed IR: what the interpreter, planner and cache see of a chain.

Frozen pydantic models, tuples instead of lists, discriminated unions on
``kind``; ``Program.model_validate_json(p.model_dump_json()) == p``. Every
node carries ``origin`` (``file:line:col``) so runtime errors point at the
``.chain`` line. ``IR_VERSION`` is bumped whenever the meaning of a field
changes (it also salts cache keys).

Evaluation rules (the contract for the interpreter; docs/language.md
"Semantics" says the same with examples):

* ``Program.body`` is a sequence of :class:`Let` evaluated in order, then
  ``Program.result`` is the chain's output.
* :class:`Ref` looks a name up; ``scope`` says where it lives (``truth``
  refers to the item's truth record and occurs only inside oracle clauses).
* :class:`GetField` with ``lift > 0`` maps over that many layers of lists /
  missing values (``votes.near``): a missing element stays missing.
* :class:`Call` has every parameter in signature order (defaults filled in);
  call ``Operation.resolve()`` of the registry entry ``op`` with them by name.
* :class:`ForEach` runs ``body`` once per element of ``source``, concurrently;
  the result list is aligned with ``source``. With ``batch`` the body ends in
  one :class:`Ask` whose ``each`` arguments are gathered per element and sent
  ``batch`` at a time as one keyed request (keys ``"1".."n"``; the last
  request holds only the remaining keys).
* :class:`Ask` asks ``prompt`` with ``args``; the chosen variant comes from
  the resolved parameters (``resolve_params``). With ``batch_items`` (from
  ``batch items = B``) asks of different dataset items are coalesced into one
  keyed request. ``variant`` (when set) replaces the run's variant of the
  prompt for this ask; ``samples`` K asks it K times as distinct requests
  (``ask_sample`` 0..K-1) and gives the list of the K answers in order.
  ``oracle`` evaluates to the answer the truth gives;
  ``on_failure`` is ``fail`` (the item fails), ``value`` (``fallback`` is the
  counted answer) or ``skip`` (the result is missing, so lists stay aligned).
* :class:`Loop` starts from ``state``; before each iteration it evaluates
  ``until`` (stop when true) and stops after ``bound`` iterations; an
  iteration evaluates ``lets`` then ``next`` (a record with every state
  field). The loop's value is the final state record.
* :class:`Branch` evaluates one block; :class:`Cond` one expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from chainlang.language.analysis.bounds import Bound
from chainlang.language.types import Type

IR_VERSION: Final = 1

Scalar = bool | int | float | str | None


class Node(BaseModel):
    """Base of every IR node: frozen, no extra fields, with its source origin."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    origin: str = ""


# ---- expressions ----


class Lit(Node):
    """A literal (``none`` is ``value=None``)."""

    kind: Literal["lit"] = "lit"
    value: Scalar
    type: Type


class Ref(Node):
    """A name: an input, parameter, let, loop variable, loop state field, label set or truth."""

    kind: Literal["ref"] = "ref"
    name: str
    scope: Literal["input", "param", "let", "var", "state", "labelset", "truth"]
    type: Type


class GetField(Node):
    """``obj.name``, mapped over ``lift`` layers of lists / missing values."""

    kind: Literal["field"] = "field"
    obj: Expr
    name: str
    lift: int = 0
    type: Type


class Arg(Node):
    """A named argument or record field."""

    name: str
    value: Expr


class Call(Node):
    """A standard-library operation; ``args`` hold every parameter in signature order."""

    kind: Literal["call"] = "call"
    op: str
    impl: str
    args: tuple[Arg, ...]
    type: Type


class BinOp(Node):
    """Arithmetic, comparison or boolean operator; ``lift`` maps a comparison over a list."""

    kind: Literal["binary"] = "binary"
    op: Literal["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
    left: Expr
    right: Expr
    lift: bool = False
    type: Type


class UnOp(Node):
    kind: Literal["unary"] = "unary"
    op: Literal["-", "not"]
    operand: Expr
    type: Type


class Cond(Node):
    """``if cond then a else b`` (only the chosen branch is evaluated)."""

    kind: Literal["if"] = "if"
    cond: Expr
    then: Expr
    otherwise: Expr
    type: Type


class ListOf(Node):
    kind: Literal["list"] = "list"
    items: tuple[Expr, ...]
    type: Type


class RecordOf(Node):
    kind: Literal["record"] = "record"
    fields: tuple[Arg, ...]
    type: Type


class Comprehension(Node):
    """``[result for var in source if cond]``."""

    kind: Literal["comprehension"] = "comprehension"
    var: str
    source: Expr
    cond: Expr | None
    result: Expr
    type: Type


class Let(Node):
    name: str
    value: Expr


class Block(Node):
    """Lets evaluated in order, then ``result``."""

    lets: tuple[Let, ...]
    result: Expr


class ForEach(Node):
    """Concurrent fan-out; ``batch`` packs that many elements' asks into one request."""

    kind: Literal["for"] = "for"
    var: str
    source: Expr
    batch: Expr | None = None
    body: Block
    type: Type


class Ask(Node):
    """One question to the model.

    ``each`` names the arguments that are per item of a batch (the prompt's
    ``each`` parameters); the others are shared by every item of a request.
    """

    kind: Literal["ask"] = "ask"
    prompt: str
    args: tuple[Arg, ...]
    each: tuple[str, ...] = ()
    batch_items: Expr | None = None
    oracle: Block | None = None
    on_failure: Literal["fail", "value", "skip"] = "fail"
    fallback: Block | None = None
    # ``variant NAME``: this ask's variant, in place of the run's choice for the prompt
    variant: str | None = None
    # ``samples K``: K independent answers (``type`` is then a list of the element);
    # sample j is asked with ``ModelRequest.ask_sample = j``, a request and journal entry each
    samples: Expr | None = None
    type: Type


class StateField(Node):
    name: str
    type: Type
    init: Expr


class Loop(Node):
    """A bounded sequential loop with state (see the module docstring)."""

    kind: Literal["loop"] = "loop"
    state: tuple[StateField, ...]
    bound: Expr
    until: Expr
    lets: tuple[Let, ...]
    next: Expr
    type: Type


class Branch(Node):
    """``if cond { ... } else { ... }`` over blocks."""

    kind: Literal["branch"] = "branch"
    cond: Expr
    then: Block
    otherwise: Block
    type: Type


Expr = Annotated[
    Lit
    | Ref
    | GetField
    | Call
    | BinOp
    | UnOp
    | Cond
    | ListOf
    | RecordOf
    | Comprehension
    | ForEach
    | Ask
    | Loop
    | Branch,
    Field(discriminator="kind"),
]

# ---- prompts ----


class TextSeg(Node):
    kind: Literal["text"] = "text"
    text: str


class HoleSeg(Node):
    """``{name}``: a prompt parameter, or the built-ins ``key`` (in each messages) and ``count``."""

    kind: Literal["hole"] = "hole"
    name: str


class TextPart(Node):
    kind: Literal["text"] = "text"
    segments: tuple[Annotated[TextSeg | HoleSeg, Field(discriminator="kind")], ...]


class ImageSlot(Node):
    kind: Literal["image"] = "image"
    param: str
    detail: Literal["high", "low", "auto"] = "high"


class Message(Node):
    """A message; ``each`` messages repeat once per batch item (in key order)."""

    role: Literal["system", "user", "assistant"]
    each: bool = False
    parts: tuple[Annotated[TextPart | ImageSlot, Field(discriminator="kind")], ...]


class Variant(Node):
    """A fully resolved variant: its messages, and whether it asks for reasoning first."""

    name: str
    reasoning: bool = False
    messages: tuple[Message, ...]


class PromptParam(Node):
    name: str
    type: Type
    each: bool = False


class Prompt(Node):
    """A prompt: parameters, the answer per item, and its variants.

    ``element`` is what an ask evaluates to per item: ``answer`` plus a
    ``reasoning: [Text]`` field when any variant asks for reasoning (empty when
    the chosen one does not).
    """

    name: str
    params: tuple[PromptParam, ...]
    answer: Type
    element: Type
    variants: tuple[Variant, ...]
    default_variant: str


# ---- the program ----


class Decl(Node):
    name: str
    type: Type


class Param(Node):
    name: str
    type: Type
    default: Scalar = None
    required: bool = False
    doc: str | None = None


class ModelDefaults(Node):
    """A ``defaults for "<glob>"`` block: parameter values and variant choices."""

    pattern: str
    params: tuple[tuple[str, Scalar], ...] = ()
    variants: tuple[tuple[str, str], ...] = ()


class LabelSet(Node):
    """A label set: ``source`` is ``builtin`` or a path relative to the chain file."""

    name: str
    source: str
    size: int


class MetricUse(Node):
    """One item of a ``score`` line: ``name(truth.<truth>, k = v, ...)``.

    ``name`` is a key of ``chainlang.stdlib.metrics.metric_registry()``;
    ``truth`` the truth field the output is scored against; ``args`` the
    literal keyword arguments in source order (defaults are not filled in:
    the metric's signature supplies them when it is scored).
    """

    name: str
    truth: str
    args: tuple[tuple[str, int | float | str | bool], ...] = ()


class Program(Node):
    """One checked chain."""

    ir_version: Literal[1] = IR_VERSION
    name: str
    doc: str | None = None
    source: str
    inputs: tuple[Decl, ...]
    truth: tuple[Decl, ...] = ()
    output: Type
    scores: tuple[MetricUse, ...] = ()
    params: tuple[Param, ...] = ()
    defaults: tuple[ModelDefaults, ...] = ()
    labelsets: tuple[LabelSet, ...] = ()
    answers: tuple[Decl, ...] = ()
    prompts: tuple[Prompt, ...] = ()
    batch_items: Expr | None = None
    body: tuple[Let, ...] = ()
    result: Expr
    bounds: Bound | None = None

    def prompt(self, name: str) -> Prompt:
        """The prompt called ``name`` (KeyError if absent)."""
        for p in self.prompts:
            if p.name == name:
                return p
        raise KeyError(name)


def walk(program: Program) -> Iterator[Node]:
    """Every node of the program's body and result, depth first, in source order."""

    def visit(value: object) -> Iterator[Node]:
        if isinstance(value, Node):
            yield value
            for name in type(value).model_fields:
                yield from visit(getattr(value, name))
        elif isinstance(value, tuple):
            for x in value:
                yield from visit(x)

    yield from visit(program.body)
    yield from visit(program.result)


for _m in (
    GetField,
    Arg,
    Call,
    BinOp,
    UnOp,
    Cond,
    ListOf,
    RecordOf,
    Comprehension,
    Let,
    Block,
    ForEach,
    Ask,
    StateField,
    Loop,
    Branch,
    Program,
):
    _m.model_rebuild()
