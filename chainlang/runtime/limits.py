"""Per-(provider, model) limits: concurrency, requests per minute, tokens per minute.

Every question to one model passes through that model's :class:`ModelLimiter`:

1. an adjustable semaphore bounds how many calls are in flight;
2. a token bucket of requests spaces call starts (``rpm``; burst of one request,
   so no minute ever sees more than ``rpm`` starts);
3. a token bucket of tokens (``tpm``) is charged the *estimated* tokens of the
   call before it starts and corrected by the reported usage afterwards.

With no ``rpm`` configured the limiter adapts instead (AIMD): it starts slowly,
and on a 429 that the send rate caused it halves its request rate and its
concurrency window, waits the ``Retry-After`` the provider asked for, then grows
both back a little with every success. A 429 counts as caused by the rate only on
evidence: a ``Retry-After``, rate-limit headers saying the quota is spent, or 429s
clustered among the latest answers. A lone 429 without such evidence, and every
overload answer (529, 503: kind ``server``), only delays the call that got it (the
retry policy's backoff); the model's rate is left alone. Once no rate-caused 429
has come for ``recover_s``, rate and window grow quickly back to where they were
before the last decrease. All waiting goes through an injected :class:`Clock`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from chainlang.errors import UsageError
from chainlang.providers.base import ModelRef
from chainlang.runtime.clock import Clock


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """Limits for one model. ``None`` means "not limited" (``rpm=None`` means adaptive)."""

    concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, got {self.concurrency}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UsageError(f"{name} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """User limits: an optional default plus per-model overrides keyed by glob patterns.

    Patterns match ``provider:model`` (``"openai:gpt-4o*"``) or the bare model name
    (``"gpt-4o*"``); the longest matching pattern wins, and fields it leaves out
    fall back to the default. With no user default, each model starts from the
    defaults of the price table (``models.toml``), then the built-in ones.
    """

    default: ModelLimits | None = None
    per_model: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @staticmethod
    def from_mapping(data: Mapping[str, Any]) -> LimitsConfig:
        """Build from ``{"default": {...}, "models": {"pattern": {...}}}`` (a TOML table).

        Raises:
            UsageError: unknown keys or bad values, naming the offending entry.
        """
        unknown = set(data) - {"default", "models"}
        if unknown:
            raise UsageError(f"unknown keys in limits config: {sorted(unknown)}")
        default = None
        if "default" in data:
            default = _limits_from(ModelLimits(), data["default"], "default")
        models = dict(data.get("models", {}))
        for pattern, entry in models.items():
            _limits_from(default or ModelLimits(), entry, pattern)  # validate eagerly
        return LimitsConfig(default, models)

    def for_model(self, ref: ModelRef, base: ModelLimits | None = None) -> ModelLimits:
        """The limits that apply to ``ref``; ``base`` holds the model table's defaults."""
        start = self.default or base or ModelLimits()
        spec = f"{ref.provider}:{ref.model}"
        matches = [
            p
            for p in self.per_model
            if fnmatch.fnmatchcase(spec, p) or fnmatch.fnmatchcase(ref.model, p)
        ]
        if not matches:
            return start
        best = max(matches, key=len)
        return _limits_from(start, self.per_model[best], best)


_LIMIT_KEYS = frozenset({"concurrency", "rpm", "tpm"})


def _limits_from(base: ModelLimits, entry: Mapping[str, Any], where: str) -> ModelLimits:
    unknown = set(entry) - _LIMIT_KEYS
    if unknown:
        raise UsageError(
            f"limits for {where!r}: unknown keys {sorted(unknown)} (use {sorted(_LIMIT_KEYS)})"
        )
    try:
        return replace(base, **{k: entry[k] for k in entry})
    except TypeError as e:
        raise UsageError(f"limits for {where!r}: {e}") from e


RPM_HEADROOM = 0.98
# Questions of a batch-dispatched model that may wait at once (a batch holds them all).
UNMETERED_CONCURRENCY = 1_000_000


class TokenBucket:
    """A token bucket on an injected clock, served first-come first-served.

    ``acquire(n)`` waits until ``n`` tokens are there and takes them. A request for
    more than the capacity waits for a full bucket and then goes (the balance goes
    negative), so oversized calls are slowed, never stuck. ``debit`` and ``refund``
    correct the balance after the fact (estimated vs reported tokens).
    """

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock) -> None:
        self.rate = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._last: float | None = None
        self._lock = asyncio.Lock()  # FIFO: big requests are not starved by small ones

    def _refill(self) -> float:
        now = self._clock.now()
        if self._last is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return now

    async def acquire(self, n: float = 1.0) -> None:
        """Wait until ``n`` tokens (at most the capacity) are available, then take ``n``."""
        async with self._lock:
            need = min(n, self.capacity)
            while True:
                self._refill()
                if self._tokens >= need - 1e-6:
                    self._tokens -= n
                    return
                # A floor on the wait: a shortfall too small to move the clock would spin.
                await self._clock.sleep(max(1e-6, (need - self._tokens) / self.rate))

    def debit(self, n: float) -> None:
        """Take ``n`` more tokens (may go negative: later callers wait longer)."""
        self._refill()
        self._tokens -= n

    def set_rate(self, rate_per_s: float) -> None:
        """Change the refill rate from now on."""
        self._refill()
        self.rate = rate_per_s


class AdjustableSemaphore:
    """A FIFO semaphore whose limit can change while tasks hold or wait for it."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def held(self) -> int:
        """How many slots are taken now."""
        return self._held

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        """Change the limit; lowering it lets current holders finish, raising it wakes waiters."""
        self._limit = max(1, limit)
        self._wake()

    async def acquire(self) -> None:
        """Take a slot, waiting in line if none is free."""
        if self._held < self._limit and not self._waiters:
            self._held += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed a slot just as we were cancelled
            elif fut in self._waiters:
                # A release between our cancellation and now may already have dropped
                # the cancelled future from the line (``_wake`` skips done ones).
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        """Give a slot back."""
        self._held -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._held < self._limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self._held += 1
                fut.set_result(None)


@dataclass(frozen=True, slots=True)
class AdaptiveSettings:
    """Tuning of the AIMD controller used when a model has no ``rpm``.

    Attributes:
        start_window: concurrency window at the start (slow start doubles it per success
            round until the first 429).
        start_rate: request rate at the start (requests/s). Probing the rate rather than
            only the window keeps the overshoot at the first 429 to about
            ``rate x latency`` calls instead of a whole window of them.
        slow_start_growth: fractional rate growth per success until the first 429.
        slow_start_cap: the window stops growing here until the first 429: every call in
            flight when the first 429 comes back is likely a 429 too.
        decrease: factor applied to rate and window on a 429.
        increase: fractional rate growth per success after the first 429 (0.003 means
            about 230 successes to double, which keeps 429s to a few percent).
        min_rate: floor of the request rate (requests/s).
        observe_s: the shortest span over which the accepted rate is computed.
        memory_s: the trailing window over which the accepted request rate is measured
            (a minute: providers count requests per minute or less).
        default_retry_after: pause after a 429 that did not say how long to wait.
        cluster_size, cluster_429s: a 429 without a ``Retry-After`` or rate-limit headers
            is taken as caused by the rate when at least ``cluster_429s`` of the latest
            ``cluster_size`` answers (this one included) were 429s. Random 429s of about
            one request in seven (a provider's own trouble) rarely cluster like that.
        recover_s: once no rate-caused 429 has come for this long, rate and window grow
            back quickly (by ``slow_start_growth`` per success) to their values before
            the last decrease; the slow additive growth resumes above them.
    """

    start_window: int = 4
    slow_start_cap: int = 24
    start_rate: float | None = None
    slow_start_growth: float = 0.1
    decrease: float = 0.5
    increase: float = 0.003
    min_rate: float = 0.05
    observe_s: float = 1.0
    memory_s: float = 60.0
    default_retry_after: float = 1.0
    cluster_size: int = 8
    cluster_429s: int = 5
    recover_s: float = 15.0


class ModelLimiter:
    """All the limits of one (provider, model): concurrency, request rate, token rate."""

    def __init__(
        self,
        limits: ModelLimits,
        clock: Clock,
        adaptive: AdaptiveSettings | None = None,
        *,
        adapt: bool = True,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._adaptive = adaptive or AdaptiveSettings()
        # Local answerers never answer 429, so there is nothing to adapt to.
        self.is_adaptive = adapt and limits.rpm is None
        start = limits.concurrency
        if self.is_adaptive:
            start = min(start, self._adaptive.start_window)
        self._window = float(start)
        self._sem = AdjustableSemaphore(start)
        self._requests: TokenBucket | None = None
        if limits.rpm is not None:
            # Aim just under the limit: network jitter can bunch evenly spaced starts
            # into one extra arrival per window at the provider.
            self._requests = TokenBucket(limits.rpm * RPM_HEADROOM / 60.0, 1.0, clock)
        elif self.is_adaptive and self._adaptive.start_rate is not None:
            self._requests = TokenBucket(self._adaptive.start_rate, 1.0, clock)
        self._tokens: TokenBucket | None = None
        if limits.tpm is not None:
            # Six seconds' worth of burst: providers enforce TPM over sub-minute windows too.
            self._tokens = TokenBucket(limits.tpm / 60.0, max(1.0, limits.tpm / 10.0), clock)
        self._not_before = -math.inf
        # 429s of calls started before this time do not decrease again: one decrease per
        # congestion event, not one per call that was in flight or queued behind the gate.
        self._epoch = -math.inf
        self._slow_start = self.is_adaptive
        self._accepted: deque[float] = deque()
        self._first_start = math.inf
        # The latest answers, True for a 429: tells clustered 429s from scattered ones.
        self._recent: deque[bool] = deque(maxlen=self._adaptive.cluster_size)
        # Rate and window before the last decrease, and when it happened: what the
        # limiter recovers to once the 429s stop.
        self._before: tuple[float | None, float] | None = None
        self._decreased_at = -math.inf

    @property
    def in_flight(self) -> int:
        return self._sem.held

    @property
    def request_rate(self) -> float | None:
        """The current request rate limit in requests/s (None: not rate-limited yet)."""
        return self._requests.rate if self._requests else None

    @asynccontextmanager
    async def slot(self, estimated_tokens: float) -> AsyncIterator[float]:
        """Hold a call slot; yields the start time. Waits for every limit in turn."""
        await self._sem.acquire()
        try:
            await self._wait_gate()
            if self._requests is not None:
                # A 429 may close the gate while we queue for a request token; then the
                # token goes back and we queue again after the pause, so calls resume
                # spaced by the rate instead of all at once when the gate opens.
                await self._requests.acquire(1.0)
                while self._not_before > self._clock.now():
                    self._requests.debit(-1.0)
                    await self._wait_gate()
                    await self._requests.acquire(1.0)
            if self._tokens is not None:
                await self._tokens.acquire(estimated_tokens)
            await self._wait_gate()
            now = self._clock.now()
            self._first_start = min(self._first_start, now)
            yield now
        finally:
            self._sem.release()

    async def _wait_gate(self) -> None:
        while (delay := self._not_before - self._clock.now()) > 0:
            await self._clock.sleep(delay)

    def correct_tokens(self, estimated: float, actual: float) -> None:
        """Debit (or refund) the difference between reported and estimated tokens."""
        if self._tokens is not None and actual != estimated:
            self._tokens.debit(actual - estimated)

    def on_success(self) -> None:
        """Record an accepted call: the adaptive controller grows rate and window."""
        if not self.is_adaptive:
            return
        now = self._clock.now()
        self._recent.append(False)
        self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - self._adaptive.memory_s:
            self._accepted.popleft()
        cap = self.limits.concurrency
        if self._recovering(now):
            self._recover()
        elif self._slow_start:
            self._window = min(cap, self._adaptive.slow_start_cap, self._window + 1.0)
            if self._requests is not None:
                # Grow towards twice what is actually used, not without bound: a rate far
                # above the traffic tells the next 429 nothing.
                ceiling = max(self._adaptive.start_rate or 0.0, 2.0 * self._accepted_rate(now))
                grown = self._requests.rate * (1.0 + self._adaptive.slow_start_growth)
                self._requests.set_rate(min(grown, max(ceiling, self._requests.rate)))
        else:
            self._window = min(cap, self._window + 1.0 / self._window)
            if self._requests is not None:
                self._requests.set_rate(self._requests.rate * (1.0 + self._adaptive.increase))
        self._sem.set_limit(int(self._window))

    def _recovering(self, now: float) -> bool:
        """True while the last decrease is ``recover_s`` old and not yet undone."""
        if self._before is None or now - self._decreased_at < self._adaptive.recover_s:
            return False
        rate, window = self._before
        below_rate = self._requests is not None and rate is not None and self._requests.rate < rate
        if below_rate or self._window < window:
            return True
        self._before = None  # recovered: additive growth from here
        return False

    def _recover(self) -> None:
        """Grow rate and window multiplicatively towards their values before the decrease."""
        assert self._before is not None
        rate, window = self._before
        growth = 1.0 + self._adaptive.slow_start_growth
        if self._requests is not None and rate is not None:
            self._requests.set_rate(min(rate, self._requests.rate * growth))
        self._window = min(window, self._window + 1.0)

    def _accepted_rate(self, now: float) -> float:
        """Accepted calls per second over the remembered span (at least ``observe_s``)."""
        if not self._accepted:
            return 0.0
        span = min(self._adaptive.memory_s, max(now - self._first_start, self._adaptive.observe_s))
        return len(self._accepted) / span

    def rate_caused(self, retry_after: float | None, exhausted: bool = False) -> bool:
        """Record a 429; True when the evidence says the send rate caused it.

        Evidence: a ``Retry-After``, rate-limit headers saying the quota is spent
        (``exhausted``), or 429s clustered among the latest answers.
        """
        self._recent.append(True)
        if retry_after is not None or exhausted:
            return True
        return sum(self._recent) >= self._adaptive.cluster_429s

    def on_rate_limited(
        self, started_at: float, retry_after: float | None, *, exhausted: bool = False
    ) -> None:
        """Record a 429 for a call started at ``started_at``.

        Caused by the rate (see :meth:`rate_caused`): everyone on this model waits the
        ``Retry-After`` and the adaptive controller backs off. Otherwise only the call
        that got it waits (the scheduler's retry delay).
        """
        if not self.rate_caused(retry_after, exhausted):
            return
        now = self._clock.now()
        wait = retry_after if retry_after is not None else self._adaptive.default_retry_after
        self._not_before = max(self._not_before, now + wait)
        if not self.is_adaptive or started_at < self._epoch:
            return
        cfg = self._adaptive
        # What to recover to: the most the provider accepted since the 429s began (not
        # the rate that overshot it; not today's rate, which the decreases pulled down)
        # and the widest window.
        rate_to, window_to = self._before or (None, 0.0)
        accepted_now = self._accepted_rate(now)
        if accepted_now > 0:
            rate_to = max(rate_to or 0.0, accepted_now)
        self._before = (rate_to, max(self._window, window_to))
        self._decreased_at = now
        # The next decrease needs a 429 of a call started after the pause; earlier ones
        # are echoes of this event.
        self._epoch = now + wait
        accepted = self._accepted_rate(now)
        first = self._slow_start
        self._slow_start = False
        if self._requests is None:
            # No rate yet (no probing start): what was accepted so far is the first guess;
            # with nothing accepted there is no guess and only the window shrinks.
            if accepted > 0:
                self._requests = TokenBucket(max(cfg.min_rate, accepted), 1.0, self._clock)
        else:
            rate = self._requests.rate * cfg.decrease
            if accepted > 0:
                # What the provider accepted recently is the best estimate of its limit: at
                # the first 429 use it as is; later, halve but stay near it.
                rate = accepted if first else max(min(rate, accepted), 0.8 * accepted)
            self._requests.set_rate(max(cfg.min_rate, rate))
        self._window = max(1.0, self._window * cfg.decrease)
        self._sem.set_limit(int(self._window))


class Limits:
    """One :class:`ModelLimiter` per (provider, model, base_url), made on first use.

    Args:
        config: the user's limits.
        clock: time source of every limiter.
        base: the model table's default limits of a model (None: no table defaults).
        adaptive: AIMD tuning for models without ``rpm``.
        local_providers: providers that run in-process (simulated answerers): no adapting.
        unmetered: models dispatched through a batch API: each "call" waits for a
            whole batch, so neither concurrency nor rates apply to them.
    """

    def __init__(
        self,
        config: LimitsConfig,
        clock: Clock,
        base: Callable[[ModelRef], ModelLimits | None] | None = None,
        adaptive: AdaptiveSettings | None = None,
        local_providers: frozenset[str] = frozenset(),
        unmetered: frozenset[ModelRef] = frozenset(),
    ) -> None:
        self._config = config
        self._clock = clock
        self._base = base
        self._adaptive = adaptive
        self._local = local_providers
        self._unmetered = unmetered
        self._by_model: dict[tuple[str, str, str | None], ModelLimiter] = {}

    def for_model(self, ref: ModelRef) -> ModelLimiter:
        """The limiter shared by every question to ``ref``'s model."""
        key = (ref.provider, ref.model, ref.base_url)
        limiter = self._by_model.get(key)
        if limiter is None:
            base = self._base(ref) if self._base else None
            limits = self._config.for_model(ref, base)
            adapt = ref.provider not in self._local
            if ref in self._unmetered:
                limits, adapt = ModelLimits(concurrency=UNMETERED_CONCURRENCY), False
            limiter = ModelLimiter(limits, self._clock, self._adaptive, adapt=adapt)
            self._by_model[key] = limiter
        return limiter
