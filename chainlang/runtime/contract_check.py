"""Checking every request a chain will send against its model's contract, before paying.

The planner's dry run builds each request exactly as the run will (same images,
same resizing, same schema, same adaptations); :func:`check_requests` measures
them against the target model's contract
(:mod:`chainlang.providers.conformance`) and reports each broken limit once,
pointing at the prompt (for the answer schema) or at the ask (for images and
tokens). ``chainlang plan``, ``chainlang check --model`` and the start of
``run`` and ``sweep`` refuse a chain with any violation; nothing is sent.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from chainlang.data.manifest import Dataset
from chainlang.errors import UsageError
from chainlang.language import ir
from chainlang.providers.base import ModelRequest
from chainlang.providers.conformance import target_for, violations
from chainlang.runtime.cost import estimate_input_tokens


class ContractViolation(UsageError):
    """A chain would send requests its provider's documentation says it refuses."""


@dataclass(frozen=True)
class ContractReport:
    """What the check found: broken limits, adaptations made, and warnings.

    Each entry is one line, ``file:line:col: text``; a limit broken by many
    requests of one prompt is reported once.
    """

    model: str
    violations: tuple[str, ...] = ()
    adapted: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "violations": list(self.violations),
            "adapted": list(self.adapted),
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """Warnings, adaptations and violations, as the commands print them."""
        out = [f"warning: {w}" for w in self.warnings]
        out += [f"adapted: {a}" for a in self.adapted]
        out += [f"error: {v}" for v in self.violations]
        return out

    def error(self) -> ContractViolation:
        head = f"{len(self.violations)} request limit(s) of {self.model} broken; nothing was sent"
        return ContractViolation("\n".join([head, *self.violations]))


def _prompt_origin(program: ir.Program, schema_name: str) -> str | None:
    """Where the prompt whose answer schema is named ``schema_name`` is declared."""
    for p in program.prompts:
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in p.name)[:64]
        if safe == schema_name:
            return p.origin or None
    return None


def check_requests(
    program: ir.Program, requests: Iterable[ModelRequest], model: str
) -> ContractReport:
    """Check ``requests`` (all to one model) against that model's contract."""
    seen: dict[tuple[str, str], str] = {}
    adapted: dict[str, str] = {}
    warnings: list[str] = []
    for request in requests:
        target = target_for(request.model)
        if target is None:
            return ContractReport(model)
        if not warnings and (w := target.warning()):
            warnings.append(w)
        prompt = _prompt_origin(program, request.schema_name)
        tokens, _ = estimate_input_tokens(request)
        for v in violations(request, target, tokens):
            about_schema = v.what == "the answer schema"
            where = (prompt if about_schema else request.origin) or request.origin or program.name
            what = f"the answer schema of {request.schema_name}" if about_schema else v.what
            key = (where, v.limit)
            if key not in seen:
                seen[key] = f"{where}: {replace(v, what=what).text()}"
        for note in request.adapted:  # one line per kind of rewrite, whatever its figures
            adapted.setdefault(
                re.sub(r"\d[\d,]*", "N", note), f"{prompt or request.origin}: {note}"
            )
    return ContractReport(model, tuple(seen.values()), tuple(adapted.values()), tuple(warnings))


async def check_before_paying(
    program: ir.Program,
    dataset: Dataset,
    settings: Any,
    *,
    items: int = 1,
    items_per_batch: int | None = None,
) -> ContractReport:
    """Dry-run the first ``items`` items, or the first chunk of a ``batch items`` chain
    (nothing is sent), and check their requests.

    Raises:
        ContractViolation: a request breaks a limit of the model's contract.
    """
    if target_for(settings.model) is None:
        return ContractReport(str(settings.model))
    from chainlang.runtime.plan import dry_run_requests  # plan imports the interpreter

    requests = await dry_run_requests(program, dataset, settings, items, items_per_batch)
    report = check_requests(program, requests, str(settings.model))
    for line in report.lines():
        if not line.startswith("error: "):
            print(line, file=sys.stderr)
    if not report.ok:
        raise report.error()
    return report


async def check_chain(program: ir.Program, dataset: Dataset, model: str) -> ContractReport:
    """The contract report of ``program`` sent to ``model`` on ``dataset`` (first item, or
    first packed chunk), with the chain's ``defaults for`` the model; nothing is sent."""
    from chainlang.runtime.plan import dry_run_requests
    from chainlang.runtime.session import RunOptions, items_per_batch, parse_model, settings_for

    ref = parse_model(model)
    if target_for(ref) is None:
        return ContractReport(model)
    settings = settings_for(program, ref, RunOptions(), dataset)
    packed = items_per_batch(program, settings)
    requests = await dry_run_requests(program, dataset, settings, 1, packed)
    return check_requests(program, requests, model)
