"""Typed truth fields end to end (issue 12, point 2): the synthetic scenes' count, centres
and size ranking flow from the manifest into oracle clauses, through the simulated answerers
and into the `score` line's metrics; a chain whose truth type does not fit is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import results, run_chain

from chainlang.data import load_dataset
from chainlang.errors import UsageError
from chainlang.scoring.score import score_run

COUNT = """chain count "How many objects" {
  input image: Image
  truth count: TYPE
  output Int
  score exact(truth.count), mae(truth.count)

  prompt how_many(view: Image) -> Int(0..20) {
    user [view] "How many separate objects are in this picture?"
  }

  return ask how_many(view = image) oracle { truth.count }
}
"""

RANK = """chain size_order "The objects by real size, largest first" {
  input image: Image
  truth size_rank: Ranking
  output Ranking
  score kendall_tau(truth.size_rank), spearman(truth.size_rank)

  prompt order(view: Image) -> Ranking {
    user [view] "List the numbered objects from the largest to the smallest."
  }

  return ask order(view = image) oracle { truth.size_rank }
}
"""

CENTRES = """chain centres "The centre of every object" {
  input image: Image
  truth centres: Points
  output Points
  score point_error(truth.centres), pck(truth.centres, r = 0.05)

  prompt where(view: Image) -> Points {
    user [view] "Give the centre of every object, in pixels."
  }

  return ask where(view = image) oracle { truth.centres }
}
"""


def _chain(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.chain"
    path.write_text(text, encoding="utf-8")
    return path


def _score(chain: Path, data: Path, model: str, out: Path) -> dict[str, float]:
    run_chain(chain, data, model, out)
    return {k: m.value for k, m in score_run(out, n_boot=0).metrics.items()}


@pytest.mark.slow
def test_count_is_read_from_the_truth_and_scored(syn_manifest: Path, tmp_path: Path) -> None:
    chain = _chain(tmp_path, "count", COUNT.replace("TYPE", "Int"))
    oracle = _score(chain, syn_manifest, "oracle", tmp_path / "oracle")
    assert oracle["exact"] == 1.0 and oracle["mae"] == 0.0 and oracle["answer_acc"] == 1.0
    answers = [r["output"]["value"] for r in results(tmp_path / "oracle").values()]
    ds = load_dataset(syn_manifest)
    assert sorted(answers) == sorted(item.truth("count") for item in ds)
    assert _score(chain, syn_manifest, "random", tmp_path / "random")["mae"] > 0


@pytest.mark.slow
def test_a_text_ranking_answer_scores_against_the_integer_ids(
    syn_manifest: Path, tmp_path: Path
) -> None:
    chain = _chain(tmp_path, "rank", RANK)
    oracle = _score(chain, syn_manifest, "oracle", tmp_path / "oracle")
    assert oracle["kendall_tau"] == 1.0 and oracle["spearman"] == 1.0
    assert oracle["answer_acc"] == 1.0  # ["3", "1", "2"] agrees with the clause's [3, 1, 2]
    for record in results(tmp_path / "oracle").values():
        assert all(isinstance(i, str) for i in record["output"]["value"])
    run_chain(chain, syn_manifest, "random", tmp_path / "random")
    for record in results(tmp_path / "random").values():
        assert sorted(record["output"]["value"], key=int) == [str(i) for i in range(1, 11)]
    random = {k: m.value for k, m in score_run(tmp_path / "random", n_boot=0).metrics.items()}
    assert random["kendall_tau"] < 1.0


@pytest.mark.slow
def test_random_and_flipped_centres_lie_in_the_image(syn_manifest: Path, tmp_path: Path) -> None:
    chain = _chain(tmp_path, "centres", CENTRES)
    oracle = _score(chain, syn_manifest, "oracle", tmp_path / "oracle")
    assert oracle["point_error"] == 0.0 and oracle["pck"] == 1.0
    random = _score(chain, syn_manifest, "random", tmp_path / "random")
    flip = _score(chain, syn_manifest, "oracle:flip=0.3", tmp_path / "flip")
    assert oracle["point_error"] <= flip["point_error"] < random["point_error"]
    for out in ("random", "flip"):
        for record in results(tmp_path / out).values():
            pts = np.asarray(record["output"]["value"], dtype=float)
            assert (pts >= 0).all() and (pts[:, 0] < 320).all() and (pts[:, 1] < 240).all()


def test_a_chain_whose_truth_type_does_not_fit_is_refused(
    syn_manifest: Path, tmp_path: Path
) -> None:
    chain = _chain(tmp_path, "rank", RANK.replace("size_rank", "centres"))
    with pytest.raises(UsageError) as err:
        run_chain(chain, syn_manifest, "oracle", tmp_path / "out")
    message = str(err.value)
    assert "`truth centres: Ranking`" in message
    assert "the dataset's 'centres' is of type Points" in message
    assert "declare `truth centres: Points`" in message
    assert not (tmp_path / "out").exists()
