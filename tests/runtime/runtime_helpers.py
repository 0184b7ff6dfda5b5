"""Helpers of the runtime tests: requests and a scriptable in-test provider.

A uniquely named module (not ``conftest``) so tests can import it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chainlang.language.types import EnumT, Type
from chainlang.providers.base import (
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    Params,
    ProviderError,
    TextPart,
    Usage,
)
from chainlang.runtime.clock import LoopClock

GPT4O = ModelRef("openai", "gpt-4o")
COLOUR = EnumT(values=("red", "blue"))


def make_request(
    text: str = "which is nearer?",
    *,
    model: ModelRef = GPT4O,
    answer_type: Type = COLOUR,
    sample_index: int = 0,
    max_tokens: int | None = 100,
    oracle: Any = None,
) -> ModelRequest:
    """A one-message request."""
    return ModelRequest(
        model=model,
        messages=(Message("user", (TextPart(text),)),),
        answer_type=answer_type,
        schema=None,
        params=Params(max_tokens=max_tokens),
        sample_index=sample_index,
        oracle=oracle,
    )


Step = ModelResponse | ProviderError | Callable[[ModelRequest], Any]


@dataclass
class ScriptedProvider:
    """A provider whose replies are scripted in order (the last step repeats).

    Each step is a response, an error to raise, or a callable of the request.
    ``latency`` is slept on the loop clock, so on a virtual loop it costs no wall time.
    """

    steps: list[Step]
    latency: float = 0.0
    name: str = "scripted"
    calls: list[ModelRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    starts: list[float] = field(default_factory=list)
    closed: bool = False

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        clock = LoopClock()
        self.calls.append(request)
        self.starts.append(clock.now())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await clock.sleep(self.latency)
            step = self.steps[min(len(self.calls) - 1, len(self.steps) - 1)]
            if callable(step) and not isinstance(step, ProviderError):
                step = step(request)
            if isinstance(step, ProviderError):
                raise step
            return step
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True


def reply(text: str, usage: Usage | None = None, finish: str = "stop") -> ModelResponse:
    """A text reply (parsed left to the scheduler's JSON extraction)."""
    return ModelResponse(text=text, parsed=None, usage=usage or Usage(10, 5), finish=finish)
