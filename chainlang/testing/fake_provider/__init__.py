"""A local HTTP server that speaks the providers' wire formats, for tests and benchmarks.

The real SDKs talk to it over real sockets, so tests exercise the same code
paths (serialisation, headers, error classes) as production::

    with FakeProviderServer() as srv:
        client = openai.AsyncOpenAI(base_url=srv.openai_base_url, api_key="k", max_retries=0)
        ...
        srv.faults.push("429", retry_after=1)     # the next request gets a 429
        srv.script("[depth]", {"nearer": "red"})  # the next prompt containing "[depth]"
        srv.requests[-1].json                      # what the SDK actually sent

Endpoints: OpenAI ``/v1/chat/completions``, ``/v1/responses`` and
``/v1/images/edits`` (multipart); Anthropic ``/v1/messages``; Gemini
``/v1/models/{m}:generateContent`` and ``/v1beta/...``.

Answers come from, in order: a scripted reply whose marker occurs in the
prompt, the ``answer`` callable, an example built from the requested schema,
or (for text-instruction requests without a schema) the JSON example found
in the prompt, wrapped in prose.

Faults (:class:`Faults`): ``429`` (with ``Retry-After``), ``400``, ``401``,
``403``, ``404``, ``500``, ``503``, ``529``, ``timeout`` (never answer),
``drop`` (close the connection), ``garbage`` (a body that is not JSON),
``malformed`` (the answer text is not JSON), ``invalid`` (JSON that violates
the schema), ``truncated``, ``refusal`` and ``slow`` (extra latency); queued
per count and optionally per path, or drawn with a seeded probability; plus a
sliding-window rate limiter that answers 429 above R requests per window.

The server is a minimal HTTP/1.1 implementation on ``asyncio.start_server``
with keep-alive, running its own event loop in a background thread.

Modules: ``faults`` (records and faults), ``answers`` (schema examples and token
estimates), ``wire`` (dialects and response/error bodies), ``http`` (HTTP/1.1
reading and writing) and ``server`` (:class:`FakeProviderServer`).
"""

from __future__ import annotations

from chainlang.testing.fake_provider.answers import example_from_schema
from chainlang.testing.fake_provider.faults import (
    ANSWER_FAULTS,
    FAULT_KINDS,
    STATUS_FAULTS,
    WIRE_FAULTS,
    FakeCall,
    Fault,
    Faults,
    RecordedRequest,
    Reply,
)
from chainlang.testing.fake_provider.server import FakeProviderServer

__all__ = [
    "ANSWER_FAULTS",
    "FAULT_KINDS",
    "STATUS_FAULTS",
    "WIRE_FAULTS",
    "FakeCall",
    "FakeProviderServer",
    "Fault",
    "Faults",
    "RecordedRequest",
    "Reply",
    "example_from_schema",
]
