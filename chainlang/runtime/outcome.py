"""What the scheduler hands back for every question: an answer or a failure, as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chainlang.providers.base import FailureKind, Usage

# The provider kinds, plus ``budget``: the call was not sent because --max-cost would
# have been exceeded (or the model's price is unknown, so the cap could not be kept).
OutcomeKind = FailureKind | Literal["budget"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one question.

    Attributes:
        ok: True if ``value`` holds a validated answer.
        value: the validated, normalised answer (image bytes for image answers); None on failure.
        raw_text: the model's last reply text, if any.
        usage: tokens spent by *this* ask, summed over every attempt and re-ask (zero
            for a cache hit: nothing was spent).
        attempts: provider calls made (retries and re-asks included).
        reasks: how many times the model was asked again after an unusable answer.
        latency_s: time from the first attempt to the final answer, waits included.
        cached: served from the journal without calling the provider.
        cost_usd: dollars spent by this ask; None if the model's price is unknown.
        failure_kind: why it failed (None when ``ok``).
        failure_message: the cause in words, including the provider's own message.
        request_key: the cache key of the request.
    """

    ok: bool
    value: Any
    raw_text: str | None
    usage: Usage
    attempts: int
    reasks: int
    latency_s: float
    cached: bool
    cost_usd: float | None
    failure_kind: OutcomeKind | None
    failure_message: str | None
    request_key: str
