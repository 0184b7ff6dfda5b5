"""A fleet of endpoints: one model served by several replicas (e.g. vLLM servers).

A model spec names a fleet with several base URLs after ``@``, separated by commas
(``openai-compat:qwen2-vl@http://gpu1:8000/v1,http://gpu2:8000/v1``), or a config
section gives ``base_url`` as a list. :func:`chainlang.providers.registry.make_provider`
then builds one adapter per URL and puts an :class:`EndpointFleet` in front of them.

The fleet is one provider to the scheduler, which keeps owning the model's limits,
retries and the journal: a request's key names the model and the whole fleet,
never the replica that answered, so any replica's answer serves a rerun.

* **Spreading.** Each request goes to the healthy endpoint with the fewest calls in
  flight; ``per_endpoint`` (the config's ``endpoint_concurrency``) caps the calls one
  endpoint holds, and a request waits for room when every endpoint is full.
* **Taking out.** A connection failure, a timeout or a 5xx takes the endpoint out
  for a cooldown (5 s, doubling with each further failure, at most 2 minutes). A
  refused connection reached no server, so the same request goes straight to
  another endpoint; the other failures go back to the scheduler, whose retry
  then lands elsewhere. After the cooldown the endpoint gets requests again: one
  success puts it fully back, one more failure takes it out for longer.
* A 429 says the replica is alive but busy: it is passed on to the scheduler's
  limiter and the endpoint stays in.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chainlang.errors import UsageError
from chainlang.providers.base import ModelRequest, ModelResponse, Provider, ProviderError

# Failures that say the endpoint itself is in trouble (not the request, not the rate).
TAKE_OUT = frozenset({"connection", "timeout", "server"})
FIRST_COOLDOWN_S = 5.0
MAX_COOLDOWN_S = 120.0


def split_urls(base_url: str | None) -> list[str]:
    """The endpoints of a base URL setting: one URL, or several separated by commas."""
    if not base_url:
        return []
    return [u.strip() for u in base_url.split(",") if u.strip()]


def fleet_base_url(urls: Sequence[str], where: str) -> str:
    """Several base URLs as one canonical setting: checked, without repeats, sorted
    (so the order they were written in does not change the journal key).

    Raises:
        UsageError: a URL that does not start with http(s)://.
    """
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{where}: base URL {url!r} must start with http(s)://")
    return ",".join(sorted(set(urls)))


@dataclass
class Endpoint:
    """One replica: its adapter, calls in flight, and its health."""

    url: str
    provider: Provider
    in_flight: int = 0
    sent: int = 0
    failures: int = 0  # consecutive failures (sets the next cooldown)
    out_until: float = -math.inf
    last_error: str | None = None


class EndpointFleet:
    """One provider over several endpoints of the same model (see the module docstring).

    Args:
        name: the model spec, for messages.
        endpoints: (base URL, adapter) pairs.
        per_endpoint: calls one endpoint may hold at once (None: no cap of its own).
        now: the clock of the cooldowns.
    """

    def __init__(
        self,
        name: str,
        endpoints: Sequence[tuple[str, Provider]],
        *,
        per_endpoint: int | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(endpoints) < 2:
            raise UsageError(f"{name}: a fleet needs at least two endpoints")
        if per_endpoint is not None and per_endpoint < 1:
            raise UsageError(f"{name}: endpoint_concurrency must be at least 1")
        self.name = name
        self.endpoints = [Endpoint(url, p) for url, p in endpoints]
        self.per_endpoint = per_endpoint
        self._now = now
        self._room = asyncio.Condition()

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Send ``request`` to one endpoint (another one when the first refuses to connect)."""
        refused: set[str] = set()
        while True:
            endpoint = await self._take(refused)
            try:
                response = await endpoint.provider.send(request, timeout)
            except ProviderError as err:
                self._failed(endpoint, err)
                if err.kind == "connection" and self._others_up(refused | {endpoint.url}):
                    refused.add(endpoint.url)
                    continue
                raise ProviderError(
                    err.kind,
                    f"{err.message} [endpoint {endpoint.url}]",
                    status=err.status,
                    retry_after=err.retry_after,
                    usage=err.usage,
                ) from None
            finally:
                await self._give_back(endpoint)
            endpoint.failures, endpoint.out_until, endpoint.last_error = 0, -math.inf, None
            return response

    async def aclose(self) -> None:
        """Close every endpoint's connections."""
        for endpoint in self.endpoints:
            await endpoint.provider.aclose()

    def is_up(self, endpoint: Endpoint) -> bool:
        """Whether ``endpoint`` takes requests now (not in a cooldown)."""
        return endpoint.out_until <= self._now()

    # ------------------------------------------------------------------ internals

    async def _take(self, avoid: set[str]) -> Endpoint:
        """The endpoint for the next call, counted as in flight; waits for room."""
        async with self._room:
            while (endpoint := self._choose(avoid)) is None:
                await self._room.wait()
            endpoint.in_flight += 1
            endpoint.sent += 1
            return endpoint

    def _choose(self, avoid: set[str]) -> Endpoint | None:
        """The least busy endpoint that is up and has room; with none up, the one
        whose cooldown ends first (a probe); None while every candidate is full."""
        candidates = [e for e in self.endpoints if e.url not in avoid] or self.endpoints
        up = [e for e in candidates if self.is_up(e)]
        if not up:
            up = [min(candidates, key=lambda e: e.out_until)]
        roomy = [e for e in up if self.per_endpoint is None or e.in_flight < self.per_endpoint]
        if not roomy:
            return None
        return min(roomy, key=lambda e: (e.in_flight, e.sent))

    async def _give_back(self, endpoint: Endpoint) -> None:
        async with self._room:
            endpoint.in_flight -= 1
            self._room.notify_all()

    def _failed(self, endpoint: Endpoint, err: ProviderError) -> None:
        if err.kind not in TAKE_OUT:
            return
        endpoint.failures += 1
        cooldown = min(MAX_COOLDOWN_S, FIRST_COOLDOWN_S * 2 ** (endpoint.failures - 1))
        endpoint.out_until = self._now() + cooldown
        endpoint.last_error = err.message

    def _others_up(self, tried: set[str]) -> bool:
        return any(self.is_up(e) for e in self.endpoints if e.url not in tried)
