"""A preparation worker: one process of the pool that evaluates dataset items.

The run's process sends the worker units of items; the worker runs the chain's
interpreter on each (superpixels, markers, crops, grids, oracle clauses) and,
for every question, draws and encodes the request's images itself and sends
the request back with the encoded bytes in place of the pixels
(:class:`~chainlang.vision.encode.EncodedImage`). The run's process asks the
question through the one scheduler (journal, limits, budget) and sends back its
:class:`~chainlang.runtime.outcome.Outcome`. When an item ends the worker sends
its :class:`~chainlang.runtime.itemrun.ItemResult` (value, questions, error).

So the image work and its caches (the superpixel maps, the encoder memo) live
in the worker that evaluates the item, and the run's event loop only moves
small messages. Workers are forked by the pool's launcher
(:mod:`chainlang.runtime.prep_launch`) once it has imported what evaluating items
needs; a worker loads no provider SDK, journal or run folder.

Messages are tuples. From the run: ``("job", job, program, settings, batch_items)``
once per run before its first unit (a sweep's runs share the pool: one job each),
``("unit", id, job, [(item, sample), ...])``, ``("outcome", ask, outcome)``,
``("refused", ask, kind, message)``, ``("close",)``.
To the run: ``("ask", ask, request)``, ``("cancel", ask)``,
``("item", unit, index, result)``, ``("fatal", unit, kind, message)``.
Either side sends the asks/cancels or outcomes/refusals of one turn of its event loop
together, as ``("batch", [message, ...])``.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from chainlang.data.manifest import Item
from chainlang.errors import RunError, UsageError
from chainlang.language import ir
from chainlang.language.types import ImageT
from chainlang.providers.base import ImagePart, Message, ModelRequest
from chainlang.providers.capabilities import image_policy, target_size
from chainlang.providers.specs import find_spec
from chainlang.runtime import poolwire
from chainlang.runtime.interpreter import Settings
from chainlang.runtime.itemrun import evaluate_item, result_key, unit_batchers
from chainlang.runtime.outcome import Outcome
from chainlang.vision.encode import EncodedImage, EncodePolicy, Encoder, EncodingKey

RUN_WIDE = {"RunError": RunError, "UsageError": UsageError}


def serve(conn: Connection) -> None:
    """Serve units of the run's jobs until the run closes the connection."""
    # Ctrl-C reaches every process of the terminal's group: the run's process stops the
    # pool in order, so a worker must not die of it first (nor print a traceback).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_Worker(conn).serve())


class _Worker:
    """Evaluates units of items; is also the scheduler its interpreters ask."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._jobs: dict[int, tuple[ir.Program, Settings, int | None]] = {}
        self._encoder = Encoder()  # this worker's images, encoded once per size and policy
        self._pending: dict[int, asyncio.Future[Outcome]] = {}
        self._next_ask = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._outbox: list[tuple[Any, ...]] = []  # asks and cancels of this loop turn
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed: asyncio.Future[None] | None = None

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closed = self._loop.create_future()
        threading.Thread(target=self._read, name="chainlang-prep-reader", daemon=True).start()
        await self._closed
        for task in list(self._tasks):
            task.cancel()

    def _read(self) -> None:
        """Receive messages (unpickling off the loop) and hand them to the loop."""
        assert self._loop is not None
        while True:
            try:
                msg = poolwire.recv(self._conn)
            except (EOFError, OSError):
                msg = ("close",)  # the run's process is gone: stop
            self._loop.call_soon_threadsafe(self._on_message, msg)
            if msg[0] == "close":
                return

    def _on_message(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "batch":
            for one in msg[1]:
                self._on_message(one)
        elif kind == "job":
            self._jobs[msg[1]] = (msg[2], msg[3], msg[4])
        elif kind == "unit":
            unit = self._run_unit(msg[1], *self._jobs[msg[2]], msg[3])
            task = asyncio.get_running_loop().create_task(unit)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind in ("outcome", "refused"):
            future = self._pending.pop(msg[1], None)
            if future is None or future.done():
                return  # the asking item was cancelled meanwhile
            if kind == "outcome":
                future.set_result(msg[2])
            else:
                future.set_exception(RUN_WIDE.get(msg[2], RuntimeError)(msg[3]))
        elif kind == "close" and self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def _send(self, msg: tuple[Any, ...]) -> None:
        if self._outbox:
            self._flush()  # what was posted before goes first
        try:
            poolwire.send(self._conn, msg)
        except (BrokenPipeError, OSError):  # the run's process is gone; _read stops us
            pass

    def _post(self, msg: tuple[Any, ...]) -> None:
        """Send ``msg`` with the others posted in this turn of the loop, as one message:
        a loop's questions are asked together (see ``PrepPool._post``)."""
        assert self._loop is not None
        self._outbox.append(msg)
        if len(self._outbox) == 1:
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        batch, self._outbox = self._outbox, []
        if batch:
            self._send(("batch", batch))

    # ------------------------------------------------------------ the scheduler seen here

    async def ask(self, request: ModelRequest) -> Outcome:
        """Have the run's scheduler answer ``request`` (its images encoded here)."""
        assert self._loop is not None
        ask_id = self._next_ask
        self._next_ask += 1
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._pending[ask_id] = future
        self._post(("ask", ask_id, self._shippable(request)))
        try:
            return await future
        except asyncio.CancelledError:
            # A sibling failed the item: the run need not finish this question for us.
            self._pending.pop(ask_id, None)
            self._post(("cancel", ask_id))
            raise

    def _shippable(self, request: ModelRequest) -> ModelRequest:
        """``request`` with each image replaced by its encodings for the request's model.

        Image-generation asks keep their pixels (their inputs are sent as full PNGs
        and may be edited); a provider without a spec keeps them too (its image rule
        is unknown here). Simulated answerers read only an image's digest and size.
        """
        if isinstance(request.answer_type, ImageT):
            return request
        spec = find_spec(request.model.provider)
        if spec is None:
            return request
        messages = tuple(
            Message(m.role, tuple(self._part(p, request, not spec.simulated) for p in m.parts))
            for m in request.messages
        )
        return replace(request, messages=messages)

    def _part(self, part: Any, request: ModelRequest, encode: bool) -> Any:
        if not isinstance(part, ImagePart) or isinstance(part.image, EncodedImage):
            return part
        encodings: dict[EncodingKey, bytes] = {}
        if encode:
            policy = image_policy(request.model, part.detail)
            fmt = EncodePolicy(format=policy.fmt)  # type: ignore[arg-type]  # checked by image_policy
            target = target_size(part.image.size, policy)
            limits = {"max_long": policy.max_long, "max_short": policy.max_short}
            encodings[(target, fmt)] = self._encoder.encode(
                part.image, fmt, **limits, max_pixels=policy.max_pixels
            )
        return replace(part, image=EncodedImage.stand_in(part.image, encodings))

    # ------------------------------------------------------------ items

    async def _run_unit(
        self,
        unit_id: int,
        program: ir.Program,
        settings: Settings,
        batch_items: int | None,
        unit: list[tuple[Item, int]],
    ) -> None:
        keys = [result_key(i.id, s) for i, s in unit]
        batchers = unit_batchers(program, keys, batch_items)

        async def one(index: int, item: Item, sample: int) -> None:
            try:
                result = await evaluate_item(program, settings, self, item, sample, batchers)
            except (RunError, UsageError) as err:
                self._send(("fatal", unit_id, type(err).__name__, str(err)))
            except Exception:  # a bug: the run stops and shows where
                self._send(("fatal", unit_id, "internal", traceback.format_exc()))
            else:
                self._send(("item", unit_id, index, result))

        await asyncio.gather(*(one(n, i, s) for n, (i, s) in enumerate(unit)))
