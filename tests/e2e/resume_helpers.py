"""Helpers shared by the kill-and-resume tests (API script and CLI command)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from e2e_helpers import results

from chainlang.testing.fake_provider import FakeCall, FakeProviderServer


def content_answer(call: FakeCall) -> Any:
    """A deterministic answer per question, picked by the hash of the request's images.

    Answers depend only on what was asked, so an interrupted run and an
    uninterrupted one must agree exactly, yet not every answer is the same.
    Serves both forms of the depth question: ``{"near": colour}`` and
    ``{"depth_order": [colour, colour]}`` (nearest first).
    """
    props = (call.schema or {}).get("properties", {})
    digest = hashlib.sha256(request_images(call.request.json)).digest()
    if "enum" in props.get("near", {}):
        options = props["near"]["enum"]
        return {"near": options[digest[0] % len(options)]}
    colours = props.get("depth_order", {}).get("items", {}).get("enum")
    if colours:
        first = colours[digest[0] % len(colours)]
        return {"depth_order": [first, *(c for c in colours if c != first)]}
    return None


def request_images(body: Any) -> bytes:
    """The image URLs of a request (the question's identity, independent of request ids)."""
    if isinstance(body, dict):
        url = body.get("url") if isinstance(body.get("url"), str) else ""
        return url.encode() + b"".join(request_images(v) for v in body.values())
    if isinstance(body, list):
        return b"".join(request_images(v) for v in body)
    return b""


def question_digest(body: Any) -> str:
    """A request's identity for counting repeats."""
    return hashlib.sha256(request_images(body)).hexdigest()


def subprocess_env(srv: FakeProviderServer) -> dict[str, str]:
    """The environment of a run subprocess talking to ``srv`` as OpenAI."""
    env = dict(os.environ)
    env.update(OPENAI_API_KEY="test-key", OPENAI_BASE_URL=srv.openai_base_url, HF_HUB_OFFLINE="1")
    return env


def wait_for(srv: FakeProviderServer, target: int, proc: Any, limit_s: float = 60.0) -> None:
    """Block until the server has seen ``target`` requests or the process has ended."""
    deadline = time.monotonic() + limit_s
    while len(srv.requests) < target and proc.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no progress: {len(srv.requests)} of {target} requests")
        time.sleep(0.005)


def finish(proc: Any) -> str:
    """Wait for a run process; fail with its output unless it exited 0; return the output."""
    output, _ = proc.communicate(timeout=120)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


def answers_by_item(out: Path) -> dict[str, dict[str, Any]]:
    """Answers by item and question key (questions are recorded in completion order)."""
    return {
        item: {q["key"]: q["answer"] for q in r["questions"]} for item, r in results(out).items()
    }


def output_arrays(out: Path) -> dict[str, np.ndarray]:
    """Each item's dense output array."""
    found = {}
    for item, r in results(out).items():
        with np.load(out / r["output"]["arrays"]) as z:
            found[item] = z["output"]
    return found


def assert_same_outputs(out: Path, reference: Path) -> None:
    """Same answers per question and bit-identical output arrays."""
    ref_answers = answers_by_item(reference)
    distinct = {json.dumps(a, sort_keys=True) for qs in ref_answers.values() for a in qs.values()}
    assert len(distinct) > 1, f"the fake server should vary its answers, got {distinct}"
    assert answers_by_item(out) == ref_answers
    ref_arrays, arrays = output_arrays(reference), output_arrays(out)
    assert arrays.keys() == ref_arrays.keys()
    for item, array in arrays.items():
        np.testing.assert_array_equal(array, ref_arrays[item], err_msg=item)
