"""Time, injected: the scheduler and the limiters never read the wall clock directly.

A :class:`Clock` has ``now()`` and ``sleep()``. :class:`LoopClock` reads the
running event loop's time, so ``asyncio.timeout`` and the limiters agree on
what "now" is. :class:`VirtualTimeLoop` is an event loop whose time only moves
when every task is waiting on a timer: it jumps straight to the next timer.
Running the scheduler on it makes a minute of rate-limited traffic take
milliseconds and makes timing-dependent behaviour reproducible, which is why
the limiter and retry properties are tested on it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar, TypeVarTuple, Unpack

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Clock(Protocol):
    """Monotonic time in seconds plus a matching sleep."""

    def now(self) -> float:
        """Current time in seconds (monotonic, arbitrary origin)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class LoopClock:
    """The running event loop's clock (real time on a normal loop, virtual on a virtual one)."""

    def now(self) -> float:
        """Return ``loop.time()`` of the running loop."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` (a zero or negative delay still yields once)."""
        await asyncio.sleep(max(0.0, seconds))


class _JumpingSelector(selectors.BaseSelector):
    """Wraps a real selector; when the loop would block on a timer, moves virtual time instead."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._inner = inner
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._loop.threads_busy:
            # A worker thread will wake the loop through its self-pipe; jumping time now
            # would fire timeouts that real work has not had the chance to beat.
            return self._inner.select(timeout)
        events = self._inner.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            return self._inner.select(None)
        self._loop.advance(timeout)
        return []

    def close(self) -> None:
        self._inner.close()

    def get_map(self) -> Any:
        return self._inner.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer whenever nothing else can run.

    Real I/O still works (it is polled without blocking), but time spent waiting on
    sockets is not counted; use it for code whose waiting is timers, not network.
    """

    def __init__(self) -> None:
        self._virtual_now = 0.0
        self.threads_busy = 0
        inner = selectors.DefaultSelector()
        super().__init__(inner)
        self._selector = _JumpingSelector(inner, self)
        self._clock_resolution = 1e-6  # absorbs float error when jumping to a timer

    def time(self) -> float:
        """Virtual seconds since the loop was made."""
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds``."""
        self._virtual_now += max(0.0, seconds)

    def run_in_executor(
        self,
        executor: Executor | None,
        func: Callable[[Unpack[Ts]], T],
        *args: *Ts,
    ) -> asyncio.Future[T]:
        """Run ``func`` in a thread; time stays put until it finishes."""
        self.threads_busy += 1
        fut = super().run_in_executor(executor, func, *args)
        fut.add_done_callback(self._thread_done)
        return fut

    def _thread_done(self, _fut: asyncio.Future[Any]) -> None:
        self.threads_busy -= 1


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop` and close it."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
