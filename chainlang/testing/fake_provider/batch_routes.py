"""Which batch endpoint a path belongs to: OpenAI, Anthropic or Gemini.

Each provider's batch module answers its own paths with ``handle(server, req)``,
returning ``(status, body, headers)``; ``body`` is JSON-able, or raw bytes for
JSONL downloads. A fault injected at a batch endpoint is answered with the error
body of that provider's dialect, as the real endpoint would send it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from chainlang.testing.fake_provider import batch_anthropic, batch_gemini, batch_openai
from chainlang.testing.fake_provider.batches import Routed
from chainlang.testing.fake_provider.faults import RecordedRequest

if TYPE_CHECKING:
    from chainlang.testing.fake_provider.server import FakeProviderServer

Handler = Callable[["FakeProviderServer", RecordedRequest], Routed]


class BatchRoute(NamedTuple):
    """The handler of one provider's batch endpoints and the dialect of its error bodies."""

    handle: Handler
    dialect: str


# each batch module, with the dialect its provider's error bodies speak
_MODULES = ((batch_openai, "openai-chat"), (batch_anthropic, "anthropic"), (batch_gemini, "gemini"))


def batch_route_of(path: str) -> BatchRoute | None:
    """The route of a batch (or batch file) endpoint, or None."""
    for module, dialect in _MODULES:
        if module.matches(path):
            return BatchRoute(module.handle, dialect)
    return None
