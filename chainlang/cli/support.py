"""Pieces shared by the CLI command modules: exit codes, NAME=VALUE pairs, error guard,
and stopping cleanly on SIGINT (Ctrl-C) or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

from chainlang.errors import CompileError, UsageError

T = TypeVar("T")
Sub = argparse._SubParsersAction
EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE, EXIT_FAILED, EXIT_BUSY = 0, 1, 2, 3, 4
EXIT_BUDGET = 5  # `run` stopped because --max-cost had no room for the next question
# Interrupted by signal N exits 128 + N, as shells report it: 130 for SIGINT, 143 for SIGTERM.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments of ``flag`` as a dict; a malformed one is a UsageError."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{flag} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def guard(fn: Any) -> Any:
    """Print compile errors as diagnostics (exit 1) instead of a one-line message."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except CompileError as err:
            print(str(err), file=sys.stderr)
            return EXIT_DIAGNOSTICS

    return wrapped


class Interrupted(KeyboardInterrupt):
    """The command was stopped by SIGINT or SIGTERM.

    Attributes:
        signum: the first stop signal received.
        during: an error the run ended with after the signal (None: it stopped cleanly).
    """

    def __init__(self, signum: int, during: BaseException | None = None) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.during = during

    @property
    def exit_code(self) -> int:
        """128 + the signal number."""
        return 128 + self.signum


def exit_code(stopped: KeyboardInterrupt) -> int:
    """The exit status of a command ended by ``stopped``: 128 + the first stop signal."""
    if isinstance(stopped, Interrupted):
        return stopped.exit_code
    first = _active.signum if _active is not None else None
    return 128 + (first or signal.SIGINT)


@dataclass
class StopRequest:
    """What the stop-signal handler knows: the first signal, and the task it cancels."""

    signum: int | None = None
    task: asyncio.Task[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Cancel the run's task (it cleans up and ends); elsewhere, stop as Ctrl-C would."""
        if self.signum is None:
            self.signum = signum
        task, loop = self.task, self.loop
        if task is not None and loop is not None and not task.done():
            # What asyncio.run does for SIGINT: cancel the main task from the handler, then
            # wake the loop in case it sleeps in select() with a long timeout.
            task.cancel()
            loop.call_soon_threadsafe(lambda: None)
            return
        if self.loop is not None:
            return  # the run's task has not started or has ended: raised after the loop
        sigint = signal.getsignal(signal.SIGINT)
        if callable(sigint) and sigint not in (self.on_signal, signal.default_int_handler):
            # Another asyncio.run's own Ctrl-C handler: it cancels that run cleanly.
            sigint(signal.SIGINT, frame)
            return
        raise Interrupted(self.signum)


_active: StopRequest | None = None  # the request of the innermost ``stop_signals`` block


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Handle SIGTERM like Ctrl-C while the block runs (SIGINT keeps Python's handling,
    except inside :func:`run_until_stopped`).

    Off the main thread (where handlers cannot be set) signals keep their defaults.
    """
    global _active
    stop, outer = StopRequest(), _active
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, stop.on_signal)
    _active = stop
    try:
        yield stop
    finally:
        _active = outer
        signal.signal(signal.SIGTERM, previous)


def ignore_stop_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on: for a process that has finished its command
    and is exiting with its status, which a late signal would replace by a death."""
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def run_until_stopped(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in a new event loop; SIGINT or SIGTERM cancels it and raises
    :class:`Interrupted`.

    The coroutine's cleanup (``finally`` blocks: summary, journal, run-folder lock)
    runs before this returns. An error the cancelled run ends with instead of
    ``CancelledError`` is kept in ``Interrupted.during``.
    """
    with stop_signals() as stop:
        if threading.current_thread() is not threading.main_thread():
            return asyncio.run(coro)  # no handlers here: plain asyncio behaviour
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, stop.on_signal)
        try:
            result = asyncio.run(_until_stopped(coro, stop))
        finally:
            signal.signal(signal.SIGINT, previous)
            stop.loop = None
        if stop.signum is not None:
            raise Interrupted(stop.signum)  # the signal came just as the run ended
        return result


async def _until_stopped(coro: Coroutine[Any, Any, T], stop: StopRequest) -> T:
    stop.task, stop.loop = asyncio.current_task(), asyncio.get_running_loop()
    try:
        if stop.signum is not None:
            coro.close()
            raise asyncio.CancelledError  # signalled as the loop started
        return await coro
    except BaseException as err:
        if stop.signum is None:
            raise
        during = None if isinstance(err, asyncio.CancelledError) else err
        raise Interrupted(stop.signum, during) from None
    finally:
        stop.task = None
