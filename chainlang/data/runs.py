"""Reading a finished run folder back: ``run.json`` and ``results.jsonl``.

The runtime writes run folders (:mod:`chainlang.runtime.runfolder`, which also
describes the layout); scoring, reporting and the commands read them. The
readers live here, below all of those, so that scoring a run does not import
the runtime. :mod:`chainlang.runtime.runfolder` re-exports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from chainlang.errors import RunError

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"


def read_run(path: Path) -> dict[str, Any]:
    """Read a run folder's ``run.json``.

    Raises:
        RunError: ``path`` is not a run folder.
    """
    run_file = Path(path) / RUN_FILE
    if not run_file.exists():
        raise RunError(f"{path} is not a run folder (no {RUN_FILE})")
    try:
        doc = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{run_file} cannot be read ({exc})") from None
    if not isinstance(doc, dict):
        raise RunError(f"{run_file} does not describe a run (not a JSON object)")
    return doc


def read_results(path: Path) -> list[dict[str, Any]]:
    """All (item, sample) records of a run; the latest record of each wins.

    Holds every record in memory: fine for inspecting one run, but whole-run
    totals should stream through :func:`iter_results` instead.
    """
    return list(iter_results(path))


def iter_results(path: Path) -> Iterator[dict[str, Any]]:
    """Stream the latest record of each (item, sample), in the order they were written.

    A resumed run appends a new record for a key that failed before, so a later
    line supersedes an earlier one. Two passes over the file keep only one line
    number per key in memory, never the records themselves: the first pass finds
    each key's last line, the second yields exactly those lines. A last line cut
    short by a kill is ignored (it is rewritten on resume).
    """
    file = Path(path) / RESULTS_FILE
    if not file.exists():
        return
    last_line = {record_key(record): n for n, record in _numbered_records(file)}
    for n, record in _numbered_records(file):
        if last_line.get(record_key(record)) == n:
            yield record


def record_key(record: Mapping[str, Any]) -> str:
    """Records are per (item, sample); older records without a key are sample 0."""
    return str(record.get("key") or f"{record['id']}#0")


def _numbered_records(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for every complete JSON line of ``results.jsonl``."""
    with open(file, encoding="utf-8") as f:
        for n, line in enumerate(f):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            yield n, record
