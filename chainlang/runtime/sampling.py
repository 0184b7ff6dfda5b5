"""The provider seed of each sample, so that a sample is reproducible where the provider allows.

With ``--samples K`` (and an ask's ``samples K``) every sample of a question is its own
request. Each also sends the provider a ``seed`` derived from the run's ``--seed`` (0 if
none) and the sample's indices, so rerunning sample 3 asks for sample 3's draw again,
and two samples ask for different draws. Who honours it:

* OpenAI Chat Completions: ``seed``, best effort ("a best effort to sample
  deterministically"; watch ``system_fingerprint``; the OpenAI cookbook "Reproducible
  outputs with the seed parameter", read 2026-12-04). The Responses API has no seed.
* Gemini: ``generationConfig.seed`` ("mostly deterministic", not guaranteed;
  google-genai ``GenerationConfig.seed`` reference, read 2026-12-04).
* OpenAI-compatible servers (vLLM) take ``seed`` in the chat body.
* Anthropic's Messages API has no seed: samples differ only by the model's own sampling.

A run without samples sends no seed unless ``--seed`` gives one, so its requests (and
their cache keys) are what they were.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from chainlang.providers.base import Params


def sample_seed(base: int | None, sample_index: int, ask_sample: int) -> int:
    """The seed of one sample: a 31-bit hash of the run's seed and the two sample indices
    (providers take a signed 32-bit integer)."""
    digest = hashlib.sha256(f"chainlang-sample:{base or 0}:{sample_index}:{ask_sample}".encode())
    return int.from_bytes(digest.digest()[:4], "big") & 0x7FFFFFFF


def sample_params(params: Params, sample_index: int, ask_sample: int) -> Params:
    """``params`` with the seed of sample (``sample_index``, ``ask_sample``)."""
    return replace(params, seed=sample_seed(params.seed, sample_index, ask_sample))
