"""Simulated answerers: the paper's control baselines, with no network.

* ``oracle`` answers with the truth-derived value the interpreter attached to the
  request (``request.oracle``, from the ask's ``oracle`` clause).
* ``oracle:flip=P`` does the same, but replaces each answer by a different valid
  one with probability ``P``, each answer on its own: each key of a batched ask,
  each field of a record but the shared ``reasoning``; a list or an image is one
  answer (see :func:`chainlang.language.answers.flip_answers` and docs/providers.md). An
  image answer flips to the ``random`` answerer's noise.
* ``oracle:bt=G,bias=B,prior=S`` answers like a model that errs where a model
  would (docs/scoring.md, "Simulated answerers"). It needs a *graded* oracle
  answer (``highest``/``ranked`` in the ask's oracle clause, which carry the true
  value of each option: ``request.graded``). ``bt=G``: Bradley–Terry noise, so a
  comparison whose true values differ by ``G`` is right 75% of the time (each
  option's value is perceived with Gumbel noise of scale ``G / ln 3``; a ranking is
  the perceived values sorted, a Plackett–Luce draw whose pairs have the same
  odds). ``bias=B``: each pick goes to the first-listed option left (red; region
  1) with probability ``B``. ``prior=S``: each pick goes to the lowest option in
  the frame with probability ``S`` ("lower is nearer"; needs ``heights``). All may
  be combined with ``flip``, which applies after.
* ``random`` answers with a uniformly drawn valid value of the answer type (for
  an image answer, random colours per 8 x 8 block, the size of the image the request sent).
* ``specialist:SPEC`` answers like ``oracle``, but the interpreter evaluated the
  ask's ``oracle`` clause over the specialist's prediction instead of the truth
  (the "Specialist + Chain" baseline; see ``runtime.interpreter.SpecialistTruth``).

Randomness is seeded from a stable hash of the request (the same fields as its
cache key) and the ``seed`` option, so reruns and resumed runs agree; each key of
a batched ask from a hash of its own question instead (``request.questions``), so
a question's answer does not depend on the batch it was packed into. They go
through the scheduler like any provider (cache, journal, accounting) and report
zero tokens, so they cost nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from chainlang.errors import UsageError
from chainlang.image import ImageData
from chainlang.language import answers
from chainlang.language.graded import Grading
from chainlang.language.types import ImageT, KeyedT, RecordT, Type
from chainlang.providers.base import (
    ImagePart,
    ModelRef,
    ModelRequest,
    ModelResponse,
    ProviderError,
    Usage,
)
from chainlang.providers.capabilities import encode_png
from chainlang.providers.keys import canonical, request_key


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

    def key_rngs(self, request: ModelRequest) -> dict[str, np.random.Generator]:
        """One generator per key of a keyed request ({} for a single question).

        Each is seeded by that key's question (``request.questions``: its content
        as if asked alone), its oracle answer, the answerer's options and the
        sample, never by the key's position or its batch: a question gets the same
        draw whether it is asked alone or packed with 99 others. A request without
        ``questions`` (built outside a chain) falls back to its hash and the key.
        """
        keys = keyed_items(request)
        if not keys:
            return {}
        whole = request_key(request, salt="simulated") if not request.questions else ""
        oracle = request.oracle if isinstance(request.oracle, dict) else {}
        out = {}
        for i, (key, item) in enumerate(keys):
            question = request.questions[i] if request.questions else f"{whole}#{key}"
            blob = json.dumps(
                {
                    "provider": self.ref.provider,
                    "options": sorted(self.ref.options),
                    "sample": request.sample_index,
                    **({"ask_sample": request.ask_sample} if request.ask_sample else {}),
                    "schema": request.schema_name,
                    "type": item.model_dump(mode="json"),
                    "question": question,
                    "oracle": canonical(oracle.get(key)),
                },
                sort_keys=True,
            )
            digest = hashlib.sha256(blob.encode()).hexdigest()
            out[key] = np.random.default_rng([int(digest[:16], 16), self.seed])
        return out

    async def aclose(self) -> None:
        """Nothing to release."""


class OracleProvider(_Simulated):
    """Answers with ``request.oracle``, each answer flipped with probability ``flip``."""

    name = "oracle"
    allowed_options = frozenset({"flip", "seed", "bt", "bias", "prior"})

    def __init__(self, ref: ModelRef, settings: object = None) -> None:
        super().__init__(ref, settings)
        self.flip: float = _probability(ref, self.options, "flip")
        self.bias: float = _probability(ref, self.options, "bias")
        self.prior: float = _probability(ref, self.options, "prior")
        if self.bias + self.prior > 1.0:
            raise UsageError(f"{ref}: bias + prior must be at most 1, got {self.bias + self.prior}")
        self.bt: float = _number(ref, self.options, "bt", float, 0.0)
        if not self.bt >= 0.0:
            raise UsageError(
                f"{ref}: bt must be a gap >= 0 (the gap answered right 75% of the time)"
            )
        self.graded = self.bt > 0 or self.bias > 0 or self.prior > 0

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
        if isinstance(request.answer_type, ImageT):
            # An image is one answer: with probability P it is replaced by a random drawing.
            rng = self.rng(request)
            flipped = self.flip > 0 and rng.random() < self.flip
            return _response(random_image(request, rng) if flipped else value)
        if self.graded:
            value = self._noisy(request, value)
        if self.flip > 0:
            value = self._flipped(request, value)
        return _response(value)

    def _noisy(self, request: ModelRequest, value: Any) -> Any:
        """Each graded answer of ``value`` redrawn from its truth values (bt, bias, prior);
        a keyed request's key from its own question's generator."""
        if not request.graded:
            where = f" at {request.origin}" if request.origin else ""
            raise ProviderError(
                "bad_request",
                f"{self.ref} needs the truth values behind the oracle answer{where}: "
                "compute it with highest(...) or ranked(...) in the ask's oracle clause "
                "(docs/scoring.md, 'Simulated answerers')",
            )
        rngs = self.key_rngs(request)
        whole = self.rng(request)
        for path in sorted(request.graded):
            key = path.split(".", 1)[0]
            rng = rngs.get(key, whole)
            grading = Grading.from_json(request.graded[path])
            value = _set_path(
                value, path, noisy_answer(grading, rng, self.bt, self.bias, self.prior)
            )
        return value

    def _flipped(self, request: ModelRequest, value: Any) -> Any:
        """Each answer flipped on its own: per key of a keyed request, each key from
        its own question's generator (see :func:`chainlang.language.answers.flip_answers`)."""
        rngs = self.key_rngs(request)
        size = sent_size(request)
        if not rngs:
            return answers.flip_answers(
                request.answer_type, value, self.flip, self.rng(request), image_size=size
            )
        items = dict(keyed_items(request))
        return {
            k: answers.flip_answers(items[k], v, self.flip, rngs[k], image_size=size)
            if k in items
            else v
            for k, v in value.items()
        }


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
            return _response(random_image(request, self.rng(request)))
        rng = self.rng(request)
        rngs = self.key_rngs(request)
        size = sent_size(request)
        if not rngs:
            return _response(answers.random_answer(t, rng, image_size=size))
        # each key drawn from its own question; the rest (a shared reasoning) from the request
        value = answers.random_answer(t, rng, image_size=size)
        items = dict(keyed_items(request))
        drawn = {k: answers.random_answer(items[k], rngs[k], image_size=size) for k in items}
        return _response({k: drawn.get(k, v) for k, v in value.items()})


def noisy_answer(g: Grading, rng: np.random.Generator, bt: float, bias: float, prior: float) -> Any:
    """One draw of a graded answer: a Bradley–Terry/Plackett–Luce perception of the
    values (``bt``: the gap right 75% of the time), then picks in turn, each the
    first-listed option left with probability ``bias``, the lowest in the frame left
    with probability ``prior`` (when heights are known), else the best perceived.

    For ``highest(..., equal=E)`` the answer is ``E`` when the perceived values of the
    two options differ by at most the tie, as the oracle decides on the true ones.
    """
    values = np.asarray(g.values, dtype=np.float64)
    scale = bt / np.log(3.0)  # P(right) = logistic(gap / scale) = 0.75 at gap = bt
    perceived = values + scale * rng.gumbel(size=len(values)) if bt > 0 else values
    heights = g.heights or ()  # empty: no positions, no prior
    picks: list[int] = []
    left = list(range(len(values)))
    wanted = 1 if g.kind == "one" else len(values)
    while len(picks) < wanted:
        draw = rng.random()
        if draw < bias:
            pick = left[0]
        elif heights and draw < bias + prior:
            pick = max(left, key=lambda i: (heights[i], -i))
        elif g.equal is not None and abs(perceived[0] - perceived[1]) <= g.tie:
            return g.equal
        else:
            pick = max(left, key=lambda i: (perceived[i], -i))
        picks.append(pick)
        left.remove(pick)
    if g.kind == "one":
        return g.options[picks[0]]
    return [g.options[i] for i in picks]


def _set_path(value: Any, path: str, new: Any) -> Any:
    """``value`` with the answer at dotted ``path`` replaced (``""``: the whole answer)."""
    if not path:
        return new
    head, _, rest = path.partition(".")
    if not isinstance(value, dict) or head not in value:
        return value  # the answer has no such part (a shape the grading does not fit)
    return {**value, head: _set_path(value[head], rest, new)}


NOISE_BLOCK = 8  # px: random images are uniform colours drawn per 8 x 8 block


def sent_size(request: ModelRequest) -> tuple[int, int] | None:
    """(width, height) of the last image the request sent: the pixel space the question's
    ``Point`` answers are in (None without an image). A keyed request of several items
    uses its last image for every key."""
    sent = [p.image for m in request.messages for p in m.parts if isinstance(p, ImagePart)]
    return sent[-1].size if sent else None


def random_image(request: ModelRequest, rng: np.random.Generator) -> ImageData:
    """Random colours, one per 8 x 8 block, the size of the last image the request sent
    (256 x 256 without one).

    The drawn image stands where a generated one would: the chain reads it back
    like a model's drawing, so the blind baseline is scored like any answer.
    Blocks rather than single pixels keep the PNG small (pixel noise does not
    compress: 3 MB and ~0.4 s to encode at 1024 x 1024) and leave blobs that
    survive a reader's morphological cleaning, as a careless drawing would.
    """
    sent = [p.image for m in request.messages for p in m.parts if isinstance(p, ImagePart)]
    width, height = sent[-1].size if sent else (256, 256)
    rows, cols = -(-height // NOISE_BLOCK), -(-width // NOISE_BLOCK)
    blocks = rng.integers(0, 256, size=(rows, cols, 3), dtype=np.uint8)
    pixels = blocks.repeat(NOISE_BLOCK, axis=0).repeat(NOISE_BLOCK, axis=1)
    return ImageData.of(pixels[:height, :width])


def keyed_items(request: ModelRequest) -> list[tuple[str, Type]]:
    """(key, answer type) for each key of a keyed (batched) request, in order; [] otherwise.

    A chain's batched ask is a record of keys ``1..n`` (plus a shared ``reasoning``
    field, which is no answer); the interpreter marks it with one question digest
    per key. A :class:`KeyedT` answer is keyed too.
    """
    t = request.answer_type
    if isinstance(t, KeyedT):
        return [(k, t.item) for k in t.keys]
    if request.questions and isinstance(t, RecordT):
        keys = {str(i) for i in range(1, len(request.questions) + 1)}
        return [(f.name, f.type) for f in t.fields if f.name in keys]
    return []


def _response(value: Any) -> ModelResponse:
    if isinstance(value, ImageData):  # sent as a provider sends it: encoded bytes
        value = encode_png(value)
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


def _probability(ref: ModelRef, options: dict[str, str], name: str) -> float:
    p: float = _number(ref, options, name, float, 0.0)
    if not 0.0 <= p <= 1.0:
        raise UsageError(f"{ref.provider}:{name} must be a probability in [0, 1], got {p}")
    return p


def _number(ref: ModelRef, options: dict[str, str], name: str, kind: type, default: Any) -> Any:
    if name not in options:
        return default
    try:
        return kind(options[name])
    except ValueError:
        raise UsageError(f"{ref}: option {name}={options[name]!r} is not a number") from None
