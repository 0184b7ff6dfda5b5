"""Flip calibration: ``oracle:flip=P`` changes each answer with probability P.

For every shipped chain, on small synthetic scenes, the share of answers that
``oracle:flip=0.3`` changed (the recorded answer differs from the recorded
oracle answer) must lie within the binomial 99% interval of 0.3, at every
packing (``per_call`` 1 and the chain's default, where the chain has one).

What counts as one answer (docs/providers.md, "Simulated answerers"): each key
of a batched request; within it, each field of a record answer but the shared
``reasoning``; anything else (a label, a yes/no, a list, an image) as a whole.
The walk below is written out here on purpose, not imported from the answerer.

Each question is counted once: a ``batch items`` request is recorded in every
item it answers, so questions are deduplicated by their request key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chains_helpers import CHAINS, RELABEL, records
from PIL import Image
from scipy.stats import binom

from chainlang.api import RunOptions, run
from chainlang.data.synthetic import generate

P = 0.3
EVERY_CHAIN = sorted(CHAINS.glob("*.chain")) + sorted((CHAINS / "examples").glob("*.chain"))
# Smaller than the defaults so each run takes a second or two; sizes chosen for
# a few hundred answers per chain where the chain asks that many.
SMALL: dict[str, dict[str, Any]] = {
    "segment": {"segments": 60},
    "group": {"segments": 60},
    "depth": {"segments": 40, "pairs": 120},
    "normals": {"segments": 40, "pairs": 60},
    "dense_depth": {"side": 128},
    "dense_normals": {"side": 128},
    "dense_group": {"side": 128},
    "depth_strategies": {"segments": 40, "calls": 60, "strategy": "sortrefine"},
    "normals_strategies": {"segments": 40, "calls": 30, "strategy": "adaptive"},
    "listwise_depth": {"segments": 40},
}
# Chains with a packing parameter are measured at per_call 1 and at their default.
PACKED = {"classify", "segment", "group"}
# One answer per image (or per point): more, tiny scenes for a usable count.
MANY_SCENES = {"classify", "label", "dense_depth", "dense_normals", "dense_group"}
# A few answers per image (three samples; a list and a zoom per object; a pair of objects).
MANY_SCENES |= {"count", "centres", "size_rank"}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three 256x192 scenes, and forty 96x72 ones for the one-answer-per-image chains."""
    return {
        "few": generate(3, tmp_path_factory.mktemp("few"), seed=1, size=(256, 192)),
        "many": generate(40, tmp_path_factory.mktemp("many"), seed=1, size=(96, 72)),
    }


def _cases() -> Iterator[Any]:
    for path in EVERY_CHAIN:
        packings: list[int | None] = [1, None] if path.stem in PACKED else [None]
        for per_call in packings:
            label = f"{path.stem}-per_call={per_call or 'default'}"
            yield pytest.param(path, per_call, id=label)


def _labels(chain: Path) -> dict[str, str]:
    """Every label set the chain names, rebound to the scenes' six classes."""
    return {"animals": "synthetic"} if chain.stem == "label" else RELABEL


def units(answer: Any, expected: Any, batched: bool) -> Iterator[tuple[Any, Any]]:
    """(given, expected) for every answer a recorded question holds."""
    if batched:
        for key, value in expected.items():
            if key != "reasoning":
                yield from units(answer[key], value, False)
    elif isinstance(expected, dict):
        for name, value in expected.items():
            if name != "reasoning":
                yield answer[name], value
    else:
        yield answer, expected


def _pixels(out: Path, name: str) -> bytes:
    """An image file of the run folder as raw RGB bytes (equal pictures, equal bytes)."""
    with Image.open(out / name) as img:
        return img.convert("RGB").tobytes()


def changed_share(out: Path) -> tuple[int, int]:
    """(changed answers, answers) over the run's distinct questions."""
    seen: set[str] = set()
    changed = total = 0
    for record in records(out).values():
        for q in record["questions"]:
            if q["key"] in seen or not q["ok"]:
                continue
            seen.add(q["key"])
            if q.get("expected_image"):  # an image answer is one answer
                total += 1
                changed += _pixels(out, q["answer_image"]) != _pixels(out, q["expected_image"])
                continue
            if q["expected"] is None:
                continue
            for given, want in units(q["answer"], q["expected"], q.get("batch") is not None):
                total += 1
                changed += given != want
    return changed, total


def test_every_chain_is_measured() -> None:
    names = {p.stem for p in EVERY_CHAIN}
    assert {"classify", "detect", "segment", "group", "depth", "normals", "label"} <= names
    assert {"dense_depth", "dense_normals", "dense_group"} <= names


@pytest.mark.parametrize(("chain", "per_call"), list(_cases()))
def test_flip_share_is_p_whatever_the_packing(
    chain: Path, per_call: int | None, scenes: dict[str, Path], tmp_path: Path
) -> None:
    params = dict(SMALL.get(chain.stem, {}))
    if per_call is not None:
        params["per_call"] = per_call
    data = scenes["many" if chain.stem in MANY_SCENES else "few"]
    options = RunOptions(
        params=params, labels=_labels(chain), cache=tmp_path / "c.sqlite", progress="none"
    )
    result = run(chain, data, f"oracle:flip={P}", out=tmp_path / "run", options=options)
    assert result.summary.items_failed == 0, result.summary
    changed, total = changed_share(tmp_path / "run")
    lo, hi = binom.interval(0.99, total, P)
    assert total >= 30, f"{chain.stem}: only {total} answers measured"
    assert lo <= changed <= hi, (
        f"{chain.stem} per_call={per_call}: {changed}/{total} answers changed "
        f"({changed / total:.3f}), outside the 99% interval [{lo:.0f}, {hi:.0f}] of {P}"
    )


def _outputs(out: Path) -> dict[str, Any]:
    """Each item's output: its value, or its arrays' bytes."""
    got: dict[str, Any] = {}
    for item_id, record in records(out).items():
        output = record["output"]
        if "arrays" in output:
            with np.load(out / output["arrays"]) as z:
                got[item_id] = z["output"].tobytes()
        else:
            got[item_id] = output.get("value")
    return got


@pytest.mark.parametrize("model", [f"oracle:flip={P}", "random"])
@pytest.mark.parametrize("chain", ["classify", "segment"])
def test_packing_changes_no_answer(
    chain: str, model: str, scenes: dict[str, Path], tmp_path: Path
) -> None:
    """Where a question's content does not depend on its batch (classify's images,
    segment's regions without carry_seen), every per_call gives the same outputs."""
    data = scenes["many" if chain in MANY_SCENES else "few"]
    got = []
    for per_call in (1, 7):
        options = RunOptions(
            params={**SMALL.get(chain, {}), "per_call": per_call},
            labels=RELABEL,
            cache=tmp_path / "c.sqlite",
            progress="none",
        )
        out = tmp_path / f"per_call{per_call}"
        run(CHAINS / f"{chain}.chain", data, model, out=out, options=options)
        got.append(_outputs(out))
    assert got[0] == got[1]
