"""One description per provider: the one place to edit when adding a provider.

Every fact the rest of the program needs about a provider lives in its
:class:`ProviderSpec`: the adapter to build, the environment variables holding
its key and base URL, the ``api=`` choices, the image rule (largest image kept,
image-token formula), whether it has a batch API, and whether it is a simulated
answerer (local, free, and perhaps answering with the request's ``oracle``
value). The registry, the cache key, the price table, the scheduler, the
interpreter and the batch dispatch all ask :func:`spec_for` rather than keeping
their own sets of names; ``tests/providers/test_providers_specs.py`` checks that
no module outside ``chainlang/providers/`` names a provider.

Adding a provider: write its adapter module, add one :class:`ProviderSpec` to
:data:`SPECS`, and teach the fake server its wire format (``docs/providers.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from chainlang.errors import UsageError
from chainlang.providers.base import Detail
from chainlang.providers.contracts import ANTHROPIC, GEMINI, OPENAI, OPENAI_COMPAT, Contract
from chainlang.providers.prompt_cache import (
    ANTHROPIC_CACHE,
    GEMINI_CACHE,
    NO_CACHE,
    OPENAI_CACHE,
    CacheRule,
)

AnswersFrom = Literal["truth", "predictions"]
COMPAT_PLACEHOLDER_KEY = "not-needed"  # local servers ignore the key, but the SDK wants one


@dataclass(frozen=True, slots=True)
class Fit:
    """The largest image kept: long edge, short edge, pixel count (None = no limit)."""

    max_long: int | None = None
    max_short: int | None = None
    max_pixels: int | None = None


def _tile_tokens(w: int, h: int, detail: Detail) -> int:
    """OpenAI's high-detail rule: 85 + 170 per 512×512 tile after fitting 2048, short ≤ 768."""
    # imported here: the specs are facts anything may read, without loading PIL
    from chainlang.vision.encode import fit_size

    w2, h2 = fit_size((w, h), 2048, 768, None)
    return 85 + 170 * math.ceil(w2 / 512) * math.ceil(h2 / 512)


def _openai_tokens(w: int, h: int, detail: Detail) -> int:
    return 85 if detail == "low" else _tile_tokens(w, h, detail)


def _anthropic_tokens(w: int, h: int, detail: Detail) -> int:
    return math.ceil(w * h / 750)


def _gemini_tokens(w: int, h: int, detail: Detail) -> int:
    if w <= 384 and h <= 384:
        return 258
    return 258 * math.ceil(w / 768) * math.ceil(h / 768)


@dataclass(frozen=True, slots=True)
class ImageRule:
    """What a provider does with an image: the size it keeps and what that costs.

    ``tokens(w, h, detail)`` is the image-token estimate for an image already
    fitted to :meth:`fit` (we resize to what the provider keeps, so the size
    sent is the size priced).
    """

    keep: Fit = Fit()
    keep_low: Fit | None = None  # for detail=low; None: the same as ``keep``
    tokens: Callable[[int, int, Detail], int] = _tile_tokens

    def fit(self, detail: Detail) -> Fit:
        """The largest image kept at ``detail``."""
        return self.keep_low if detail == "low" and self.keep_low is not None else self.keep


# The unchanged image, priced with OpenAI's tile rule as an estimate (servers decide).
AS_SENT = ImageRule()


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Everything the program knows about one provider, apart from its adapter's code.

    Attributes:
        name: the provider segment of a model spec (``openai`` in ``openai:gpt-4o``).
        factory: ``"module:Class"`` of the adapter, imported when first used.
        key_vars: environment variables holding the API key, in order of preference.
        base_url_var: environment variable holding the base URL, if any.
        placeholder_key: the key used when none is set (None: a key is required).
        needs_model: a spec without a model name is a usage error.
        needs_base_url: a spec without ``@BASE_URL`` is a usage error.
        at_is_base_url: whether ``@...`` in a spec is a base URL (a specialist's names weights).
        apis: the ``api=`` choices; the first is the default.
        image: the image rule (:class:`ImageRule`).
        batch: whether the adapter implements ``BatchProvider`` (``--dispatch batch``).
        simulated: answers in-process without a network; takes no key and no base URL.
        free: costs nothing and needs no rate limits.
        answers_from: what a simulated answerer replies with: the request's ``oracle``
            value computed over the truth, or over a specialist's predictions. The
            oracle value then joins the cache key.
        contract: what the provider refuses (schema, image, body, context and batch
            limits, with their sources: :mod:`chainlang.providers.contracts`); None for
            a simulated answerer.
    """

    name: str
    factory: str
    key_vars: tuple[str, ...] = ()
    base_url_var: str | None = None
    placeholder_key: str | None = None
    needs_model: bool = True
    needs_base_url: bool = False
    at_is_base_url: bool = True
    apis: tuple[str, ...] = ()
    image: ImageRule = field(default=AS_SENT)
    batch: bool = False
    simulated: bool = False
    free: bool = False
    answers_from: AnswersFrom | None = None
    contract: Contract | None = None
    prompt_cache: CacheRule = NO_CACHE  # how it caches prompt prefixes (prompt_cache.py)

    @property
    def oracle(self) -> bool:
        """Whether the answer is the request's ``oracle`` value (so it joins the cache key)."""
        return self.answers_from is not None


_SIM = "chainlang.providers.simulated"
_SPECS = (
    ProviderSpec(
        name="openai",
        factory="chainlang.providers.openai:OpenAIProvider",
        key_vars=("OPENAI_API_KEY",),
        base_url_var="OPENAI_BASE_URL",
        apis=("chat", "responses"),
        image=ImageRule(Fit(2048, 768), keep_low=Fit(512), tokens=_openai_tokens),
        batch=True,
        prompt_cache=OPENAI_CACHE,
        contract=OPENAI,
    ),
    ProviderSpec(
        name="anthropic",
        factory="chainlang.providers.anthropic:AnthropicProvider",
        key_vars=("ANTHROPIC_API_KEY",),
        base_url_var="ANTHROPIC_BASE_URL",
        apis=("tools", "native"),
        image=ImageRule(Fit(1568, max_pixels=1_150_000), tokens=_anthropic_tokens),
        batch=True,
        prompt_cache=ANTHROPIC_CACHE,
        contract=ANTHROPIC,
    ),
    ProviderSpec(
        name="gemini",
        factory="chainlang.providers.gemini:GeminiProvider",
        key_vars=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        base_url_var="GEMINI_BASE_URL",
        apis=("generate",),
        # our choice: Gemini tiles large images into 768² crops itself
        image=ImageRule(Fit(3072), tokens=_gemini_tokens),
        batch=True,
        prompt_cache=GEMINI_CACHE,
        contract=GEMINI,
    ),
    ProviderSpec(
        name="openai-compat",
        factory="chainlang.providers.openai_compat:OpenAICompatProvider",
        key_vars=("OPENAI_COMPAT_API_KEY",),
        placeholder_key=COMPAT_PLACEHOLDER_KEY,
        needs_base_url=True,
        apis=("chat",),
        contract=OPENAI_COMPAT,
    ),
    ProviderSpec(
        name="oracle",
        factory=f"{_SIM}:OracleProvider",
        needs_model=False,
        simulated=True,
        free=True,
        answers_from="truth",
    ),
    ProviderSpec(
        name="random",
        factory=f"{_SIM}:RandomProvider",
        needs_model=False,
        simulated=True,
        free=True,
    ),
    ProviderSpec(
        name="specialist",
        factory=f"{_SIM}:SpecialistProvider",
        at_is_base_url=False,
        simulated=True,
        free=True,
        answers_from="predictions",
    ),
)
SPECS: dict[str, ProviderSpec] = {spec.name: spec for spec in _SPECS}


def find_spec(name: str) -> ProviderSpec | None:
    """The spec of provider ``name``, or None for a name no spec describes."""
    return SPECS.get(name)


def spec_for(name: str) -> ProviderSpec:
    """The spec of provider ``name``.

    Raises:
        UsageError: an unknown provider, naming the known ones.
    """
    spec = SPECS.get(name)
    if spec is None:
        raise UsageError(f"unknown provider {name!r} (known: {', '.join(SPECS)})")
    return spec


def is_free(provider: str) -> bool:
    """Whether calls to ``provider`` cost nothing (an unknown name is not free)."""
    spec = SPECS.get(provider)
    return spec is not None and spec.free


def is_simulated(provider: str) -> bool:
    """Whether ``provider`` answers in-process (an unknown name is not simulated)."""
    spec = SPECS.get(provider)
    return spec is not None and spec.simulated


def answers_from(provider: str) -> AnswersFrom | None:
    """What ``provider`` answers with, if it replies with the request's oracle value."""
    spec = SPECS.get(provider)
    return None if spec is None else spec.answers_from


def free_providers() -> frozenset[str]:
    """The names of every free provider (for the rate limiter, which takes names)."""
    return frozenset(spec.name for spec in _SPECS if spec.free)


def batch_providers() -> tuple[str, ...]:
    """The names of every provider with a batch API, sorted."""
    return tuple(sorted(spec.name for spec in _SPECS if spec.batch))
