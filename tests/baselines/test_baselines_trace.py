"""``trace`` on the runs that need more than the item itself to replay.

A ``batch items`` chain packs several items into one request, and a
``specialist:SPEC`` run answers from a specialist's predictions instead of the
truth. Both must replay to the exact requests the run sent, with every answer
found in the run's own records (the journal is left out on purpose).
"""

from __future__ import annotations

import json
from pathlib import Path

from baselines_helpers import CLASSIFY, DEPTH, Folders, records, run_chain

from chainlang.data.manifest import load_dataset
from chainlang.reporting.trace import format_trace, trace_item

SYNTHETIC = {"imagenet1k": "synthetic"}


def _trace(run: Path, item: str, tmp_path: Path) -> object:
    # No journal: every answer must come from the run's records.
    return trace_item(run, item, cache=tmp_path / "absent.sqlite")


def test_batched_items_replay_their_whole_chunk(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "classify"
    params = {"per_call": "2"}  # chunks [scene 0, scene 1] and [scene 2]
    result = run_chain(CLASSIFY, manifest, "oracle:flip=0.3", out, params=params, labels=SYNTHETIC)
    assert result.summary.questions == 2
    ids = [item.id for item in load_dataset(manifest)]
    by_id = {r["id"]: r for r in records(out)}
    for item_id, packed in zip(ids, (2, 2, 1), strict=True):
        trace = _trace(out, item_id, tmp_path)
        assert trace.note == ""
        (step,) = trace.steps
        (question,) = by_id[item_id]["questions"]
        assert step.ok and step.key == question["key"]
        assert step.answer == question["answer"]  # the keyed answer, every item of the chunk
        assert len(step.images) == packed and all(i.size == (224, 224) for i in step.images)
    # The chunk's two items share one request; the lone third item has its own.
    first, second, third = (_trace(out, i, tmp_path).steps[0].key for i in ids)
    assert first == second != third


def test_a_specialist_run_replays_from_its_predictions(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    out = tmp_path / "depth"
    run_chain(DEPTH, manifest, f"specialist:folder:{folders.noisy}", out)
    record = records(out)[0]
    trace = _trace(out, record["id"], tmp_path)
    assert trace.note == ""
    assert len(trace.steps) == len(record["questions"])
    assert all(s.ok for s in trace.steps)
    got = [s.answer for s in trace.steps]
    assert got == [q["answer"] for q in record["questions"]]
    assert "0 failed" in format_trace(trace)
    # The noisy specialist disagrees with the truth somewhere: the replay used its
    # predictions, not the truth (whose answers the records would not hold).
    assert any(q["answer"] != q.get("expected") for q in record["questions"]), json.dumps(
        record["questions"][:3]
    )
