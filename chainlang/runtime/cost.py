"""Prices, worst-case estimates and the ``--max-cost`` budget.

Prices come from ``models.toml`` (shipped in the package) plus an optional user
table in the same layout. A model matching no entry has an *unknown* price:
:meth:`PriceTable.price` returns ``None`` and reports show "unknown", never $0.
Simulated answerers (``oracle``, ``random``, ``specialist``) cost nothing.

The budget reserves each call's worst case once the call has a slot, just before it
is sent (estimated input tokens × a margin + the output cap, at the model's prices),
and settles to the reported cost afterwards. A call that does not fit next to the
calls in flight waits for them to settle; it is refused only when what is already
spent leaves no room for it. The input margin of each model is corrected from the
usage the provider reports (:class:`InputMargins`), so reservations stay upper bounds.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from chainlang.errors import UsageError
from chainlang.providers.base import ImagePart, ModelRef, ModelRequest, TextPart, Usage
from chainlang.providers.capabilities import image_tokens
from chainlang.providers.specs import is_free

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
# Reported input tokens may exceed chars/4 (non-English text, tokenizer differences);
# the budget reserves this multiple of the estimate so it still holds.
INPUT_MARGIN = 1.5

_PRICE_KEYS = frozenset(
    {
        "provider",
        "match",
        "input",
        "output",
        "cached_input",
        "cache_write",
        "batch_cache",
        "image_input",
        "batch_discount",
        "image_tokens",
        "concurrency",
        "rpm",
        "tpm",
        "max_output",
    }
)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of the price table. Prices are USD per 1M tokens."""

    provider: str
    patterns: tuple[str, ...]
    input: float
    output: float
    cached_input: float
    image_input: float
    batch_discount: float
    max_output: int
    image_tokens: str | None = None
    # Prompt-cache writes (Anthropic: a premium over ``input``; others write for free).
    cache_write: float | None = None  # None: at the ``input`` price
    # Whether cache reads and writes keep their own prices inside the batch API (else
    # every input token of a batch line is charged at the batch ``input`` price).
    batch_cache: bool = True
    concurrency: int | None = None
    rpm: float | None = None
    tpm: float | None = None


class Estimate(NamedTuple):
    """Tokens and dollars a request may cost at most (``worst_case_usd`` None: price unknown)."""

    input_tokens: int
    max_output_tokens: int
    worst_case_usd: float | None


class PriceTable:
    """The models chainlang knows prices for, looked up by glob pattern."""

    def __init__(self, models: tuple[ModelInfo, ...]) -> None:
        self.models = models
        # Per-table memo of lookups: glob matching every entry costs ~40 us per call.
        self._memo: dict[tuple[str, str], ModelInfo | None] = {}

    @staticmethod
    def load(user: Path | Mapping[str, Any] | None = None) -> PriceTable:
        """The shipped table, with ``user`` entries (a TOML file or mapping) taking precedence.

        Raises:
            UsageError: the user table is unreadable or malformed (names the entry).
        """
        text = resources.files("chainlang.runtime").joinpath("models.toml").read_text("utf-8")
        shipped = _parse_table(tomllib.loads(text), "models.toml")
        if user is None:
            return PriceTable(shipped)
        if isinstance(user, Path):
            try:
                data = tomllib.loads(user.read_text("utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise UsageError(f"cannot read price table {user}: {e}") from e
            extra = _parse_table(data, str(user))
        else:
            extra = _parse_table(user, "price config")
        return PriceTable(extra + shipped)  # earlier entries win ties in lookup

    def lookup(self, ref: ModelRef) -> ModelInfo | None:
        """The entry for ``ref`` (longest matching pattern wins), or None if unknown."""
        key = (ref.provider, ref.model)
        if key not in self._memo:
            self._memo[key] = self._match(ref)
        return self._memo[key]

    def _match(self, ref: ModelRef) -> ModelInfo | None:
        best: tuple[int, int, ModelInfo] | None = None
        for order, info in enumerate(self.models):
            if info.provider != ref.provider:
                continue
            for pattern in info.patterns:
                if fnmatch.fnmatchcase(ref.model, pattern):
                    rank = (len(pattern), -order)
                    if best is None or rank > best[:2]:
                        best = (rank[0], rank[1], info)
        return best[2] if best else None

    def price(self, ref: ModelRef, usage: Usage, *, batch: bool = False) -> float | None:
        """Dollars for ``usage`` on ``ref``; 0 for simulated answerers, None if unknown.

        ``usage.input_tokens`` includes cached and image tokens (as providers report
        them); those parts are charged at their own rates.
        """
        if is_free(ref.provider):
            return 0.0
        info = self.lookup(ref)
        if info is None:
            return None
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        written = min(usage.cache_write_tokens, usage.input_tokens - cached)
        if batch and not info.batch_cache:
            cached = written = 0  # the batch API bills them as plain input
        images = min(usage.image_tokens, usage.input_tokens - cached - written)
        plain = usage.input_tokens - cached - written - images
        write_price = info.input if info.cache_write is None else info.cache_write
        dollars = (
            plain * info.input
            + cached * info.cached_input
            + written * write_price
            + images * info.image_input
            + usage.output_tokens * info.output
        ) / 1e6
        return dollars * (info.batch_discount if batch else 1.0)

    def output_cap(self, request: ModelRequest) -> int:
        """The most output tokens ``request`` can cost: its ``max_tokens``, else the
        model's ``max_output`` (4096 for a model the table does not know)."""
        if request.params.max_tokens:
            return request.params.max_tokens
        info = self.lookup(request.model)
        return info.max_output if info else 4096

    def estimate(
        self, request: ModelRequest, *, batch: bool = False, margin: float = INPUT_MARGIN
    ) -> Estimate:
        """Estimated input tokens, the output cap, and the worst-case dollars of one call
        (at the batch price when ``batch``; input tokens counted ``margin`` times)."""
        ref = request.model
        if is_free(ref.provider):
            return Estimate(0, 0, 0.0)
        info = self.lookup(ref)
        input_tokens, image_part = estimate_input_tokens(request)
        max_out = self.output_cap(request)
        if info is None:
            return Estimate(input_tokens, max_out, None)
        inp = math.ceil(input_tokens * margin)
        worst = self.price(ref, Usage(inp, max_out, 0, math.ceil(image_part * margin)), batch=batch)
        if worst is not None and info.cache_write is not None and info.cache_write > info.input:
            # every input token may be a prompt-cache write, at its premium (Anthropic)
            written = self.price(ref, Usage(inp, max_out, 0, 0, inp), batch=batch)
            worst = max(worst, written or 0.0)
        return Estimate(input_tokens, max_out, worst)


def estimate_input_tokens(request: ModelRequest) -> tuple[int, int]:
    """(total, image part) of the input tokens of ``request``, estimated before the call.

    Text counts one token per four characters, images follow the provider's rule,
    and the schema is counted as text because providers put it in the prompt.
    """
    chars = len(str(request.schema)) if request.schema else 0
    images = 0
    for message in request.messages:
        chars += MESSAGE_OVERHEAD_TOKENS * CHARS_PER_TOKEN
        for part in message.parts:
            if isinstance(part, TextPart):
                chars += len(part.text)
            elif isinstance(part, ImagePart):
                images += image_tokens(request.model, part.image.size, part.detail)
    return math.ceil(chars / CHARS_PER_TOKEN) + images, images


def _parse_table(data: Mapping[str, Any], where: str) -> tuple[ModelInfo, ...]:
    defaults = dict(data.get("defaults", {}))
    out = []
    for i, entry in enumerate(data.get("model", [])):
        out.append(_parse_entry(entry, defaults, f"{where}: model #{i + 1}"))
    return tuple(out)


def _parse_entry(entry: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> ModelInfo:
    unknown = set(entry) - _PRICE_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("provider", "match", "input", "output"):
        if key not in entry:
            raise UsageError(f"{where}: missing {key!r}")
    patterns = entry["match"]
    if isinstance(patterns, str):
        patterns = [patterns]
    prices = [
        entry["input"],
        entry["output"],
        entry.get("cached_input", entry["input"]),
        entry.get("cache_write", entry["input"]),
    ]
    if any(not isinstance(p, int | float) or p < 0 for p in prices):
        raise UsageError(f"{where}: prices must be non-negative numbers, got {prices}")
    return ModelInfo(
        provider=str(entry["provider"]),
        patterns=tuple(str(p) for p in patterns),
        input=float(entry["input"]),
        output=float(entry["output"]),
        cached_input=float(entry.get("cached_input", entry["input"])),
        image_input=float(entry.get("image_input", entry["input"])),
        batch_discount=float(entry.get("batch_discount", defaults.get("batch_discount", 1.0))),
        max_output=int(entry.get("max_output", defaults.get("max_output", 4096))),
        image_tokens=entry.get("image_tokens"),
        cache_write=None if "cache_write" not in entry else float(entry["cache_write"]),
        batch_cache=bool(entry.get("batch_cache", defaults.get("batch_cache", True))),
        concurrency=entry.get("concurrency", defaults.get("concurrency")),
        rpm=entry.get("rpm"),
        tpm=entry.get("tpm"),
    )


class InputMargins:
    """How many times its estimated input tokens each model may bill, learnt as the run goes.

    Starts at :data:`INPUT_MARGIN`; a reported usage above ``margin × estimate`` raises
    the model's margin to the reported ratio × :data:`MARGIN_HEADROOM`, so later
    reservations are upper bounds again. A model is *calibrated* once one of its calls
    came back with an answer or a usage report: until then the budget sends its calls
    one at a time, so an estimate that is far off costs at most one call.
    """

    def __init__(self) -> None:
        self._margin: dict[ModelRef, float] = {}

    def margin(self, ref: ModelRef) -> float:
        """The input margin to reserve for ``ref`` now."""
        return self._margin.get(ref, INPUT_MARGIN)

    def calibrated(self, ref: ModelRef) -> bool:
        """True once a call of ``ref`` reported back."""
        return ref in self._margin

    def observe(self, ref: ModelRef, estimated_input: int, reported_input: int) -> None:
        """Learn from one report (``reported_input`` 0: the provider gave no count)."""
        margin = self.margin(ref)
        if estimated_input > 0 and reported_input > estimated_input * margin:
            margin = reported_input / estimated_input * MARGIN_HEADROOM
        self._margin[ref] = margin


MARGIN_HEADROOM = 1.25


class Budget:
    """A spending cap: reserve the worst case, settle to the actual, wait for room.

    ``spent`` is what the run has been charged (reported costs, and the worst case of
    calls that may have been billed without a report); ``reserved`` is the worst case
    of the calls in flight. Reservation and settlement are synchronous, so on one event
    loop they are atomic with respect to other calls.
    """

    def __init__(self, max_usd: float) -> None:
        if not max_usd >= 0:
            raise UsageError(f"--max-cost must be a non-negative number of dollars, got {max_usd}")
        self.max_usd = max_usd
        self.spent = 0.0
        self.reserved = 0.0
        self._in_flight = 0
        self._settled: asyncio.Event | None = None  # made on first wait (needs a loop)

    @property
    def remaining(self) -> float:
        """Dollars neither spent nor reserved."""
        return self.max_usd - self.spent - self.reserved

    def has_room(self, amount: float) -> bool:
        """True if ``amount`` fits next to what is spent (ignoring calls in flight)."""
        return self.spent + amount <= self.max_usd + 1e-12

    def try_reserve(self, amount: float) -> bool:
        """Reserve ``amount`` if it fits in what remains; False (nothing reserved) otherwise."""
        if amount > self.remaining + 1e-12:
            return False
        self.reserved += amount
        self._in_flight += 1
        return True

    async def reserve(
        self, amount: Callable[[], float], *, alone: Callable[[], bool] = lambda: False
    ) -> float | None:
        """Reserve ``amount()``, waiting while calls in flight hold the room it needs.

        ``amount`` and ``alone`` are asked again after every wait (a settled call may
        have corrected the estimate). Returns the dollars reserved, or None (nothing
        reserved) only when what is spent leaves no room: spending only grows, so
        waiting longer could not help. ``alone()`` true waits until no other call is in
        flight (a model whose estimate is not proven yet).
        """
        while True:
            wanted = amount()
            if not self.has_room(wanted):
                return None
            if not (alone() and self._in_flight) and self.try_reserve(wanted):
                return wanted
            if self._settled is None:
                self._settled = asyncio.Event()
            await self._settled.wait()

    def settle(self, reserved: float, actual: float) -> None:
        """Release a reservation of ``reserved`` and record ``actual`` dollars spent."""
        self.reserved = max(0.0, self.reserved - reserved)
        self._in_flight = max(0, self._in_flight - 1)
        self.spent += actual
        if self._settled is not None:  # wake every waiter; each checks again
            self._settled.set()
            self._settled = None
