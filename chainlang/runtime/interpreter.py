"""Execute a chain's IR on one dataset item.

Every ``ask`` becomes a :class:`ModelRequest` handed to the one shared
scheduler; everything else is evaluated here: lets, expressions, calls into
the standard library, ``for`` fan-out (concurrent, aligned with its source),
``batch`` packing into keyed requests, bounded loops with state, and the
``oracle`` and ``else`` clauses.

Failures are data: a question that failed after the scheduler's retries
either takes its ``else`` value (counted as a fallback), becomes missing
(``else skip``), or fails the item with its cause and the ``.chain`` line.
"""

from __future__ import annotations

import asyncio
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chainlang.errors import ChainlangError, DataError, OperationError
from chainlang.image import ImageData
from chainlang.language import answers, ir
from chainlang.language.analysis import staticeval
from chainlang.language.graded import split_graded
from chainlang.language.types import KeyedT, LabelT, RecordT, ordered_paths
from chainlang.providers.base import ModelRef, ModelRequest, Params
from chainlang.providers.conformance import adapt, target_for, too_many_images
from chainlang.providers.specs import find_spec
from chainlang.runtime.batching import ItemBatcher
from chainlang.runtime.outcome import Outcome
from chainlang.runtime.render import (
    choose_variant,
    element_values,
    oracle_answer,
    question_digests,
    render,
    request_type,
    shared_parts,
)
from chainlang.runtime.sampling import sample_params
from chainlang.stdlib import Operation, default_registry

MAX_BODIES_IN_FLIGHT = 32  # per for-loop: bounds the marked images alive at once


class ItemFailed(ChainlangError):
    """The item cannot produce an output; carries the cause and the .chain origin."""

    def __init__(self, kind: str, message: str, origin: str = "") -> None:
        self.kind = kind
        self.origin = origin
        super().__init__(f"{origin}: {message}" if origin else message)
        self.message = message


@dataclass
class Question:
    """One question as recorded in the run folder."""

    origin: str
    prompt: str
    variant: str
    outcome: Outcome
    batch: int | None
    share: float = 1.0  # this item's part of a request shared with other items
    expected: Any = None  # the oracle clause's answer, where the item has truth
    fallback: bool = False
    ordered: tuple[str, ...] = ()  # where the answer's lists are orders (types.ordered_paths)
    skipped: bool = False

    def to_json(self, store_image: Callable[[ImageData], str]) -> dict[str, Any]:
        """The question as a JSON record; ``store_image`` saves an image answer (and the
        truth's image answer) and returns the file it went to, recorded in
        ``answer_image`` / ``expected_image`` (``answer`` / ``expected`` are then null)."""
        o = self.outcome
        answer = o.value if o.ok else None
        images = {
            f"{name}_image": store_image(value)
            for name, value in (("answer", answer), ("expected", self.expected))
            if isinstance(value, ImageData)
        }
        return {
            "origin": self.origin,
            "prompt": self.prompt,
            "variant": self.variant,
            "key": o.request_key,
            "batch": self.batch,
            "share": self.share,
            "expected": None if isinstance(self.expected, ImageData) else self.expected,
            "ordered": list(self.ordered),
            "ok": o.ok,
            "answer": None if isinstance(answer, ImageData) else answer,
            "raw": o.raw_text,
            "input_tokens": o.usage.input_tokens,
            "output_tokens": o.usage.output_tokens,
            "cached_input_tokens": o.usage.cached_input_tokens,
            "cache_write_tokens": o.usage.cache_write_tokens,
            "cost_usd": o.cost_usd,
            "attempts": o.attempts,
            "reasks": o.reasks,
            "latency_s": round(o.latency_s, 4),
            "cache_hit": o.cached,
            "failure": o.failure_kind,
            "failure_message": o.failure_message,
            "fallback": self.fallback,
            "skipped": self.skipped,
            **images,
        }


@dataclass
class ItemContext:
    """Per-item state: where truth comes from and what was asked."""

    item_id: str
    truth: Callable[[str], Any]
    questions: list[Question] = field(default_factory=list)
    batchers: dict[str, ItemBatcher] = field(default_factory=dict)
    truth_memo: dict[str, Any] = field(default_factory=dict)
    # What a specialist answerer sees as ``truth`` (its predictions); the real
    # truth above still gives each question's recorded ``expected`` for scoring.
    answer_truth: Callable[[str], Any] | None = None
    answer_memo: dict[str, Any] = field(default_factory=dict)
    # Loops that ran all their rounds while their ``until`` still did not hold: the
    # bound, not the chain's own test, ended them (recorded, never silent).
    loops_at_bound: list[dict[str, Any]] = field(default_factory=list)

    def answerer_view(self) -> ItemContext:
        """This item with ``truth`` read from the answerer's source (shares the questions)."""
        if self.answer_truth is None:
            return self
        return replace(self, truth=self.answer_truth, truth_memo=self.answer_memo)


@dataclass(frozen=True)
class Settings:
    """What the interpreter needs besides the program."""

    model: ModelRef
    params: Mapping[str, Any]
    variants: Mapping[str, str] = field(default_factory=dict)
    sample_index: int = 0
    samples: int = 1  # the run's --samples: above 1, each sample sends its own seed
    sampling: Params = field(default_factory=Params)
    origin_file: str = ""
    dataset_labels: str | None = None  # the label set the dataset's truth indexes into
    # The plan's dry run: every request carries the oracle clause's answer (where the
    # item has truth), so the dry run can answer as a perfect model and follow its path.
    answer_from_truth: bool = False


@dataclass(frozen=True)
class _Asked:
    """An ask's request for some scopes, before it is sent (once, or once per sample)."""

    ask: ir.Ask
    prompt: ir.Prompt
    variant: ir.Variant
    n: int | None  # keys of a batched request; None for a single question
    request: ModelRequest
    expected: Any  # the truth's answer, recorded with every question
    scopes: list[dict[str, Any]]
    ctxs: list[ItemContext]


class Interpreter:
    """Runs one program for many items, sharing one scheduler."""

    def __init__(self, program: ir.Program, settings: Settings, scheduler: Any) -> None:
        self.program = program
        self.settings = settings
        self.scheduler = scheduler
        self._ops: dict[str, Callable[..., Any]] = {}
        # Requests added by splitting keyed requests over the image limit (each split of
        # one request into two adds one per sample); the planner counts and prices them.
        self.split_requests = 0
        self._ordered: dict[tuple[str, bool], tuple[str, ...]] = {}

    async def run(self, inputs: Mapping[str, Any], ctx: ItemContext) -> Any:
        """Evaluate the program for one item and return its output value."""
        env: dict[str, Any] = {**self.settings.params, **inputs}
        for let in self.program.body:
            env[let.name] = await self.eval(let.value, env, ctx)
        return await self.eval(self.program.result, env, ctx)

    # ---------------------------------------------------------------- dispatch

    async def eval(self, e: Any, env: dict[str, Any], ctx: ItemContext) -> Any:
        """Evaluate one expression node."""
        method = getattr(self, f"_eval_{e.kind}")
        try:
            return await method(e, env, ctx)
        except (ItemFailed, asyncio.CancelledError):
            raise
        except OperationError as err:
            raise ItemFailed("operation", str(err.args[0]), err.origin or e.origin) from err
        except DataError as err:
            raise ItemFailed("data", str(err), e.origin) from err

    async def _eval_lit(self, e: ir.Lit, env: dict[str, Any], ctx: ItemContext) -> Any:
        return e.value

    async def _eval_ref(self, e: ir.Ref, env: dict[str, Any], ctx: ItemContext) -> Any:
        if e.scope == "truth":
            return _TruthView(ctx.truth, ctx.truth_memo)
        if e.scope == "labelset":
            return list(answers.load_labels(_labelset_source(self.program, e.name)))
        if e.name not in env:
            raise ItemFailed("internal", f"{e.name!r} has no value here", e.origin)
        return env[e.name]

    async def _eval_field(self, e: ir.GetField, env: dict[str, Any], ctx: ItemContext) -> Any:
        obj = await self.eval(e.obj, env, ctx)
        return _lift(lambda v: _get(v, e.name, e.origin), obj, e.lift)

    async def _eval_call(self, e: ir.Call, env: dict[str, Any], ctx: ItemContext) -> Any:
        kwargs = {a.name: await self.eval(a.value, env, ctx) for a in e.args}
        fn = self._op(e)
        labels = _labels_needed(e, fn)
        if labels is not None and "label_set" not in kwargs:
            kwargs["label_set"] = self._label_set(e, labels)
        try:
            return fn(**kwargs)
        except OperationError as err:
            raise OperationError(str(err.args[0]), err.origin or e.origin) from err

    async def _eval_binary(self, e: ir.BinOp, env: dict[str, Any], ctx: ItemContext) -> Any:
        left = await self.eval(e.left, env, ctx)
        if e.op == "and" and not left:
            return False
        if e.op == "or" and left:
            return True
        right = await self.eval(e.right, env, ctx)
        if e.lift and isinstance(left, list):
            return [None if v is None else _binary(e.op, v, right, e.origin) for v in left]
        return _binary(e.op, left, right, e.origin)

    async def _eval_unary(self, e: ir.UnOp, env: dict[str, Any], ctx: ItemContext) -> Any:
        v = await self.eval(e.operand, env, ctx)
        try:
            return staticeval.unary(e.op, v)
        except OperationError as err:
            raise OperationError(str(err.args[0]), e.origin) from err

    async def _eval_if(self, e: ir.Cond, env: dict[str, Any], ctx: ItemContext) -> Any:
        chosen = e.then if await self.eval(e.cond, env, ctx) else e.otherwise
        return await self.eval(chosen, env, ctx)

    async def _eval_list(self, e: ir.ListOf, env: dict[str, Any], ctx: ItemContext) -> Any:
        return [await self.eval(x, env, ctx) for x in e.items]

    async def _eval_record(self, e: ir.RecordOf, env: dict[str, Any], ctx: ItemContext) -> Any:
        return {a.name: await self.eval(a.value, env, ctx) for a in e.fields}

    async def _eval_comprehension(
        self, e: ir.Comprehension, env: dict[str, Any], ctx: ItemContext
    ) -> Any:
        out = []
        for x in await self.eval(e.source, env, ctx):
            inner = {**env, e.var: x}
            if e.cond is None or await self.eval(e.cond, inner, ctx):
                out.append(await self.eval(e.result, inner, ctx))
        return out

    async def _eval_branch(self, e: ir.Branch, env: dict[str, Any], ctx: ItemContext) -> Any:
        block = e.then if await self.eval(e.cond, env, ctx) else e.otherwise
        return await self.block(block, env, ctx)

    async def block(self, b: ir.Block, env: dict[str, Any], ctx: ItemContext) -> Any:
        """Evaluate a block's lets in a child scope, then its result."""
        inner = dict(env)
        for let in b.lets:
            inner[let.name] = await self.eval(let.value, inner, ctx)
        return await self.eval(b.result, inner, ctx)

    # ---------------------------------------------------------------- loops

    async def _eval_loop(self, e: ir.Loop, env: dict[str, Any], ctx: ItemContext) -> Any:
        state = {f.name: await self.eval(f.init, env, ctx) for f in e.state}
        bound = _as_int(await self.eval(e.bound, env, ctx), e.origin)
        for _ in range(bound):
            scope = {**env, **state}
            if await self.eval(e.until, scope, ctx):
                break
            for let in e.lets:
                scope[let.name] = await self.eval(let.value, scope, ctx)
            state = dict(await self.eval(e.next, scope, ctx))
        else:  # every round ran: did the loop finish, or did the bound stop it?
            if not await self.eval(e.until, {**env, **state}, ctx):
                ctx.loops_at_bound.append({"origin": e.origin, "bound": bound})
        return state

    async def _eval_for(self, e: ir.ForEach, env: dict[str, Any], ctx: ItemContext) -> Any:
        source = await self.eval(e.source, env, ctx)
        if source is None:
            return []
        elements = list(source)
        if e.batch is not None:
            size = _as_int(await self.eval(e.batch, env, ctx), e.origin)
            if size < 1:  # the call bound divides by it: a size below 1 is an error, not 1
                raise OperationError(f"a batch size must be at least 1, got {size}", e.origin)
            return await self._batched(e, elements, size, env, ctx)
        gate = asyncio.Semaphore(MAX_BODIES_IN_FLIGHT)

        async def body(x: Any) -> Any:
            async with gate:
                return await self.block(e.body, {**env, e.var: x}, ctx)

        return await _gather([body(x) for x in elements])

    async def _batched(
        self, e: ir.ForEach, elements: list[Any], size: int, env: dict[str, Any], ctx: ItemContext
    ) -> list[Any]:
        ask = e.body.result
        if not isinstance(ask, ir.Ask):
            raise ItemFailed("internal", "a batched for must end in an ask", e.origin)
        chunks = [elements[i : i + size] for i in range(0, len(elements), size)]
        results = await _gather([self._ask_chunk(e, ask, c, env, ctx) for c in chunks])
        return [v for chunk in results for v in chunk]

    async def _ask_chunk(
        self, e: ir.ForEach, ask: ir.Ask, chunk: list[Any], env: dict[str, Any], ctx: ItemContext
    ) -> list[Any]:
        scopes = []
        for x in chunk:
            scope = {**env, e.var: x}
            for let in e.body.lets:
                scope[let.name] = await self.eval(let.value, scope, ctx)
            scopes.append(scope)
        return await self._ask(ask, scopes, [ctx] * len(scopes), batched=True)

    # ---------------------------------------------------------------- asking

    async def _eval_ask(self, e: ir.Ask, env: dict[str, Any], ctx: ItemContext) -> Any:
        batcher = ctx.batchers.get(e.origin)
        if batcher is not None:
            return await batcher.ask(self, e, env, ctx)
        return (await self._ask(e, [env], [ctx], batched=False))[0]

    async def ask_many(
        self, e: ir.Ask, scopes: list[dict[str, Any]], ctxs: list[ItemContext]
    ) -> list[Any]:
        """One keyed request for asks of several items (``batch items``)."""
        return await self._ask(e, scopes, ctxs, batched=True)

    async def _ask(
        self,
        e: ir.Ask,
        scopes: list[dict[str, Any]],
        ctxs: list[ItemContext],
        *,
        batched: bool,
        split: str = "",
    ) -> list[Any]:
        """Ask ``scopes`` (one scope, or one per batch item): one request, or with
        ``samples K`` K requests whose answers make each scope's list of K.

        A keyed request with more images than the provider accepts is split into
        requests of fewer keys (each asks the same question of its keys; ``split``
        says so in the requests' ``adapted``)."""
        k = 1
        if e.samples is not None:
            k = _as_int(await self.eval(e.samples, scopes[0], ctxs[0]), e.origin)
            if k < 1:  # a parameter's value; a literal below 1 is refused by the checker (E608)
                raise OperationError(f"`samples` must be at least 1, got {k}", e.origin)
        asked = await self._question(e, scopes, ctxs, batched)
        over = too_many_images(asked.request, target_for(self.settings.model))
        if batched and len(scopes) > 1 and over is not None:
            half = (len(scopes) + 1) // 2
            note = split or (
                f"a request of {asked.request.schema_name} had {over[0]} images; "
                f"{self.settings.model.provider} accepts {over[1]}: its keys were split "
                "over several requests"
            )
            parts = [(scopes[:half], ctxs[:half]), (scopes[half:], ctxs[half:])]
            self.split_requests += k
            done = await _gather([self._ask(e, s, c, batched=True, split=note) for s, c in parts])
            return [v for part in done for v in part]
        if split:
            request = replace(asked.request, adapted=(*asked.request.adapted, split))
            asked = replace(asked, request=request)
        # The arguments and the oracle are evaluated once; the K samples differ only in
        # ``ask_sample``, so each is its own request, journal entry and simulated draw.
        drawn = await _gather([self._send(asked, self._sample(asked, e, j)) for j in range(k)])
        if e.samples is None:
            one: list[Any] = drawn[0]
            return one
        return [list(answers) for answers in zip(*drawn, strict=True)]

    def _sample(self, asked: _Asked, e: ir.Ask, j: int) -> ModelRequest:
        """Sample ``j`` of an ask's request; with ``samples K`` it sends its own seed."""
        if e.samples is None:
            return asked.request
        params = sample_params(self.settings.sampling, self.settings.sample_index, j)
        return replace(asked.request, ask_sample=j, params=params)

    async def _question(
        self, e: ir.Ask, scopes: list[dict[str, Any]], ctxs: list[ItemContext], batched: bool
    ) -> _Asked:
        """The request an ask builds for ``scopes``, with what recording its answer needs."""
        prompt = self.program.prompt(e.prompt)
        wanted = self.settings.variants if e.variant is None else {prompt.name: e.variant}
        variant = choose_variant(prompt, wanted)
        n = len(scopes) if batched else None
        shared, each = await self._arguments(e, scopes, ctxs, batched)
        spec = find_spec(self.settings.model.provider)
        answers_from = None if spec is None else spec.answers_from
        expected = await self._oracle(e, prompt, variant, scopes, ctxs, n, answers_from == "truth")
        given = expected  # the answer a simulated answerer replies with
        if answers_from == "predictions":
            views = [c.answerer_view() for c in ctxs]
            given = await self._oracle(e, prompt, variant, scopes, views, n, True)
        # oracle and specialist reply with the oracle clause's answer, over the truth or
        # over a specialist's prediction standing in for it (the "X + Chain" baselines)
        simulated = answers_from is not None
        # ``highest``/``ranked`` answers carry their truth values: the plain answer is
        # the oracle's, the values go to the noisy simulated answerers (language/graded.py)
        expected = split_graded(expected)[0]
        given, gradings = split_graded(given)
        if simulated and e.oracle is not None and given is None:
            raise ItemFailed("oracle", "the item has no truth for this ask's oracle", e.origin)
        request = ModelRequest(
            model=self.settings.model,
            messages=render(variant, shared, each),
            shared_parts=0 if each is None else shared_parts(variant, shared, len(each)),
            answer_type=(t := request_type(prompt, variant, n)),
            schema=None if t.kind == "image" else answers.schema_for(t),
            schema_name=_schema_name(prompt.name),
            params=self._sampling(),
            sample_index=self.settings.sample_index,
            oracle=given if simulated or self.settings.answer_from_truth else None,
            graded=gradings if simulated and gradings else None,
            origin=e.origin,
            # simulated answers are drawn per question, whatever the batch (see render)
            questions=question_digests(variant, shared, each)
            if each is not None and spec is not None and spec.simulated
            else (),
        )
        # rewritten where the provider's contract refuses it and the meaning survives
        request = adapt(request, target_for(self.settings.model))
        return _Asked(e, prompt, variant, n, request, expected, scopes, ctxs)

    def _sampling(self) -> Params:
        """The sampling parameters; with ``--samples`` above 1, the run sample's seed."""
        s = self.settings
        return sample_params(s.sampling, s.sample_index, 0) if s.samples > 1 else s.sampling

    async def _send(self, asked: _Asked, request: ModelRequest) -> list[Any]:
        """Send one request of an ask and record it: its values, one per scope."""
        outcome: Outcome = await self.scheduler.ask(request)
        questions = self._record(
            asked.ask, asked.prompt, asked.variant, outcome, asked.n, asked.ctxs
        )
        for q in questions:
            q.expected = asked.expected
        if outcome.ok:
            return element_values(asked.prompt, asked.variant, outcome.value, asked.n)
        return await self._on_failure(asked.ask, questions, asked.scopes, asked.ctxs)

    def _ordered_paths(self, prompt: ir.Prompt, *, batched: bool) -> tuple[str, ...]:
        """Where ``prompt``'s answers hold orders (for scoring), worked out once per prompt."""
        key = (prompt.name, batched)
        if key not in self._ordered:
            answer = KeyedT(item=prompt.answer) if batched else prompt.answer
            self._ordered[key] = ordered_paths(answer)
        return self._ordered[key]

    def _record(
        self,
        e: ir.Ask,
        prompt: ir.Prompt,
        variant: ir.Variant,
        outcome: Outcome,
        n: int | None,
        ctxs: list[ItemContext],
    ) -> list[Question]:
        """Record the question once per distinct item that shares it."""
        distinct = list({id(c): c for c in ctxs}.values())
        out = []
        for c in distinct:
            q = Question(e.origin, prompt.name, variant.name, outcome, n, share=1 / len(distinct))
            q.ordered = self._ordered_paths(prompt, batched=n is not None)
            c.questions.append(q)
            out.append(q)
        return out

    async def _arguments(
        self, e: ir.Ask, scopes: list[dict[str, Any]], ctxs: list[ItemContext], batched: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        each_names = set(e.each) if batched else set()
        shared = {
            a.name: await self.eval(a.value, scopes[0], ctxs[0])
            for a in e.args
            if a.name not in each_names
        }
        if not batched:
            return shared, None
        each = []
        for scope, ctx in zip(scopes, ctxs, strict=True):
            each.append(
                {
                    a.name: await self.eval(a.value, scope, ctx)
                    for a in e.args
                    if a.name in each_names
                }
            )
        return shared, each

    async def _oracle(
        self,
        e: ir.Ask,
        prompt: ir.Prompt,
        variant: ir.Variant,
        scopes: list[dict[str, Any]],
        ctxs: list[ItemContext],
        n: int | None,
        strict: bool,
    ) -> Any:
        """The truth's answer to this question, or None where the item has no truth.

        It is what ``oracle`` answerers reply (never sent to a real provider), and
        it is recorded with every question so answers can be scored one by one.
        With ``ctxs`` viewing a specialist's predictions it is that specialist's
        answer. ``strict``: a failing clause fails the item instead of giving None.
        """
        if e.oracle is None:
            return None
        try:
            values = [
                await self.block(e.oracle, scope, ctx)
                for scope, ctx in zip(scopes, ctxs, strict=True)
            ]
        except ItemFailed as err:
            if not strict:
                return None  # a missing truth file must not stop a model's run
            raise ItemFailed(
                "oracle", f"the oracle clause failed: {err.message}", err.origin
            ) from err
        return oracle_answer(prompt, variant, values, n)

    async def _on_failure(
        self,
        e: ir.Ask,
        questions: list[Question],
        scopes: list[dict[str, Any]],
        ctxs: list[ItemContext],
    ) -> list[Any]:
        o = questions[0].outcome
        if o.failure_kind == "budget":
            # Not an answer the chain can do without: the money ran out, so the item is
            # not done (no else value or skip stands in for it); a rerun finishes it.
            raise ItemFailed("budget", o.failure_message or "the budget ran out", e.origin)
        if e.on_failure == "skip":
            for q in questions:
                q.skipped = True
            return [None] * len(scopes)
        if e.on_failure == "value" and e.fallback is not None:
            for q in questions:
                q.fallback = True
            return [
                await self.block(e.fallback, scope, ctx)
                for scope, ctx in zip(scopes, ctxs, strict=True)
            ]
        raise ItemFailed(
            o.failure_kind or "failed", o.failure_message or "the question failed", e.origin
        )

    def _label_set(self, e: ir.Call, source: str) -> tuple[str, ...]:
        """Labels for ops that turn class indices into names or back.

        ``source`` is the operation's declared ``labels`` fact: ``"argument"`` (e.g.
        ``semantic_from_labels`` paints the labels of its argument's set) or
        ``"dataset"`` (``majority`` names truth classes, which index into the
        dataset's set).
        """
        name = _labelset_in([a.value.type for a in e.args] + [e.type])
        if source == "dataset" or name is None:
            name = self.settings.dataset_labels or name
        if name is None:
            raise OperationError(f"{e.op} needs a label set and none is known", e.origin)
        return answers.load_labels(name)

    def _op(self, e: ir.Call) -> Callable[..., Any]:
        fn = self._ops.get(e.impl)
        if fn is None:
            fn = resolve_impl(e.impl)
            self._ops[e.impl] = fn
        return fn


def _labels_needed(e: ir.Call, fn: Callable[..., Any]) -> str | None:
    """The label set an operation declares it needs (``labels=``), or None.

    A third party's ``@operation`` function carries its declaration; a built-in
    one is found in the default registry under the same implementation.
    """
    declared = getattr(fn, "__chainlang_operation__", None)
    if not isinstance(declared, Operation):
        declared = default_registry().get(e.op)
    if declared is None or declared.impl != e.impl:
        return None
    return declared.labels


def _labelset_in(types: list[Any]) -> str | None:
    """The first label set named anywhere inside ``types``."""
    for t in types:
        if isinstance(t, LabelT):
            return t.labelset
        inner = [getattr(t, "item", None)] if hasattr(t, "item") else []
        found = _labelset_in([x for x in inner if x is not None])
        if found:
            return found
    return None


def resolve_impl(impl: str) -> Callable[..., Any]:
    """Import ``module:function`` (or ``module.function``)."""
    module, _, name = impl.partition(":") if ":" in impl else impl.rpartition(".")
    try:
        fn: object = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise OperationError(f"operation implementation {impl!r} cannot be loaded: {err}") from err
    if not callable(fn):
        raise OperationError(f"operation implementation {impl!r} is not a function")
    return fn


class _TruthView:
    """``truth`` inside oracle clauses: fields load lazily from the item, once each."""

    def __init__(self, load: Callable[[str], Any], memo: dict[str, Any]) -> None:
        self._load = load
        self._memo = memo

    def get(self, name: str) -> Any:
        if name not in self._memo:
            self._memo[name] = self._load(name)
        return self._memo[name]


def _labelset_source(program: ir.Program, name: str) -> str:
    for ls in program.labelsets:
        if ls.name == name:
            return ls.source if ls.source != "builtin" else ls.name
    return name


def _get(value: Any, name: str, origin: str) -> Any:
    if isinstance(value, _TruthView):
        return value.get(name)
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        raise OperationError(f"no field {name!r} (fields: {', '.join(map(str, value))})", origin)
    if isinstance(value, tuple) and len(value) == 2 and name in ("x", "y"):
        return value[0 if name == "x" else 1]  # a Point from centroid()/centre() is (x, y)
    try:
        return getattr(value, name)
    except AttributeError:
        raise OperationError(f"{type(value).__name__} has no field {name!r}", origin) from None


def _lift(fn: Callable[[Any], Any], value: Any, depth: int) -> Any:
    """Apply ``fn`` under ``depth`` layers of lists and optionals (missing stays missing)."""
    if value is None:
        return None
    if depth <= 0:
        return fn(value)
    if isinstance(value, list):
        return [_lift(fn, v, depth - 1) for v in value]
    return _lift(fn, value, depth - 1)  # an optional layer that holds a value


def _binary(op: str, a: Any, b: Any, origin: str) -> Any:
    """``a op b`` with the static evaluator's semantics (one rule for run and plan)."""
    try:
        return staticeval.binary(op, a, b)
    except OperationError as err:
        raise OperationError(str(err.args[0]), origin) from err


def _as_int(value: Any, origin: str) -> int:
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, int):
        return value
    raise OperationError(f"expected a whole number, got {value!r}", origin)


def _schema_name(prompt: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in prompt)[:64] or "answer"


async def _gather(coros: Sequence[Any]) -> list[Any]:
    """Run concurrently; the first item failure cancels its siblings and propagates."""
    if not coros:
        return []
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(c) for c in coros]
    except* ItemFailed as group:
        raise group.exceptions[0] from None
    return [t.result() for t in tasks]


__all__ = [
    "Interpreter",
    "ItemContext",
    "ItemFailed",
    "Question",
    "RecordT",
    "Settings",
]
