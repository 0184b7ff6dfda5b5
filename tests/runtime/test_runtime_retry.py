"""Retry policy properties: caps, Retry-After floors, attempt counts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlang.errors import UsageError
from chainlang.runtime.retry import RetryPolicy

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 12),
    base=st.floats(0.01, 5.0),
    cap=st.floats(5.0, 120.0),
    jitter=st.floats(0.0, 1.0),
    seed=st.integers(0, 1000),
)


@settings(max_examples=200, deadline=None)
@given(policy=policies, retry_after=st.none() | st.floats(0.0, 300.0))
def test_delays_are_bounded_and_honour_retry_after(policy, retry_after):
    delays = policy.delays(retry_after)
    assert len(delays) == policy.max_attempts - 1  # attempts never exceed max_attempts
    for attempt, d in enumerate(delays, start=1):
        if retry_after is not None:
            assert d >= retry_after
        assert d <= max(policy.cap, retry_after or 0.0)
        assert d >= policy.backoff(attempt) * (1 - policy.jitter) - 1e-12


@settings(max_examples=200, deadline=None)
@given(policy=policies)
def test_backoff_is_non_decreasing_up_to_the_cap(policy):
    backoffs = [policy.backoff(a) for a in range(1, policy.max_attempts + 3)]
    assert backoffs == sorted(backoffs)
    assert max(backoffs) <= policy.cap
    floors = [b * (1 - policy.jitter) for b in backoffs]
    assert floors == sorted(floors)


@settings(max_examples=100, deadline=None)
@given(policy=policies, kind=st.sampled_from(["rate_limit", "server", "timeout", "connection"]))
def test_retryable_kinds_stop_at_max_attempts(policy, kind):
    tries = 1
    while policy.should_retry(kind, tries):
        tries += 1
    assert tries == policy.max_attempts


@pytest.mark.parametrize(
    "kind", ["bad_request", "auth", "not_found", "refused", "invalid_answer", "truncated"]
)
def test_errors_that_cannot_succeed_are_never_retried(kind):
    assert not RetryPolicy(max_attempts=10).should_retry(kind, 1)


def test_jitter_is_reproducible_from_the_seed():
    p = RetryPolicy(seed=7)
    assert p.delays() == p.delays()
    assert p.delay(3, random.Random(1)) == p.delay(3, random.Random(1))


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base": 10.0, "cap": 1.0}, {"jitter": 1.5}]
)
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(UsageError):
        RetryPolicy(**kwargs)
