"""Coalescing asks of different dataset items into one keyed request.

Classification sends B images per call (B = 100 in the paper), one image per
dataset item. The driver splits the dataset into fixed chunks of B items in
manifest order and gives each chunk an :class:`ItemBatcher`; each item's
evaluation reaches the ``batch items`` ask and waits; when every live item of
the chunk has arrived (or finished without arriving), one request is sent and
each item gets its own keyed answer.

Chunks are fixed by dataset order, never by arrival order, so a resumed run
builds byte-identical requests and finds them in the journal.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainlang.language import ir
    from chainlang.runtime.interpreter import Interpreter, ItemContext


class ItemBatcher:
    """Collects one ask per item of a chunk and sends them as one request."""

    def __init__(self, order: list[str]) -> None:
        self._rank = {item_id: i for i, item_id in enumerate(order)}
        self._expected = set(order)
        self._waiting: dict[str, tuple[dict[str, Any], ItemContext, asyncio.Future[Any]]] = {}
        self._target: tuple[Interpreter, ir.Ask] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def ask(
        self, interp: Interpreter, e: ir.Ask, env: dict[str, Any], ctx: ItemContext
    ) -> Any:
        """Wait for the chunk's request and return this item's answer."""
        if ctx.item_id in self._waiting:
            raise RuntimeError(f"item {ctx.item_id} reached a 'batch items' ask twice")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ctx.item_id] = (env, ctx, future)
        self._target = (interp, e)
        self._maybe_send()
        return await future

    def finished(self, item_id: str) -> None:
        """An item ended (or failed) without needing the batched ask."""
        if item_id not in self._waiting:
            self._expected.discard(item_id)
            self._maybe_send()

    def _maybe_send(self) -> None:
        if self._target is None or set(self._waiting) != self._expected or not self._waiting:
            return
        interp, e = self._target
        ordered = sorted(self._waiting.items(), key=lambda kv: self._rank[kv[0]])
        self._target = None
        task = asyncio.get_running_loop().create_task(self._send(interp, e, ordered))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self,
        interp: Interpreter,
        e: ir.Ask,
        ordered: list[tuple[str, tuple[dict[str, Any], ItemContext, asyncio.Future[Any]]]],
    ) -> None:
        scopes = [env for _, (env, _, _) in ordered]
        ctxs = [ctx for _, (_, ctx, _) in ordered]
        futures = [fut for _, (_, _, fut) in ordered]
        try:
            values = await interp.ask_many(e, scopes, ctxs)
        except BaseException as err:  # every waiting item learns why, then it propagates
            for fut in futures:
                if not fut.done():
                    fut.set_exception(err)
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        for fut, value in zip(futures, values, strict=True):
            if not fut.done():
                fut.set_result(value)
