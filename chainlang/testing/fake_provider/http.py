"""The minimal HTTP/1.1 layer: read one request (sized or chunked), write one JSON response."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from chainlang.testing.fake_provider.faults import RecordedRequest

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


async def read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    """The next request on a connection (None when the client sends no more)."""
    line = await reader.readline()
    if not line.strip():
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RecordedRequest(method, path, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


def write(
    writer: asyncio.StreamWriter, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    """Write a response whose body is ``body`` encoded as JSON."""
    write_raw(writer, status, json.dumps(body).encode(), headers or {})


def write_raw(
    writer: asyncio.StreamWriter, status: int, data: bytes, headers: dict[str, str]
) -> None:
    """Write a response whose body is ``data`` as is."""
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "content-type: application/json",
        f"content-length: {len(data)}",
    ]
    head += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)


def fmt_seconds(seconds: float) -> str:
    """Seconds as a ``Retry-After`` value: an integer when whole."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"
