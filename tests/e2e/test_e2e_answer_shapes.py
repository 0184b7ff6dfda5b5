"""Answer shapes end to end (issue 12, point 4): a permutation answer under the
simulated answerers. ``random`` draws whole orders of exactly the five values;
``oracle:flip=0.3`` keeps the oracle's order or replaces it by another order;
an oracle clause that is no permutation fails as data, naming what is wrong.
"""

from __future__ import annotations

from pathlib import Path

from e2e_helpers import CHAINS, results, run_chain

VALUES = ["1", "2", "3", "4", "5"]
ORACLE = ["3", "1", "5", "2", "4"]

ORDER = """labels animals = "animals.labels"

chain order "Order five numbered regions, eight rounds" {
  input image: Image
  truth label: Label
  output Label

  prompt rank(view: Image, round: Int) -> { order: permutation of ["1", "2", "3", "4", "5"] } {
    user [view high] "Round {round}: order the numbered regions from nearest to farthest."
  }

  let orders = for round in [1, 2, 3, 4, 5, 6, 7, 8] {
    ask rank(view = image, round = round)
      oracle {
        order = ORACLE
      }
  }
  let firsts = [first(o.order) for o in orders]
  return if first(firsts) == "3" then "cat" else "dog"
}
"""


def _chain(tmp_path: Path, oracle: list[str] = ORACLE) -> Path:
    labels = (CHAINS / "examples" / "animals.labels").read_text(encoding="utf-8")
    (tmp_path / "animals.labels").write_text(labels, encoding="utf-8")
    chain = tmp_path / "order.chain"
    listed = "[" + ", ".join(f'"{v}"' for v in oracle) + "]"
    chain.write_text(ORDER.replace("ORACLE", listed), encoding="utf-8")
    return chain


def _orders(out: Path) -> list[list[str]]:
    records = results(out).values()
    assert records and all(r["status"] == "ok" for r in records)
    return [q["answer"]["order"] for r in records for q in r["questions"]]


def test_random_answers_whole_orders_of_exactly_the_values(
    sample_manifest: Path, tmp_path: Path
) -> None:
    out = tmp_path / "random"
    run_chain(_chain(tmp_path), sample_manifest, "random", out)
    orders = _orders(out)
    assert len(orders) >= 24
    assert all(sorted(o) == VALUES for o in orders)  # never a list of 1-3 picks
    # uniform over the 120 orders: 24 draws are almost surely mostly distinct
    assert len({tuple(o) for o in orders}) >= 15


def test_flip_replaces_an_order_by_another_order(sample_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "flip"
    run_chain(_chain(tmp_path), sample_manifest, "oracle:flip=0.3", out)
    orders = _orders(out)
    assert all(sorted(o) == VALUES for o in orders)
    kept = sum(o == ORACLE for o in orders)
    assert 0.4 * len(orders) <= kept < len(orders)  # about 70 % kept, some flipped


def test_an_oracle_that_is_no_permutation_fails_as_data(
    sample_manifest: Path, tmp_path: Path
) -> None:
    out = tmp_path / "broken"
    chain = _chain(tmp_path, ["1", "1", "2", "3", "4"])
    run_chain(chain, sample_manifest, "oracle", out)
    records = list(results(out).values())
    assert records and all(r["status"] != "ok" for r in records)
    messages = " ".join(
        str(q.get("failure_message")) for r in records for q in r["questions"] if not q["ok"]
    )
    assert '"1" more than once; "5" missing' in messages
