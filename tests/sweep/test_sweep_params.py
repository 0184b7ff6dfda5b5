"""Parameters end to end: ``-p`` errors, sweep values, and what the report and trace read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlang.errors import UsageError
from chainlang.language.compiler import compile_file
from chainlang.language.params import (
    parse_overrides,
    parse_param_spec,
    recorded_overrides,
    resolve_params,
)
from chainlang.reporting.report import render_report
from chainlang.runtime.session import RunOptions, run

HERE = Path(__file__).parent
_TRIES = '  output Label\n  param tries: Int = 2 "how often to ask"\n'
_DEFAULTS = '  defaults for "oracle*" { tries = 5 }\n'


def _chain(folder: Path) -> Path:
    """spot.chain with a parameter that a ``defaults for "oracle*"`` block sets to 5."""
    text = (HERE / "chains" / "spot.chain").read_text(encoding="utf-8")
    (folder / "shapes.labels").write_text(
        (HERE / "chains" / "shapes.labels").read_text(encoding="utf-8"), encoding="utf-8"
    )
    chain = folder / "p.chain"
    chain.write_text(text.replace("  output Label\n", _TRIES + _DEFAULTS), encoding="utf-8")
    return chain


def _program(folder: Path) -> object:
    return compile_file(_chain(folder))


def test_a_word_for_an_int_parameter_names_the_type_expected(tmp_path: Path) -> None:
    program = _program(tmp_path)
    with pytest.raises(UsageError) as err:
        resolve_params(program, "oracle", parse_overrides(["tries=ten"]))
    message = str(err.value)
    assert "parameter 'tries' must be Int (a whole number)" in message
    assert "'ten'" in message and "invalid literal" not in message


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"tries": 2.5}, "must be Int (a whole number): got 2.5"),  # a TOML float from a sweep
        ({"tries": True}, "must be Int (a whole number): got True"),
        ({"trys": "3"}, "has no parameter 'trys' (it has tries)"),
        ({"variant.nam": "terse"}, "has no prompt 'nam'"),
        ({"variant.name": "loud"}, "has no variant 'loud'"),
    ],
)
def test_params_errors_say_what_was_expected(
    tmp_path: Path, overrides: dict[str, object], words: str
) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        resolve_params(_program(tmp_path), "oracle", overrides)


def test_a_malformed_override_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="-p expects NAME=VALUE, got 'tries'"):
        parse_overrides(["tries"])


def test_sweep_values_are_toml_and_convert_like_command_line_text(tmp_path: Path) -> None:
    program = _program(tmp_path)
    name, value = parse_param_spec("tries=[3, 4]")
    assert (name, value) == ("tries", [3, 4])
    from_toml = resolve_params(program, "oracle", {"tries": value[0]}).params["tries"]
    from_text = resolve_params(program, "oracle", {"tries": "3"}).params["tries"]
    assert from_toml == from_text == 3


def test_run_json_records_and_the_report_shows_a_defaults_for_parameter(
    scenes: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run(
        _chain(tmp_path), scenes, "oracle", out=out, options=RunOptions(cache=None, progress="none")
    )
    recorded = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert recorded["params"] == {"tries": 5}  # the resolved value, not the declared 2
    assert recorded_overrides(recorded) == {"tries": 5, "variant.name": "terse"}
    page = render_report(out, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "tries=5" in page
