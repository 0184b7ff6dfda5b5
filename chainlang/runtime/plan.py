"""Price a run before it is paid for.

Two sources are combined:

* the chain's static call bound (``chainlang.language.analysis.bounds``): an exact formula of
  the parameters, or an upper bound where loops depend on answers;
* a dry run of the chain on a few items in which every question is answered
  locally: with its oracle clause's answer where the item has truth (the path a
  perfect model takes), else with a random valid answer. Nothing is sent; each request is built
  exactly as it would be for the real model (same images, same resizing
  rules, same schema), so its input and image tokens are estimated with the
  provider's own formulas.

Expected dollars use the bound's call count and the dry run's mean request;
worst-case dollars assume every call answers with ``max_tokens``.

A chain that packs several items into one request (``batch items = B``) is
priced from the requests the run will send: the dry run evaluates the first
chunk of B items together (and the last, shorter chunk), exactly as the run
packs them, so there are ceil(items / B) calls, each full request carries B
items' images and keys, and the expected answer has one entry per key.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from chainlang.data.manifest import Dataset
from chainlang.errors import ChainlangError, OperationError, UsageError
from chainlang.language import answers, ir
from chainlang.language.analysis.bounds import Bound, show
from chainlang.providers.base import ModelRequest, Usage
from chainlang.providers.conformance import target_for
from chainlang.providers.simulated import random_image
from chainlang.providers.specs import is_free
from chainlang.runtime.batching import ItemBatcher
from chainlang.runtime.contract_check import ContractReport, check_requests
from chainlang.runtime.cost import PriceTable, estimate_input_tokens
from chainlang.runtime.execute import item_batched_asks, item_inputs
from chainlang.runtime.interpreter import Interpreter, ItemContext, ItemFailed, Settings
from chainlang.runtime.outcome import Outcome
from chainlang.runtime.prompt_cost import steady_hits

REASONING_TOKENS = 200  # a typical reasoning preamble when a variant asks for one


@dataclass(frozen=True)
class ItemEstimate:
    """Per-item figures from the dry run."""

    calls: int
    input_tokens: int
    image_tokens: int
    output_tokens: int
    max_output_tokens: int
    cached_tokens: int = 0  # prompt-cache reads expected (runtime/prompt_cost.py)
    cache_write_tokens: int = 0  # prompt-cache writes expected
    # of ``calls``, those added by splitting a request over the image limit in two
    split_calls: int = 0


@dataclass(frozen=True)
class Plan:
    """What a run will cost, per item and in total."""

    chain: str
    model: str
    items: int
    samples: int
    formula: str
    exact: bool
    calls_per_item: float
    dry_run: tuple[ItemEstimate, ...]
    usd_per_item: float | None
    usd_worst_per_item: float | None
    notes: tuple[str, ...] = ()
    per_call: Mapping[str, float] = field(default_factory=dict)
    bounded: bool = True  # False: calls per item come from the dry run, not the formula
    items_per_batch: int | None = None  # B of ``batch items = B``; None: no packing
    # Whole-run figures of a packed chain (summed over its chunks), else None.
    totals: ItemEstimate | None = None
    totals_usd: tuple[float | None, float | None] = (None, None)
    # expected dollars per item if no prompt-cache hit were priced (the saving's baseline)
    usd_uncached_per_item: float | None = None
    # every dry-run request checked against the model's contract (runtime/contract_check.py)
    contract: ContractReport | None = None

    @property
    def total_calls(self) -> float:
        if self.totals is not None:
            return float(self.totals.calls * self.samples)
        return self.calls_per_item * self.items * self.samples

    @property
    def total_input_tokens(self) -> float:
        """Estimated input tokens (images included) of every request of the run."""
        if self.totals is not None:
            return float(self.totals.input_tokens * self.samples)
        return self.per_call.get("input_tokens", 0.0) * self.total_calls

    @property
    def total_usd(self) -> float | None:
        if self.totals is not None:
            usd = self.totals_usd[0]
            return None if usd is None else usd * self.samples
        if self.usd_per_item is None:
            return None
        return self.usd_per_item * self.items * self.samples

    @property
    def total_usd_uncached(self) -> float | None:
        """Expected dollars of the run without prompt-cache prices (None: unknown)."""
        if self.usd_uncached_per_item is None:
            return None
        return self.usd_uncached_per_item * self.items * self.samples

    @property
    def total_usd_worst(self) -> float | None:
        if self.totals is not None:
            worst = self.totals_usd[1]
            return None if worst is None else worst * self.samples
        if self.usd_worst_per_item is None:
            return None
        return self.usd_worst_per_item * self.items * self.samples

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "model": self.model,
            "items": self.items,
            "samples": self.samples,
            "calls_per_item": {"formula": self.formula, "exact": self.exact,
                               "value": self.calls_per_item},
            "per_call": dict(self.per_call),
            "usd_per_item": self.usd_per_item,
            "usd_worst_per_item": self.usd_worst_per_item,
            "items_per_batch": self.items_per_batch,
            "total_calls": self.total_calls,
            "total_input_tokens": self.total_input_tokens,
            "total_usd": self.total_usd,
            "total_usd_worst": self.total_usd_worst,
            "total_usd_uncached": self.total_usd_uncached,
            "dry_run": [e.__dict__ for e in self.dry_run],
            "notes": list(self.notes),
            "contract": None if self.contract is None else self.contract.to_json(),
        }  # fmt: skip


class DryRun:
    """Stands in for the scheduler: records each request and answers it as a perfect
    model would (the oracle clause's answer the request carries), else at random."""

    def __init__(self, prices: PriceTable, seed: int = 0) -> None:
        self.requests: list[ModelRequest] = []
        self._prices = prices
        self._rng = np.random.default_rng(seed)

    async def ask(self, request: ModelRequest) -> Outcome:
        self.requests.append(request)
        value = _truth_answer(request)
        if value is not None:
            return Outcome(True, value, None, Usage(), 1, 0, 0.0, False, 0.0, None, None, "dry-run")
        # An image answer is drawn like the random answerer's, at the size the request
        # sent, so the chain reads it back (unpad, gray_depth ...) as it would a model's.
        value = (
            random_image(request, self._rng) if request.answer_type.kind == "image"
            else answers.random_answer(request.answer_type, self._rng)
        )  # fmt: skip
        return Outcome(True, value, None, Usage(), 1, 0, 0.0, False, 0.0, None, None, "dry-run")


def _truth_answer(request: ModelRequest) -> Any:
    """The oracle clause's answer in the form a model's reply is validated to, or None."""
    if request.oracle is None:
        return None
    if request.answer_type.kind == "image":
        return request.oracle
    try:
        return answers.validate(request.answer_type, request.oracle)
    except answers.AnswerError:
        return None  # e.g. a truth label outside the asked set: answer at random instead


async def make_plan(
    program: ir.Program,
    dataset: Dataset,
    settings: Settings,
    *,
    prices: PriceTable,
    samples: int = 1,
    sample_items: int = 2,
    chain_name: str = "",
    batch: bool = False,
    items_per_batch: int | None = None,
) -> Plan:
    """Estimate calls, tokens and dollars of running ``program`` on ``dataset``
    (at the provider's batch-API price when ``batch``; ``items_per_batch``: the B of
    ``batch items = B``, whose chunks of B items share requests)."""
    # Loops that depend on answers take the path a perfect model would take.
    settings = replace(settings, answer_from_truth=True)
    sent: list[ModelRequest] = []
    if items_per_batch:
        packed = await _packed_plan(
            program, dataset, settings, prices, items_per_batch,
            samples=samples, chain_name=chain_name, batch=batch, sent=sent,
        )  # fmt: skip
        return replace(packed, contract=check_requests(program, sent, str(settings.model)))
    estimates, notes = await _dry_run(program, dataset, settings, prices, sample_items, sent)
    bound = program.bounds
    values = dict(settings.params)
    observed = float(np.mean([e.calls for e in estimates])) if estimates else 0.0
    bounded = True
    if bound is not None:
        formula, exact = bound.show(), bound.exact
        try:
            calls = float(bound.evaluate(values))
            notes += _estimate_notes(bound, values)
        except (UsageError, OperationError) as err:  # a size only the run knows (classes found)
            calls, exact, bounded = observed, False, False
            notes.append(f"{err}; calls per item are those of the dry run, not a bound")
    else:
        calls, formula, exact, bounded = observed, "observed in the dry run", False, False
    if bounded:  # the dry run's own count already holds every split request
        calls, formula, exact, split_notes = _with_splits(
            estimates, settings, calls, formula, exact
        )
        notes += split_notes
    per_call = _per_call(estimates)
    usd, worst = _dollars(prices, settings, per_call, calls, batch)
    uncached, _ = _dollars(prices, settings, per_call, calls, batch, cached=False)
    notes += _price_notes(prices, settings, usd, batch)
    return Plan(
        chain=chain_name or program.name,
        model=str(settings.model),
        items=len(dataset),
        samples=samples,
        formula=formula,
        exact=exact,
        calls_per_item=calls,
        dry_run=tuple(estimates),
        usd_per_item=usd,
        usd_worst_per_item=worst,
        notes=tuple(notes),
        per_call=per_call,
        bounded=bounded,
        contract=check_requests(program, sent, str(settings.model)),
        usd_uncached_per_item=uncached,
    )


def _with_splits(
    estimates: Sequence[ItemEstimate],
    settings: Settings,
    calls: float,
    formula: str,
    exact: bool,
) -> tuple[float, str, bool, list[str]]:
    """The bound's calls scaled to the requests actually sent when asks were split.

    The static bound counts one request per ask. A keyed request with more images
    than the provider accepts is split into requests of fewer keys by the run
    (``Interpreter._ask``), so each such ask sends several; the dry run sees how many.
    Calls per item become the bound times the dry run's requests per ask, and every
    one of them is priced at the dry run's mean request. Exact where every dry-run
    item splits alike (an exact bound with the same ratio everywhere).
    """
    split = sum(e.split_calls for e in estimates)
    if not split:
        return calls, formula, exact, []
    sent = sum(e.calls for e in estimates)
    asked = sent - split
    ratios = {(e.calls, e.calls - e.split_calls) for e in estimates}
    alike = len({c / a for c, a in ratios if a}) == 1
    target = target_for(settings.model)
    most = target.contract.images.max_images if target is not None else None
    accepts = f" ({settings.model.provider} accepts {most} images per request)" if most else ""
    note = (
        f"requests with more images than the provider accepts are split{accepts}: the dry "
        f"run's {asked} asks sent {sent} requests; calls per item count every split request"
    )
    return calls * sent / asked, f"{formula}; x {sent}/{asked} split", exact and alike, [note]


def _price_notes(
    prices: PriceTable, settings: Settings, usd: float | None, batch: bool
) -> list[str]:
    notes = []
    if batch and usd:
        info = prices.lookup(settings.model)
        share = info.batch_discount if info else 1.0
        notes.append(f"priced for the batch API ({share:.0%} of the synchronous price)")
    if usd is None and not is_free(settings.model.provider):
        where = "the [prices] section of a --config file"
        notes.append(f"no price known for {settings.model}; give it in {where}")
    return notes


async def _packed_plan(
    program: ir.Program,
    dataset: Dataset,
    settings: Settings,
    prices: PriceTable,
    size: int,
    *,
    samples: int,
    chain_name: str,
    batch: bool,
    sent: list[ModelRequest] | None = None,
) -> Plan:
    """Price a chain whose asks pack ``size`` items per request (``batch items``).

    The run packs fixed chunks of ``size`` items in manifest order: ``items // size``
    full chunks and one shorter chunk of the rest. The first chunk and the short last
    one are dry-run as the run evaluates them (together, through the same batchers),
    so their requests carry the images and keys a real request would.
    """
    ids = dataset.ids()
    full, rest = divmod(len(ids), size)
    chunks = [(ids[:size], full)] if full else []
    if rest:
        chunks.append((ids[len(ids) - rest :], 1))
    estimates: list[ItemEstimate] = []
    notes: list[str] = []
    weighted: list[tuple[ItemEstimate, int]] = []
    groups: list[list[ModelRequest]] = []
    for chunk, times in chunks:
        items = [dataset.get(i) for i in chunk]
        mine: list[ModelRequest] = []
        estimate, why = await _dry_run_chunk(program, settings, prices, items, mine)
        if sent is not None:
            sent += mine
        notes += why
        if estimate is not None:
            estimates.append(estimate)
            weighted.append((estimate, times))
            groups.append(mine)
    estimates = _with_cache_hits(estimates, groups)
    weighted = [(e, k) for e, (_, k) in zip(estimates, weighted, strict=True)]
    totals = ItemEstimate(
        *(sum(getattr(e, f) * k for e, k in weighted) for f in ItemEstimate.__dataclass_fields__)
    )
    usd = worst = uncached = None
    if is_free(settings.model.provider):
        usd = worst = uncached = 0.0
    elif weighted:
        t = totals
        usage = Usage(t.input_tokens, t.output_tokens, t.cached_tokens, t.image_tokens,
                      t.cache_write_tokens)  # fmt: skip
        most = Usage(t.input_tokens, t.max_output_tokens, 0, t.image_tokens, t.cache_write_tokens)
        usd = prices.price(settings.model, usage, batch=batch)
        worst = prices.price(settings.model, most, batch=batch)
        plain = Usage(t.input_tokens, t.output_tokens, 0, t.image_tokens)
        uncached = prices.price(settings.model, plain, batch=batch)
    if not weighted:
        notes.append("the dry run asked no question; per-call tokens are unknown")
    short = f" and 1 of {rest}" if rest else ""
    notes.append(
        f"'batch items' packs {size} items per request: {full} full chunk(s){short}, "
        "each priced from its dry run"
    )
    notes += _price_notes(prices, settings, usd, batch)
    n = max(1, len(ids))
    bound = program.bounds
    return Plan(
        chain=chain_name or program.name,
        model=str(settings.model),
        items=len(ids),
        samples=samples,
        formula=bound.show() if bound is not None else "observed in the dry run",
        exact=bound.exact if bound is not None else False,
        calls_per_item=totals.calls / n,
        dry_run=tuple(estimates),
        usd_per_item=None if usd is None else usd / n,
        usd_worst_per_item=None if worst is None else worst / n,
        notes=tuple(notes),
        per_call=_per_call([totals]),
        items_per_batch=size,
        totals=totals,
        totals_usd=(usd, worst),
        usd_uncached_per_item=None if uncached is None else uncached / n,
    )


async def _dry_run_chunk(
    program: ir.Program,
    settings: Settings,
    prices: PriceTable,
    items: Sequence[Any],
    sent: list[ModelRequest] | None = None,
) -> tuple[ItemEstimate | None, list[str]]:
    """Dry-run one chunk of items together, their ``batch items`` asks packed as the run
    packs them; the estimate covers every request of the chunk."""
    fake = DryRun(prices)
    notes: list[str] = []
    keys = [item.id for item in items]
    batchers = {origin: ItemBatcher(keys) for origin in item_batched_asks(program)}

    async def one(item: Any) -> None:
        ctx = ItemContext(item.id, truth=item.truth, batchers=batchers)
        try:
            await _interpret(program, settings, fake, item, ctx, notes)
        finally:
            for b in batchers.values():
                b.finished(item.id)

    await asyncio.gather(*(one(item) for item in items))
    if sent is not None:
        sent += fake.requests
    return (_estimate(fake.requests, prices) if fake.requests else None), notes


async def dry_run_requests(
    program: ir.Program,
    dataset: Dataset,
    settings: Settings,
    items: int = 1,
    items_per_batch: int | None = None,
) -> list[ModelRequest]:
    """Every request the first ``items`` items send (the first packed chunk of a
    ``batch items`` chain), built as the run builds them; nothing is sent."""
    settings = replace(settings, answer_from_truth=True)
    prices = PriceTable.load(None)
    sent: list[ModelRequest] = []
    if items_per_batch:
        chunk = [dataset.get(i) for i in dataset.ids()[:items_per_batch]]
        await _dry_run_chunk(program, settings, prices, chunk, sent)
    else:
        await _dry_run(program, dataset, settings, prices, items, sent)
    return sent


def _estimate_notes(bound: Bound, values: Mapping[str, Any]) -> list[str]:
    """Say which data sizes the count takes from estimates: with them it is no bound."""
    return [
        f"{s.name} ({s.doc}) is taken as {show(s.estimate)}; the run may produce more"
        for s in bound.symbols
        if s.name not in values and s.estimate is not None
    ]


async def _dry_run(
    program: ir.Program,
    dataset: Dataset,
    settings: Settings,
    prices: PriceTable,
    n: int,
    sent: list[ModelRequest] | None = None,
) -> tuple[list[ItemEstimate], list[str]]:
    estimates: list[ItemEstimate] = []
    notes: list[str] = []
    groups: list[list[ModelRequest]] = []
    for item in _first(dataset, n):
        fake = DryRun(prices)
        split = await _interpret(
            program, settings, fake, item, ItemContext(item.id, truth=item.truth), notes
        )
        if fake.requests:
            estimates.append(replace(_estimate(fake.requests, prices), split_calls=split))
            groups.append(fake.requests)
        if sent is not None:
            sent += fake.requests
    if not estimates:
        notes.append("the dry run asked no question; per-call tokens are unknown")
    return _with_cache_hits(estimates, groups), notes


def _with_cache_hits(
    estimates: list[ItemEstimate], groups: list[list[ModelRequest]]
) -> list[ItemEstimate]:
    """Each estimate with the prompt-cache reads and writes its requests will get."""
    hits = steady_hits(groups)
    return [
        replace(e, cached_tokens=h.read, cache_write_tokens=h.written)
        for e, h in zip(estimates, hits, strict=True)
    ]


async def _interpret(
    program: ir.Program,
    settings: Settings,
    fake: DryRun,
    item: Any,
    ctx: ItemContext,
    notes: list[str],
) -> int:
    """Run one item against the dry run; a failure becomes a note and the plan still prints.

    Returns the requests the item's asks added by splitting (see ``_with_splits``)."""
    interpreter = Interpreter(program, settings, fake)
    try:
        await interpreter.run(item_inputs(program, item), ctx)
    except ItemFailed as err:
        notes.append(f"dry run of item {item.id} stopped: {err}")
    except ChainlangError as err:  # e.g. an unreadable image
        notes.append(f"dry run of item {item.id} failed: {err}")
    return interpreter.split_requests


def _estimate(requests: Sequence[ModelRequest], prices: PriceTable) -> ItemEstimate:
    tokens = [estimate_input_tokens(r) for r in requests]
    # The same cap the run's budget reserves, so plan and --max-cost agree; no answer is
    # billed past it, so the expected output never exceeds it either.
    caps = [prices.output_cap(r) for r in requests]
    out = sum(min(_expected_output(r), cap) for r, cap in zip(requests, caps, strict=True))
    max_out = sum(caps)
    return ItemEstimate(
        calls=len(requests),
        input_tokens=sum(t for t, _ in tokens),
        image_tokens=sum(i for _, i in tokens),
        output_tokens=out,
        max_output_tokens=max_out,
    )


def _expected_output(request: ModelRequest) -> int:
    """Tokens of a typical valid answer (JSON of a random answer, plus reasoning)."""
    if request.answer_type.kind == "image":
        return 4160  # gpt-image-1, 1024x1024 at high quality
    example = answers.random_answer(request.answer_type, np.random.default_rng(0))
    text = json.dumps(example)
    extra = REASONING_TOKENS if '"reasoning"' in text else 0
    return math.ceil(len(text) / 4) + extra


def _per_call(estimates: Sequence[ItemEstimate]) -> dict[str, float]:
    calls = sum(e.calls for e in estimates)
    if not calls:
        return {}
    return {
        "input_tokens": sum(e.input_tokens for e in estimates) / calls,
        "image_tokens": sum(e.image_tokens for e in estimates) / calls,
        "output_tokens": sum(e.output_tokens for e in estimates) / calls,
        "max_output_tokens": sum(e.max_output_tokens for e in estimates) / calls,
        "cached_tokens": sum(e.cached_tokens for e in estimates) / calls,
        "cache_write_tokens": sum(e.cache_write_tokens for e in estimates) / calls,
    }


def _dollars(
    prices: PriceTable,
    settings: Settings,
    per_call: Mapping[str, float],
    calls: float,
    batch: bool = False,
    cached: bool = True,
) -> tuple[float | None, float | None]:
    """Expected and worst-case dollars of ``calls`` calls like ``per_call``; with
    ``cached`` the expected prompt-cache reads and writes are priced at their rates (the
    worst case counts the writes' premium but no read: a cache may always miss)."""
    if is_free(settings.model.provider):
        return 0.0, 0.0
    if not per_call:
        return None, None
    inp, img = round(per_call["input_tokens"]), round(per_call["image_tokens"])
    read = round(per_call.get("cached_tokens", 0)) if cached else 0
    written = round(per_call.get("cache_write_tokens", 0)) if cached else 0
    expected = Usage(inp, round(per_call["output_tokens"]), read, img, written)
    one = prices.price(settings.model, expected, batch=batch)
    most = Usage(inp, round(per_call["max_output_tokens"]), 0, img, written)
    worst = prices.price(settings.model, most, batch=batch)
    if one is None or worst is None:
        return None, None
    return one * calls, worst * calls


def _first(dataset: Dataset, n: int) -> list[Any]:
    out = []
    for item in dataset:
        out.append(item)
        if len(out) >= n:
            break
    return out
