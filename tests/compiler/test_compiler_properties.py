"""Property tests: generated and mutated programs give diagnostics, never tracebacks."""

from __future__ import annotations

from functools import cache

from compiler_helpers import CHAINS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from chainlang.language.compiler import check_source
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.ir import Program
from chainlang.language.source import SourceFile
from chainlang.language.syntax.parser import grammar_text, parse
from chainlang.language.syntax.unparse import unparse

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@cache
def _grammar() -> Lark:
    # Comments would swallow the rest of a generated one-line program: leave them out here.
    text = grammar_text().replace("%ignore COMMENT", "")
    return Lark(text, parser="lalr", lexer="contextual")


def _spaced(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return strategy.map(lambda s: f" {s} ")


@cache
def _explicit() -> dict[str, st.SearchStrategy[str]]:
    # Surround every word-like token with spaces so adjacent tokens never merge.
    out: dict[str, st.SearchStrategy[str]] = {
        "NAME": _spaced(st.from_regex(r"\Av[a-z0-9_]{0,4}\Z")),
        "INT": _spaced(st.integers(0, 10**6).map(str)),
        "FLOAT": _spaced(st.floats(0, 1e6).map(repr)),
        "STRING": _spaced(st.text("abc {}x", max_size=8).map(lambda s: '"' + s + '"')),
    }
    for term in _grammar().terminals:
        value = term.pattern.value
        if term.name not in out and term.pattern.type == "str" and value.isalpha():
            out[term.name] = st.just(f" {value} ")
        elif term.pattern.type == "re" and term.name in {"ROLE", "DETAIL", "VARIANT_FLAG"}:
            out[term.name] = _spaced(st.from_regex(f"\\A(?:{value})\\Z"))
        elif term.name in {"CMP_OP"}:
            out[term.name] = _spaced(st.sampled_from(["==", "!=", "<=", ">=", "<", ">"]))
    return out


def _parse(text: str) -> tuple[object, Diagnostics]:
    diags = Diagnostics()
    return parse(SourceFile.of("gen.chain", text), diags), diags


@SETTINGS
@given(st.data())
def test_generated_programs_parse_check_and_round_trip(data: st.DataObject) -> None:
    text = data.draw(from_lark(_grammar(), explicit=_explicit()))
    module, diags = _parse(text)
    if module is None:
        assert diags.has_errors()
        return
    formatted = unparse(module)  # type: ignore[arg-type]
    again, diags2 = _parse(formatted)
    assert not diags2.has_errors(), formatted
    assert again == module
    result = check_source(text, "gen.chain")  # the checker never raises either
    assert result.program is not None or result.diagnostics


def _mutate(text: str, ops: list[tuple[int, int, int]]) -> str:
    words = text.split(" ")
    for kind, i, j in ops:
        if not words:
            break
        i, j = i % len(words), j % len(words)
        if kind == 0:
            del words[i]
        elif kind == 1:
            words.insert(i, words[j])
        elif kind == 2:
            words[i], words[j] = words[j], words[i]
        else:
            words = words[: i + 1]
    return " ".join(words)


@SETTINGS
@given(
    st.sampled_from(CHAINS),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 10**4), st.integers(0, 10**4)), max_size=4
    ),
    st.binary(max_size=12),
)
def test_mutated_chains_give_diagnostics_not_tracebacks(path, ops, noise: bytes) -> None:  # type: ignore[no-untyped-def]
    text = _mutate(path.read_text(), ops)
    cut = len(text) // 2
    text = text[:cut] + noise.decode("latin-1") + text[cut:]
    result = check_source(text, str(path))
    if result.program is not None:
        assert Program.model_validate_json(result.program.model_dump_json()) == result.program
    else:
        assert result.diagnostics


def test_deep_nesting_and_huge_literals_are_diagnostics() -> None:
    head = "chain t {\n  input image: Image\n  output DepthMap\n  let a = "
    for body, code in (
        ("[" * 5000 + "]" * 5000, "E104"),
        ("-" * 5000 + "1", "E104"),
        ("not " * 3000 + "true", "E104"),
        ("1" * 6000, "E105"),
        ("1.0e99999", "E105"),
        ("(" * 3000 + "1" + ")" * 3000 + " + " + "f(" * 2000, "E101"),
    ):
        result = check_source(head + body + "\n}\n", "deep.chain")
        assert result.program is None
        assert [d.code for d in result.diagnostics] == [code], body[:20]


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises(text: str) -> None:
    result = check_source(text, "noise.chain")
    assert result.program is not None or result.diagnostics


def test_a_diagnostic_reported_twice_counts_once() -> None:
    from chainlang.language.diagnostics import Diagnostics
    from chainlang.language.source import SourceFile

    src = SourceFile.of("t.chain", "chain t {}\n")
    diags = Diagnostics()
    for _ in range(2):
        diags.error("E201", src.span(6, 7), "unknown name 't'")
    assert len(diags) == len(list(diags)) == 1
