"""The Ray engine: a run or a sweep spread over the workers of a Ray cluster.

Imported only for ``--engine ray`` (it imports ``ray``, the ``chainlang[ray]``
extra). The driver (the ``chainlang`` process) keeps everything that makes a run
what it is; the workers only evaluate items:

* **Driver.** Opens the run folder, cuts the items left to do into shards of
  whole units (``batch items`` chunks), hands each shard to a worker, and writes
  every record, array and image the worker sends back through the same
  :class:`~chainlang.runtime.runfolder.RunFolder` a local run uses, so the folder
  and its scores are those of a local run. Progress and the summary are totalled
  here, over every worker.
* **Workers** (:class:`ChainWorker`, one actor per CPU of the cluster) each hold
  one :class:`~chainlang.runtime.scheduler.Scheduler` and run the ordinary
  :class:`~chainlang.runtime.execute.Runner` on their shards.
* **One coordinator** (:class:`Coordinator`) holds what must be counted once for
  the whole cluster: every model's limiter (concurrency, RPM, TPM, the adaptive
  rate and the ``Retry-After`` pause, all from :mod:`chainlang.runtime.limits`)
  and the ``--max-cost`` budget. A worker's scheduler sees them through
  :class:`SharedLimits` and :class:`SharedBudget`, so N workers never send
  faster or spend more than one process would.
* **The journal** (sqlite) stays the source of truth: workers on the driver's node
  open the same cache file, workers on other nodes reach it through one
  :class:`JournalServer` actor on the driver's node (sqlite cannot be shared across
  hosts), and its claims (:meth:`~chainlang.runtime.cache.Journal.claim`) make sure
  no question is paid twice. A worker that dies loses only its questions in
  flight: its claims die with its process, the coordinator frees its slots and
  charges its reservations, and the driver gives its shard to a new worker, which
  finds every answered question in the journal. A killed driver takes its workers
  with it; rerunning resumes from the run folder and the journal as a local run does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from chainlang.data.manifest import Dataset
from chainlang.errors import ChainlangError, RunError, UsageError
from chainlang.image import ImageData
from chainlang.language import ir
from chainlang.providers.base import ModelRef
from chainlang.runtime.cache import ClaimState, Entry, Journal
from chainlang.runtime.cost import Budget, PriceTable
from chainlang.runtime.interpreter import Settings
from chainlang.runtime.limits import Limits, LimitsConfig, ModelLimiter
from chainlang.runtime.outcome import Outcome
from chainlang.runtime.runfolder import IMAGES_DIR, RunFolder, RunIdentity, iter_results
from chainlang.runtime.session import RunOptions, RunResult

# Shards a worker holds at once: one runs while the next is ready.
SHARDS_PER_WORKER = 2
# Workers that may die during one run (each is replaced) before the run gives up.
RESTARTS_PER_WORKER = 3
# Where a worker pretends its run folder is: nothing is written there (see _Capture).
_NOWHERE = Path("/nonexistent/chainlang-ray-worker")


# ---------------------------------------------------------------- the coordinator


# What the coordinator answers a reservation that should be measured again.
MEASURE_AGAIN = -1.0


class _MeasureAgain(Exception):
    """A reservation waited for a settlement: its amount may be stale."""


class Coordinator:
    """The limiters and the budget of the whole cluster (run as one Ray actor).

    Every method is a coroutine run on the actor's event loop, so the limiters work
    exactly as in one process. ``token`` names a worker: when one dies,
    :meth:`drop_worker` frees the slots it held and charges its reservations.
    """

    def __init__(
        self,
        limits: LimitsConfig,
        prices: Mapping[str, Any] | None,
        batch_models: frozenset[ModelRef],
        max_cost: float | None,
    ) -> None:
        from chainlang.runtime.scheduler import Scheduler

        # A scheduler without providers: the one place that turns the user's limits and
        # the price table's defaults into each model's limiter (nothing is sent here).
        self._table = Scheduler(
            {}, limits, prices=PriceTable.load(prices), batch_models=batch_models
        )
        self._budget = Budget(max_cost) if max_cost is not None else None
        self._slots: dict[str, tuple[str, AbstractAsyncContextManager[float]]] = {}
        self._dropped: set[str] = set()  # tickets given up before their slot came
        self._dead: set[str] = set()
        self._reserved: dict[str, list[float]] = {}

    async def acquire(self, token: str, ticket: str, model: ModelRef, tokens: float) -> float:
        """Wait for a call slot of ``model``; the start time on this actor's clock."""
        slot = self._table.limiter(model).slot(tokens)
        started = await slot.__aenter__()
        if token in self._dead or ticket in self._dropped:
            self._dropped.discard(ticket)  # its asker is gone: the slot goes straight back
            await slot.__aexit__(None, None, None)
        else:
            self._slots[ticket] = (token, slot)
        return started

    async def release(self, ticket: str) -> None:
        """Give a slot back (or give up waiting for it)."""
        held = self._slots.pop(ticket, None)
        if held is None:
            self._dropped.add(ticket)
        else:
            await held[1].__aexit__(None, None, None)

    async def on_success(self, model: ModelRef) -> None:
        """See :meth:`ModelLimiter.on_success`."""
        self._table.limiter(model).on_success()

    async def on_rate_limited(
        self, model: ModelRef, started: float, retry_after: float | None, exhausted: bool
    ) -> None:
        """See :meth:`ModelLimiter.on_rate_limited`: a pause applies to every worker."""
        self._table.limiter(model).on_rate_limited(started, retry_after, exhausted=exhausted)

    async def correct_tokens(self, model: ModelRef, estimated: float, actual: float) -> None:
        """See :meth:`ModelLimiter.correct_tokens`."""
        self._table.limiter(model).correct_tokens(estimated, actual)

    async def reserve(self, token: str, wanted: float, alone: bool) -> tuple[float | None, float]:
        """Reserve ``wanted`` dollars (see :meth:`Budget.reserve`); also what is spent.

        Where the budget would wait for calls in flight to settle, this waits for one
        settlement and answers :data:`MEASURE_AGAIN`: the worker measures ``wanted`` and
        ``alone`` again (a report may have changed them), as a local run does.
        """
        if self._budget is None:
            return wanted, 0.0
        measured = 0

        def amount() -> float:
            nonlocal measured
            measured += 1
            if measured > 1:  # the budget waited: a call settled since ``wanted`` was measured
                raise _MeasureAgain
            return wanted

        try:
            got = await self._budget.reserve(amount, alone=lambda: alone)
        except _MeasureAgain:
            return MEASURE_AGAIN, self._budget.spent
        if got is not None:
            self._reserved.setdefault(token, []).append(got)
            if token in self._dead:  # its asker is gone: nothing will be sent
                await self.settle(token, got, 0.0)
        return got, self._budget.spent

    async def settle(self, token: str, reserved: float, actual: float) -> None:
        """See :meth:`Budget.settle`."""
        held = self._reserved.get(token, [])
        if reserved in held:
            held.remove(reserved)
        if self._budget is not None:
            self._budget.settle(reserved, actual)

    async def drop_worker(self, token: str) -> None:
        """A worker died: free its slots; its calls in flight may have been billed, so
        their reservations are charged in full."""
        self._dead.add(token)
        for ticket, (owner, slot) in list(self._slots.items()):
            if owner == token:
                del self._slots[ticket]
                await slot.__aexit__(None, None, None)
        for amount in self._reserved.pop(token, []):
            if self._budget is not None:
                self._budget.settle(amount, amount)

    async def stats(self) -> dict[str, Any]:
        """Spent dollars and slots held (for tests and the final check)."""
        spent = self._budget.spent if self._budget is not None else 0.0
        return {"spent": spent, "slots": len(self._slots)}


class RemoteLimiter(ModelLimiter):
    """A worker's view of one model's limiter held by the :class:`Coordinator`.

    Overrides every method the scheduler calls; the limiter state lives in the actor.
    """

    def __init__(self, coordinator: Any, token: str, model: ModelRef) -> None:
        # No local limiter state: the base class's fields are never used here.
        self._coord = coordinator
        self._token = token
        self._model = model
        self._held = 0

    @property
    def in_flight(self) -> int:
        """Calls of this worker holding a slot now."""
        return self._held

    @property
    def request_rate(self) -> float | None:
        """Not known here (the coordinator holds it)."""
        return None

    @asynccontextmanager
    async def slot(self, estimated_tokens: float) -> AsyncIterator[float]:
        """Hold a cluster-wide call slot; yields the start time on the coordinator's clock."""
        ticket = uuid.uuid4().hex
        try:
            started: float = await self._coord.acquire.remote(
                self._token, ticket, self._model, estimated_tokens
            )
        except BaseException:
            self._coord.release.remote(ticket)  # cancelled while waiting: stop waiting
            raise
        self._held += 1
        try:
            yield started
        finally:
            self._held -= 1
            self._coord.release.remote(ticket)

    def correct_tokens(self, estimated: float, actual: float) -> None:
        """Sent to the coordinator (not waited for)."""
        self._coord.correct_tokens.remote(self._model, estimated, actual)

    def on_success(self) -> None:
        """Sent to the coordinator (not waited for)."""
        self._coord.on_success.remote(self._model)

    def on_rate_limited(
        self, started_at: float, retry_after: float | None, *, exhausted: bool = False
    ) -> None:
        """Sent to the coordinator, whose pause then holds every worker."""
        self._coord.on_rate_limited.remote(self._model, started_at, retry_after, exhausted)


class SharedLimits(Limits):
    """The limiters of a worker's scheduler: one :class:`RemoteLimiter` per model."""

    def __init__(self, coordinator: Any, token: str) -> None:
        # Nothing of the base class is used: the limiters live in the coordinator.
        self._coord = coordinator
        self._token = token
        self._remote: dict[ModelRef, RemoteLimiter] = {}

    def for_model(self, ref: ModelRef) -> ModelLimiter:
        """The cluster-wide limiter of ``ref``'s model."""
        if ref not in self._remote:
            self._remote[ref] = RemoteLimiter(self._coord, self._token, ref)
        return self._remote[ref]


class SharedBudget(Budget):
    """A worker's view of the cluster's ``--max-cost`` budget held by the coordinator."""

    def __init__(self, coordinator: Any, token: str, max_usd: float) -> None:
        super().__init__(max_usd)
        self._coord = coordinator
        self._token = token

    async def reserve(
        self, amount: Callable[[], float], *, alone: Callable[[], bool] = lambda: False
    ) -> float | None:
        """Reserve in the cluster's budget; ``spent`` becomes the cluster's spending."""
        while True:
            got, spent = await self._coord.reserve.remote(self._token, amount(), alone())
            self.spent = spent
            if got != MEASURE_AGAIN:
                return got  # type: ignore[no-any-return]  # a float or None, from the actor

    def settle(self, reserved: float, actual: float) -> None:
        """Sent to the coordinator (not waited for)."""
        self._coord.settle.remote(self._token, reserved, actual)


# ---------------------------------------------------------------- the journal


class JournalServer:
    """The sqlite journal served to workers on other nodes (one Ray actor on the driver's
    node, where the cache file is; sqlite cannot be shared across hosts).

    Each worker gets a :class:`~chainlang.runtime.cache.Journal` of its own here, so
    claims stay per worker; when one dies, :meth:`drop` gives its claims up. The
    journals are opened on first use, on the actor's event loop thread (sqlite
    connections stay on the thread that made them).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._journals: dict[str, Journal] = {}
        self.records = 0  # answers and failures recorded for workers (tests read it)

    def _of(self, token: str) -> Journal:
        if token not in self._journals:
            self._journals[token] = Journal(self._path)
        return self._journals[token]

    async def recorded(self) -> int:
        """How many rows this server has recorded for workers."""
        return self.records

    async def lookup(self, token: str, key: str) -> Entry | None:
        """See :meth:`Journal.lookup`."""
        return self._of(token).lookup(key)

    async def claim(self, token: str, key: str, serve_answered: bool = True) -> ClaimState:
        """See :meth:`Journal.claim`."""
        return self._of(token).claim(key, serve_answered=serve_answered)

    async def release(self, token: str, key: str) -> None:
        """See :meth:`Journal.release`."""
        self._of(token).release(key)

    async def record(self, token: str, entry: Entry) -> None:
        """See :meth:`Journal.record` (committed when this returns)."""
        self._of(token).record(entry)
        self.records += 1

    async def drop(self, token: str) -> None:
        """A worker died: its claims are free for the others."""
        journal = self._journals.pop(token, None)
        if journal is not None:
            journal.release_all()
            journal.close()

    async def close(self) -> None:
        """Close every connection."""
        for journal in self._journals.values():
            journal.close()
        self._journals.clear()


class RemoteJournal(Journal):
    """A worker's journal when it runs on another node than the cache file: every call
    goes to the :class:`JournalServer` and waits for it (the scheduler calls the
    journal synchronously; an answer is committed before anyone uses it)."""

    def __init__(self, server: Any, token: str, path: Path) -> None:
        # No connection of its own: the server holds it.
        self.path = path
        self._server = server
        self._token = token

    def lookup(self, key: str) -> Entry | None:
        return ray.get(self._server.lookup.remote(self._token, key))  # type: ignore[no-any-return]  # an Entry or None

    def claim(self, key: str, *, serve_answered: bool = True) -> ClaimState:
        return ray.get(self._server.claim.remote(self._token, key, serve_answered))  # type: ignore[no-any-return]  # a ClaimState

    def release(self, key: str) -> None:
        ray.get(self._server.release.remote(self._token, key))

    def record(self, entry: Entry) -> None:
        ray.get(self._server.record.remote(self._token, entry))

    def close(self) -> None:
        pass  # the server closes the connections


@dataclass(frozen=True)
class _JournalPlace:
    """Where the journal is: the driver's node and the server of the cache file there."""

    node: str
    server: Any
    always_served: bool = False  # tests: serve it even to workers on the driver's node

    def for_worker(self, token: str, options: RunOptions) -> Journal | None:
        """The worker's journal: the file itself on the driver's node (None: the
        scheduler opens it), the server anywhere else."""
        here = ray.get_runtime_context().get_node_id()
        if here == self.node and not self.always_served:
            return None
        assert options.cache is not None  # RunOptions refuses engine="ray" without one
        return RemoteJournal(self.server, token, options.cache)


# Serve the journal to every worker, even on the driver's node (the tests use it to run
# the remote journal on a one-node cluster).
SERVE_JOURNAL_ALWAYS = False

# ---------------------------------------------------------------- the workers


@dataclass(frozen=True)
class RunSpec:
    """What a worker needs to evaluate the items of one run."""

    run_id: str
    program: ir.Program
    settings: Settings
    dataset: Dataset
    identity: RunIdentity
    samples: int
    window: int
    batch_items: int | None
    specialist_cache: Path


@dataclass
class ShardResult:
    """What a worker sends back for one shard: records and the files they name,
    progress events, and why the budget stopped it (None: it did not)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, ImageData] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    budget_stop: str | None = None


@dataclass
class _Capture(RunFolder):
    """A run folder that writes nothing: what the driver should write is kept.

    Paths come out exactly as the driver's folder will name them, since both are
    relative to the folder. ``todo`` is the shard: every other result is "done".
    """

    todo: frozenset[str] = frozenset()
    shard: ShardResult = field(default_factory=ShardResult)

    def is_done(self, key: str) -> bool:
        return key not in self.todo

    def write_arrays(self, item_id: str, arrays: Mapping[str, Any]) -> str:
        self.shard.arrays[item_id] = dict(arrays)
        return str(self.output_path(item_id).relative_to(self.path))

    def write_image(self, image: ImageData) -> str:
        self.shard.images[image.digest] = image
        return f"{IMAGES_DIR}/{image.digest[:16]}.png"

    def append_result(self, record: Mapping[str, Any]) -> None:
        self.shard.records.append(dict(record))

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        pass  # the driver writes the summary of the whole run


class _Events:
    """The worker's progress observer: events kept until a shard carries them home."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_start(self, request: Any) -> None:
        self.events.append(("start",))

    def on_retry(self, kind: str, delay: float) -> None:
        self.events.append(("retry", kind, delay))

    def on_done(self, outcome: Outcome) -> None:
        # The answer itself travels in the records; progress needs only the totals.
        self.events.append(("done", dataclasses.replace(outcome, value=None, raw_text=None)))

    def take(self) -> list[tuple[Any, ...]]:
        taken, self.events = self.events, []
        return taken


class ChainWorker:
    """One worker (a Ray actor): a scheduler of its own over the shared limits, budget
    and journal, running the ordinary :class:`~chainlang.runtime.execute.Runner`."""

    def __init__(
        self,
        token: str,
        models: list[ModelRef],
        credentials: Mapping[ModelRef, Any],
        options: RunOptions,
        coordinator: Any,
        journal: _JournalPlace,
    ) -> None:
        from chainlang.providers.common import register_secret
        from chainlang.providers.registry import make_provider
        from chainlang.runtime.session import make_scheduler
        from chainlang.vision.encode import Encoder

        for settings in credentials.values():
            register_secret(settings.api_key)  # redacted from what this process keeps
        encoder = Encoder()
        providers = {ref: make_provider(ref, credentials[ref], encoder=encoder) for ref in models}
        self._events = _Events()
        budget = None
        if options.max_cost is not None:
            budget = SharedBudget(coordinator, token, options.max_cost)
        self._scheduler = make_scheduler(
            models,
            options,
            self._events,
            providers=providers,
            limits_source=SharedLimits(coordinator, token),
            budget=budget,
            journal=journal.for_worker(token, options),
        )
        self._truth: dict[str, Any] = {}

    async def pid(self) -> int:
        """This worker's process id (tests kill it)."""
        return os.getpid()

    async def run_shard(self, spec: RunSpec, keys: list[str]) -> ShardResult:
        """Evaluate the (item, sample) results ``keys`` of a run; nothing is written here."""
        from chainlang.runtime.execute import Runner

        capture = _Capture(_NOWHERE, spec.identity, todo=frozenset(keys))
        runner = Runner(
            spec.program,
            spec.settings,
            self._scheduler,
            capture,
            spec.samples,
            spec.window,
            spec.batch_items,
            truth_source=self._truth.get(spec.run_id),
            specialist_cache=spec.specialist_cache,
            **_single_process(Runner),
        )
        self._truth[spec.run_id] = runner.truth_source  # built once per run and worker
        await runner.run(spec.dataset)
        capture.shard.events = self._events.take()
        capture.shard.budget_stop = self._scheduler.budget_stop
        return capture.shard

    async def aclose(self) -> None:
        """Close the providers and the journal connection."""
        await self._scheduler.aclose()


def _single_process(runner: Any) -> dict[str, Any]:
    """A worker is one process among the cluster's: no pool of its own under it."""
    names = {f.name for f in dataclasses.fields(runner)}
    return {"workers": 1} if "workers" in names else {}


# ---------------------------------------------------------------- the driver


@dataclass
class _Slot:
    """One worker of the pool and the token the coordinator knows it by."""

    handle: Any
    token: str


class RayEngine:
    """The driver's side of the cluster: the coordinator and the pool of workers.

    Made by :func:`chainlang.runtime.session.make_scheduler` for ``engine="ray"``
    and shared by every run of a sweep (as the local scheduler is).
    """

    def __init__(
        self,
        models: list[ModelRef],
        options: RunOptions,
        credentials: Mapping[ModelRef, Any],
        coordinator: Any,
        journal: _JournalPlace,
        workers: int,
        started_ray: bool,
    ) -> None:
        self.models = models
        self.options = options
        self.coordinator = coordinator
        self.journal = journal
        self._credentials = credentials
        self._started_ray = started_ray
        self._slots = [self._new_worker() for _ in range(workers)]
        self._free: asyncio.Queue[int] = asyncio.Queue()
        for _ in range(SHARDS_PER_WORKER):
            for i in range(workers):
                self._free.put_nowait(i)
        self._restarts_left = RESTARTS_PER_WORKER * workers
        self.replaced = 0  # workers that died and were replaced
        self._probes: list[Any] = []  # providers built only to check the model options
        self._failed: set[str] = set()  # questions that failed when asked now, all workers
        self.budget_stop: str | None = None

    @classmethod
    def start(cls, models: list[ModelRef], options: RunOptions) -> RayEngine:
        """Join (or start) the cluster, then make the coordinator and the workers.

        Raises:
            UsageError: a missing key, a bad model option, or a cluster that cannot be
                reached (all before any worker starts).
        """
        from chainlang.providers.registry import check_credentials, make_provider
        from chainlang.providers.specs import spec_for
        from chainlang.runtime.session import batch_models, limits_config, read_config

        options = _absolute(options)
        config = read_config(options.config)
        credentials = check_credentials(models, os.environ, config)
        # Built here once so that a bad model option is a usage error now, not a worker
        # that dies at its start again and again (simulated answerers are left out).
        probes = [
            make_provider(r, credentials[r]) for r in models if not spec_for(r.provider).simulated
        ]
        started = connect(options.address)
        coordinator = (
            ray.remote(Coordinator)
            .options(num_cpus=0, max_concurrency=100_000)
            .remote(
                limits_config(options, config),
                config.get("prices"),
                batch_models({}),
                options.max_cost,
            )
        )
        assert options.cache is not None  # RunOptions refuses engine="ray" without one
        journal = (
            ray.remote(JournalServer)
            .options(num_cpus=0, max_concurrency=100_000, scheduling_strategy=_home())
            .remote(options.cache)
        )
        place = _JournalPlace(_home_node(), journal, SERVE_JOURNAL_ALWAYS)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        engine = cls(models, options, credentials, coordinator, place, cpus, started)
        engine._probes = probes
        return engine

    def _new_worker(self) -> _Slot:
        token = uuid.uuid4().hex
        handle = (
            ray.remote(ChainWorker)
            .options(num_cpus=1, max_concurrency=1000)
            .remote(
                token, self.models, self._credentials, self.options, self.coordinator, self.journal
            )
        )
        return _Slot(handle, token)

    def worker_handles(self) -> list[Any]:
        """The worker actors now in the pool (tests ask them for their pids)."""
        return [s.handle for s in self._slots]

    async def run_shards(
        self, spec: RunSpec, shards: Sequence[list[str]], on_result: Callable[[ShardResult], None]
    ) -> None:
        """Evaluate every shard on some worker; ``on_result`` gets each as it comes back.

        No new shard starts once the budget refused a question.
        """
        spec_ref = ray.put(spec)
        async with asyncio.TaskGroup() as tg:
            for shard in shards:
                index = await self._free.get()
                if self.budget_stop:
                    self._free.put_nowait(index)
                    break
                tg.create_task(self._one(index, spec_ref, shard, on_result))

    async def _one(
        self, index: int, spec_ref: Any, shard: list[str], on_result: Callable[[ShardResult], None]
    ) -> None:
        try:
            while True:
                slot = self._slots[index]
                try:
                    result: ShardResult = await slot.handle.run_shard.remote(spec_ref, shard)
                    break
                except RayActorError as err:
                    await self._replace(index, slot, err)  # then the shard goes to the new one
                except RayTaskError as err:
                    cause = getattr(err, "cause", None)
                    if isinstance(cause, ChainlangError):
                        raise cause from None  # the run-wide error, as a local run raises it
                    raise
        finally:
            self._free.put_nowait(index)
        self.budget_stop = self.budget_stop or result.budget_stop
        on_result(result)
        self._count_failures(result.records)

    def _count_failures(self, records: list[dict[str, Any]]) -> None:
        """``--max-failures`` over the whole cluster (each worker also stops at it alone).

        Counted as the scheduler counts: questions asked now (not journal hits) that
        failed, ``budget`` refusals aside.

        Raises:
            RunError: more questions failed than the error budget allows.
        """
        limit = self.options.max_failures
        if limit is None:
            return
        for record in records:
            for q in record.get("questions", []):
                if not (q["ok"] or q["cache_hit"] or q.get("failure") == "budget"):
                    self._failed.add(q["key"])
        if len(self._failed) > limit:
            raise RunError(
                f"stopping: {len(self._failed)} questions failed across the cluster's "
                f"workers, more than the error budget of {limit}"
            )

    async def _replace(self, index: int, dead: _Slot, err: BaseException) -> None:
        """A worker died: free what it held at the coordinator and start another."""
        if self._slots[index] is not dead:
            return  # another of its shards noticed first
        if self._restarts_left <= 0:
            raise RunError(f"Ray workers keep dying; the last one: {err}")
        self._restarts_left -= 1
        self.replaced += 1
        self._slots[index] = self._new_worker()  # before waiting: its other shards see it
        await self.coordinator.drop_worker.remote(dead.token)
        await self.journal.server.drop.remote(dead.token)

    async def aclose(self) -> None:
        """Stop the workers and the coordinator (and the cluster, if this engine started it)."""
        for probe in self._probes:
            await probe.aclose()
        for slot in self._slots:
            with contextlib.suppress(RayActorError):
                await slot.handle.aclose.remote()
            ray.kill(slot.handle)
        ray.kill(self.coordinator)
        with contextlib.suppress(RayActorError):
            await self.journal.server.close.remote()
        ray.kill(self.journal.server)
        if self._started_ray:
            ray.shutdown()


def _home_node() -> str:
    """The driver's node, which holds the cache file."""
    return str(ray.get_runtime_context().get_node_id())


def _home() -> Any:
    """Pinned to the driver's node: where the journal server must run.

    sqlite's WAL mode needs every process that writes the file on one host: workers
    on the driver's node open the file, workers elsewhere ask the server
    (docs/scale.md, "What a cluster needs").
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(_home_node(), soft=False)


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` or start a local one; True if this call started it.

    A local cluster listens on 127.0.0.1 only and has no dashboard.

    Raises:
        UsageError: the cluster cannot be reached.
    """
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = address or "a local cluster"
        raise UsageError(f"cannot start Ray on {where}: {err}") from None
    return True


def _absolute(options: RunOptions) -> RunOptions:
    """Paths as every worker must see them (workers do not share the driver's cwd)."""

    def full(path: Path | None) -> Path | None:
        return None if path is None else Path(path).resolve()

    return dataclasses.replace(options, cache=full(options.cache), config=full(options.config))


async def arun_ray(
    chain: str | Path | ir.Program,
    data: str | Path | Dataset,
    model: str | ModelRef,
    *,
    out: str | Path,
    options: RunOptions,
    chain_path: str | Path | None = None,
    engine: Any = None,
) -> RunResult:
    """:func:`chainlang.runtime.session.arun` on a Ray cluster (same arguments; a sweep
    passes its :class:`RayEngine` as ``engine``)."""
    from chainlang.runtime.execute import SPECIALIST_CACHE
    from chainlang.runtime.session import (
        _expected_questions,
        _progress,
        items_per_batch,
        prepare_run,
    )

    program, dataset, ref, settings, identity = await prepare_run(
        chain, data, model, options, chain_path
    )
    own = engine is None
    if own:
        engine = RayEngine.start([ref], options)
    elif not isinstance(engine, RayEngine):
        raise UsageError("engine='ray' runs through a RayEngine, not a local scheduler")
    try:
        folder = RunFolder.open(Path(out), identity, force_new=options.force_new)
    except BaseException:
        if own:
            await engine.aclose()
        raise
    batch = items_per_batch(program, settings)
    spec = RunSpec(
        uuid.uuid4().hex,
        program,
        settings,
        dataset,
        identity,
        options.samples,
        options.items_in_flight,
        batch,
        (Path.cwd() / SPECIALIST_CACHE).resolve(),
    )
    progress = None
    try:
        total, estimated = _expected_questions(program, settings, dataset, folder, options.samples)
        progress = _progress(options.progress, total) if own else None
        if progress is not None:
            progress.estimated = estimated
        summary = await _drive(engine, spec, folder, progress)
    finally:
        try:
            if own:
                await engine.aclose()
            if progress is not None and hasattr(progress, "close"):
                progress.close()
        finally:
            folder.close()
    return RunResult(Path(out), summary, progress)


async def _drive(engine: RayEngine, spec: RunSpec, folder: RunFolder, progress: Any) -> Any:
    """Hand the shards out, write what comes back, and write the summary."""
    started = time.perf_counter()
    written: list[dict[str, Any]] = []

    def on_result(result: ShardResult) -> None:
        for image in result.images.values():
            folder.write_image(image)
        for item_id, arrays in result.arrays.items():
            folder.write_arrays(item_id, arrays)
        for record in result.records:
            folder.append_result(record)
            written.append(record)
        if progress is not None:
            _replay(progress, result.events)

    shards = plan_shards(spec, folder)
    try:
        await engine.run_shards(spec, shards, on_result)
    except BaseExceptionGroup as group:
        raise _first(group) from None
    finally:
        # Also when interrupted: the summary totals what finished.
        summary = _summary(folder, written, engine.budget_stop, time.perf_counter() - started)
    return summary


def plan_shards(spec: RunSpec, folder: RunFolder) -> list[list[str]]:
    """The results left to do, in whole units (``batch items`` chunks) of about
    ``window`` results each, in the order a local run takes them."""
    from chainlang.runtime.execute import item_chunks, result_key

    shards: list[list[str]] = []
    current: list[str] = []
    for sample in range(spec.samples):
        for chunk in item_chunks(spec.dataset, spec.batch_items or 1):
            unit = [result_key(item.id, sample) for item in chunk]
            if all(folder.is_done(k) for k in unit):
                continue
            current += unit
            if len(current) >= spec.window:
                shards.append(current)
                current = []
    if current:
        shards.append(current)
    return shards


def _replay(progress: Any, events: list[tuple[Any, ...]]) -> None:
    """A worker's progress events, told to the driver's display."""
    for event in events:
        if event[0] == "start":
            progress.on_start(None)
        elif event[0] == "retry":
            progress.on_retry(event[1], event[2])
        else:
            progress.on_done(event[1])


def _summary(
    folder: RunFolder, written: list[dict[str, Any]], stop: str | None, wall_s: float
) -> Any:
    """The summary of the whole run, as :class:`~chainlang.runtime.execute.Runner` writes it."""
    from chainlang.runtime.execute import summarise

    summary = summarise(iter_results(folder.path), wall_s)
    # What this invocation paid: its records' questions that were not journal hits.
    paid = summarise(
        ({**r, "questions": [q for q in r.get("questions", []) if not q["cache_hit"]]}
         for r in written),
        0.0,
    ).cost_usd  # fmt: skip
    summary = dataclasses.replace(
        summary,
        paid_now_usd=None if paid is None else round(paid, 6),
        stopped=f"budget: {stop}" if stop else None,
    )
    folder.write_summary(summary.to_json())
    return summary


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


__all__ = [
    "ChainWorker",
    "Coordinator",
    "RayEngine",
    "SharedBudget",
    "SharedLimits",
    "arun_ray",
    "connect",
]
