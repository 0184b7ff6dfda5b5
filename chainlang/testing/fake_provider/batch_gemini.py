"""The fake server's Gemini batch endpoints, in the Gemini API's wire format.

``POST /v1beta/models/{model}:batchGenerateContent`` takes
``{"batch": {"displayName", "inputConfig": {"requests": {"requests": [{"request",
"metadata"}]}}}}`` and ``GET /v1beta/batches/{id}`` reads the job back. Both
answer with the long-running operation google-genai parses
(``batches._BatchJob_from_mldev``): ``name`` plus the ``GenerateContentBatch`` in
``metadata`` (``state`` as ``BATCH_STATE_*``; once ended, ``output.inlinedResponses
.inlinedResponses`` in input order, each ``{"response"}`` or ``{"error": Status}``
with the request's ``metadata`` echoed). A failed job carries its message in the
operation's ``error``.

Each line is answered as the synchronous ``/v1beta/models/{model}:generateContent``
endpoint would answer its ``request`` (without the ``model`` key, which the
synchronous body carries in the path).

Per-batch limits (with the server's ``contracts`` on): an inline batch whose body
is over the contract's 20 MB gets the same 400 ``INVALID_ARGUMENT`` as an
oversized synchronous request. Gemini documents no count of inline requests, so
none is enforced unless a test sets one (``server.batches.limits``).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from chainlang.testing.fake_provider.batches import FakeBatch, LineResult, Routed
from chainlang.testing.fake_provider.faults import RecordedRequest

if TYPE_CHECKING:
    from chainlang.testing.fake_provider.server import FakeProviderServer

_CREATE = re.compile(r"^/(v1beta|v1)/models/([^/:?]+):batchGenerateContent$")
# only v1beta: /v1/batches/{id} is also the OpenAI batch path on this shared server
_GET = re.compile(r"^/v1beta/(batches/[^/?]+)$")
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."
# google.rpc.Code of the status names the gemini error bodies use
_RPC_CODES = {
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}
# a whole-batch failure: (state, google.rpc.Code) by the words of ``fail_next``
_FAILURES = {"expired": ("BATCH_STATE_EXPIRED", 4), "cancelled": ("BATCH_STATE_CANCELLED", 1)}


def matches(path: str) -> bool:
    """True for the paths this module answers."""
    return bool(_CREATE.match(path) or _GET.match(path))


def handle(server: FakeProviderServer, req: RecordedRequest) -> Routed:
    """Answer one request to a batch endpoint."""
    create = _CREATE.match(req.path)
    if create and req.method == "POST":
        return _create(server, req, create.group(1), create.group(2))
    get = _GET.match(req.path)
    if get and req.method == "GET":
        job = server.batches.poll(get.group(1))
        if job is None:
            return _error(404, "NOT_FOUND", f"batch {get.group(1)} not found")
        return 200, _operation(job), {}
    return _error(404, "NOT_FOUND", f"no route {req.method} {req.path}")


def _create(server: FakeProviderServer, req: RecordedRequest, version: str, model: str) -> Routed:
    batch = (req.json or {}).get("batch") or {}
    items = ((batch.get("inputConfig") or {}).get("requests") or {}).get("requests")
    if not batch.get("displayName"):
        return _error(400, "INVALID_ARGUMENT", "batch.displayName is required")
    if not isinstance(items, list) or not items:
        return _error(400, "INVALID_ARGUMENT", "the fake takes inlined requests only")
    refused = _over_limits(server, req, items) if server.contracts else None
    if refused is not None:
        return refused
    path = f"/{version}/models/{model}:generateContent"
    lines = [(_key(item, i), path, _sync_body(item)) for i, item in enumerate(items)]
    meta = {
        "model": f"models/{model}",
        "displayName": batch["displayName"],
        "createTime": _now(),
        "metadata": [item.get("metadata") for item in items],
        "polls": server.batches.polls_until_done,
    }
    job = server.batches.submit("gemini", lines, "batches/", meta)
    return 200, _operation(job), {}


def _over_limits(
    server: FakeProviderServer, req: RecordedRequest, items: list[Any]
) -> Routed | None:
    """The refusal of a batch over the per-batch limits (None: within them).

    https://ai.google.dev/gemini-api/docs/batch-mode (read 2026-12-04): inline
    requests suit batches whose total request size stays under 20 MB; over it the
    API refuses the body as it does a synchronous one ("Request payload size exceeds
    the limit: N bytes.", the verbatim form the synchronous check in contracts.py
    uses). A count limit (only ever a test's) is refused in the same shape, modelled.
    """
    caps = server.batches.limits_of("gemini")
    if caps.bytes is not None and len(req.body) > caps.bytes:
        return _error(400, "INVALID_ARGUMENT",
                      f"Request payload size exceeds the limit: {caps.bytes} bytes.")  # fmt: skip
    if caps.lines is not None and len(items) > caps.lines:
        return _error(400, "INVALID_ARGUMENT", f"A batch holds at most {caps.lines} inlined "
                                               f"requests, got {len(items)}.")  # fmt: skip
    return None


def _key(item: dict[str, Any], index: int) -> str:
    return str((item.get("metadata") or {}).get("custom_id", index))


def _sync_body(item: dict[str, Any]) -> dict[str, Any]:
    """The line's request as the synchronous endpoint receives it (model in the path)."""
    return {k: v for k, v in (item.get("request") or {}).items() if k != "model"}


def _operation(job: FakeBatch) -> dict[str, Any]:
    """The job as the long-running operation both endpoints return."""
    meta = job.meta
    body: dict[str, Any] = {
        "@type": _TYPE + "GenerateContentBatch",
        "name": job.id,
        "model": meta["model"],
        "displayName": meta["displayName"],
        "createTime": meta["createTime"],
        "updateTime": _now(),
        "batchStats": _stats(job),
    }
    op: dict[str, Any] = {"name": job.id, "metadata": body}
    if job.failure is not None:
        state, code = _FAILURES.get(job.failure, ("BATCH_STATE_FAILED", 13))
        body.update(state=state, endTime=_now())
        op.update(done=True, error={"code": code, "message": job.failure})
    elif job.results is not None:
        output = {"inlinedResponses": {"inlinedResponses": _responses(job)}}
        body.update(state="BATCH_STATE_SUCCEEDED", endTime=_now(), output=output)
        op.update(done=True, response={"@type": _TYPE + "GenerateContentBatchOutput", **output})
    else:
        # pending until the first state request, as a fresh real batch is
        polled = job.polls_left < meta["polls"]
        body["state"] = "BATCH_STATE_RUNNING" if polled else "BATCH_STATE_PENDING"
    return op


def _stats(job: FakeBatch) -> dict[str, str]:
    # int64 fields are strings in the JSON mapping
    stats = {"requestCount": str(len(job.lines))}
    if job.results is None:
        stats["pendingRequestCount"] = str(len(job.lines))
    else:
        failed = sum(1 for r in job.results if r.status != 200)
        stats["successfulRequestCount"] = str(len(job.results) - failed)
        stats["failedRequestCount"] = str(failed)
    return stats


def _responses(job: FakeBatch) -> list[dict[str, Any]]:
    """One inlined response per line, in input order, echoing each request's metadata."""
    out = []
    assert job.results is not None
    for result, metadata in zip(job.results, job.meta["metadata"], strict=True):
        item = _response(result)
        if metadata is not None:
            item["metadata"] = metadata
        out.append(item)
    return out


def _response(result: LineResult) -> dict[str, Any]:
    if result.status == 200:
        return {"response": result.body}
    err = result.body.get("error") or {}
    # a line's error is a google.rpc.Status: gRPC code, not the HTTP status
    code = _RPC_CODES.get(str(err.get("status")), 13)
    return {"error": {"code": code, "message": str(err.get("message", ""))}}


def _error(status: int, state: str, message: str) -> Routed:
    return status, {"error": {"code": status, "message": message, "status": state}}, {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
