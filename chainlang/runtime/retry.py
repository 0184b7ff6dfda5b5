"""Retry policy: how many times to try a call and how long to wait in between.

The scheduler is the only component that retries (the SDKs' own retries are
off). Delays grow exponentially from ``base`` up to ``cap`` with "equal
jitter": half of each delay is fixed and half is random, so delays stay
non-decreasing in expectation while concurrent callers do not retry in lock
step. A provider's ``Retry-After`` is a floor: we never come back sooner than
it asked, but never wait longer than ``max_wait`` (``--max-retry-wait``): a
call asked to wait longer fails as ``rate_limit`` with the provider's message
instead of stalling the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from chainlang.errors import UsageError
from chainlang.providers.base import RETRYABLE


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter.

    Attributes:
        max_attempts: total tries of one call, the first included (1 = never retry).
        base: delay before the second try, in seconds (before jitter).
        cap: no delay is longer than this, except when ``Retry-After`` asks for more.
        jitter: fraction of each delay that is random, in [0, 1].
        seed: seed of the jitter, so runs are reproducible.
        max_wait: the longest ``Retry-After`` honoured, in seconds; a call asked to wait
            longer is not retried.
    """

    max_attempts: int = 6
    base: float = 1.0
    cap: float = 60.0
    jitter: float = 0.5
    seed: int = 0
    max_wait: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base < 0 or self.cap < self.base:
            raise UsageError(f"need 0 <= base <= cap, got base={self.base}, cap={self.cap}")
        if not 0.0 <= self.jitter <= 1.0:
            raise UsageError(f"jitter must be in [0, 1], got {self.jitter}")
        if not self.max_wait >= 0:
            raise UsageError(f"--max-retry-wait must be at least 0, got {self.max_wait}")

    def too_long(self, retry_after: float | None) -> bool:
        """True if the provider asked for a wait longer than ``max_wait``."""
        return retry_after is not None and retry_after > self.max_wait

    def should_retry(self, kind: str, attempt: int) -> bool:
        """True if a call that failed with ``kind`` on try ``attempt`` (1-based) goes again."""
        return kind in RETRYABLE and attempt < self.max_attempts

    def backoff(self, attempt: int) -> float:
        """The jitter-free delay after try number ``attempt`` (1-based), capped."""
        return min(self.cap, self.base * 2.0 ** (attempt - 1))

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """The wait after try ``attempt``: backoff with jitter, at least ``retry_after``.

        Jitter only ever shortens the fixed part (``backoff * (1 - jitter)`` is the
        floor), so the minimum delay is non-decreasing in ``attempt`` and never above
        ``cap``.
        """
        full = self.backoff(attempt)
        wait = full * (1.0 - self.jitter) + full * self.jitter * rng.random()
        if retry_after is not None and retry_after > wait:
            return retry_after
        return wait

    def delays(self, retry_after: float | None = None) -> list[float]:
        """Every delay of a call that fails all ``max_attempts`` tries (seeded by ``seed``)."""
        rng = random.Random(self.seed)
        return [self.delay(a, rng, retry_after) for a in range(1, self.max_attempts)]

    def rng(self, salt: str = "") -> random.Random:
        """A jitter source for one call, derived from ``seed`` and the call's key."""
        return random.Random(f"{self.seed}:{salt}")
