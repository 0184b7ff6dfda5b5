"""Run a compiled chain over a dataset: stream items, record results, summarise.

Items are started as slots free up (``window`` at a time), so memory does
not grow with the dataset. Each finished item is appended to the run
folder's ``results.jsonl`` at once; a rerun into the same folder skips the
items that finished and replays the rest from the journal.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainlang import ir
from chainlang.data.manifest import Dataset, Item
from chainlang.errors import ChainlangError, DataError
from chainlang.image import ImageData
from chainlang.runtime.batching import ItemBatcher
from chainlang.runtime.interpreter import Interpreter, ItemContext, ItemFailed, Settings
from chainlang.runtime.runfolder import RunFolder, read_results

ARRAY_OUTPUTS = frozenset({"DepthMap", "NormalMap", "SemanticMask", "InstanceMask"})


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

    def to_json(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}


@dataclass
class Runner:
    """Everything one run needs: the program, its settings, the scheduler, the folder."""

    program: ir.Program
    settings: Settings
    scheduler: Any
    folder: RunFolder
    samples: int = 1
    window: int = 4
    batch_items: int | None = None
    started: float = field(default_factory=time.perf_counter)

    async def run(self, dataset: Dataset) -> RunSummary:
        """Run every item (and sample) not finished before; return the summary."""
        gate = asyncio.Semaphore(max(self.window, self.batch_items or 1))
        async with asyncio.TaskGroup() as tg:
            for unit in self._units(dataset):
                for _ in unit:
                    await gate.acquire()
                tg.create_task(self._run_unit(unit, gate))
        summary = summarise(read_results(self.folder.path), time.perf_counter() - self.started)
        self.folder.write_summary(summary.to_json())
        return summary

    def _units(self, dataset: Dataset) -> Iterator[list[tuple[Item, int]]]:
        """Fixed chunks of (item, sample) in manifest order; finished chunks are skipped."""
        size = self.batch_items or 1
        for sample in range(self.samples):
            chunk: list[tuple[Item, int]] = []
            for item in dataset:
                chunk.append((item, sample))
                if len(chunk) == size:
                    if not self._all_done(chunk):
                        yield chunk
                    chunk = []
            if chunk and not self._all_done(chunk):
                yield chunk

    def _all_done(self, chunk: Sequence[tuple[Item, int]]) -> bool:
        return all(self.folder.is_done(result_key(i.id, s)) for i, s in chunk)

    async def _run_unit(self, unit: list[tuple[Item, int]], gate: asyncio.Semaphore) -> None:
        batchers = self._batchers([result_key(i.id, s) for i, s in unit])
        try:
            await asyncio.gather(*(self._run_item(i, s, batchers) for i, s in unit))
        finally:
            for _ in unit:
                gate.release()

    def _batchers(self, keys: list[str]) -> dict[str, ItemBatcher]:
        if not self.batch_items:
            return {}
        return {origin: ItemBatcher(keys) for origin in item_batched_asks(self.program)}

    async def _run_item(self, item: Item, sample: int, batchers: dict[str, ItemBatcher]) -> None:
        key = result_key(item.id, sample)
        ctx = ItemContext(key, truth=item.truth, batchers=batchers)
        settings = self.settings
        if sample != settings.sample_index:
            settings = _with_sample(settings, sample)
        interp = Interpreter(self.program, settings, self.scheduler)
        t0 = time.perf_counter()
        record: dict[str, Any] = {"id": item.id, "sample": sample, "key": key}
        try:
            value = await interp.run(item_inputs(self.program, item), ctx)
            record.update(status="ok", output=self._store(key, value))
        except ItemFailed as err:
            record.update(status="failed", error=_error(err.kind, err.message, err.origin))
        except (DataError, ChainlangError) as err:
            record.update(status="failed", error=_error("data", str(err), ""))
        finally:
            for b in batchers.values():
                b.finished(key)
        record.update(_question_totals(ctx), wall_s=round(time.perf_counter() - t0, 4))
        record["questions"] = [q.to_json() for q in ctx.questions]
        self.folder.append_result(record)

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
    found: list[ir.Ask] = []

    def walk(node: Any) -> None:
        if isinstance(node, ir.Ask):
            found.append(node)
        if isinstance(node, ir.Node):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, tuple):
            for x in node:
                walk(x)

    walk(program.body)
    walk(program.result)
    return found


def item_batched_asks(program: ir.Program) -> list[str]:
    """Origins of the asks that coalesce across items (``batch items``)."""
    return [a.origin for a in asks_of(program) if a.batch_items is not None or program.batch_items]


def summarise(records: Iterable[Mapping[str, Any]], wall_s: float) -> RunSummary:
    """Totals over item records (shared requests are counted once, by their shares)."""
    records = list(records)
    failures: Counter[str] = Counter()
    item_failures: Counter[str] = Counter()
    seen: set[str] = set()
    calls = hits = fallbacks = skipped = questions = 0
    tokens_in = tokens_out = 0
    cost: float | None = 0.0
    for r in records:
        if r.get("status") != "ok":
            item_failures[(r.get("error") or {}).get("kind", "failed")] += 1
        for q in r.get("questions", []):
            fallbacks += bool(q.get("fallback"))
            skipped += bool(q.get("skipped"))
            if q["key"] in seen:
                continue
            seen.add(q["key"])
            questions += 1
            hits += bool(q["cache_hit"])
            calls += 0 if q["cache_hit"] else int(q["attempts"])
            if not q["ok"]:
                failures[q.get("failure") or "failed"] += 1
            tokens_in += int(q["input_tokens"])
            tokens_out += int(q["output_tokens"])
            cost = None if cost is None or q["cost_usd"] is None else cost + q["cost_usd"]
    ok = sum(r.get("status") == "ok" for r in records)
    return RunSummary(
        items=len(records),
        items_ok=ok,
        items_failed=len(records) - ok,
        questions=questions,
        provider_calls=calls,
        cache_hits=hits,
        fallbacks=fallbacks,
        skipped=skipped,
        failures=dict(failures),
        item_failures=dict(item_failures),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=None if cost is None else round(cost, 6),
        wall_s=round(wall_s, 3),
    )


def _question_totals(ctx: ItemContext) -> dict[str, Any]:
    qs = ctx.questions
    costs = [q.outcome.cost_usd for q in qs]
    return {
        "n_questions": len(qs),
        "n_failed": sum(not q.outcome.ok for q in qs),
        "n_fallbacks": sum(q.fallback for q in qs),
        "cost_usd": None
        if None in costs
        else sum(c * q.share for c, q in zip(costs, qs, strict=True)),
    }


def _error(kind: str, message: str, origin: str) -> dict[str, str]:
    return {"kind": kind, "message": message, "origin": origin}


def _box_json(b: Any) -> dict[str, Any]:
    return {
        "label": b.label,
        "box": [float(b.x0), float(b.y0), float(b.x1), float(b.y1)],
        "score": float(getattr(b, "score", 1.0)),
    }


def _with_sample(settings: Settings, sample: int) -> Settings:
    from dataclasses import replace

    return replace(settings, sample_index=sample)


__all__ = ["ARRAY_OUTPUTS", "RunSummary", "Runner", "item_inputs", "result_key", "summarise"]
