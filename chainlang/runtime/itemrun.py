"""Evaluating one dataset item: what a run does per item, wherever it runs.

The run's driver (:mod:`chainlang.runtime.execute`) evaluates items in its own
process, or hands them to preparation workers (:mod:`chainlang.runtime.prep_pool`);
both call :func:`evaluate_item` here, so an item's value, questions and errors are
the same either way. This module imports only what evaluating an item needs (no
run folder, no scheduler, no provider SDK), so a worker process stays light.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chainlang.data.manifest import Item
from chainlang.errors import ChainlangError, RunError, UsageError
from chainlang.language import ir
from chainlang.runtime.batching import ItemBatcher
from chainlang.runtime.interpreter import (
    Interpreter,
    ItemContext,
    ItemFailed,
    Question,
    Settings,
)


@dataclass
class ItemResult:
    """What evaluating one (item, sample) gave: its status, value or error, questions.

    ``value`` is the chain's output (turned into JSON, and arrays written, by the
    driver); ``error`` is the record's error (kind, message, origin) when failed.
    """

    key: str
    ok: bool
    value: Any = None
    error: dict[str, str] | None = None
    questions: list[Question] = field(default_factory=list)
    loops_at_bound: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


def result_key(item_id: str, sample: int) -> str:
    """The key of one (item, sample) result."""
    return f"{item_id}#{sample}"


def item_inputs(program: ir.Program, item: Item) -> dict[str, Any]:
    """Load the chain's declared inputs for an item (``image`` is the item's picture)."""
    out: dict[str, Any] = {}
    for decl in program.inputs:
        if decl.type.kind == "image":
            out[decl.name] = item.image()
        else:
            out[decl.name] = item.input(decl.name)
    return out


def asks_of(program: ir.Program) -> list[ir.Ask]:
    """Every ``ask`` of a program, in source order."""
    return [node for node in ir.walk(program) if isinstance(node, ir.Ask)]


def item_batched_asks(program: ir.Program) -> list[str]:
    """Origins of the asks that coalesce across items (``batch items``)."""
    return [a.origin for a in asks_of(program) if a.batch_items is not None or program.batch_items]


def unit_batchers(program: ir.Program, keys: list[str], batch_items: int | None) -> dict[str, Any]:
    """The ``batch items`` batchers of one unit of items (none without cross-item batching)."""
    if not batch_items:
        return {}
    return {origin: ItemBatcher(keys) for origin in item_batched_asks(program)}


async def evaluate_item(
    program: ir.Program,
    settings: Settings,
    scheduler: Any,
    item: Item,
    sample: int,
    batchers: dict[str, Any],
    truth_for: Callable[[Item], Awaitable[Any]] | None = None,
) -> ItemResult:
    """Run the chain on one (item, sample) and say how it went.

    Failures of the item are data (``ok=False`` with the error); run-wide errors
    (:class:`RunError`, :class:`UsageError`) propagate: they stop the run.
    ``truth_for`` gives what a specialist answerer sees as the item's truth.
    """
    key = result_key(item.id, sample)
    ctx = ItemContext(key, truth=item.truth, batchers=batchers)
    if sample != settings.sample_index:
        settings = replace(settings, sample_index=sample)
    interp = Interpreter(program, settings, scheduler)
    t0 = time.perf_counter()
    result = ItemResult(key, ok=False)
    try:
        if truth_for is not None:
            ctx.answer_truth = await truth_for(item)
        value = await interp.run(item_inputs(program, item), ctx)
        if (all_failed := _all_questions_failed(ctx)) is not None:
            # Fallbacks and skips let the chain finish, but nothing was answered.
            result.error = _error("all_questions_failed", all_failed, "")
        else:
            result.ok, result.value = True, value
    except ItemFailed as err:
        result.error = _error(err.kind, err.message, err.origin)
    except (RunError, UsageError):
        raise  # run-wide (the error budget is spent, a setting fits no item): stop the run
    except ChainlangError as err:
        result.error = _error("data", str(err), "")
    finally:
        for b in batchers.values():
            b.finished(key)
    result.questions = ctx.questions
    result.loops_at_bound = ctx.loops_at_bound
    result.wall_s = round(time.perf_counter() - t0, 4)
    return result


def _all_questions_failed(ctx: ItemContext) -> str | None:
    """Why an item that finished is still a failure: every one of its questions failed."""
    qs = ctx.questions
    if not qs or any(q.outcome.ok for q in qs):
        return None
    kinds = Counter(q.outcome.failure_kind or "failed" for q in qs)
    by_kind = ", ".join(f"{k}: {n}" for k, n in kinds.most_common())
    return (
        f"all {len(qs)} questions failed ({by_kind}); "
        "the output would come only from fallbacks and skips"
    )


def _error(kind: str, message: str, origin: str) -> dict[str, str]:
    return {"kind": kind, "message": message, "origin": origin}
