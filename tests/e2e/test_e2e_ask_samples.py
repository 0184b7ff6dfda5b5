"""Per-ask choices (issue 12, point 5): ``ask p(...) variant NAME`` and ``samples K``.

``samples K`` asks one question K times as K distinct requests (each its own
journal entry, each its own draw for the simulated answerers) and gives the
list of the K answers; ``variant NAME`` sends that variant whatever the run
chose for the prompt.
"""

from __future__ import annotations

from pathlib import Path

from e2e_helpers import CHAINS, results, run_chain

from chainlang.api import RunOptions, load_chain, plan
from chainlang.testing.fake_provider import FakeProviderServer

AGREE = """labels animals = "animals.labels"

chain agree "Three samples of one question, and whether they agree" {
  input image: Image
  truth label: Label
  output Label

  param k: Int = 3

  prompt which(view: Image, choices: [Label(animals)]) -> Label(animals) {
    user [view high] "Which animal is this?"
    variant plain default { system "Answer with one word from this list: {choices}" }
    variant careful {
      system "Look at the whole picture first. Answer with one word from: {choices}"
    }
  }

  let votes = ask which(view = image, choices = animals) samples k
    oracle {
      truth.label
    }
  let checked = ask which(view = image, choices = animals) variant careful
  return if first(votes) == at(votes, 1) then first(votes) else checked
}
"""


def _chain(tmp_path: Path, text: str = AGREE) -> Path:
    labels = (CHAINS / "examples" / "animals.labels").read_text(encoding="utf-8")
    (tmp_path / "animals.labels").write_text(labels, encoding="utf-8")
    chain = tmp_path / "agree.chain"
    chain.write_text(text, encoding="utf-8")
    return chain


def test_samples_3_makes_3_requests_and_a_rerun_pays_nothing(
    sample_manifest: Path, tmp_path: Path, fake_env: FakeProviderServer
) -> None:
    chain = _chain(tmp_path)
    cache = tmp_path / "journal.sqlite"
    first = run_chain(chain, sample_manifest, "openai:gpt-4o", tmp_path / "a", cache=cache)
    records = results(tmp_path / "a")
    # 3 samples + the careful ask per item: none of the samples collapsed into another
    assert len(fake_env.requests) == 4 * len(records) == first.summary.questions
    for r in records.values():
        assert r["status"] == "ok"
        assert not r.get("identical_asks")
        samples = [q for q in r["questions"] if q["variant"] != "careful"]
        assert len(samples) == 3 and len({q["key"] for q in samples}) == 3
        [careful] = [q for q in r["questions"] if q not in samples]
        assert careful["variant"] == "careful"
    # Another run over the same journal: every sample is answered from its own entry.
    again = run_chain(chain, sample_manifest, "openai:gpt-4o", tmp_path / "b", cache=cache)
    assert len(fake_env.requests) == 4 * len(records)
    assert again.summary.items_ok == len(records)
    assert again.summary.paid_now_usd == 0


def test_ask_samples_compose_with_run_samples(
    sample_manifest: Path, tmp_path: Path, fake_env: FakeProviderServer
) -> None:
    out = tmp_path / "run"
    run_chain(_chain(tmp_path), sample_manifest, "openai:gpt-4o", out, {"k": "2"}, samples=2)
    items = len(results(out))
    # 2 run samples x (2 ask samples + 1): every (run sample, ask sample) its own request
    assert len(fake_env.requests) == items * 2 * 3


def test_simulated_answerers_draw_each_sample_anew(sample_manifest: Path, tmp_path: Path) -> None:
    text = AGREE.replace("samples k", "samples 12")
    chain = _chain(tmp_path, text)
    for model in ("random", "oracle:flip=0.5"):
        out = tmp_path / model.replace(":", "_")
        run_chain(chain, sample_manifest, model, out)
        for r in results(out).values():
            answers = [q["answer"] for q in r["questions"] if q["variant"] != "careful"]
            assert len(answers) == 12
            assert len(set(answers)) > 1, (model, answers)  # one draw per sample


def test_bounds_count_k_calls_per_sampled_ask(tmp_path: Path) -> None:
    bound = load_chain(_chain(tmp_path)).bounds
    assert bound is not None and bound.exact
    assert bound.evaluate({"k": 3}) == 4
    assert bound.evaluate({"k": 7}) == 8


def test_plan_prices_k_calls_per_sampled_ask(sample_manifest: Path, tmp_path: Path) -> None:
    chain = _chain(tmp_path)
    three = plan(chain, sample_manifest, "openai:gpt-4o", options=RunOptions())
    assert three.calls_per_item == 4 and three.exact
    five = plan(chain, sample_manifest, "openai:gpt-4o", options=RunOptions(params={"k": "5"}))
    assert five.calls_per_item == 6
    assert five.usd_per_item is not None and three.usd_per_item is not None
    assert five.usd_per_item > three.usd_per_item


BATCHED = """chain many "Sampled questions about superpixels, four to a request" {
  input image: Image
  output Label

  param k: Int = 2
  answer Nearer { near: "red" | "blue" }
  prompt near(view: Image, each which: Int) -> Nearer {
    user [view high] "Some questions about this image."
    each user "Question {key} ({which}): is the marked region near?"
  }
  let regions = superpixels(image, n = 12)
  let votes = for r in take(regions_of(regions), 6) batch 4 {
    ask near(view = image, which = r.id) samples k
  }
  return "cat"
}
"""


def test_a_batched_for_asks_each_request_k_times(sample_manifest: Path, tmp_path: Path) -> None:
    chain = tmp_path / "many.chain"
    chain.write_text(BATCHED, encoding="utf-8")
    bound = load_chain(chain).bounds
    assert bound is not None
    assert bound.evaluate({"k": 3, "K": 12}, estimate=False) == 3 * 2  # 3 x ceil(6 / 4)
    out = tmp_path / "run"
    run_chain(chain, sample_manifest, "random", out, {"k": "3"})
    for r in results(out).values():
        assert r["status"] == "ok"
        assert len(r["questions"]) == 6 and len({q["key"] for q in r["questions"]}) == 6
