"""Call bounds are sound: what `check --explain`, `plan` and the run's progress promise
holds for the questions the run asks (issue 9, defect 4).

The examples of the issue are pinned here; the property test over generated
chains is in ``test_e2e_bound_properties.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chainlang.api import RunOptions, load_chain, plan, run
from chainlang.cli.app import main
from chainlang.runtime.runfolder import read_results

HEAD = """chain votes "Bounds from answers and data" {
  input image: Image
  output Label

  param pairs: Int = 8
  param n: Int = 2
  answer Nearer { near: "red" | "blue" }
  prompt compare(view: Image, which: Int) -> Nearer {
    user [view high] "Question {which}: which region is nearer?"
  }
  let regions = superpixels(image, n = 20)
  let sampled = sample_pairs(regions, n = pairs, scheme = "balanced")
  let votes = for p in sampled {
    ask compare(view = image, which = p.a.id * 1000 + p.b.id)
      oracle { near = if p.a.id < p.b.id then "red" else "blue" }
  }
"""

LOOP = """  let more = repeat with { i = 0 } up to BOUND until false {
    let v = ask compare(view = image, which = 100000 + i)
      oracle { near = "red" }
    next { i = i + 1 }
  }
  return "cat"
}
"""


def _chain(tmp_path: Path, bound: str) -> Path:
    path = tmp_path / "votes.chain"
    path.write_text(HEAD + LOOP.replace("BOUND", bound), encoding="utf-8")
    return path


def _asked(out: Path) -> list[float]:
    return [sum(q["share"] for q in r["questions"]) for r in read_results(out)]


@pytest.mark.parametrize("model", ["oracle", "random"])
def test_a_loop_bounded_by_a_filtered_answer_list_counts_in_plan_and_progress(
    tmp_path: Path, sample_manifest: Path, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The example: the bound was dropped, so plan promised <= pairs and the run
    # asked more ("244/<=200 questions").
    chain = _chain(tmp_path, 'len([v for v in votes if v.near == "red"])')
    assert main(["check", "--explain", str(chain)]) == 0
    explained = capsys.readouterr().out
    assert "calls <= pairs + " in explained, explained

    priced = plan(chain, sample_manifest, "openai:gpt-4o", options=RunOptions())
    out = tmp_path / f"run-{model}"
    code = main(
        ["run", str(chain), "--data", str(sample_manifest), "--model", model,
         "--out", str(out), "--progress", "plain", "--cache", str(tmp_path / "c.sqlite")]
    )  # fmt: skip
    assert code == 0
    asked = _asked(out)
    assert max(asked) > 8, "the loop ran: more questions than pairs"
    assert max(asked) <= priced.calls_per_item
    err = capsys.readouterr().err
    for done, total in re.findall(r"(\d+)/≤(\d+) questions", err):
        assert int(done) <= int(total), err


def test_a_modulo_bound_is_priced_not_zero(tmp_path: Path, sample_manifest: Path) -> None:
    # `up to pairs % 7` gave `calls <= 0` for the loop: plan priced it at nothing.
    chain = _chain(tmp_path, "pairs % 7")
    bound = load_chain(chain).bounds
    assert bound is not None
    assert bound.evaluate({"pairs": 200}) == 200 + 200 % 7
    priced = plan(chain, sample_manifest, "openai:gpt-4o", options=RunOptions())
    assert priced.calls_per_item == 8 + 8 % 7


def test_a_modulo_of_an_answer_count_is_bounded_by_the_divisor(tmp_path: Path) -> None:
    chain = _chain(tmp_path, 'len([v for v in votes if v.near == "red"]) % 3')
    bound = load_chain(chain).bounds
    assert bound is not None and not bound.exact
    assert bound.evaluate({"pairs": 8}) == 8 + 2  # the loop runs at most 2 times


def test_a_bound_from_a_data_size_is_kept(
    tmp_path: Path, sample_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A size only the data knows (neighbours of a region) was dropped like an answer's.
    chain = _chain(tmp_path, "len(neighbours(adjacency(regions), first(regions_of(regions))))")
    bound = load_chain(chain).bounds
    assert bound is not None
    assert bound.evaluate({"pairs": 8, "K": 20}, estimate=False) == 8 + 20
    out = tmp_path / "run"
    code = main(
        ["run", str(chain), "--data", str(sample_manifest), "--model", "random",
         "--out", str(out), "--progress", "plain", "--cache", str(tmp_path / "c.sqlite")]
    )  # fmt: skip
    assert code == 0
    asked = _asked(out)
    assert max(asked) > 8
    priced = plan(chain, sample_manifest, "random")
    assert max(asked) <= priced.calls_per_item
    # K is only estimated (SLIC may make more than the n requested): no "≤" is promised.
    assert any("K (number of superpixels" in note for note in priced.notes)
    err = capsys.readouterr().err
    assert re.search(r"\d+/~\d+ questions", err) and "/≤" not in err, err


BATCHED = """chain label "Batched labels" {
  input image: Image
  truth label: Label
  output Label

  param n: Int = 1
  batch items = n * 2

  prompt which(each view: Image) -> Label(animals) {
    each user "Image {key}:" [view high]
    each user "Which animal is image {key}?"
  }
  return ask which(view = image) oracle { truth.label }
}
"""


def test_a_computed_batch_size_runs(tmp_path: Path, sample_manifest: Path) -> None:
    # `batch items = n * 2` passed check, then run refused it ("must be a number or a parameter").
    labels = Path(__file__).resolve().parents[2] / "chains" / "examples" / "animals.labels"
    (tmp_path / "animals.labels").write_bytes(labels.read_bytes())
    chain = tmp_path / "label.chain"
    chain.write_text('labels animals = "animals.labels"\n' + BATCHED, encoding="utf-8")
    out = tmp_path / "run"
    result = run(chain, sample_manifest, "oracle", out=out, options=RunOptions(progress="none"))
    assert result.summary.items_ok == result.summary.items == 3
    keys = {q["key"] for r in read_results(out) for q in r["questions"]}
    assert len(keys) == 2  # ceil(3 / (1 * 2)) requests
