"""Per-chain request efficiency: chainlang versus the reference's way, on the same images.

For each of the six paper chains, on the same synthetic scenes, this measures
per image:

* **calls**: model requests the chain makes (ours: counted while it runs;
  the reference's: its §3.8 call counts, see :data:`REFERENCE_CALLS`);
* **request bytes**: the JSON body of every request as sent to
  ``openai:gpt-4o`` (text, schema and base64 images). Ours is built by the
  OpenAI adapter itself (``chat_body``: images resized to what gpt-4o keeps
  and JPEG-encoded through the shared per-run memo). The reference's is the
  same body with every image of every request PNG-encoded at full
  resolution and base64-encoded again (no memo), as its
  ``replace_images_in_prompt`` does. The memo saves CPU, not bytes: every
  request still carries all of its images, and both sides count each one;
* **request-preparation CPU**: ``time.process_time`` around a dry run that
  builds every request (superpixels, crops, markers, grids) and encodes its
  images. The chain's own work (image operations, oracle clauses,
  aggregation) is shared: the reference is charged our image operations
  plus its own encoding, so its figure is a *lower bound* (its marking is
  slower still, see ``benchmarks/prep.py``).

Questions are answered by the oracle (from the scenes' truth) with the
parameters and prompt variants chainlang resolves for ``openai:gpt-4o``, so
data-dependent chains (detect, group) take the path a perfect model takes;
the reference's algorithm asks the same number of questions on that path.
Label sets are rebound to the scenes' six classes (the same text on both
sides). Nothing is sent anywhere.

Exits 1 when chainlang is worse than the reference on calls, bytes or CPU
for any chain.

Run: ``python benchmarks/chains.py [--n 4] [--size 640x480] [--size 1024x768]``
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from chainlang.api import RunOptions, arun, load_chain, parse_model, run_sync
from chainlang.data.manifest import load_dataset
from chainlang.data.synthetic import generate
from chainlang.image import ImageData
from chainlang.language import answers
from chainlang.language.lower import resolve_params
from chainlang.providers.base import ImagePart, ModelRequest, Usage
from chainlang.providers.openai import OpenAIProvider
from chainlang.providers.registry import ProviderSettings
from chainlang.runtime.outcome import Outcome
from chainlang.vision.encode import Encoder
from chainlang.vision.superpixels import superpixels

REPO = Path(__file__).resolve().parents[1]
CHAINS = ("classify", "detect", "segment", "group", "depth", "normals")
MODEL = "openai:gpt-4o"
RELABEL = {"imagenet1k": "synthetic", "coco80": "synthetic", "coco_stuff133": "synthetic"}
REFERENCE_BATCH = 100  # the paper's classification batch (App. F.1)

# How the reference's calls per image are obtained (paper-chains.md §3.8).
REFERENCE_CALLS = {
    "classify": "1/B, B=100",
    "detect": "S + Σ it_c, S=5",
    "segment": "ceil(K/16)",
    "group": "Σ BFS batches",
    "depth": "P = 200",
    "normals": "P = 200",
}


@dataclass
class Tally:
    """What the dry run of one chain measured, summed over the dataset."""

    calls: int = 0
    ours_bytes: int = 0
    ref_bytes: int = 0
    ours_encode_s: float = 0.0
    ref_encode_s: float = 0.0
    total_s: float = 0.0
    per_item_calls: dict[str, int] = field(default_factory=dict)


class Recorder:
    """Stands in for the scheduler: encodes each request both ways, answers from the oracle.

    The oracle's answer (``request.oracle``) is validated like a model's; a
    request without one gets a random valid answer, as ``chainlang plan``'s
    dry run does.
    """

    def __init__(self, provider: OpenAIProvider, tally: Tally) -> None:
        self._provider = provider
        self._tally = tally
        self._rng = np.random.default_rng(0)

    async def ask(self, request: ModelRequest) -> Outcome:
        """Encode ``request`` the chainlang way and the reference's way, then answer it."""
        self._measure(request)
        value = (
            answers.validate(request.answer_type, request.oracle)
            if request.oracle is not None
            else answers.random_answer(request.answer_type, self._rng)
        )
        key = f"bench-{self._tally.calls}"
        return Outcome(True, value, None, Usage(), 1, 0, 0.0, False, 0.0, None, None, key)

    def _measure(self, request: ModelRequest) -> None:
        t0 = time.process_time()
        body = self._provider.chat_body(request)
        ours = json.dumps(body).encode()
        t1 = time.process_time()
        ref = json.dumps(reference_body(body, request)).encode()
        t2 = time.process_time()
        self._tally.calls += 1
        self._tally.ours_bytes += len(ours)
        self._tally.ref_bytes += len(ref)
        self._tally.ours_encode_s += t1 - t0
        self._tally.ref_encode_s += t2 - t1


def reference_png_url(image: ImageData) -> str:
    """One image the reference's way: a PIL copy, full-resolution PNG, base64 data URL."""
    buffer = io.BytesIO()
    Image.fromarray(np.array(image.pixels)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def reference_body(body: Mapping[str, Any], request: ModelRequest) -> dict[str, Any]:
    """``body`` with every image replaced by the reference's encoding of the same pixels.

    Images are re-encoded per request and per occurrence (no memo), in the
    order the adapter emitted them (the order of the request's image parts).
    """
    images = iter(
        part.image
        for message in request.messages
        for part in message.parts
        if isinstance(part, ImagePart)
    )
    out = copy.deepcopy(dict(body))
    for message in out["messages"]:
        if isinstance(message["content"], list):
            for entry in message["content"]:
                if entry.get("type") == "image_url":
                    entry["image_url"]["url"] = reference_png_url(next(images))
    return out


def gpt4o_overrides(chain: Path) -> dict[str, Any]:
    """The parameters and variants chainlang resolves for gpt-4o, as run overrides."""
    program = load_chain(chain)
    resolved = resolve_params(program, parse_model(MODEL).model)
    overrides: dict[str, Any] = {k: v for k, v in resolved.params.items() if v is not None}
    overrides.update({f"variant.{k}": v for k, v in resolved.variants.items() if v is not None})
    return overrides


def dry_run(chain: Path, data: Path, out: Path) -> Tally:
    """Run ``chain`` over ``data`` with the recorder; return what it measured."""
    tally = Tally()
    provider = OpenAIProvider(
        parse_model(MODEL), ProviderSettings(api_key="unused-offline"), encoder=Encoder()
    )
    options = RunOptions(params=gpt4o_overrides(chain), labels=RELABEL, cache=None, progress="none")
    start = time.process_time()
    run_sync(
        arun(chain, data, "oracle", out=out, options=options, scheduler=Recorder(provider, tally))
    )
    tally.total_s = time.process_time() - start
    run_sync(provider.aclose())
    from chainlang.runtime.runfolder import read_results

    tally.per_item_calls = {r["id"]: int(r["n_questions"]) for r in read_results(out)}
    return tally


@dataclass(frozen=True)
class Row:
    """Per-image figures of one chain, both ways."""

    chain: str
    ours_calls: float
    ref_calls: float
    ours_mb: float
    ref_mb: float
    ours_cpu: float
    ref_cpu: float
    encode_ratio: float

    @property
    def bytes_ratio(self) -> float:
        return self.ref_mb / self.ours_mb

    @property
    def cpu_ratio(self) -> float:
        return self.ref_cpu / self.ours_cpu

    def worse(self) -> list[str]:
        """What chainlang does worse than the reference (empty when nothing)."""
        checks = {
            "calls": self.ours_calls > self.ref_calls,
            "bytes": self.ours_mb > self.ref_mb,
            "cpu": self.ours_cpu > self.ref_cpu,
        }
        return [name for name, bad in checks.items() if bad]


def reference_calls(chain: str, data: Path, tally: Tally, params: Mapping[str, Any]) -> float:
    """The reference's calls per image on these images (paper-chains.md §3.8)."""
    items = list(load_dataset(data))
    if chain == "classify":
        return 1 / REFERENCE_BATCH
    if chain in ("detect", "group"):
        # data-dependent: the same zoom / BFS on the same answers asks the same questions
        return sum(tally.per_item_calls.values()) / len(items)
    counts = [
        superpixels(item.image(), n=int(params["segments"]), sigma=5.0).count for item in items
    ]
    if chain == "segment":
        return float(np.mean([math.ceil(k / 16) for k in counts]))
    # depth, normals: one pass gives ceil(K/2) pairs; more passes are cut to 200
    return float(np.mean([max(200, math.ceil(k / 2)) for k in counts]))


def measure(chain: str, data: Path, work: Path) -> Row:
    """Dry-run one chain on ``data`` and turn the tally into per-image figures."""
    path = REPO / "chains" / f"{chain}.chain"
    tally = dry_run(path, data, work / chain)
    n = len(tally.per_item_calls)
    params = gpt4o_overrides(path)
    if chain == "classify":  # B items share one request; the bound says 1/B per image
        ours_calls = 1 / int(params["per_call"])
    else:
        ours_calls = sum(tally.per_item_calls.values()) / n
    return Row(
        chain=chain,
        ours_calls=ours_calls,
        ref_calls=reference_calls(chain, data, tally, params),
        ours_mb=tally.ours_bytes / n / 1e6,
        ref_mb=tally.ref_bytes / n / 1e6,
        ours_cpu=(tally.total_s - tally.ref_encode_s) / n,
        ref_cpu=(tally.total_s - tally.ours_encode_s) / n,
        encode_ratio=tally.ref_encode_s / tally.ours_encode_s,
    )


def table(rows: Sequence[Row]) -> Iterator[str]:
    """The rows as a Markdown table (also readable on a terminal)."""
    yield (
        "| chain | calls/img ours | calls/img ref | ref calls | MB/img ours | MB/img ref "
        "| smaller | prep CPU s/img ours | prep CPU s/img ref | faster | encode only |"
    )
    yield "|---|---|---|---|---|---|---|---|---|---|---|"
    for r in rows:
        yield (
            f"| {r.chain} | {r.ours_calls:.4g} | {r.ref_calls:.4g} | {REFERENCE_CALLS[r.chain]} "
            f"| {r.ours_mb:.3f} | {r.ref_mb:.3f} | {r.bytes_ratio:.1f}× "
            f"| {r.ours_cpu:.3f} | {r.ref_cpu:.3f} | {r.cpu_ratio:.1f}× | {r.encode_ratio:.1f}× |"
        )


def parse_size(text: str) -> tuple[int, int]:
    """``640x480`` → (640, 480)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from None
    if w < 64 or h < 64:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small for the chains (min 64x64)")
    return w, h


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="synthetic scenes per size")
    parser.add_argument(
        "--size", type=parse_size, action="append", help="scene size WxH (repeatable)"
    )
    parser.add_argument("--chains", nargs="+", choices=CHAINS, default=list(CHAINS))
    args = parser.parse_args()
    sizes = args.size or [(640, 480)]
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="chainsbench-") as tmp:
        for w, h in sizes:
            work = Path(tmp) / f"{w}x{h}"
            data = generate(args.n, work / "data", seed=0, size=(w, h)).parent
            rows = []
            for chain in args.chains:
                t0 = time.perf_counter()
                rows.append(measure(chain, data, work / "runs"))
                print(f"  {chain}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            print(f"\n{args.n} synthetic scenes at {w}x{h}, model {MODEL}, oracle answers\n")
            print("\n".join(table(rows)))
            failed += [f"{r.chain}@{w}x{h}: {', '.join(r.worse())}" for r in rows if r.worse()]
    if failed:
        print(f"\nFAILED: chainlang is worse than the reference for {failed}")
        return 1
    print("\nok: chainlang makes no more calls, and sends fewer bytes for less CPU, on every chain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
