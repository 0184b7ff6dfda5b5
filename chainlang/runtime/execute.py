"""Run a compiled chain over a dataset: stream items, record results, summarise.

Items are started as slots free up (``window`` at a time), so memory does
not grow with the dataset. Each finished item is appended to the run
folder's ``results.jsonl`` at once; a rerun into the same folder skips the
items that finished and replays the rest from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from chainlang.data.manifest import Dataset, Item
from chainlang.image import ImageData
from chainlang.language import ir
from chainlang.runtime.interpreter import Question, Settings
from chainlang.runtime.itemrun import (
    ItemResult,
    asks_of,
    evaluate_item,
    item_batched_asks,
    item_inputs,
    result_key,
    unit_batchers,
)
from chainlang.runtime.prep_pool import (
    AUTO_MIN_UNITS,
    Job,
    Launcher,
    PrepPool,
    pool_size,
    shared_pool,
)
from chainlang.runtime.runfolder import RunFolder, iter_results
from chainlang.runtime.scheduler import Scheduler
from chainlang.runtime.truth import TruthSource, truth_source_for

SPECIALIST_CACHE = Path(".chainlang") / "specialists"  # next to the default journal
Unit = list[tuple[Item, int]]  # items run together: one, or a ``batch items`` chunk


@dataclass(frozen=True)
class RunSummary:
    """Totals of a run, as written to ``summary.json``."""

    items: int
    items_ok: int
    items_failed: int
    questions: int
    provider_calls: int
    cache_hits: int
    fallbacks: int
    skipped: int
    failures: Mapping[str, int]
    item_failures: Mapping[str, int]
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    wall_s: float
    # loops that ran out of rounds before their ``until`` held (``loops_at_bound`` of the
    # item records), by .chain origin
    loops_at_bound: Mapping[str, int] = field(default_factory=dict)
    # asks of one item that were the same request and so got one answer: the number of
    # extra asks (copies) by the .chain origin of the first (``identical_asks`` of records)
    identical_asks: Mapping[str, int] = field(default_factory=dict)
    # What this invocation paid (``cost_usd`` counts every answer at what it cost when
    # it was paid, whichever invocation paid it); None: not known or a price unknown.
    paid_now_usd: float | None = None
    stopped: str | None = None  # why the run stopped before every item was done

    def to_json(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}


@dataclass
class Runner:
    """Everything one run needs: the program, its settings, the scheduler, the folder."""

    program: ir.Program
    settings: Settings
    scheduler: Scheduler
    folder: RunFolder
    samples: int = 1
    window: int = 4
    batch_items: int | None = None
    started: float = field(default_factory=time.perf_counter)
    # Where ``truth.*`` comes from: None reads each item's own truth. A
    # ``specialist:SPEC`` model gets the specialist's predictions (built here, so a
    # specialist that cannot serve the chain stops the run before any item).
    truth_source: TruthSource | None = None
    specialist_cache: Path | None = SPECIALIST_CACHE
    # Processes evaluating items (chainlang.runtime.prep_pool); 1: all in this process;
    # None: decided by the run's size (pool_size).
    workers: int | None = 1
    # Started by the run before it compiled (session.arun), for the pool to fork from.
    launcher: Launcher | None = None
    # Totals of the records this invocation wrote (what it paid).
    _now: _Totals = field(default_factory=lambda: _Totals())
    _pool: tuple[PrepPool, Job] | None = None

    def __post_init__(self) -> None:
        if self.truth_source is None:
            self.truth_source = truth_source_for(
                self.program, self.settings, cache_dir=self.specialist_cache
            )

    async def run(self, dataset: Dataset) -> RunSummary:
        """Run every item (and sample) not finished before; return the summary."""
        gate = asyncio.Semaphore(max(self.window, self.batch_items or 1))
        async with contextlib.AsyncExitStack() as pool:  # closes the pool, if one starts
            try:
                units = await self._start_pool(self._units(dataset), pool)
                async with asyncio.TaskGroup() as tg:
                    for unit in units:
                        for _ in unit:
                            await gate.acquire()
                        if self.scheduler.budget_stop:
                            break  # the budget refused a question: start no more items
                        tg.create_task(self._run_unit(unit, gate))
            except asyncio.CancelledError:
                # Interrupted (Ctrl-C, SIGTERM): the summary still totals what finished.
                self._write_summary()
                raise
        self._pool = None
        return self._write_summary()

    async def _start_pool(
        self, units: Iterator[Unit], stack: contextlib.AsyncExitStack
    ) -> Iterator[Unit]:
        """Start the preparation workers when they can help (:func:`pool_size`), or join
        the pool of the runs sharing this run's scheduler (a sweep's). A specialist's
        predictions are made in this process (one model, loaded once), so its runs stay
        serial."""
        launcher, self.launcher = self.launcher, None  # the pool owns it from here
        if self.workers == 1 or self.truth_source is not None:
            await _unused(launcher)
            return units
        first = list(itertools.islice(units, AUTO_MIN_UNITS))
        size = pool_size(self.workers, len(first))
        if size <= 1:
            await _unused(launcher)
            return itertools.chain(first, units)
        pool = await stack.enter_async_context(shared_pool(self.scheduler, size, launcher))
        self._pool = (pool, pool.job(self.program, self.settings, self.batch_items))
        return itertools.chain(first, units)

    def _write_summary(self) -> RunSummary:
        # Streamed: the run's records stay on disk while they are totalled.
        summary = summarise(iter_results(self.folder.path), time.perf_counter() - self.started)
        stop = self.scheduler.budget_stop
        summary = replace(
            summary,
            paid_now_usd=None if self._now.paid is None else round(self._now.paid, 6),
            stopped=f"budget: {stop}" if stop else None,
        )
        self.folder.write_summary(summary.to_json())
        return summary

    def _units(self, dataset: Dataset) -> Iterator[list[tuple[Item, int]]]:
        """Fixed chunks of (item, sample) in manifest order; finished chunks are skipped."""
        for sample in range(self.samples):
            for chunk in item_chunks(dataset, self.batch_items or 1):
                unit = [(item, sample) for item in chunk]
                if not self._all_done(unit):
                    yield unit

    def _all_done(self, chunk: Sequence[tuple[Item, int]]) -> bool:
        return all(self.folder.is_done(result_key(i.id, s)) for i, s in chunk)

    async def _run_unit(self, unit: list[tuple[Item, int]], gate: asyncio.Semaphore) -> None:
        keys = [result_key(i.id, s) for i, s in unit]
        batchers = unit_batchers(self.program, keys, self.batch_items)

        async def one(item: Item, sample: int) -> None:
            self._record(item, sample, await self._evaluate(item, sample, batchers))

        try:
            if self._pool is not None:
                pool, job = self._pool
                await pool.run_unit(job, unit, self._record)
            else:
                await asyncio.gather(*(one(i, s) for i, s in unit))
        finally:
            for _ in unit:
                gate.release()

    async def _evaluate(self, item: Item, sample: int, batchers: dict[str, Any]) -> ItemResult:
        truth_for = None if self.truth_source is None else self.truth_source.for_item
        return await evaluate_item(
            self.program, self.settings, self.scheduler, item, sample, batchers, truth_for
        )

    def _record(self, item: Item, sample: int, result: ItemResult) -> None:
        """Append the item's record to ``results.jsonl`` (its output arrays to ``outputs/``)."""
        key = result.key
        record: dict[str, Any] = {"id": item.id, "sample": sample, "key": key}
        if result.ok:
            record.update(status="ok", output=self._store(key, result.value))
        else:
            record.update(status="failed", error=result.error)
        record.update(_question_totals(result.questions), wall_s=result.wall_s)
        record["loops_at_bound"] = result.loops_at_bound
        record["questions"] = [q.to_json(self.folder.write_image) for q in result.questions]
        record["identical_asks"] = identical_asks(result.questions)
        self.folder.append_result(record)
        self._now.add_item(record)

    def _store(self, key: str, value: Any) -> dict[str, Any]:
        """Turn an output value into JSON (dense arrays go to ``outputs/``)."""
        kind = self.program.output.show()
        if isinstance(value, np.ndarray):
            return {"kind": kind, "arrays": self.folder.write_arrays(key, {"output": value})}
        if isinstance(value, ImageData):
            return {"kind": kind, "arrays": self.folder.write_arrays(key, {"output": value.pixels})}
        if kind == "Boxes":
            return {"kind": kind, "boxes": [_box_json(b) for b in value]}
        return {"kind": kind, "value": value}


def item_chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """The fixed chunks of ``size`` items, in manifest order, that ``batch items`` packs.

    Fixed by position, never by arrival, so a resumed run and a trace rebuild the
    same batched requests.
    """
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def summarise(records: Iterable[Mapping[str, Any]], wall_s: float) -> RunSummary:
    """Totals over item records (shared requests are counted once, by their shares).

    ``records`` is consumed once, one record at a time (pass
    :func:`~chainlang.runtime.runfolder.iter_results` to stream a run folder), so
    memory holds the running totals and the keys of questions seen, not the records.
    """
    totals = _Totals()
    for r in records:
        totals.add_item(r)
    return totals.summary(wall_s)


@dataclass
class _Totals:
    """Running totals of :func:`summarise`."""

    items: int = 0
    items_ok: int = 0
    questions: int = 0
    calls: int = 0
    hits: int = 0
    fallbacks: int = 0
    skipped: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = 0.0
    paid: float | None = 0.0  # the part not served from the journal: paid by this invocation
    failures: Counter[str] = field(default_factory=Counter)
    item_failures: Counter[str] = field(default_factory=Counter)
    at_bound: Counter[str] = field(default_factory=Counter)
    identical: Counter[str] = field(default_factory=Counter)
    # A request shared by several items (cross-item batching, identical questions)
    # appears in each of their records; it was asked, and paid for, once.
    seen: set[str] = field(default_factory=set)

    def add_item(self, r: Mapping[str, Any]) -> None:
        self.items += 1
        if r.get("status") == "ok":
            self.items_ok += 1
        else:
            self.item_failures[(r.get("error") or {}).get("kind", "failed")] += 1
        for loop in r.get("loops_at_bound", []):
            self.at_bound[loop["origin"]] += 1
        for same in r.get("identical_asks", []):
            self.identical[same["origins"][0]] += same["times"] - 1
        for q in r.get("questions", []):
            self.fallbacks += bool(q.get("fallback"))
            self.skipped += bool(q.get("skipped"))
            if q["key"] not in self.seen:
                self.seen.add(q["key"])
                self.add_question(q)

    def add_question(self, q: Mapping[str, Any]) -> None:
        self.questions += 1
        self.hits += bool(q["cache_hit"])
        self.calls += 0 if q["cache_hit"] else int(q["attempts"])
        if not q["ok"]:
            self.failures[q.get("failure") or "failed"] += 1
        self.tokens_in += int(q["input_tokens"])
        self.tokens_out += int(q["output_tokens"])
        price = q["cost_usd"]
        self.cost = None if self.cost is None or price is None else self.cost + price
        if not q["cache_hit"]:
            self.paid = None if self.paid is None or price is None else self.paid + price

    def summary(self, wall_s: float) -> RunSummary:
        return RunSummary(
            items=self.items,
            items_ok=self.items_ok,
            items_failed=self.items - self.items_ok,
            questions=self.questions,
            provider_calls=self.calls,
            cache_hits=self.hits,
            fallbacks=self.fallbacks,
            skipped=self.skipped,
            failures=dict(self.failures),
            item_failures=dict(self.item_failures),
            input_tokens=self.tokens_in,
            output_tokens=self.tokens_out,
            cost_usd=None if self.cost is None else round(self.cost, 6),
            wall_s=round(wall_s, 3),
            loops_at_bound=dict(self.at_bound),
            identical_asks=dict(self.identical),
        )


def _question_totals(qs: Sequence[Question]) -> dict[str, Any]:
    return {
        "n_questions": len(qs),
        "n_failed": sum(not q.outcome.ok for q in qs),
        "n_fallbacks": sum(q.fallback for q in qs),
        "cost_usd": _shared_cost(qs),
    }


def _shared_cost(questions: Sequence[Question]) -> float | None:
    """The item's share of its questions' cost; None when any question's cost is unknown."""
    total: float = 0  # an item without questions reports 0, as it always has
    for q in questions:
        cost = q.outcome.cost_usd
        if cost is None:
            return None
        total += cost * q.share
    return total


def identical_asks(questions: Sequence[Any]) -> list[dict[str, Any]]:
    """Requests an item asked more than once: each copy got the first one's answer.

    Asks with the same prompt, variant and arguments build the same request (the
    same journal key), so they are asked once; a chain that meant them as separate
    attempts sees one answer several times.
    """
    by_key: dict[str, list[str]] = {}
    for q in questions:
        by_key.setdefault(q.outcome.request_key, []).append(q.origin)
    return [
        {"key": key, "times": len(origins), "origins": origins}
        for key, origins in by_key.items()
        if len(origins) > 1 and key
    ]


def _box_json(b: Any) -> dict[str, Any]:
    return {
        "label": b.label,
        "box": [float(b.x0), float(b.y0), float(b.x1), float(b.y1)],
        "score": float(getattr(b, "score", 1.0)),
    }


# asks_of, item_batched_asks, item_inputs, result_key: defined in itemrun (what a
# preparation worker imports), still importable from here.
__all__ = [
    "RunSummary",
    "Runner",
    "asks_of",
    "item_batched_asks",
    "item_inputs",
    "result_key",
    "summarise",
]


async def _unused(launcher: Launcher | None) -> None:
    """Stop a launcher the run started early and then did not need (it forked nothing)."""
    if launcher is not None:
        await asyncio.to_thread(launcher.close)
