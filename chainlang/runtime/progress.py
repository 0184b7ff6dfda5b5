"""Progress reporting: the scheduler reports into an observer; renderers show it.

:class:`ProgressObserver` is the small interface the scheduler calls
(``on_start``, ``on_retry``, ``on_done``). :class:`Tally` accumulates the
numbers; :class:`RichProgress` draws them live on a terminal and
:class:`PlainProgress` prints one line every few seconds when output is not a
TTY (CI logs, ``nohup``). :func:`make_progress` picks one.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from chainlang.providers.base import ModelRequest
from chainlang.runtime.outcome import Outcome

# Retry waits at least this long are shown in the progress line.
LONG_WAIT_S = 5.0


class ProgressObserver(Protocol):
    """What the scheduler reports while it works."""

    def on_start(self, request: ModelRequest) -> None:
        """A question was submitted."""
        ...

    def on_retry(self, kind: str, delay: float) -> None:
        """An attempt failed with ``kind`` and will be retried after ``delay`` seconds."""
        ...

    def on_done(self, outcome: Outcome) -> None:
        """A question finished (answered, failed, or served from the cache)."""
        ...


@dataclass
class Tally:
    """Running totals of a run (one per run; not shared between runs).

    ``total`` is the number of questions expected, possibly an upper bound (chains
    with loops or ``else skip`` may ask fewer); None if unknown. ``estimated``: the
    total rests on an estimate (e.g. K superpixels taken as the ``n`` requested, which
    SLIC may exceed), so it is shown as ``~N``, never as the bound ``≤N``.
    """

    total: int | None = None
    started: int = 0
    done: int = 0
    cached: int = 0
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0  # answers from models whose price is unknown
    started_at: float = field(default_factory=time.monotonic)
    estimated: bool = False
    # The longest retry wait still running (kind, until), shown so a long Retry-After
    # does not look like a stalled run.
    waiting: tuple[str, float] | None = None

    def on_start(self, request: ModelRequest) -> None:
        self.started += 1

    def on_retry(self, kind: str, delay: float) -> None:
        self.retries += 1
        until = time.monotonic() + delay
        if delay >= LONG_WAIT_S and (self.waiting is None or until > self.waiting[1]):
            self.waiting = (kind, until)

    def wait_note(self, now: float | None = None) -> str:
        """``", waiting 87s (rate_limit)"`` while a long retry wait runs, else ``""``."""
        if self.waiting is None:
            return ""
        kind, until = self.waiting
        left = until - (now if now is not None else time.monotonic())
        return f", waiting {left:.0f}s ({kind})" if left >= 1.0 else ""

    def on_done(self, outcome: Outcome) -> None:
        self.done += 1
        self.cached += outcome.cached
        if not outcome.ok and outcome.failure_kind:
            self.failures[outcome.failure_kind] += 1
        if outcome.cached:
            return  # paid by an earlier invocation: its tokens and dollars are not paid now
        self.input_tokens += outcome.usage.input_tokens
        self.output_tokens += outcome.usage.output_tokens
        if outcome.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += outcome.cost_usd

    def rate(self, now: float | None = None) -> float:
        """Questions finished per second since the start."""
        elapsed = (now if now is not None else time.monotonic()) - self.started_at
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left at the current rate (None if unknown)."""
        rate = self.rate(now)
        if self.total is None or rate <= 0:
            return None
        return max(0, self.total - self.done) / rate

    def shown_total(self) -> str:
        """``≤N`` (a bound), ``~N`` (an estimate) or ``?``."""
        if self.total is None:
            return "?"
        return f"{'~' if self.estimated else '≤'}{self.total}"

    def line(self, now: float | None = None) -> str:
        """A one-line summary: done/total, cache hits, failures, tokens, dollars, rate, ETA."""
        total = self.shown_total()
        fails = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        cost = f"${self.cost_usd:.4f}" + (f" (+{self.unpriced} unpriced)" if self.unpriced else "")
        eta = self.eta_s(now)
        eta_s = "?" if eta is None else f"{eta:.0f}s"
        return (
            f"{self.done}/{total} questions, {self.cached} cached, failures: {fails}, "
            f"retries {self.retries}, tokens {self.input_tokens}+{self.output_tokens}, {cost}, "
            f"{self.rate(now):.1f}/s, ETA {eta_s}{self.wait_note(now)}"
        )


class PlainProgress(Tally):
    """Prints :meth:`Tally.line` at most every ``every_s`` seconds (and at the end)."""

    def __init__(
        self,
        total: int | None,
        stream: IO[str],
        every_s: float = 10.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(total=total, started_at=now())
        self._stream = stream
        self._every = every_s
        self._now = now
        self._last = now()

    def on_done(self, outcome: Outcome) -> None:
        super().on_done(outcome)
        t = self._now()
        if t - self._last >= self._every:
            self._last = t
            self._emit(t)

    def on_retry(self, kind: str, delay: float) -> None:
        already = bool(self.wait_note())
        super().on_retry(kind, delay)
        # A long wait finishes no question for a while: say so when it begins, not at
        # the next answer (once per wait, not once per question that waits).
        if delay >= LONG_WAIT_S and not already:
            self._emit(self._now())

    def close(self) -> None:
        """Print the final line."""
        self._emit(self._now())

    def _emit(self, t: float) -> None:
        print(self.line(t), file=self._stream, flush=True)


class RichProgress(Tally):
    """A live rich display of the run's totals (use as a context manager)."""

    def __init__(self, total: int | None, console: Any | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        super().__init__(total=total)
        self._console = console or Console(stderr=True)
        # Drawn at the refresh rate from the live counts, not rebuilt for every question.
        self._live = Live(
            console=self._console,
            refresh_per_second=4,
            transient=False,
            get_renderable=self._render,
        )

    def __enter__(self) -> RichProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Draw the final state and stop the live display."""
        self._live.refresh()
        self._live.stop()

    def _render(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        total = self.shown_total()
        eta = self.eta_s()
        table.add_row("questions", f"{self.done}/{total}", "cached", str(self.cached))
        fails = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        table.add_row("failures", fails, "retries", str(self.retries))
        cost = f"${self.cost_usd:.4f}" + (f" (+{self.unpriced} unpriced)" if self.unpriced else "")
        table.add_row("tokens", f"{self.input_tokens} in / {self.output_tokens} out", "cost", cost)
        table.add_row("rate", f"{self.rate():.1f}/s", "ETA", "?" if eta is None else f"{eta:.0f}s")
        if note := self.wait_note():
            table.add_row("retry", note.removeprefix(", "), "", "")
        return table


def make_progress(total: int | None, stream: IO[str] | None = None, every_s: float = 10.0) -> Tally:
    """A :class:`RichProgress` on a terminal, otherwise a :class:`PlainProgress`.

    Call ``close()`` on the result when the run ends (RichProgress must also be started
    with ``__enter__`` or used in a ``with`` block).
    """
    stream = stream or sys.stderr
    if stream.isatty():
        return RichProgress(total)
    return PlainProgress(total, stream, every_s)
