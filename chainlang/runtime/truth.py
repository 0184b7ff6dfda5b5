"""Where oracle clauses read ``truth``: the dataset, or a specialist's predictions.

For *Specialist + Chain* the ``oracle`` clause of every ask is evaluated on a
specialist model's prediction instead of the truth; the specialist predicts
each item once.

:func:`check_truth_types` refuses, before a run, a chain whose declared truth
types do not fit the dataset's (``truth count: Text`` on a dataset whose
``count`` is an ``Int``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, Protocol, cast

import numpy as np

from chainlang.errors import ChainlangError, DataError, ScoringError, UsageError
from chainlang.language import answers, ir
from chainlang.language.types import (
    POINT,
    BoolT,
    EnumT,
    FloatT,
    IntT,
    LabelT,
    ListT,
    OpaqueT,
    PermutationT,
    RankingT,
    TextT,
    Type,
)
from chainlang.providers.specs import answers_from
from chainlang.runtime.interpreter import ItemFailed, Settings

TruthLoader = Callable[[str], Any]


class TruthSource(Protocol):
    """Where an item's ``truth.*`` values come from, when not from the item itself."""

    async def for_item(self, item: Any) -> TruthLoader:
        """The loader ``ItemContext.truth`` calls with a truth name."""
        ...


class SpecialistTruth:
    """``truth.<task>`` answered by a specialist's prediction instead of the item's truth.

    This is the paper's "Specialist + Chain": each ask's ``oracle`` clause runs
    unchanged over the prediction. The item's real truth is never read, so any
    other truth kind fails the question. Each item is predicted once, off the
    event loop and one item at a time (models batch internally and share a device).
    """

    def __init__(self, specialist: Any) -> None:
        self.specialist = specialist
        self._lock = asyncio.Lock()

    async def for_item(self, item: Any) -> TruthLoader:
        """Predict ``item`` and return a loader serving that prediction.

        Raises:
            ItemFailed: the specialist cannot predict this item (kind ``specialist``).
        """
        name, task = self.specialist.name, self.specialist.task
        async with self._lock:
            try:
                pred = await asyncio.to_thread(_predict_one, self.specialist, item)
                value = _as_truth(task, pred, item.id)
            except ChainlangError as err:
                raise ItemFailed("specialist", f"specialist {name}: {err}") from err

        def load(kind: str) -> Any:
            if kind != task:
                raise DataError(
                    f"specialist {name} predicts {task}, not {kind}; "
                    "a specialist baseline never reads the real truth"
                )
            return value

        return load


def truth_source_for(
    program: ir.Program,
    settings: Settings,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> TruthSource | None:
    """The truth source a run needs: a specialist's for ``specialist:SPEC``, else None.

    ``SPEC`` is a :func:`chainlang.scoring.specialists.get_specialist` spec; the
    model option ``task=KIND`` names a ``folder:`` specialist's task when the chain
    reads more than one truth kind. Predictions of specialists with weights are
    cached in ``cache_dir`` by weights and image digest.

    Raises:
        UsageError: bad spec, no oracle clause reading truth, or a specialist that
            does not predict every truth kind the chain's oracle clauses read.
    """
    ref = settings.model
    if answers_from(ref.provider) != "predictions":
        return None
    from chainlang.scoring.specialists import TASKS, SpecialistOptions, Task, get_specialist

    needed = truth_fields(program)
    if not needed:
        raise UsageError(
            f"specialist:{ref.model}: chain {program.name!r} has no oracle clause reading "
            "truth, so a specialist has nothing to answer from"
        )
    task = dict(ref.options).get("task") or (next(iter(needed)) if len(needed) == 1 else None)
    if task is not None and task not in TASKS:
        raise UsageError(f"specialist:{ref.model}: task={task} is not one of {', '.join(TASKS)}")
    labels = answers.load_labels(settings.dataset_labels) if settings.dataset_labels else None
    try:
        specialist = get_specialist(
            ref.model,
            # checked against TASKS above
            SpecialistOptions(labels=labels, task=cast("Task | None", task)),
            cache_dir=cache_dir,
        )
    except ScoringError as err:
        hint = "" if task else f" (the chain reads {', '.join(sorted(needed))}: add :task=KIND)"
        raise UsageError(f"specialist:{ref.model}: {err}{hint}") from err
    missing = sorted(needed - {specialist.task})
    if missing:
        raise UsageError(
            f"specialist:{ref.model} predicts {specialist.task}, but the oracle clauses of "
            f"{program.name!r} read truth.{', truth.'.join(missing)}; a specialist baseline "
            "never falls back to the real truth"
        )
    return SpecialistTruth(specialist)


def check_truth_types(program: ir.Program, dataset: Any) -> None:
    """Refuse a run whose chain declares a truth field with a type the dataset's does not fit.

    Only fields the dataset knows (a built-in kind, or a field its ``dataset.json``
    declares) are compared; a field it does not have is left to each item (its
    questions get no oracle answer). A ``JSON`` field fits any declaration.

    Raises:
        UsageError: naming the field, the chain's type and the dataset's.
    """
    info = getattr(dataset, "info", None)
    if info is None:
        return
    for decl in program.truth:
        have = info.truth_type(decl.name)
        if have is None or truth_type_fits(decl.type, have):
            continue
        raise UsageError(
            f"chain {program.name!r} declares `truth {decl.name}: {decl.type.show()}`, but the "
            f"dataset's {decl.name!r} is of type {have}; declare "
            f"`truth {decl.name}: {_suggested(have)}` (docs/datasets.md, 'Typed truth fields')"
        )


def _suggested(dataset_type: str) -> str:
    return "Label(set)" if dataset_type == "Label" else dataset_type


def _is_id(t: Type) -> bool:
    return isinstance(t, IntT | TextT | EnumT | LabelT) or t == OpaqueT(name="Label")


def truth_type_fits(declared: Type, dataset_type: str) -> bool:
    """Whether a chain's ``truth NAME: declared`` can hold the dataset's values of a type.

    >>> from chainlang.language.types import FloatT, IntRangeT, TextT
    >>> truth_type_fits(IntRangeT(lo=0, hi=20), "Int"), truth_type_fits(FloatT(), "Int")
    (True, True)
    >>> truth_type_fits(TextT(), "Int"), truth_type_fits(TextT(), "JSON")
    (False, True)
    """
    if dataset_type == "JSON":
        return True
    if dataset_type == "Int":
        return isinstance(declared, IntT | FloatT)
    if dataset_type == "Float":
        return isinstance(declared, FloatT)
    if dataset_type == "Bool":
        return isinstance(declared, BoolT)
    if dataset_type in ("Text", "Label"):
        return isinstance(declared, TextT | LabelT) or declared == OpaqueT(name="Label")
    if dataset_type == "Point":
        return declared == POINT
    if dataset_type == "Points":
        return isinstance(declared, ListT) and declared.item == POINT
    if dataset_type == "Ranking":
        return isinstance(declared, RankingT | PermutationT) or (
            isinstance(declared, ListT) and _is_id(declared.item)
        )
    # a built-in kind: the type of its name (Boxes, DepthMap, ...), any label set for Label
    return declared == OpaqueT(name=dataset_type)


def truth_fields(program: ir.Program) -> frozenset[str]:
    """The ``truth.*`` fields a program reads (only oracle clauses may read truth)."""
    return frozenset(
        node.name
        for node in ir.walk(program)
        if isinstance(node, ir.GetField)
        and isinstance(node.obj, ir.Ref)
        and node.obj.scope == "truth"
    )


def _predict_one(specialist: Any, item: Any) -> Any:
    preds = list(specialist.predict([item]))
    if len(preds) != 1:
        raise ScoringError(f"gave {len(preds)} predictions for item {item.id!r}")
    return preds[0]


def _as_truth(task: str, pred: Any, item_id: str) -> Any:
    """A prediction in the form the truth of ``task`` has (see docs/architecture.md).

    Raises:
        ScoringError: the prediction has another form (e.g. a depth file read as normals).
    """
    if task in _MAP_DIMS:
        arr = np.asarray(pred)
        if arr.ndim != _MAP_DIMS[task] or (task == "normals" and arr.shape[-1] != 3):
            want = "H×W×3" if task == "normals" else "H×W"
            raise ScoringError(
                f"the {task} prediction for item {item_id!r} is {arr.shape}, not {want}"
            )
        if task == "depth":
            return _positive_depth(arr.astype(np.float32))
        return arr.astype(np.float32) if task == "normals" else arr
    if task == "label" and not isinstance(pred, str):
        raise ScoringError(f"the label prediction for item {item_id!r} is not a string")
    return pred


_MAP_DIMS = {"depth": 2, "normals": 3, "semantic": 2, "instances": 2}


def _positive_depth(depth: np.ndarray) -> np.ndarray:
    """Shift a relative depth map above zero, keeping its order.

    Region statistics treat depth <= 0 as "no data", and relative models give
    e.g. negated inverse depth (all negative); a shift keeps every comparison.
    """
    finite = np.isfinite(depth)
    if not finite.any():
        return depth
    low, high = float(depth[finite].min()), float(depth[finite].max())
    if low > 0:
        return depth
    margin = (high - low) * 1e-3 or 1e-3
    return np.where(finite, depth - low + margin, np.nan).astype(np.float32)
