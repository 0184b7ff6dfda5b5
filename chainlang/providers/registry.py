"""Model specs, credentials and the provider registry.

A model spec is ``provider[:model][:key=value,...][@base_url]``::

    openai:gpt-4o
    openai:gpt-4o:api=responses
    anthropic:claude-sonnet-4-5:api=native
    gemini:gemini-2.0-flash
    openai-compat:qwen2-vl@http://127.0.0.1:8000/v1
    openai-compat:qwen2-vl@http://gpu1:8000/v1,http://gpu2:8000/v1   (a fleet)
    openai-compat:qwen2.5vl:7b:schema=off@http://127.0.0.1:11434/v1
    oracle            oracle:flip=0.3          random
    specialist:folder:/data/preds:task=depth
    specialist:hf-depth:/models/depth-anything-v2-small
    specialist:timm:resnet50@/models/r50.safetensors

Segments after the model that contain ``=`` are options; everything before
them is the model name (so Ollama names like ``qwen2.5vl:7b`` survive).
A ``specialist`` model is a specialist spec (``chainlang.scoring.specialists``):
its ``@`` names weights, not a base URL.
``api`` is lifted into :attr:`ModelRef.api` and also kept in the options so
``str(ref)`` round-trips.

What each provider needs (key variables, ``api`` choices, a model, a base URL)
is its :class:`~chainlang.providers.specs.ProviderSpec`; this module applies it.
Nothing here reads ``os.environ``: callers pass the environment and a config
mapping in, which keeps runs reproducible and tests hermetic.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chainlang.errors import UsageError
from chainlang.providers.base import ModelRef, Provider
from chainlang.providers.fleet import EndpointFleet, fleet_base_url, split_urls
from chainlang.providers.specs import COMPAT_PLACEHOLDER_KEY as COMPAT_PLACEHOLDER_KEY
from chainlang.providers.specs import SPECS, ProviderSpec
from chainlang.vision.encode import Encoder

DEFAULT_TIMEOUT = 120.0
# Providers whose ``@...`` is not a base URL (a specialist's names its weights).
_AT_NAMES_NO_URL = tuple(f"{s.name}:" for s in SPECS.values() if not s.at_is_base_url)


def parse_model(spec: str) -> ModelRef:
    """Parse a model spec (see the module docstring for the syntax).

    Raises:
        UsageError: unknown provider (with a did-you-mean), missing model,
            malformed option or unknown ``api``.
    """
    text = spec.strip()
    if not text:
        raise UsageError("empty model spec")
    base_url = None
    if "@" in text and not text.startswith(_AT_NAMES_NO_URL):
        text, base_url = text.split("@", 1)
        # Several URLs name a fleet of replicas (providers/fleet.py), kept in one order.
        base_url = fleet_base_url(split_urls(base_url) or [base_url], f"model spec {spec!r}")
    provider, _, rest = text.partition(":")
    described = _check_provider(provider, spec)
    segments = rest.split(":") if rest else []
    options = _options(segments, spec)
    model = ":".join(s for s in segments if "=" not in s)
    _check_model(described, model, base_url, spec)
    api = dict(options).get("api")
    if api is not None and api not in described.apis:
        choices = ", ".join(described.apis) or "none"
        raise UsageError(f"model spec {spec!r}: api={api} is not one of: {choices}")
    return ModelRef(provider=provider, model=model, base_url=base_url, api=api, options=options)


def _check_provider(provider: str, spec: str) -> ProviderSpec:
    described = SPECS.get(provider)
    if described is not None:
        return described
    close = difflib.get_close_matches(provider, list(SPECS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(
        f"unknown provider {provider!r} in model spec {spec!r}{hint} (known: {', '.join(SPECS)})"
    )


def _options(segments: list[str], spec: str) -> tuple[tuple[str, str], ...]:
    seen_option = False
    pairs: list[tuple[str, str]] = []
    for seg in segments:
        if "=" not in seg:
            if seen_option:
                raise UsageError(f"model spec {spec!r}: options (key=value) must come last")
            continue
        seen_option = True
        for item in seg.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise UsageError(f"model spec {spec!r}: option {item!r} is not key=value")
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _check_model(provider: ProviderSpec, model: str, base_url: str | None, spec: str) -> None:
    name = provider.name
    if provider.needs_model and not model:
        raise UsageError(f"model spec {spec!r}: name a model, e.g. {name}:MODEL")
    if provider.needs_base_url and not base_url:
        raise UsageError(
            f"model spec {spec!r}: {name} needs @BASE_URL, e.g. @http://127.0.0.1:8000/v1"
        )
    if provider.simulated and base_url:
        raise UsageError(f"model spec {spec!r}: {name} runs locally and takes no base URL")


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """Resolved connection settings for one model: key, base URL and client timeout.

    ``base_url`` may name several endpoints separated by commas (a fleet);
    ``endpoint_concurrency`` then caps the calls each one holds at once.
    """

    api_key: str | None = None
    base_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    endpoint_concurrency: int | None = None

    def __post_init__(self) -> None:
        # Every key a provider is built with is redacted from what the run writes.
        from chainlang.providers.common import register_secret

        register_secret(self.api_key)

    def __repr__(self) -> str:  # never print keys into logs
        key = "set" if self.api_key else None
        return (
            f"ProviderSettings(api_key={key}, base_url={self.base_url!r}, timeout={self.timeout}, "
            f"endpoint_concurrency={self.endpoint_concurrency})"
        )


def resolve_credentials(
    ref: ModelRef, env: Mapping[str, str], config: Mapping[str, Any] | None = None
) -> ProviderSettings:
    """Settings for ``ref``: the spec's base URL, then ``config[provider]``, then ``env``.

    ``config`` looks like ``{"openai": {"api_key": ..., "base_url": ..., "timeout": 60}}``;
    its ``base_url`` may be a list (a fleet), with ``endpoint_concurrency`` per endpoint.

    Raises:
        UsageError: a provider that needs a key has none, naming where to put it.
    """
    described = _check_provider(ref.provider, str(ref))
    if described.simulated:
        return ProviderSettings()
    section = dict((config or {}).get(ref.provider, {}))
    key_vars, url_var = described.key_vars, described.base_url_var
    key = section.get("api_key") or next((env[v] for v in key_vars if env.get(v)), None)
    if key is None:
        key = described.placeholder_key
    if not key:
        raise UsageError(
            f"no API key for {ref}: set {' or '.join(key_vars)} "
            f"or [{ref.provider}] api_key in the config"
        )
    configured = section.get("base_url")
    if isinstance(configured, list):
        configured = fleet_base_url([str(u) for u in configured], f"[{ref.provider}] base_url")
    base = ref.base_url or configured or (env.get(url_var) if url_var else None)
    timeout = float(section.get("timeout", DEFAULT_TIMEOUT))
    per_endpoint = section.get("endpoint_concurrency")
    if per_endpoint is not None and (not isinstance(per_endpoint, int) or per_endpoint < 1):
        raise UsageError(
            f"[{ref.provider}] endpoint_concurrency must be a whole number of at least 1, "
            f"got {per_endpoint!r}"
        )
    return ProviderSettings(
        api_key=key, base_url=base or None, timeout=timeout, endpoint_concurrency=per_endpoint
    )


def check_credentials(
    refs: Iterable[ModelRef], env: Mapping[str, str], config: Mapping[str, Any] | None = None
) -> dict[ModelRef, ProviderSettings]:
    """Resolve settings for every model before any work starts.

    Raises:
        UsageError: listing every model whose key is missing.
    """
    out: dict[ModelRef, ProviderSettings] = {}
    problems: list[str] = []
    for ref in refs:
        try:
            out[ref] = resolve_credentials(ref, env, config)
        except UsageError as exc:
            problems.append(str(exc))
    if problems:
        raise UsageError("; ".join(problems))
    return out


def make_provider(
    ref: ModelRef, settings: ProviderSettings, *, encoder: Encoder | None = None
) -> Provider:
    """Build the provider for ``ref``. Each call builds a new client: callers keep one
    provider per (provider, model, base URL) and reuse it across calls.

    Simulated answerers are constructed as ``Factory(ref, settings)``; real ones
    also get ``encoder`` (pass one to all the providers of a run, so an image
    shown to several models is encoded once).
    """
    described = _check_provider(ref.provider, str(ref))
    module_name, _, attr = described.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"provider {ref.provider!r} is not available: {exc}") from exc
    if described.simulated:
        return factory(ref, settings)
    urls = split_urls(settings.base_url)
    if len(urls) > 1:  # a fleet: one adapter per replica, one encoder for them all
        encoder = encoder if encoder is not None else Encoder()
        return EndpointFleet(
            str(ref),
            [(u, factory(ref, replace(settings, base_url=u), encoder=encoder)) for u in urls],
            per_endpoint=settings.endpoint_concurrency,
        )
    return factory(ref, settings, encoder=encoder)  # each adapter makes one if None
