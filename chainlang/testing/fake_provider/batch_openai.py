"""The fake server's OpenAI Batch API: file upload and download, batch create and retrieve.

The wire format is the one the ``openai`` SDK sends and expects (``resources/files.py``,
``resources/batches.py``, ``types/file_object.py``, ``types/batch.py``):

* ``POST /v1/files`` (multipart ``file`` + ``purpose``) → a ``file`` object;
* ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``) → a
  ``batch`` object, ``validating``; each input line ``{"custom_id", "method", "url",
  "body"}`` is answered later as the synchronous endpoint at ``url`` would answer it;
* ``GET /v1/batches/{id}`` → ``in_progress`` until the job is due, then ``completed``
  with an output file (lines answered 200) and, if any line failed, an error file;
  a failed job reports ``expired``, ``cancelled`` or ``failed`` (with ``errors``);
* ``GET /v1/files/{id}/content`` → the file's raw bytes.

Result lines: ``{"id", "custom_id", "response": {"status_code", "request_id", "body"},
"error": null}``, in input order.

Per-batch limits (with the server's ``contracts`` on): an input file over the
contract's bytes is refused at upload; a file of more requests than a batch takes
is accepted, and the batch created on it fails validation, as OpenAI's does.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from chainlang.testing.fake_provider.batches import FakeBatch, LineResult, Routed
from chainlang.testing.fake_provider.faults import RecordedRequest

if TYPE_CHECKING:
    from chainlang.testing.fake_provider.server import FakeProviderServer

_FILES = re.compile(r"^/v1/files(?:/([^/]+)/content)?$")
_BATCHES = re.compile(r"^/v1/batches(?:/([^/]+))?$")
_ENDPOINTS = ("/v1/chat/completions", "/v1/responses")
_WINDOW = 24 * 3600
_TOO_MANY = "too_many_tasks: "  # a failure that carries its own error code


def matches(path: str) -> bool:
    """True for the paths this module answers."""
    path = path.split("?", 1)[0]
    return bool(_FILES.match(path) or _BATCHES.match(path))


def handle(server: FakeProviderServer, req: RecordedRequest) -> Routed:
    """Answer one request to a batch endpoint."""
    path = req.path.split("?", 1)[0]
    files, batches = _FILES.match(path), _BATCHES.match(path)
    if req.method == "POST" and path == "/v1/files":
        return _upload(server, req)
    if req.method == "POST" and path == "/v1/batches":
        return _create(server, req)
    if req.method == "GET" and files and files.group(1):
        return _download(server, files.group(1))
    if req.method == "GET" and batches and batches.group(1):
        return _retrieve(server, batches.group(1))
    return _error(404, f"no route {req.method} {path}")


# --------------------------------------------------------------------------- files


def _upload(server: FakeProviderServer, req: RecordedRequest) -> Routed:
    form = req.form
    if "file" not in form:
        return _error(400, "'file' is a required property")
    most = server.batches.limits_of("openai").bytes
    if server.contracts and form.get("purpose") == b"batch" and most is not None:
        if len(form["file"]) > most:
            # verbatim: the 400 OpenAI answers a batch file over 200 MB at upload
            # (bespokelabsai/curator#111, 2024-11-15, read 2026-12-04)
            return _error(400, "File is too large.")
    name = re.search(rb'filename="([^"]*)"', req.body)
    file_id = server.batches.new_id("file-")
    server.batches.files[file_id] = form["file"]
    purpose = form.get("purpose", b"batch").decode()
    filename = name.group(1).decode() if name else "upload"
    return 200, _file_object(file_id, form["file"], filename, purpose), {}


def _file_object(file_id: str, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def _download(server: FakeProviderServer, file_id: str) -> Routed:
    data = server.batches.files.get(file_id)
    if data is None:
        return _error(404, f"No such File object: {file_id}")
    return 200, data, {}


# --------------------------------------------------------------------------- batches


def _create(server: FakeProviderServer, req: RecordedRequest) -> Routed:
    body = req.json if isinstance(req.json, dict) else {}
    file_id, endpoint = body.get("input_file_id"), body.get("endpoint")
    data = server.batches.files.get(str(file_id))
    if data is None:
        return _error(404, f"No such File object: {file_id}")
    if endpoint not in _ENDPOINTS:
        return _error(400, f"unsupported endpoint {endpoint!r}")
    try:
        lines = _input_lines(data, endpoint)
    except (ValueError, KeyError, TypeError) as exc:
        return _error(400, f"invalid input file: {exc}")
    meta = {
        "endpoint": endpoint,
        "input_file_id": file_id,
        "completion_window": body.get("completion_window", "24h"),
        "metadata": body.get("metadata"),
        "created_at": int(time.time()),
    }
    job = server.batches.submit("openai", lines, "batch_", meta, _too_many(server, lines))
    return 200, _batch_object(job, "validating"), {}


def _too_many(server: FakeProviderServer, lines: list[Any]) -> str | None:
    """Why validation fails a batch of ``lines`` (None: it holds no more than allowed).

    OpenAI creates the batch and fails it while validating, with the error code
    ``too_many_tasks`` in ``errors.data`` (the documented validation codes, as
    listed in stdapi-ai/stdapi.ai#240, 2026-09-10, read 2026-12-04; the contract's
    50,000 requests per batch: developers.openai.com/api/docs/guides/batch). The
    message is modelled: the figure and the limit.
    """
    most = server.batches.limits_of("openai").lines
    if not server.contracts or most is None or len(lines) <= most:
        return None
    return f"{_TOO_MANY}The input file has {len(lines)} requests; a batch accepts at most {most}."


def _input_lines(data: bytes, endpoint: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(custom id, sync path, body) of every line; every url must be the batch's endpoint."""
    lines, seen = [], set()
    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        line = json.loads(raw)
        if line["url"] != endpoint or line["method"] != "POST":
            raise ValueError(f"line {n}: {line['method']} {line['url']} is not POST {endpoint}")
        if line["custom_id"] in seen:
            raise ValueError(f"line {n}: duplicate custom_id {line['custom_id']}")
        seen.add(line["custom_id"])
        lines.append((line["custom_id"], line["url"], line["body"]))
    return lines


def _retrieve(server: FakeProviderServer, batch_id: str) -> Routed:
    job = server.batches.poll(batch_id)
    if job is None or job.family != "openai":
        return _error(404, f"No batch found with id '{batch_id}'.")
    if job.results is not None:
        _write_files(server, job)
    return 200, _batch_object(job), {}


def _status(job: FakeBatch) -> str:
    if job.failure is not None:
        return job.failure if job.failure in ("expired", "cancelled") else "failed"
    return "completed" if job.results is not None else "in_progress"


def _batch_object(job: FakeBatch, status: str | None = None) -> dict[str, Any]:
    status = status or _status(job)
    meta = job.meta
    results = job.results or []
    done = sum(r.status == 200 for r in results)
    obj: dict[str, Any] = {
        "id": job.id,
        "object": "batch",
        "endpoint": meta["endpoint"],
        "errors": None,
        "input_file_id": meta["input_file_id"],
        "completion_window": meta["completion_window"],
        "status": status,
        "output_file_id": meta.get("output_file_id"),
        "error_file_id": meta.get("error_file_id"),
        "created_at": meta["created_at"],
        "expires_at": meta["created_at"] + _WINDOW,
        "request_counts": {
            "total": len(job.lines),
            "completed": done,
            "failed": len(results) - done,
        },
        "metadata": meta["metadata"],
    }
    if status in ("completed", "failed", "expired", "cancelled"):
        obj[f"{status}_at"] = int(time.time())
    if status == "failed":
        code, message = "batch_failed", job.failure
        if message and message.startswith(_TOO_MANY):
            code, message = "too_many_tasks", message[len(_TOO_MANY) :]
        error = {"code": code, "message": message, "param": None, "line": None}
        obj["errors"] = {"object": "list", "data": [error]}
    return obj


def _write_files(server: FakeProviderServer, job: FakeBatch) -> None:
    """Store the output file and, if any line failed, the error file (once per job)."""
    if "output_file_id" in job.meta:
        return
    results = job.results or []
    job.meta["output_file_id"] = _store(server, [r for r in results if r.status == 200])
    failed = [r for r in results if r.status != 200]
    if failed:
        job.meta["error_file_id"] = _store(server, failed)


def _store(server: FakeProviderServer, results: list[LineResult]) -> str:
    file_id = server.batches.new_id("file-")
    server.batches.files[file_id] = b"".join(
        json.dumps(_result_line(server, r)).encode() + b"\n" for r in results
    )
    return file_id


def _result_line(server: FakeProviderServer, result: LineResult) -> dict[str, Any]:
    n = server.batches.new_id("")
    return {
        "id": f"batch_req_{n}",
        "custom_id": result.custom_id,
        "response": {"status_code": result.status, "request_id": f"req_{n}", "body": result.body},
        "error": None,
    }


def _error(status: int, message: str) -> Routed:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return status, {"error": error}, {}
