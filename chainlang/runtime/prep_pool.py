"""A pool of preparation workers: every core of the machine on a run's image work.

A run's process drives the HTTP calls on one asyncio event loop; the CPU-heavy
image work of a chain (SLIC superpixels, markers, crops, grids, JPEG/PNG
encoding) would block that loop and use one core. With ``--workers N`` (N > 1)
the run starts N worker processes (:mod:`chainlang.runtime.prep_worker`, forked by
:mod:`chainlang.runtime.prep_launch`) and
hands each one whole units of items (one item, or one ``batch items`` chunk):
the worker runs the interpreter for them and sends back requests whose images it
has already encoded, then each item's result. The run's process keeps
everything a run shares: the one scheduler (journal, limits, budget, progress)
and the run folder, which it writes exactly as the serial path does.

Why whole items, not single operations: an item's operations share large
values (the image, its superpixel map, the marked views), so sending each
operation's arguments and results between processes would copy megabytes per
question, and the caches would live in the wrong process. An item evaluated in
one worker keeps its values and caches where they are made; only requests
(encoded images as bytes) and answers cross. Every item is evaluated by the
same code as in the serial path, each from its own inputs, so the results are
the same whichever worker evaluates it (``tests/runtime/test_prep_pool.py``).

Workers are forked by a launcher (:mod:`chainlang.runtime.prep_launch`), a fresh
interpreter that imports the interpreter and the vision stack once, and each is
connected to the run by a socket pair. Not forked from the run's process: it has an
event loop and threads, which a fork would copy in an unknown state; and unlike
multiprocessing's ``spawn`` or ``forkserver``, the launcher does not re-run the
caller's ``__main__`` (a script calling :func:`chainlang.api.run` needs no
``if __name__ == "__main__"`` guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from chainlang.data.manifest import Item
from chainlang.errors import RunError, UsageError
from chainlang.language import ir
from chainlang.runtime import poolwire
from chainlang.runtime.interpreter import Settings
from chainlang.runtime.itemrun import ItemResult
from chainlang.runtime.prep_launch import LAUNCH_MODULE, child_environment

CLOSE_WAIT_S = 5.0  # how long a closing worker may take before it is terminated
RUN_WIDE: dict[str, type[Exception]] = {"RunError": RunError, "UsageError": UsageError}

OnItem = Callable[[Item, int, ItemResult], None]


# Without --workers, a run with fewer units left than this stays in one process:
# starting the pool costs about a second of CPU (its launcher imports numpy, scipy,
# scikit-image and the interpreter), more than a few small items save.
AUTO_MIN_UNITS = 8


def default_workers() -> int:
    """The pool size when none is given: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_size(requested: int | None, units_left: int) -> int:
    """How many workers to start (below 2: none, the run stays in its process).

    ``requested`` workers (``--workers N``) are started when at least two units are
    left to run; with None, one per core once ``AUTO_MIN_UNITS`` units are left. Never
    more workers than units (``units_left`` may be a count cut off at ``AUTO_MIN_UNITS``).
    """
    if requested is None:
        if units_left < AUTO_MIN_UNITS:
            return 1
        requested = default_workers()
    if units_left < AUTO_MIN_UNITS:
        return min(requested, units_left)
    return requested


@dataclass
class _Unit:
    """A unit of items sent to a worker, and where its results go."""

    items: list[tuple[Item, int]]
    on_item: OnItem
    done: asyncio.Future[None]
    left: int


@dataclass
class WorkerProcess:
    """A worker as its launcher reports it."""

    index: int
    pid: int | None = None  # once forked
    returncode: int | None = None  # as Popen gives it: negative for a signal
    exited: threading.Event = field(default_factory=threading.Event)


class Launcher:
    """The run's side of a launcher process (:mod:`chainlang.runtime.prep_launch`).

    Started as early as a run knows it may want workers, so that the launcher's
    imports overlap the run's own start (compiling the chain, reading the dataset);
    :meth:`fork` then asks it for each worker, and :meth:`close` stops it (at once
    when no worker was asked for).
    """

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            [sys.executable, "-m", LAUNCH_MODULE, str(theirs.fileno()), json.dumps(sys.path)],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # its reports (workers' errors go to stderr)
            env=child_environment(),
        )
        theirs.close()
        self._control: socket.socket | None = ours
        self.workers: list[WorkerProcess] = []
        threading.Thread(target=self._watch, name="chainlang-prep-launcher", daemon=True).start()

    def fork(self) -> tuple[Connection, WorkerProcess]:
        """A new worker: the run's end of its socket, and how the launcher reports it."""
        if self._control is None:
            raise RuntimeError("the launcher was told it would fork no more workers")
        ours, theirs = socket.socketpair()
        worker = WorkerProcess(len(self.workers))
        self.workers.append(worker)  # before the launcher can report it
        socket.send_fds(self._control, [b"w"], [theirs.fileno()])
        theirs.close()
        return Connection(ours.detach()), worker

    def done_forking(self) -> None:
        """No more workers: the launcher goes on to wait for those it forked."""
        if self._control is not None:
            self._control.close()
            self._control = None

    def close(self) -> None:
        """Wait for the launcher to end (its workers told to stop before), terminating
        it and any worker that lingers."""
        self.done_forking()
        for worker in self.workers:
            if not worker.exited.wait(CLOSE_WAIT_S) and worker.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
                worker.exited.wait(CLOSE_WAIT_S)
        try:
            self._process.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            self._process.wait(CLOSE_WAIT_S)

    def _watch(self) -> None:
        """Read the launcher's reports: each worker's pid, then how it ended."""
        assert self._process.stdout is not None
        for line in self._process.stdout:
            kind, index, value = line.decode().split()
            worker = self.workers[int(index)]
            if kind == "started":
                worker.pid = int(value)
            elif kind == "exit":
                worker.returncode = int(value)
                worker.exited.set()
        for worker in self.workers:  # the launcher is gone: nobody will report more
            worker.exited.set()


@dataclass
class _Handle:
    """The run's side of one worker process."""

    index: int
    conn: Connection
    process: WorkerProcess
    load: int = 0  # items sent and not finished
    units: set[int] = field(default_factory=set)
    asks: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    jobs: set[int] = field(default_factory=set)  # jobs this worker has been sent
    lost: bool = False
    outbox: list[tuple[Any, ...]] = field(default_factory=list)  # answers of this loop turn


@dataclass(frozen=True)
class Job:
    """One run's part of a pool: what its items are evaluated with (sent to a worker
    once, before the first of its units that the worker gets)."""

    id: int
    program: ir.Program
    settings: Settings
    batch_items: int | None


class PrepPool:
    """``size`` worker processes evaluating items; see the module docstring.

    Args:
        size: worker processes (at least 2; one is the serial path, without a pool).
        scheduler: the scheduler every question of every worker goes through (a
            sweep's runs share it, and so share one pool: :func:`shared_pool`).
    """

    def __init__(self, size: int, scheduler: Any, launcher: Launcher | None = None) -> None:
        if size < 2:
            raise UsageError(f"a preparation pool needs at least 2 workers, got {size}")
        self.size = size
        self._scheduler = scheduler
        self._next_job = 0
        self._workers: list[_Handle] = []
        self._launcher = launcher
        self._units: dict[int, _Unit] = {}
        self._next_unit = 0
        self._home: dict[str, int] = {}  # item id -> the worker that holds its caches
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Have the launcher fork the workers (started here unless the run started one
        early; off the event loop: starting a process takes a moment). Units may be
        sent at once: they wait in the sockets while the launcher imports."""
        self._loop = asyncio.get_running_loop()
        self._workers = await asyncio.to_thread(self._spawn)
        for w in self._workers:
            threading.Thread(
                target=self._read, args=(w,), name=f"chainlang-prep-{w.index}", daemon=True
            ).start()

    def _spawn(self) -> list[_Handle]:
        launcher = self._launcher = self._launcher or Launcher()
        handles = [_Handle(i, *launcher.fork()) for i in range(self.size)]
        launcher.done_forking()
        return handles

    def job(self, program: ir.Program, settings: Settings, batch_items: int | None) -> Job:
        """Register a run's program and settings; its units name the job."""
        self._next_job += 1
        return Job(self._next_job, program, settings, batch_items)

    async def run_unit(self, job: Job, items: list[tuple[Item, int]], on_item: OnItem) -> None:
        """Evaluate ``items`` (one unit of ``job``) in a worker; ``on_item`` gets each
        result as it arrives, on the event loop.

        Raises:
            RunError, UsageError: a run-wide stop met by one of the items, or a worker
                that failed or died.
        """
        assert self._loop is not None, "start() the pool first"
        worker = self._choose(items)
        unit_id = self._next_unit
        self._next_unit += 1
        unit = _Unit(items, on_item, self._loop.create_future(), len(items))
        self._units[unit_id] = unit
        worker.units.add(unit_id)
        worker.load += len(items)
        try:
            if job.id not in worker.jobs:
                worker.jobs.add(job.id)
                self._send(worker, ("job", job.id, job.program, job.settings, job.batch_items))
            self._send(worker, ("unit", unit_id, job.id, items))
            await unit.done
        finally:
            worker.load -= len(items)
            worker.units.discard(unit_id)
            del self._units[unit_id]

    def _choose(self, items: list[tuple[Item, int]]) -> _Handle:
        """The least loaded worker, or the one that evaluated this item before (another
        sample of it) while that one is not busier than the rest: its caches hold the
        item's superpixels and encodings."""
        live = [w for w in self._workers if not w.lost]
        if not live:
            raise RunError("every preparation worker stopped; rerun to resume (or --workers 1)")
        least = min(live, key=lambda w: w.load)
        home = self._home.get(items[0][0].id)
        chosen = least
        if home is not None and not self._workers[home].lost:
            if self._workers[home].load <= least.load + 1:
                chosen = self._workers[home]
        for item, _ in items:
            self._home[item.id] = chosen.index
        return chosen

    async def aclose(self) -> None:
        """Stop every worker (asked to close, then terminated if it lingers)."""
        for w in self._workers:
            for task in list(w.asks.values()):
                task.cancel()
            self._send(w, ("close",))
        await asyncio.to_thread(self._join)

    def _join(self) -> None:
        if self._launcher is not None:
            self._launcher.close()
        for w in self._workers:
            w.conn.close()

    # ------------------------------------------------------------ messages

    def _send(self, w: _Handle, msg: tuple[Any, ...]) -> None:
        if w.outbox:
            self._flush(w)  # what was posted before goes first
        if w.lost:
            return
        try:
            poolwire.send(w.conn, msg)
        except (BrokenPipeError, OSError):
            pass  # the worker is gone: its reader reports it

    def _post(self, w: _Handle, msg: tuple[Any, ...]) -> None:
        """Send ``msg`` with the others posted in this turn of the loop, as one message.

        A worker asks a loop's questions at once and their answers come back close
        together: one message (one pickle, one write, one wake-up on each side) per
        turn instead of per answer cut the run's own CPU per question by a quarter.
        """
        w.outbox.append(msg)
        if len(w.outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush, w)

    def _flush(self, w: _Handle) -> None:
        batch, w.outbox = w.outbox, []
        if batch:
            self._send(w, ("batch", batch))

    def _read(self, w: _Handle) -> None:
        """A worker's messages, received (and unpickled) off the event loop."""
        assert self._loop is not None
        while True:
            try:
                msg = poolwire.recv(w.conn)
            except (EOFError, OSError):
                break
            try:
                self._loop.call_soon_threadsafe(self._on_message, w, msg)
            except RuntimeError:  # the loop is closed: the run is over
                return
        w.process.exited.wait(1.0)  # for its exit code
        try:
            self._loop.call_soon_threadsafe(self._on_lost, w)
        except RuntimeError:
            return

    def _on_message(self, w: _Handle, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "batch":
            for one in msg[1]:
                self._on_message(w, one)
        elif kind == "ask":
            ask_id: int = msg[1]
            task = asyncio.get_running_loop().create_task(self._answer(w, ask_id, msg[2]))
            w.asks[ask_id] = task
            task.add_done_callback(lambda _task: w.asks.pop(ask_id, None))
        elif kind == "cancel":
            asked = w.asks.get(msg[1])
            if asked is not None:
                asked.cancel()
        elif kind == "item":
            self._on_item(msg[1], msg[2], msg[3])
        elif kind == "fatal":
            self._fail(msg[1], RUN_WIDE.get(msg[2], RunError)(_fatal_message(msg[2], msg[3])))

    def _on_item(self, unit_id: int, index: int, result: ItemResult) -> None:
        unit = self._units.get(unit_id)
        if unit is None or unit.done.done():
            return
        item, sample = unit.items[index]
        try:
            unit.on_item(item, sample, result)
        except BaseException as err:  # e.g. the run folder cannot be written: stop the run
            unit.done.set_exception(err)
            return
        unit.left -= 1
        if unit.left == 0:
            unit.done.set_result(None)

    def _fail(self, unit_id: int, err: Exception) -> None:
        unit = self._units.get(unit_id)
        if unit is not None and not unit.done.done():
            unit.done.set_exception(err)

    def _on_lost(self, w: _Handle) -> None:
        if w.lost:
            return
        w.lost = True
        for task in list(w.asks.values()):
            task.cancel()
        code = w.process.returncode
        for unit_id in list(w.units):
            self._fail(
                unit_id,
                RunError(
                    f"preparation worker {w.index} stopped (exit code {code}); "
                    "rerun to resume the items it had"
                ),
            )

    async def _answer(self, w: _Handle, ask_id: int, request: Any) -> None:
        """Ask the run's scheduler and send the outcome back to the worker."""
        try:
            outcome = await self._scheduler.ask(request)
        except (RunError, UsageError) as err:
            self._post(w, ("refused", ask_id, type(err).__name__, str(err)))
            return
        except Exception as err:  # a bug on this side: the worker's item stops the run
            self._post(w, ("refused", ask_id, "internal", repr(err)))
            return
        self._post(w, ("outcome", ask_id, outcome))


@dataclass
class _Shared:
    pool: PrepPool
    started: asyncio.Future[None]
    users: int = 0


# The pools in use, by the scheduler they ask through: the runs of a sweep share one
# scheduler, so they share one pool instead of starting one per cell on the same cores.
_SHARED: dict[int, _Shared] = {}


@contextlib.asynccontextmanager
async def shared_pool(
    scheduler: Any, size: int, launcher: Launcher | None = None
) -> AsyncIterator[PrepPool]:
    """The pool of ``scheduler``'s runs: started by the first run that needs it (with
    ``size`` workers, forked by ``launcher`` if the run started one), closed when the
    last run using it ends."""
    entry = _SHARED.get(id(scheduler))
    if entry is not None and launcher is not None:
        await asyncio.to_thread(launcher.close)  # the pool has its own
    if entry is None:
        pool = PrepPool(size, scheduler, launcher)
        entry = _Shared(pool, asyncio.ensure_future(pool.start()))
        _SHARED[id(scheduler)] = entry
    entry.users += 1
    try:
        await asyncio.shield(entry.started)
        yield entry.pool
    finally:
        entry.users -= 1
        if entry.users == 0:
            del _SHARED[id(scheduler)]
            await entry.pool.aclose()


def _fatal_message(kind: str, message: str) -> str:
    if kind in RUN_WIDE:
        return message
    return f"a preparation worker failed (rerun with --workers 1 to see it here):\n{message}"
