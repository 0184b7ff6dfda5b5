"""Per-question inspection: what exactly the model saw and said for one item.

A run folder records each question's prompt name, variant, answer, tokens and
cost, but not the pictures that were sent (markers drawn, crops cut). To show
them, :func:`trace_item` runs the item through the interpreter again, with the
real :class:`~chainlang.runtime.scheduler.Scheduler` in a configuration that
can never spend money:

* answers are served from the run's own records (``results.jsonl``), and from
  the journal (the cache sqlite) for answers the records do not hold (images);
* the provider behind the scheduler refuses every call, so a question that is
  in neither place shows up as a failed step instead of being asked;
* nothing is written to the journal.

Each request passing through is captured with its outcome: the rendered
messages (text and the exact images), the raw and the parsed answer, and the
tokens and dollars the original run paid for it.

Two kinds of run need more than the item itself, and get it:

* a ``batch items`` chain packs several items' questions into one request, so
  the replay runs the item's whole chunk (the same fixed chunk of the manifest
  the run used) and keeps the questions of the traced item;
* a ``specialist:SPEC`` run answers from the specialist's predictions, so the
  replay builds the same truth source (predictions come from its disk cache).

Limitations: the chain file must be unchanged since the run (its sha256 is
checked), and the sampling settings (temperature, max tokens, seed) and
label-set overrides must be given again for runs older than the run folder
recording them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainlang.errors import RunError
from chainlang.image import ImageData
from chainlang.providers.base import ImagePart, ModelRef, ModelRequest, ProviderError, TextPart
from chainlang.runtime.cache import Entry, Journal
from chainlang.runtime.outcome import Outcome

NOT_RECORDED = "not in the run's records or journal; a trace never asks a model"


@dataclass(frozen=True)
class TraceMessage:
    """One message of a request: its role, its text parts joined, and its images in order.

    Attributes:
        role: ``system``, ``user`` or ``assistant``.
        text: the text parts joined by newlines.
        images: the images, in order.
        parts: text and image parts in the order they were sent (images carry
            their ``detail``), for display.
    """

    role: str
    text: str
    images: tuple[ImageData, ...]
    parts: tuple[TextPart | ImagePart, ...] = ()

    def in_order(self) -> tuple[TextPart | ImagePart, ...]:
        """The parts as sent; text then images when the order was not kept."""
        if self.parts:
            return self.parts
        return (TextPart(self.text), *(ImagePart(img) for img in self.images))


@dataclass(frozen=True)
class TraceStep:
    """One question of the item as it was asked.

    Attributes:
        index: position in the run's record of the item (0-based).
        origin: the ``.chain`` line of the ask.
        prompt, variant: the prompt and the variant used.
        messages: the rendered request, images included.
        raw: the model's reply text as journaled.
        answer: the parsed, validated answer (None if the question failed); an
            image answer is an :class:`ImageData`.
        ok: whether the question had an answer.
        failure: the failure kind and message, if any.
        input_tokens, output_tokens, cost_usd, attempts: what the original run paid.
        key: the question's cache key.
        answer_image: the run folder's file holding an image answer (its
            ``answer_image``), relative to the run folder; None for other answers.
    """

    index: int
    origin: str
    prompt: str
    variant: str
    messages: tuple[TraceMessage, ...]
    raw: str | None
    answer: Any
    ok: bool
    failure: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    attempts: int
    key: str
    answer_image: str | None = None

    @property
    def images(self) -> tuple[ImageData, ...]:
        """Every image the question sent, in message order."""
        return tuple(img for m in self.messages for img in m.images)


@dataclass(frozen=True)
class Trace:
    """Every question of one (item, sample) of a run, with what was sent and answered.

    Attributes:
        run: the run folder.
        item_id, sample: which result.
        model: the model of the run.
        status: the item's status in the run (``ok`` or ``failed``).
        output: the item's recorded output (JSON form).
        steps: the questions, in the order the run recorded them.
        note: why the replay stopped early, if it did.
        loops_at_bound: loops the run recorded as stopped by their bound before their
            ``until`` held (``{"origin", "bound"}`` each).
    """

    run: Path
    item_id: str
    sample: int
    model: str
    status: str
    output: Any
    steps: tuple[TraceStep, ...]
    note: str = ""
    loops_at_bound: tuple[Mapping[str, Any], ...] = ()


class _Refuse:
    """A provider that refuses to be called: a trace must never spend money."""

    name = "trace"

    def __init__(self, ref: ModelRef) -> None:
        self.ref = ref

    async def send(self, request: ModelRequest, timeout: float) -> Any:
        raise ProviderError("refused", NOT_RECORDED)


class _RecordedAnswers:
    """A read-only journal: the run's own answers first (image answers from the run
    folder's files), then the cache file."""

    def __init__(
        self,
        questions: Mapping[str, Mapping[str, Any]],
        journal: Journal | None,
        run_dir: Path,
    ) -> None:
        self._questions = questions
        self._journal = journal
        self._run_dir = run_dir

    def lookup(self, key: str) -> Entry | None:
        q = self._questions.get(key)
        if q is not None and q.get("ok") and q.get("answer_image"):
            return _entry(key, q, image=(self._run_dir / q["answer_image"]).read_bytes())
        if q is not None and q.get("ok") and q.get("answer") is not None:
            return _entry(key, q)
        return self._journal.lookup(key) if self._journal is not None else None

    def record(self, entry: Entry) -> None:
        """Drop it: a trace leaves the journal untouched."""


# The result key of the item whose evaluation issued the current request.
_ASKING: ContextVar[str] = ContextVar("chainlang_trace_asking", default="")


class _Recorder:
    """Wraps the scheduler and keeps every (request, outcome, asking item) passing through."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[tuple[ModelRequest, Outcome, str]] = []

    async def ask(self, request: ModelRequest) -> Outcome:
        outcome: Outcome = await self.inner.ask(request)
        self.seen.append((request, outcome, _ASKING.get()))
        return outcome

    def of_item(self, key: str, asked: set[str]) -> list[tuple[ModelRequest, Outcome]]:
        """What item ``key`` asked: its recorded questions, and anything it issued itself."""
        return [(r, o) for r, o, who in self.seen if o.request_key in asked or who == key]


def trace_item(
    run_dir: str | Path,
    item_id: str,
    sample: int = 0,
    *,
    cache: str | Path | None = None,
    chain: str | Path | None = None,
    labels: Mapping[str, str] | None = None,
    temperature: float | None = 0.0,
    max_tokens: int | None = 4000,
    seed: int | None = None,
) -> Trace:
    """Replay one item of a run and capture every question with its images.

    Args:
        run_dir: the run folder.
        item_id: the dataset item.
        sample: which sample of the item.
        cache: the journal to read (default: the one ``run.json`` records, else
            ``.chainlang/cache.sqlite``; none if that file is missing); only needed
            for answers the run's records do not hold.
        chain: the chain file, when it has moved since the run.
        labels: the run's ``--labels`` overrides.
        temperature, max_tokens, seed: the run's sampling settings (part of every
            cache key), when they were not the defaults.

    Raises:
        RunError: not a run folder, no such item or sample, or the chain changed.
        DataError: the item's image cannot be loaded.
    """
    from chainlang.data.manifest import load_dataset
    from chainlang.language.params import recorded_overrides
    from chainlang.runtime.execute import result_key
    from chainlang.runtime.labels import bind_labelsets
    from chainlang.runtime.runfolder import read_results, read_run
    from chainlang.runtime.session import (
        DEFAULT_CACHE,
        RunOptions,
        load_chain,
        parse_model,
        run_sync,
        settings_for,
        source_digest,
    )

    run_dir = Path(run_dir)
    _refuse_sweep_folder(run_dir)
    run = read_run(run_dir)
    key = result_key(item_id, sample)
    records = {str(r.get("key") or f"{r['id']}#0"): dict(r) for r in read_results(run_dir)}
    record = _find_record(records, key, run_dir)
    chain_path = Path(chain) if chain is not None else Path(run["chain"])
    if not chain_path.exists():
        raise RunError(f"the run's chain {chain_path} does not exist here; pass its path")
    program = load_chain(chain_path)
    if source_digest(program, chain_path) != run.get("chain_sha256"):
        raise RunError(
            f"{chain_path} has changed since the run; its questions would differ from those asked"
        )
    program = bind_labelsets(program, chain_path.parent, labels or run.get("labels") or {})
    dataset = load_dataset(run["dataset"])
    dataset.get(item_id)  # a clear error if the item left the dataset
    ref = parse_model(run["model"])
    overrides = recorded_overrides(run)  # the resolved values, whatever set them
    recorded = run.get("sampling") or {}  # the run's own settings win: they are in every key
    options = RunOptions(
        params=overrides,
        temperature=recorded.get("temperature", temperature),
        max_tokens=recorded.get("max_tokens", max_tokens),
        seed=recorded.get("seed", seed),
        # with samples, each request carries its sample's seed (runtime/sampling.py)
        samples=int(run.get("samples") or 1),
    )
    settings = dataclasses.replace(
        settings_for(program, ref, options, dataset), sample_index=sample
    )
    chunk = _chunk_of(program, settings, dataset, item_id)
    # Every chunk member's recorded answers: a batched request needs all of them.
    questions = {
        q["key"]: q
        for it in chunk
        for q in records.get(result_key(it.id, sample), {}).get("questions", [])
    }
    journal_path = Path(cache or run.get("cache") or DEFAULT_CACHE)
    journal = Journal(journal_path) if journal_path.exists() else None
    recorder = _Recorder(_scheduler(_RecordedAnswers(questions, journal, run_dir)))
    try:
        replay = _replay(program, settings, recorder, chunk, sample)
        note = run_sync(replay)[key]
    finally:
        if journal is not None:
            journal.close()
    asked = {q["key"] for q in record.get("questions", [])}
    steps = _steps(recorder.of_item(key, asked), record.get("questions", []))
    return Trace(
        run_dir,
        item_id,
        sample,
        run["model"],
        record.get("status", ""),
        record.get("output"),
        steps,
        note,
        tuple(record.get("loops_at_bound", ())),
    )


def _chunk_of(program: Any, settings: Any, dataset: Any, item_id: str) -> list[Any]:
    """The items replayed together: the item's ``batch items`` chunk, or the item alone."""
    from chainlang.runtime.execute import item_chunks
    from chainlang.runtime.session import items_per_batch

    size = items_per_batch(program, settings)
    if size is None:
        return [dataset.get(item_id)]
    return next(c for c in item_chunks(dataset, size) if any(i.id == item_id for i in c))


async def _replay(
    program: Any, settings: Any, recorder: _Recorder, chunk: Sequence[Any], sample: int
) -> dict[str, str]:
    """Run the chunk's items as the run did; result key -> why its replay stopped ("")."""
    from chainlang.errors import ChainlangError
    from chainlang.runtime.batching import ItemBatcher
    from chainlang.runtime.execute import item_batched_asks, item_inputs, result_key
    from chainlang.runtime.interpreter import Interpreter, ItemContext, ItemFailed
    from chainlang.runtime.truth import truth_source_for

    keys = [result_key(it.id, sample) for it in chunk]
    batchers = {origin: ItemBatcher(keys) for origin in item_batched_asks(program)}
    source = truth_source_for(program, settings)
    notes: dict[str, str] = {}

    async def one(item: Any, key: str) -> None:
        _ASKING.set(key)  # each gathered task runs in its own copy of the context
        ctx = ItemContext(key, truth=item.truth, batchers=batchers)
        try:
            if source is not None:
                ctx.answer_truth = await source.for_item(item)
            await Interpreter(program, settings, recorder).run(item_inputs(program, item), ctx)
            notes[key] = ""
        except (ItemFailed, ChainlangError) as err:
            notes[key] = f"the replay stopped: {err}"
        finally:
            for b in batchers.values():
                b.finished(key)

    await asyncio.gather(*(one(it, k) for it, k in zip(chunk, keys, strict=True)))
    return notes


def _refuse_sweep_folder(path: Path) -> None:
    """A sweep folder is not a run: say which run folders it holds."""
    from chainlang.experiments.sweep import CELLS_DIR, SWEEP_FILE

    if not (path / SWEEP_FILE).exists():
        return
    cells = sorted(p.name for p in (path / CELLS_DIR).glob("*") if p.is_dir())
    raise RunError(
        f"{path} is a sweep folder; trace one of its cells, {path / CELLS_DIR}/NAME "
        f"(cells: {', '.join(cells) or 'none yet'})"
    )


def _scheduler(cache: _RecordedAnswers) -> Any:
    from chainlang.language import ir
    from chainlang.runtime.scheduler import Scheduler

    # The salt must be the one the run's scheduler used (see api.make_scheduler).
    # arg-type: _Refuse and _RecordedAnswers stand in for a Provider and a Journal (duck typed)
    return Scheduler(providers=_Refuse, cache=cache, salt=f"ir{ir.IR_VERSION}")  # type: ignore[arg-type]


def _find_record(
    records: Mapping[str, Mapping[str, Any]], key: str, run_dir: Path
) -> dict[str, Any]:
    if key in records:
        return dict(records[key])
    ids = sorted({str(r["id"]) for r in records.values()})
    shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
    raise RunError(f"{run_dir} has no result {key!r} (items: {shown or 'none'})")


def _entry(key: str, q: Mapping[str, Any], image: bytes | None = None) -> Entry:
    from chainlang.providers.base import Usage

    return Entry(
        key=key,
        ok=True,
        model="",
        value=None if image is not None else q["answer"],
        image=image,
        raw_text=q.get("raw"),
        usage=Usage(),
        attempts=0,
        reasks=0,
        latency_s=0.0,
        cost_usd=0.0,
        failure_kind=None,
        failure_message=None,
    )


def _steps(
    seen: Sequence[tuple[ModelRequest, Outcome]], recorded: Sequence[Mapping[str, Any]]
) -> tuple[TraceStep, ...]:
    # A key can repeat (the same pair sampled twice): each asking takes the next
    # recorded position of its key, so every step keeps its own place.
    positions: dict[str, list[int]] = {}
    for i, q in enumerate(recorded):
        positions.setdefault(q["key"], []).append(i)
    steps: list[TraceStep] = []
    for request, outcome in seen:
        free = positions.get(outcome.request_key)
        index = free.pop(0) if free else len(recorded) + len(steps)
        q = recorded[index] if index < len(recorded) else {}
        steps.append(
            TraceStep(
                index=index,
                origin=request.origin or "",
                prompt=str(q.get("prompt", "")),
                variant=str(q.get("variant", "")),
                messages=tuple(_message(m) for m in request.messages),
                raw=outcome.raw_text,
                answer=outcome.value if outcome.ok else None,
                ok=outcome.ok,
                failure=None
                if outcome.ok
                else f"{outcome.failure_kind}: {outcome.failure_message}",
                input_tokens=int(q.get("input_tokens", 0)),
                output_tokens=int(q.get("output_tokens", 0)),
                cost_usd=q.get("cost_usd"),
                attempts=int(q.get("attempts", 0)),
                key=outcome.request_key,
                answer_image=q.get("answer_image"),
            )
        )
    return tuple(sorted(steps, key=lambda s: s.index))


def _message(message: Any) -> TraceMessage:
    texts = [p.text for p in message.parts if isinstance(p, TextPart)]
    images = tuple(p.image for p in message.parts if isinstance(p, ImagePart))
    parts = tuple(p for p in message.parts if isinstance(p, TextPart | ImagePart))
    return TraceMessage(message.role, "\n".join(texts), images, parts)


def format_trace(trace: Trace, saved: Mapping[str, Path] | None = None) -> str:
    """The trace as plain text: each question, its messages, images by digest and size.

    Messages are printed part by part in the order they were sent. A message whose
    text is the same as in an earlier question (the system prompt, usually) is
    shown once and then referred to, so a long item stays readable.

    Args:
        trace: from :func:`trace_item`.
        saved: image digest → file written by :func:`save_trace_images`, shown next
            to each image.
    """
    saved = saved or {}
    lines = [*_trace_head(trace)]
    first_seen: dict[tuple[str, str], int] = {}
    for s in trace.steps:
        cost = "?" if s.cost_usd is None else f"${s.cost_usd:.5f}"
        lines += ["", f"[{s.index + 1}] {s.prompt} (variant {s.variant}) at {s.origin}"]
        for m in s.messages:
            lines += _message_lines(m, s.index, first_seen, saved)
        lines.append(f"    raw: {_short(s.raw)}")
        lines.append(f"    answer: {_answer(s, saved)}" if s.ok else f"    failed: {s.failure}")
        lines.append(
            f"    tokens in/out: {s.input_tokens}/{s.output_tokens}  cost {cost}  "
            f"attempts {s.attempts}"
        )
    if trace.note:
        lines += ["", trace.note]
    return "\n".join(lines)


def _trace_head(trace: Trace) -> list[str]:
    failed = sum(not s.ok for s in trace.steps)
    images = sum(len(s.images) for s in trace.steps)
    costs = [s.cost_usd for s in trace.steps]
    cost = "?" if any(c is None for c in costs) else f"${sum(c or 0.0 for c in costs):.4f}"
    return [
        f"{trace.run}  item {trace.item_id}  sample {trace.sample}  model {trace.model}",
        f"status {trace.status}  output {_output(trace.output)}",
        f"{_count(len(trace.steps), 'question')} ({failed} failed), "
        f"{_count(images, 'image')} sent, "
        f"{sum(s.input_tokens for s in trace.steps)} input / "
        f"{sum(s.output_tokens for s in trace.steps)} output tokens, {cost}",
        *(
            f"loop at {loop['origin']} stopped at its bound ({loop['bound']} rounds) "
            "before its `until` held"
            for loop in trace.loops_at_bound
        ),
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _message_lines(
    m: TraceMessage, step: int, first_seen: dict[tuple[str, str], int], saved: Mapping[str, Path]
) -> list[str]:
    """One message's lines; text already shown in an earlier question is referred to."""
    if m.role == "system" and not m.images and m.text:
        earlier = first_seen.setdefault((m.role, m.text), step)
        if earlier != step:
            return [f"    {m.role:>9}: (same as in [{earlier + 1}])"]
    lines = []
    for part in m.in_order():
        if isinstance(part, ImagePart):
            img = part.image
            w, h = img.size
            where = f" -> {saved[img.digest]}" if img.digest in saved else ""
            detail = f" {part.detail}" if part.detail else ""
            lines.append(f"    {m.role:>9}: <image {img.digest[:12]} {w}x{h}{detail}>{where}")
            continue
        lines += [f"    {m.role:>9}: {t}" for t in part.text.splitlines() if t]
    return lines


def _output(output: Any) -> str:
    """A recorded output in words: arrays are named by kind and file, values as JSON."""
    if isinstance(output, Mapping) and "kind" in output and "arrays" in output:
        return f"{output['kind']} ({output['arrays']})"
    if isinstance(output, Mapping) and set(output) == {"kind", "value"}:
        return f"{output['kind']} {_json(output['value'])}"
    return _json(output)


def _answer(step: TraceStep, saved: Mapping[str, Path]) -> str:
    """The answer as JSON; an image answer by digest, size and file (run folder or saved)."""
    img = step.answer
    if not isinstance(img, ImageData):
        return _json(img)
    w, h = img.size
    where = saved.get(img.digest) or step.answer_image
    return f"<image {img.digest[:12]} {w}x{h}>" + (f" -> {where}" if where else "")


def _json(value: Any) -> str:
    try:
        return _short(json.dumps(value, ensure_ascii=False))
    except (TypeError, ValueError):  # not JSON-able (e.g. numpy): fall back to its repr
        return _short(repr(value))


def save_trace_images(trace: Trace, folder: str | Path) -> dict[str, Path]:
    """Write every distinct image of the trace (sent, and image answers) as
    ``<digest>.png``; digest → path."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for step in trace.steps:
        answer = (step.answer,) if isinstance(step.answer, ImageData) else ()
        for img in (*step.images, *answer):
            if img.digest not in out:
                path = folder / f"{img.digest[:16]}.png"
                Image.fromarray(img.pixels).save(path)
                out[img.digest] = path
    return out


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["Trace", "TraceMessage", "TraceStep", "format_trace", "save_trace_images", "trace_item"]
