"""Which batch endpoint a path belongs to: OpenAI, Anthropic or Gemini.

Each provider's batch module answers its own paths with ``handle(server, req)``,
returning ``(status, body, headers)``; ``body`` is JSON-able, or raw bytes for
JSONL downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chainlang.testing.fake_provider import batch_anthropic, batch_gemini, batch_openai
from chainlang.testing.fake_provider.faults import RecordedRequest

if TYPE_CHECKING:
    from chainlang.testing.fake_provider.server import FakeProviderServer

Routed = tuple[int, Any, dict[str, str]]
Handler = Callable[["FakeProviderServer", RecordedRequest], Routed]

_MODULES = (batch_openai, batch_anthropic, batch_gemini)


def batch_route_of(path: str) -> Handler | None:
    """The handler of a batch (or batch file) endpoint, or None."""
    for module in _MODULES:
        if module.matches(path):
            return module.handle
    return None
