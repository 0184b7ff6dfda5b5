"""The fake server's Anthropic Message Batches endpoints, in the real wire format.

``POST /v1/messages/batches`` takes ``{"requests": [{"custom_id", "params"}]}``
(each ``params`` is a synchronous ``/v1/messages`` body), ``GET
/v1/messages/batches/{id}`` reports the ``MessageBatch`` (``processing_status``
``in_progress`` until the job is answered, then ``ended`` with a
``results_url``), and ``GET .../results`` streams one JSONL line per request:
``succeeded`` with the message, or ``errored`` with the error body the
synchronous endpoint would give. Anthropic has no failed batch: a job made to
fail (``fail_next``) ends with every line ``expired`` (``canceled`` when the
message says so), as a batch that ran out its 24 hours does. Result lines come
in reverse submit order, since Anthropic does not promise any order.

Per-batch limits (with the server's ``contracts`` on): a create body over the
contract's bytes gets 413 ``request_too_large``, and one of more requests than a
batch takes gets 400 ``invalid_request_error``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chainlang.testing.fake_provider.batches import FakeBatch, Routed
from chainlang.testing.fake_provider.faults import RecordedRequest
from chainlang.testing.fake_provider.wire import error_body

if TYPE_CHECKING:
    from chainlang.testing.fake_provider.server import FakeProviderServer

ROOT = "/v1/messages/batches"
SYNC_PATH = "/v1/messages"
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # Anthropic's rule for custom ids


def matches(path: str) -> bool:
    """True for the paths this module answers."""
    return _route(path) is not None


def handle(server: FakeProviderServer, req: RecordedRequest) -> Routed:
    """Answer one request to a batch endpoint."""
    route = _route(req.path)
    assert route is not None
    batch_id, results = route
    if batch_id is None:
        return _create(server, req) if req.method == "POST" else _error(405, "use POST")
    job = server.batches.poll(batch_id) if not results else server.batches.jobs.get(batch_id)
    if job is None:
        return _error(404, f"no message batch {batch_id}")
    if results:
        return _results(job)
    return 200, _batch_object(server, job), {}


def _route(path: str) -> tuple[str | None, bool] | None:
    """``(batch id or None, is the results path)`` for a batch path, else None."""
    path = path.split("?", 1)[0].rstrip("/")
    if path == ROOT:
        return None, False
    if not path.startswith(ROOT + "/"):
        return None
    rest = path[len(ROOT) + 1 :].split("/")
    if len(rest) == 1:
        return rest[0], False
    if len(rest) == 2 and rest[1] == "results":
        return rest[0], True
    return None


def _error(status: int, message: str) -> Routed:
    body = error_body("anthropic", status)
    body["error"]["message"] = message
    return status, body, {}


# --------------------------------------------------------------------------- endpoints


def _create(server: FakeProviderServer, req: RecordedRequest) -> Routed:
    body = req.json if isinstance(req.json, dict) else {}
    requests = body.get("requests") or []  # missing or empty: refused as not a non-empty list
    problem = _invalid(requests)
    if problem:
        return _error(400, problem)
    refused = _over_limits(server, req, requests) if server.contracts else None
    if refused is not None:
        return refused
    lines = [(r["custom_id"], SYNC_PATH, r["params"]) for r in requests]
    now = datetime.now(UTC)
    job = server.batches.submit("anthropic", lines, "msgbatch_", {"created_at": now})
    return 200, _batch_object(server, job), {}


def _invalid(requests: Any) -> str | None:
    """Why a ``requests`` list would be refused (None: it is fine)."""
    if not isinstance(requests, list) or not requests:
        return "requests: must be a non-empty list"
    ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
    if not all(isinstance(i, str) and _CUSTOM_ID.match(i) for i in ids):
        return "requests: every custom_id must match ^[a-zA-Z0-9_-]{1,64}$"
    if len(set(ids)) != len(ids):
        return "requests: custom_id values must be unique"
    if not all(isinstance(r.get("params"), dict) for r in requests):
        return "requests: every request needs params"
    return None


def _over_limits(
    server: FakeProviderServer, req: RecordedRequest, requests: list[Any]
) -> Routed | None:
    """The refusal of a batch over the contract's per-batch limits (None: within them).

    https://platform.claude.com/docs/en/build-with-claude/batch-processing (read
    2026-12-04): "limited to either 100,000 Message requests or 256 MB in size";
    https://platform.claude.com/docs/en/api/errors: a body over an endpoint's size
    (Batch API: 256 MB) is answered 413 ``request_too_large``, "Request exceeds the
    maximum allowed number of bytes." (verbatim). The 400 for too many requests is
    modelled: the API's error shape, the figure and the limit.
    """
    caps = server.batches.limits_of("anthropic")
    if caps.bytes is not None and len(req.body) > caps.bytes:
        return _error(413, "Request exceeds the maximum allowed number of bytes.")
    if caps.lines is not None and len(requests) > caps.lines:
        return _error(400, f"requests: a message batch holds at most {caps.lines} requests, "
                           f"got {len(requests)}")  # fmt: skip
    return None


def _results(job: FakeBatch) -> Routed:
    if job.state == "running":
        return _error(404, f"message batch {job.id} has not ended yet")
    lines = [json.dumps(_result_line(job, cid, i)) + "\n" for i, cid in enumerate(_ids(job))]
    return 200, "".join(reversed(lines)).encode(), {}


# --------------------------------------------------------------------------- wire objects


def _ids(job: FakeBatch) -> list[str]:
    return [cid for cid, _, _ in job.lines]


def _result_line(job: FakeBatch, custom_id: str, index: int) -> dict[str, Any]:
    """One line of the results file, for the ``index``-th request of ``job``."""
    if job.failure is not None:
        return {"custom_id": custom_id, "result": {"type": _unrun(job)}}
    assert job.results is not None
    line = job.results[index]
    if line.status == 200:
        result = {"type": "succeeded", "message": line.body}
    else:
        result = {"type": "errored", "error": line.body}
    return {"custom_id": custom_id, "result": result}


def _unrun(job: FakeBatch) -> str:
    """What a failed job's lines report: ``canceled`` or ``expired``."""
    return "canceled" if "cancel" in (job.failure or "").lower() else "expired"


def _counts(job: FakeBatch) -> dict[str, int]:
    counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
    if job.failure is not None:
        counts[_unrun(job)] = len(job.lines)
    elif job.results is None:
        counts["processing"] = len(job.lines)
    else:
        ok = sum(1 for line in job.results if line.status == 200)
        counts.update(succeeded=ok, errored=len(job.results) - ok)
    return counts


def _batch_object(server: FakeProviderServer, job: FakeBatch) -> dict[str, Any]:
    """The ``MessageBatch`` object for ``job``."""
    created: datetime = job.meta["created_at"]
    ended = job.state != "running"
    canceled = job.failure is not None and _unrun(job) == "canceled"
    return {
        "id": job.id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": _counts(job),
        "created_at": created.isoformat(),
        "expires_at": (created + timedelta(hours=24)).isoformat(),
        "ended_at": datetime.now(UTC).isoformat() if ended else None,
        "cancel_initiated_at": created.isoformat() if canceled else None,
        "archived_at": None,
        "results_url": f"{server.base_url}{ROOT}/{job.id}/results" if ended else None,
    }
