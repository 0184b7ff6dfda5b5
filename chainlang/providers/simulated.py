"""Simulated answerers: the paper's control baselines, with no network.

* ``oracle`` answers with the truth-derived value the interpreter attached to the
  request (``request.oracle``, from the ask's ``oracle`` clause).
* ``oracle:flip=P`` does the same, but replaces each answer by a different valid
  one with probability ``P``. For a batched ask (a keyed answer) each key is an
  answer and flips on its own; any other answer (records and lists included)
  flips as a whole.
* ``random`` answers with a uniformly drawn valid value of the answer type.
* ``specialist:SPEC`` answers like ``oracle``, but the interpreter evaluated the
  ask's ``oracle`` clause over the specialist's prediction instead of the truth
  (the "Specialist + Chain" baseline; see ``runtime.interpreter.SpecialistTruth``).

Randomness is seeded from a stable hash of the request (the same fields as its
cache key) and the ``seed`` option, so reruns and resumed runs agree. They go
through the scheduler like any provider (cache, journal, accounting) and report
zero tokens, so they cost nothing.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from chainlang import answers
from chainlang.errors import UsageError
from chainlang.providers.base import ModelRef, ModelRequest, ModelResponse, ProviderError, Usage
from chainlang.runtime.cache import canonical, request_key
from chainlang.types import ImageT, KeyedT


class _Simulated:
    """Shared parts: options, seeding, response building.

    Constructed as ``Cls(ref, settings)`` like every provider (see
    ``chainlang.providers.registry``); ``settings`` is unused, there is no server.
    """

    name = "simulated"
    allowed_options: frozenset[str] = frozenset({"seed"})

    def __init__(self, ref: ModelRef, settings: object = None) -> None:
        options = dict(ref.options)
        unknown = set(options) - self.allowed_options
        if unknown:
            raise UsageError(
                f"{ref}: unknown options {sorted(unknown)} "
                f"(allowed: {sorted(self.allowed_options)})"
            )
        self.ref = ref
        self.options = options
        self.seed: int = _number(ref, options, "seed", int, 0)

    def rng(self, request: ModelRequest) -> np.random.Generator:
        """A generator seeded by the request's content hash and ``seed``."""
        digest = request_key(request, salt="simulated")
        return np.random.default_rng([int(digest[:16], 16), self.seed])

    async def aclose(self) -> None:
        """Nothing to release."""


class OracleProvider(_Simulated):
    """Answers with ``request.oracle``, each answer flipped with probability ``flip``."""

    name = "oracle"
    allowed_options = frozenset({"flip", "seed"})

    def __init__(self, ref: ModelRef, settings: object = None) -> None:
        super().__init__(ref, settings)
        flip: float = _number(ref, self.options, "flip", float, 0.0)
        if not 0.0 <= flip <= 1.0:
            raise UsageError(f"oracle:flip must be a probability in [0, 1], got {flip}")
        self.flip = flip

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Return the (possibly flipped) oracle answer."""
        if request.oracle is None:
            where = f" at {request.origin}" if request.origin else ""
            raise ProviderError(
                "bad_request",
                f"the oracle answerer has no answer for the ask{where}: "
                "give that ask an `oracle` clause, or use a real model",
            )
        value = request.oracle
        if self.flip > 0 and not isinstance(request.answer_type, ImageT):
            value = self._flipped(request, value)
        return _response(value)

    def _flipped(self, request: ModelRequest, value: Any) -> Any:
        rng = self.rng(request)
        t = request.answer_type
        if isinstance(t, KeyedT) and isinstance(value, dict):
            return {
                k: answers.other_answer(t.item, v, rng) if rng.random() < self.flip else v
                for k, v in value.items()
            }
        return answers.other_answer(t, value, rng) if rng.random() < self.flip else value


class SpecialistProvider(OracleProvider):
    """Answers with ``request.oracle``, here computed from a specialist's prediction.

    Options: ``task=KIND`` (read by the interpreter, which builds the specialist)
    and ``seed``. Answers are never flipped: the specialist's errors are the noise.
    """

    name = "specialist"
    allowed_options = frozenset({"task", "seed"})

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Return the answer the ask's oracle clause gave on the specialist's prediction."""
        if request.oracle is None:
            where = f" at {request.origin}" if request.origin else ""
            raise ProviderError(
                "bad_request",
                f"the specialist answerer {self.ref} has no answer for the ask{where}: "
                "only asks with an `oracle` clause can be answered from a prediction",
            )
        return _response(request.oracle)


class RandomProvider(_Simulated):
    """Answers with a uniformly drawn valid value of the answer type."""

    name = "random"

    async def send(self, request: ModelRequest, timeout: float) -> ModelResponse:
        """Return a random valid answer."""
        t = request.answer_type
        if isinstance(t, ImageT):
            raise ProviderError("bad_request", "the random answerer cannot draw images")
        return _response(answers.random_answer(t, self.rng(request)))


def _response(value: Any) -> ModelResponse:
    if isinstance(value, bytes):
        return ModelResponse(text="", parsed=None, usage=Usage(), image=value)
    text = json.dumps(canonical(value))
    return ModelResponse(text=text, parsed=json.loads(text), usage=Usage(), provider_id=None)


def simulated_provider(ref: ModelRef) -> OracleProvider | RandomProvider:
    """The simulated answerer for ``oracle[:flip=P][,seed=S]``, ``random[:seed=S]``
    or ``specialist:SPEC[:task=KIND]``.

    Raises:
        UsageError: unknown answerer, unknown option, or a bad option value.
    """
    if ref.provider == "oracle":
        return OracleProvider(ref)
    if ref.provider == "random":
        return RandomProvider(ref)
    if ref.provider == "specialist":
        return SpecialistProvider(ref)
    raise UsageError(
        f"{ref.provider!r} is not a simulated answerer (use oracle, random or specialist:SPEC)"
    )


def _number(ref: ModelRef, options: dict[str, str], name: str, kind: type, default: Any) -> Any:
    if name not in options:
        return default
    try:
        return kind(options[name])
    except ValueError:
        raise UsageError(f"{ref}: option {name}={options[name]!r} is not a number") from None
