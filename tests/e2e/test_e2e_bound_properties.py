"""Bound soundness over generated chains (issue 9, defect 4).

Hypothesis writes small chains — fan-outs over superpixels, filtered and
answer-chosen lists, loops whose ``up to`` is a parameter formula, a data
size or a count of answers, branches on parameters or on answers, asks with
``samples K`` (a literal, a parameter, a parameter formula) — and runs
each with the ``oracle`` and ``random`` answerers on two small synthetic
scenes. For every item, the questions it asked are at most its bound
(``program.bounds`` evaluated with the run's parameters and the K superpixels
the item actually has), or the bound says it has none (a size only the run
knows, without an estimate).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainlang.api import RunOptions, load_chain, run
from chainlang.data.manifest import load_dataset
from chainlang.errors import OperationError, UsageError
from chainlang.runtime.runfolder import read_results
from chainlang.vision.superpixels import superpixels

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
SEGMENTS = 12

HEAD = f"""chain gen "A generated chain" {{
  input image: Image
  output Label

  param p: Int = 3
  param q: Int = 5
  answer Nearer {{ near: "red" | "blue" }}
  prompt one(view: Image, which: Int) -> Nearer {{
    user [view high] "Question {{which}}: is the marked region near?"
  }}
  prompt many(view: Image, each which: Int) -> Nearer {{
    user [view high] "Some questions about this image."
    each user "Question {{key}} ({{which}}): is the marked region near?"
  }}
  let regions = superpixels(image, n = {SEGMENTS})
  let graph = adjacency(regions)
  let all = regions_of(regions)
"""


@dataclass
class Gen:
    """The chain being written: its steps and the names of earlier answer lists."""

    lines: list[str] = field(default_factory=list)
    votes: list[tuple[str, str]] = field(default_factory=list)  # (answers, regions asked)
    n: int = 0

    def fresh(self, prefix: str) -> tuple[str, int]:
        self.n += 1
        return f"{prefix}{self.n}", self.n


def _ask(tag: int, which: str, samples: str = "") -> str:
    oracle = 'oracle { near = if x.id % 2 == 0 then "red" else "blue" }'
    return f"ask one(view = image, which = {tag} * 100000 + {which}){samples} {oracle}"


def _samples(draw: st.DrawFn) -> str:
    """Nothing, or ``samples K`` (K calls for the ask) where the answers are not read."""
    return draw(st.sampled_from(["", "", " samples 2", " samples p", " samples q - p"]))


def _sources(draw: st.DrawFn, g: Gen) -> str:
    options = [
        "all",
        "take(all, p)",
        "drop(all, q)",
        "[r for r in all if r.id % 3 == 0]",
        "neighbours(graph, first(all))",
        'sample_pairs(regions, n = p, scheme = "balanced").a',
        "take(all, p) + take(all, 2)",
    ]
    for votes, asked in g.votes:
        options.append(f'select({asked}, {votes}.near == "red")')
        options.append(f'if len([v for v in {votes} if v.near == "red"]) > 1 then {asked} else []')
    return draw(st.sampled_from(options))


def _bounds(draw: st.DrawFn, g: Gen) -> str:
    options = ["p", "q % 4", "p % q", "q - p", "max(q, 2) * 2", "ceil(count(regions) / 3)"]
    options += ["min(p, count(regions))", "if p > q then p else 2"]
    for votes, _ in g.votes:
        options.append(f"len({votes})")
        options.append(f'len([v for v in {votes} if v.near == "red"])')
        options.append(f'len([v for v in {votes} if v.near == "red"]) % 3 + 1')
    return draw(st.sampled_from(options))


def _fan_out(draw: st.DrawFn, g: Gen) -> None:
    src = _sources(draw, g)
    name, tag = g.fresh("s")
    asked, _ = g.fresh("r")
    g.lines.append(f"  let {asked} = {src}")
    if draw(st.booleans()):
        size = draw(st.sampled_from(["2", "p", "q"]))
        g.lines.append(f"  let {name} = for x in {asked} batch {size} {{")
        g.lines.append(
            f"    ask many(view = image, which = {tag} * 100000 + x.id)"
            ' oracle { near = if x.id % 2 == 0 then "red" else "blue" }'
        )
    else:
        g.lines.append(f"  let {name} = for x in {asked} {{")
        g.lines.append(f"    {_ask(tag, 'x.id')}")
    g.lines.append("  }")
    g.votes.append((name, asked))


def _loop(draw: st.DrawFn, g: Gen) -> None:
    bound = _bounds(draw, g)
    stop = draw(st.sampled_from(["1000", "q", "p + 1"]))
    name, tag = g.fresh("l")
    g.lines += [
        f"  let {name} = repeat with {{ i = 0 }} up to {bound} until i >= {stop} {{",
        f"    let a = ask one(view = image, which = {tag} * 100000 + i){_samples(draw)}"
        ' oracle { near = "red" }',
        "    next { i = i + 1 }",
        "  }",
    ]


def _branch(draw: st.DrawFn, g: Gen) -> None:
    conds = ["p > q", "q > 2"]
    conds += [f'len([v for v in {v} if v.near == "red"]) > 1' for v, _ in g.votes]
    cond = draw(st.sampled_from(conds))
    name, tag = g.fresh("b")
    a, b = _sources(draw, g), _sources(draw, g)
    ka = _samples(draw)
    # both branches give the same type: plain answers, or K-lists (K may differ)
    kb = "" if not ka else draw(st.sampled_from([" samples 2", " samples q"]))
    g.lines += [
        f"  let {name} = if {cond} {{",
        f"    for x in {a} {{ {_ask(tag, 'x.id', ka)} }}",
        "  } else {",
        f"    for x in {b} {{ {_ask(tag, '50000 + x.id', kb)} }}",
        "  }",
    ]


@st.composite
def chains(draw: st.DrawFn) -> str:
    g = Gen()
    _fan_out(draw, g)
    for _ in range(draw(st.integers(1, 3))):
        draw(st.sampled_from([_fan_out, _loop, _branch]))(draw, g)
    return HEAD + "\n".join(g.lines) + '\n  return "cat"\n}\n'


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Two small synthetic scenes and the superpixels each actually has."""
    from chainlang.data.synthetic import generate

    data = generate(2, tmp_path_factory.mktemp("scenes"), seed=3, size=(96, 72))
    ks = {i.id: superpixels(i.image(), n=SEGMENTS).count for i in load_dataset(data)}
    return data, ks


@SETTINGS
@given(
    text=chains(),
    p=st.integers(1, 6),
    q=st.integers(1, 7),
    model=st.sampled_from(["oracle", "random"]),
)
def test_no_item_asks_more_than_its_bound(
    scenes: tuple[Path, dict[str, int]], text: str, p: int, q: int, model: str
) -> None:
    data, ks = scenes
    folder = Path(tempfile.mkdtemp())
    chain = folder / "gen.chain"
    chain.write_text(text, encoding="utf-8")
    program = load_chain(chain)  # the generator writes only chains that compile
    bound = program.bounds
    assert bound is not None
    options = RunOptions(params={"p": str(p), "q": str(q)}, cache=None, progress="none")
    run(chain, data, model, out=folder / "run", options=options)
    for record in read_results(folder / "run"):
        asked = sum(q["share"] for q in record["questions"])
        try:
            allowed = bound.evaluate({"p": p, "q": q, "K": ks[record["id"]]}, estimate=False)
        except UsageError:
            continue  # the bound says it has none: a size only the run knows
        except OperationError:
            continue  # the formula fails for these values, as the run did
        assert asked <= allowed + 1e-9, f"{record['id']}: {asked} > {bound.show()}\n{text}"
