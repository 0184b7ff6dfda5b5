"""The scheduler: the one owner of everything that happens to a question.

Every ``ask`` of every item goes through one :class:`Scheduler`, so all items and
all questions share the same limits. For each request it

1. looks the request up in the journal (an answer there is served at no cost);
2. waits for the model's limits (concurrency, request and token rates);
3. reserves the worst-case cost in the :class:`~chainlang.runtime.cost.Budget`,
   waiting while calls in flight hold the room it needs;
4. sends once through the provider, under a timeout;
5. retries transient failures with backoff that honours ``Retry-After``;
6. validates the answer against its type and re-asks with the validation error
   when it does not fit (bounded by ``reask_limit``);
7. journals the result (answer or failure) and commits it, then returns it.

Failures are data: :meth:`Scheduler.ask` returns an :class:`Outcome` for every
provider failure. It raises only :class:`RunError` when the error budget is
spent (the run should stop) and ``UsageError`` for a model it has no provider for.

Truncated answers (``finish == "length"``) are re-asked once with a note asking
for a shorter reply; a second truncation fails the question as ``truncated``.
Refusals fail as ``refused`` at once.

A question is paid once even when it is asked several times at the same moment:
identical requests in flight in this process share the first one's outcome
(single flight, keyed by the cache key), and a question claimed in the journal by
another process sharing the cache file is waited for, not sent (see
:meth:`~chainlang.runtime.cache.Journal.claim`). A shared answer counts as served
from the journal: no cost, no attempts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chainlang.errors import RunError, UsageError
from chainlang.image import ImageData, decode_image
from chainlang.language import answers
from chainlang.language.types import ImageT
from chainlang.providers.base import (
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    TextPart,
    Usage,
)
from chainlang.providers.capabilities import encode_png
from chainlang.providers.common import redact
from chainlang.providers.specs import free_providers, is_free
from chainlang.runtime.cache import Entry, Journal, request_key
from chainlang.runtime.clock import Clock, LoopClock
from chainlang.runtime.cost import Budget, Estimate, InputMargins, PriceTable
from chainlang.runtime.limits import (
    AdaptiveSettings,
    Limits,
    LimitsConfig,
    ModelLimiter,
    ModelLimits,
)
from chainlang.runtime.outcome import Outcome, OutcomeKind
from chainlang.runtime.progress import ProgressObserver
from chainlang.runtime.retry import RetryPolicy

ProviderSource = Mapping[ModelRef, Provider] | Callable[[ModelRef], Provider]
# How often a question claimed by another process is looked up: from 50 ms, growing to 1 s.
CLAIM_POLL_S, CLAIM_POLL_MAX_S = 0.05, 1.0

REASK_NOTE = (
    "That answer could not be used: {error}. Answer the same question again, "
    "replying with only JSON that fits the required format."
)
# Failures after which the provider may have billed the call without saying so: the
# request may have been processed (a timeout) or the reply cut off (a connection lost
# mid-body). They are charged their worst case until a report says otherwise.
MAYBE_BILLED = frozenset({"timeout", "connection"})
TRUNCATED_NOTE = (
    "Your answer was cut off by the output token limit. Answer the same question "
    "again, more briefly: give only the JSON answer, without explanations."
)


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """When to give up on a run because too many questions fail.

    Attributes:
        max_failures: stop after this many failed questions (None: no cap).
        max_fraction: stop when more than this fraction of finished questions failed,
            once at least ``min_questions`` have finished (None: no cap).
        min_questions: questions to finish before ``max_fraction`` applies.

    ``budget`` failures (``--max-cost`` reached) do not count: they have their own
    message and are expected once the cap is hit.
    """

    max_failures: int | None = None
    max_fraction: float | None = None
    min_questions: int = 20


@dataclass(slots=True)
class _Spend:
    """What one ask has spent so far (over every attempt and re-ask)."""

    usage: Usage = dataclasses.field(default_factory=Usage)
    cost: float | None = 0.0
    attempts: int = 0

    def add(self, usage: Usage, cost: float | None) -> None:
        self.usage = self.usage + usage
        self.cost = None if cost is None or self.cost is None else self.cost + cost


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: OutcomeKind
    message: str
    raw_text: str | None = None


class Scheduler:
    """Shared by every question of a run; see the module docstring for what it does.

    Args:
        providers: a provider per model, or a factory called once per model
            (either way the scheduler owns them: :meth:`aclose` closes them).
        limits: the user's concurrency/rpm/tpm settings (None: model-table defaults).
        retry: backoff policy for transient failures.
        cache: the journal (closed by :meth:`aclose`); None disables caching and journaling.
        clock: time source of limits, backoff and latency.
        budget: the ``--max-cost`` cap; None for no cap.
        prices: the price table (None: the shipped ``models.toml``).
        error_budget: when to stop the run for too many failures.
        observer: progress reporting.
        timeout_s: per-call timeout.
        reask_limit: re-asks after an answer that does not fit its type.
        salt: mixed into every cache key (e.g. the IR version).
        adaptive: AIMD tuning for models without ``rpm``.
        batch_models: models whose provider is a
            :class:`~chainlang.runtime.batchapi.BatchDispatcher`: priced at the batch
            discount, not limited (a batch holds every waiting question), and given
            ``batch_timeout_s`` instead of ``timeout_s``.
        limits_source: the limiters to use instead of building them from ``limits``
            (the Ray engine passes limiters that one actor holds for the whole cluster).
    """

    def __init__(
        self,
        providers: ProviderSource,
        limits: LimitsConfig | None = None,
        retry: RetryPolicy | None = None,
        cache: Journal | None = None,
        clock: Clock | None = None,
        budget: Budget | None = None,
        *,
        prices: PriceTable | None = None,
        error_budget: ErrorBudget | None = None,
        observer: ProgressObserver | None = None,
        timeout_s: float = 120.0,
        reask_limit: int = 2,
        salt: str = "",
        adaptive: AdaptiveSettings | None = None,
        batch_models: frozenset[ModelRef] = frozenset(),
        batch_timeout_s: float = 48 * 3600.0,
        limits_source: Limits | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise UsageError(f"timeout must be positive, got {timeout_s}")
        if reask_limit < 0:
            raise UsageError(f"reask_limit must be >= 0, got {reask_limit}")
        self._providers = providers
        self._made: dict[ModelRef, Provider] = {}
        self._retry = retry or RetryPolicy()
        self._cache = cache
        self._clock = clock or LoopClock()
        self._budget = budget
        self._prices = prices or PriceTable.load()
        self._error_budget = error_budget or ErrorBudget()
        self._observer = observer
        self._timeout = timeout_s
        self._reask_limit = reask_limit
        self._salt = salt
        self._batch = batch_models
        self._batch_timeout = batch_timeout_s
        self._limits = limits_source or Limits(
            limits or LimitsConfig(),
            self._clock,
            base=self._table_limits,
            adaptive=adaptive,
            local_providers=free_providers(),
            unmetered=batch_models,
        )
        self._finished = 0
        self._failed = 0
        self._stopped: str | None = None
        # One future per key being asked now: identical asks wait for it (None: ask again).
        self._flights: dict[str, asyncio.Future[Outcome | None]] = {}
        self._margins = InputMargins()
        # Why the budget refused a question (None: it never did); a run stops starting
        # new items once this is set.
        self.budget_stop: str | None = None

    # ------------------------------------------------------------------ public

    async def ask(self, request: ModelRequest) -> Outcome:
        """Answer one question (from the journal if it was answered before).

        Raises:
            RunError: the error budget is spent; the run should stop.
            UsageError: no provider for the request's model.
        """
        if self._stopped:
            raise RunError(self._stopped)
        key = request_key(request, self._salt)
        if self._observer:
            self._observer.on_start(request)
        # A question that will be claimed is looked up by its claim (one statement fewer
        # per question: the journal is most of the scheduler's own cost)
        outcome = None if self._claims(request.model) else self._from_cache(key)
        if outcome is None:
            outcome = await self._single_flight(request, key)
        self._count(outcome)
        if self._observer:
            self._observer.on_done(outcome)
        return outcome

    def limiter(self, ref: ModelRef) -> ModelLimiter:
        """The limiter of ``ref``'s model (for progress displays and tests)."""
        return self._limits.for_model(ref)

    async def aclose(self) -> None:
        """Close every provider this scheduler was given or made, then the journal.

        A batch dispatcher's close stops its waiting (its batches stay recorded).
        """
        given = self._providers.values() if isinstance(self._providers, Mapping) else ()
        # One provider may serve several models: close each once.
        providers = {id(p): p for p in (*given, *self._made.values())}
        for provider in providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        self._made.clear()
        if self._cache is not None:
            self._cache.close()

    # ------------------------------------------------------------------ one ask

    async def _single_flight(self, request: ModelRequest, key: str) -> Outcome:
        """Ask once per key at a time: a second identical ask shares the first's outcome."""
        while (flight := self._flights.get(key)) is not None:
            shared = await asyncio.shield(flight)  # our cancellation must not cancel it
            if shared is not None:
                return _shared(shared)
            # The first asker was cancelled before an outcome: this one asks instead.
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        outcome = None
        try:
            outcome = await self._ask_claimed(request, key)
            return outcome
        finally:
            del self._flights[key]
            flight.set_result(outcome)

    async def _ask_claimed(self, request: ModelRequest, key: str) -> Outcome:
        """Ask under a journal claim, so processes sharing the cache do not both pay."""
        if not self._claims(request.model):
            outcome = await self._ask_fresh(request, key)
            self._journal(request, outcome)  # committed before anyone sees the answer
            return outcome
        assert self._cache is not None  # _claims said so
        delay = CLAIM_POLL_S
        serve = True
        while (state := self._cache.claim(key, serve_answered=serve)) != "mine":
            if state == "answered":
                served = self._from_cache(key)
                if served is not None:
                    return served
                serve = False  # journaled but unreadable (a damaged image): ask it again
                continue
            await self._clock.sleep(delay)  # another process is asking it: wait for its answer
            delay = min(delay * 1.5, CLAIM_POLL_MAX_S)
        try:
            outcome = await self._ask_fresh(request, key)
            self._journal(request, outcome)  # also releases the claim
        except BaseException:
            self._cache.release(key)  # cancelled: the question is free for anyone again
            raise
        return outcome

    def _claims(self, ref: ModelRef) -> bool:
        """Whether asks of ``ref`` claim their key first: paid models with a journal (a
        batch-dispatched question is shared through its batch record instead)."""
        paid = not is_free(ref.provider) and ref not in self._batch
        return paid and self._cache is not None

    async def _ask_fresh(self, request: ModelRequest, key: str) -> Outcome:
        start = self._clock.now()
        spend = _Spend()
        messages = request.messages
        reasks = 0
        truncation_reasked = False
        while True:
            attempt = request  # a copy only for a re-ask: replace() rebuilds the whole request
            if messages is not request.messages:
                attempt = dataclasses.replace(request, messages=messages)
            result = await self._send_with_retries(attempt, key, spend)
            if isinstance(result, ModelResponse):
                checked = self._check(request, result)
                if not isinstance(checked, _Failure):
                    return self._outcome(key, start, spend, reasks, value=checked, raw=result.text)
                failure, raw = checked, result.text
            else:
                failure, raw = result, None
            follow_up = self._follow_up(failure, reasks, truncation_reasked)
            if follow_up is None:
                return self._outcome(key, start, spend, reasks, failure=failure, raw=raw)
            reasks += 1
            truncation_reasked |= failure.kind == "truncated"
            messages = (*messages, *_reask_messages(raw, follow_up))

    def _follow_up(self, failure: _Failure, reasks: int, truncation_reasked: bool) -> str | None:
        """The note of the re-ask that may fix ``failure``, or None to give up."""
        if failure.kind == "invalid_answer" and reasks < self._reask_limit:
            return REASK_NOTE.format(error=failure.message)
        if failure.kind == "truncated" and not truncation_reasked:
            return TRUNCATED_NOTE
        return None

    async def _send_with_retries(
        self, request: ModelRequest, key: str, spend: _Spend
    ) -> ModelResponse | _Failure:
        """Send until an answer, a final failure, or attempts run out."""
        provider = self._provider(request.model)
        limiter = self._limits.for_model(request.model)
        rng = None  # the jitter source, made on the first retry (most questions have none)
        tries = 0
        while True:
            tries += 1
            result = await self._send_once(provider, limiter, request, spend)
            if not isinstance(result, ProviderError):
                return result
            if not self._retry.should_retry(result.kind, tries):
                suffix = f" (after {tries} tries)" if tries > 1 else ""
                return _Failure(result.kind, result.message + suffix)
            if self._retry.too_long(result.retry_after):
                return _Failure(
                    result.kind,
                    f"{result.message} (the provider asked to wait {result.retry_after:g}s, "
                    f"more than --max-retry-wait {self._retry.max_wait:g}s)",
                )
            rng = rng or self._retry.rng(key)
            delay = self._retry.delay(tries, rng, result.retry_after)
            if self._observer:
                self._observer.on_retry(result.kind, delay)
            await self._clock.sleep(delay)

    async def _send_once(
        self, provider: Provider, limiter: ModelLimiter, request: ModelRequest, spend: _Spend
    ) -> ModelResponse | ProviderError | _Failure:
        """One call: a slot, the budget reservation, the timeout, accounting, feedback."""
        batch = request.model in self._batch
        margin = self._margins.margin(request.model)
        estimate = self._estimate(request)
        tokens = estimate.input_tokens + estimate.max_output_tokens
        async with limiter.slot(tokens) as started:
            # Money is reserved only once the call has a slot: a question queued for a
            # slot holds none, so queued questions never crowd the cap.
            held = await self._reserve(request, estimate, margin)
            if isinstance(held, _Failure):
                return held
            estimate, reserved = held
            spend.attempts += 1
            try:
                result = await self._call(provider, request)
            except BaseException:
                # Cancelled mid-call: the provider may have billed it; the worst case stays spent.
                self._settle(reserved, estimate.worst_case_usd)
                raise
            cost = self._cost(request, result, estimate, batch)
            self._learn(request, result, estimate)
            self._settle(reserved, cost)
        self._feedback(limiter, result, started, tokens)
        spend.add(result.usage, cost)
        return result

    def _estimate(self, request: ModelRequest) -> Estimate:
        """The call's tokens and worst case, at its model's current input margin."""
        margin = self._margins.margin(request.model)
        return self._prices.estimate(request, batch=request.model in self._batch, margin=margin)

    def _cost(
        self,
        request: ModelRequest,
        result: ModelResponse | ProviderError,
        estimate: Estimate,
        batch: bool,
    ) -> float | None:
        """What the call is charged: its reported usage, or its worst case when it may
        have been billed without a report (a timeout, a connection cut mid-reply)."""
        usage = result.usage
        unreported = not (usage.input_tokens or usage.output_tokens)
        if isinstance(result, ProviderError) and result.kind in MAYBE_BILLED and unreported:
            return estimate.worst_case_usd
        return self._prices.price(request.model, usage, batch=batch)

    def _learn(
        self, request: ModelRequest, result: ModelResponse | ProviderError, estimate: Estimate
    ) -> None:
        """Correct the model's input margin from what the provider reported."""
        reported = result.usage.input_tokens
        if isinstance(result, ModelResponse) or reported:
            self._margins.observe(request.model, estimate.input_tokens, reported)

    def _settle(self, reserved: float, cost: float | None) -> None:
        if self._budget is not None:
            self._budget.settle(reserved, reserved if cost is None else cost)

    async def _call(
        self, provider: Provider, request: ModelRequest
    ) -> ModelResponse | ProviderError:
        # A batch-dispatched question waits for its whole batch, hours if need be.
        timeout = self._batch_timeout if request.model in self._batch else self._timeout
        try:
            async with asyncio.timeout(timeout):
                return await provider.send(request, timeout)
        except ProviderError as e:
            return e
        except TimeoutError:
            return ProviderError("timeout", f"{request.model}: no answer within {timeout:g}s")

    def _feedback(
        self,
        limiter: ModelLimiter,
        result: ModelResponse | ProviderError,
        started: float,
        tokens: int,
    ) -> None:
        if isinstance(result, ModelResponse):
            limiter.on_success()
        elif result.kind == "rate_limit":
            # A wait beyond --max-retry-wait fails the question; others pause at most that.
            wait = result.retry_after
            if wait is not None:
                wait = min(wait, self._retry.max_wait)
            limiter.on_rate_limited(started, wait)
        usage = result.usage
        reported = usage.input_tokens + usage.output_tokens
        # A call that reported no usage may still have been processed (timeouts):
        # keep its estimate charged unless the provider plainly refused it.
        if reported or isinstance(result, ModelResponse) or result.kind == "rate_limit":
            limiter.correct_tokens(tokens, reported)

    async def _reserve(
        self, request: ModelRequest, before: Estimate, margin: float
    ) -> tuple[Estimate, float] | _Failure:
        """Reserve the call's worst case (waiting for calls in flight to settle when they
        hold the room it needs); the estimate reserved and the dollars held, or the
        ``budget`` failure when what is spent leaves no room for it. ``before`` is the
        estimate made at ``margin`` before the slot: kept while the margin is unchanged
        (estimating costs as much as the rest of the scheduler's work on a question)."""
        ref = request.model
        if self._budget is None:
            if self._margins.margin(ref) == margin:
                return before, 0.0
            return self._estimate(request), 0.0
        current = [self._estimate(request)]
        if current[0].worst_case_usd is None:
            return _Failure(
                "budget",
                f"the price of {ref} is unknown, so --max-cost cannot be kept; "
                "give its prices in the [prices] section of a --config file, or drop --max-cost",
            )

        def amount() -> float:
            # Measured again after every wait: a report may have raised the margin.
            current[0] = self._estimate(request)
            return current[0].worst_case_usd or 0.0

        def alone() -> bool:
            # Until the model's first report proves its estimate, its calls go one at a
            # time (not for batch dispatch: a batch of one would wait hours for nothing).
            return ref not in self._batch and not self._margins.calibrated(ref)

        held = await self._budget.reserve(amount, alone=alone)
        if held is None:
            budget = self._budget
            worst = current[0].worst_case_usd or 0.0
            message = (
                f"not sent: its worst case ${worst:.4f} does not fit in the ${budget.max_usd:.2f} "
                f"budget (${budget.spent:.4f} spent, ${budget.max_usd - budget.spent:.4f} left)"
            )
            self.budget_stop = self.budget_stop or message
            return _Failure("budget", message)
        return current[0], held

    # ------------------------------------------------------------------ answers

    def _check(self, request: ModelRequest, response: ModelResponse) -> Any:
        """The validated value of ``response``, or the :class:`_Failure` it amounts to."""
        if response.finish in ("refusal", "content_filter"):
            return _Failure("refused", f"the model declined to answer ({response.finish})")
        if response.finish == "length":
            return _Failure("truncated", "the answer was cut off by the output token limit")
        if isinstance(request.answer_type, ImageT):
            if not response.image:
                return _Failure("invalid_answer", "the reply contains no image")
            try:  # the validated form of an image answer is the image itself
                return decode_image(response.image)
            except ValueError as err:
                return _Failure("invalid_answer", f"the reply's image: {err}")
        try:
            value = response.parsed
            if value is None:
                value = answers.extract_json(response.text)
            return answers.validate(request.answer_type, value)
        except answers.AnswerError as e:
            return _Failure("invalid_answer", str(e))

    # ------------------------------------------------------------------ bookkeeping

    def _outcome(
        self,
        key: str,
        start: float,
        spend: _Spend,
        reasks: int,
        *,
        value: Any = None,
        failure: _Failure | None = None,
        raw: str | None = None,
    ) -> Outcome:
        return Outcome(
            ok=failure is None,
            value=value,
            # A provider's words may echo an API key: redacted before anything keeps them.
            raw_text=redact(raw) if raw else raw,
            usage=spend.usage,
            attempts=spend.attempts,
            reasks=reasks,
            latency_s=self._clock.now() - start,
            cached=False,
            cost_usd=spend.cost,
            failure_kind=failure.kind if failure else None,
            failure_message=redact(failure.message) if failure else None,
            request_key=key,
        )

    def _from_cache(self, key: str) -> Outcome | None:
        if self._cache is None:
            return None
        entry = self._cache.lookup(key)
        if entry is None:
            return None
        value = entry.value
        if entry.image is not None:
            try:
                value = decode_image(entry.image)
            except ValueError:
                return None  # a damaged journal image is asked again, not served
        # A journaled answer keeps the usage and cost it was paid with (by whichever
        # invocation): a run's cost stays true across resumes. ``cached`` marks it as not
        # paid now, and no attempt is made.
        return Outcome(
            True, value, entry.raw_text, entry.usage, 0, 0, 0.0, True, entry.cost_usd, None, None,
            key,
        )  # fmt: skip

    def _journal(self, request: ModelRequest, outcome: Outcome) -> None:
        if self._cache is None:
            return
        is_image = isinstance(outcome.value, ImageData)
        self._cache.record(
            Entry(
                key=outcome.request_key,
                ok=outcome.ok,
                model=f"{request.model.provider}:{request.model.model}",
                value=None if is_image else outcome.value,
                image=encode_png(outcome.value) if is_image else None,
                raw_text=outcome.raw_text,
                usage=outcome.usage,
                attempts=outcome.attempts,
                reasks=outcome.reasks,
                latency_s=outcome.latency_s,
                cost_usd=outcome.cost_usd,
                failure_kind=outcome.failure_kind,
                failure_message=outcome.failure_message,
                origin=request.origin,
            )
        )

    def _count(self, outcome: Outcome) -> None:
        if outcome.cached:
            return
        self._finished += 1
        if outcome.ok or outcome.failure_kind == "budget":
            return
        self._failed += 1
        eb = self._error_budget
        if eb.max_failures is not None and self._failed > eb.max_failures:
            self._stopped = (
                f"stopping: {self._failed} questions failed, more than the error budget of "
                f"{eb.max_failures} (last: {outcome.failure_kind}: {outcome.failure_message})"
            )
        elif (
            eb.max_fraction is not None
            and self._finished >= eb.min_questions
            and self._failed / self._finished > eb.max_fraction
        ):
            self._stopped = (
                f"stopping: {self._failed} of {self._finished} questions failed, more than the "
                f"error budget of {eb.max_fraction:.0%} "
                f"(last: {outcome.failure_kind}: {outcome.failure_message})"
            )

    def _provider(self, ref: ModelRef) -> Provider:
        if isinstance(self._providers, Mapping):
            try:
                return self._providers[ref]
            except KeyError:
                raise UsageError(f"no provider configured for model {ref}") from None
        provider = self._made.get(ref)
        if provider is None:
            provider = self._providers(ref)
            self._made[ref] = provider
        return provider

    def _table_limits(self, ref: ModelRef) -> ModelLimits | None:
        if is_free(ref.provider):
            return ModelLimits(concurrency=256)
        info = self._prices.lookup(ref)
        if info is None:
            return None
        return ModelLimits(
            concurrency=info.concurrency or ModelLimits().concurrency, rpm=info.rpm, tpm=info.tpm
        )


def _shared(outcome: Outcome) -> Outcome:
    """``outcome`` as seen by an identical ask that waited for it: served, not paid."""
    return dataclasses.replace(
        outcome, usage=Usage(), attempts=0, reasks=0, latency_s=0.0, cached=True, cost_usd=0.0
    )


def _reask_messages(raw: str | None, note: str) -> tuple[Message, ...]:
    """The model's unusable reply (if any) as an assistant turn, then the note as a user turn."""
    turns: list[Message] = []
    if raw:
        turns.append(Message("assistant", (TextPart(raw),)))
    turns.append(Message("user", (TextPart(note),)))
    return tuple(turns)
