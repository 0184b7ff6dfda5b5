"""The shipped chains: they check, format canonically, bound their calls, resolve parameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from compiler_helpers import CHAINS, GOLDEN, ROOT

from chainlang.cli.app import main
from chainlang.errors import CompileError, UsageError
from chainlang.language.compiler import check_file, check_source, compile_file, compile_source
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.ir import Program
from chainlang.language.lower import resolve_params
from chainlang.language.source import SourceFile
from chainlang.language.syntax.parser import parse
from chainlang.language.syntax.unparse import unparse
from chainlang.stdlib import SignatureError, operation


def test_chains_were_found() -> None:
    names = {p.stem for p in CHAINS}
    paper = {"classify", "detect", "segment", "group", "depth", "normals"}
    assert paper | {"dense_depth", "dense_normals", "dense_group", "label"} <= names


@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_chain_checks_clean(path: Path) -> None:
    result = check_file(path)
    assert result.diagnostics == [], result.render()
    assert result.program is not None and result.program.bounds is not None


@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_chain_is_formatted_and_round_trips(path: Path) -> None:
    src = SourceFile.read(path)
    module = parse(src, Diagnostics())
    assert module is not None
    text = unparse(module)
    again = parse(SourceFile.of("x", text), Diagnostics())
    assert again == module
    assert unparse(again) == text  # idempotent
    assert text == src.text  # the shipped chains are kept in the canonical layout
    assert [c for c in text.splitlines() if c.strip().startswith("#")]  # comments survive


@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_ir_json_round_trips(path: Path) -> None:
    program = compile_file(path)
    assert Program.model_validate_json(program.model_dump_json()) == program


def test_every_paper_ask_has_an_oracle() -> None:
    for path in CHAINS:
        text = compile_file(path).model_dump_json()
        assert text.count('"kind":"ask"') == text.count('"oracle":{'), path


def _program(name: str) -> Program:
    return compile_file(ROOT / "chains" / f"{name}.chain")


def test_bounds_match_the_paper() -> None:
    depth = _program("depth").bounds
    assert depth is not None and depth.exact
    assert depth.evaluate({"pairs": 200, "segments": 100}) == 200  # paper: P = 200 for K < 400
    # The reference scheme pairs every region at least once: P = max(pairs, ceil(K/2)).
    assert depth.evaluate({"pairs": 200, "K": 420}) == 210
    assert depth.evaluate({"pairs": 40, "K": 88}) == 44
    seg = _program("segment").bounds
    assert seg is not None and not seg.exact
    for mode in ("sans_context", "numbered", "plain"):
        base = {"per_call": 16, "carry_seen": mode == "plain", "mode": mode}
        assert seg.evaluate({**base, "K": 380}) == 24
        # K defaults to its estimate, the requested number of segments.
        assert seg.evaluate({**base, "segments": 400}) == 25
    cls = _program("classify").bounds
    assert cls is not None and cls.evaluate({"per_call": 100}) == pytest.approx(0.01)
    det = _program("detect").bounds
    assert det is not None and not det.exact
    base = {"find": "regions", "n_iters": 6, "len(classes)": 3}
    assert det.evaluate({**base, "independent": False}) == 5 + 18
    assert det.evaluate({**base, "independent": True, "n_iters": 8, "len(classes)": 3}) == 5 + 216


def test_bound_needs_values_for_unknown_symbols() -> None:
    bound = _program("group").bounds
    assert bound is not None
    with pytest.raises(UsageError, match="len\\(points\\)"):
        bound.evaluate({"per_call": 8, "segments": 400})
    # one round per superpixel at most, for each query point
    assert bound.evaluate({"per_call": 8, "segments": 400, "len(points)": 2}) == 800


def test_resolve_params_applies_model_defaults_and_overrides() -> None:
    depth = _program("depth")
    r = resolve_params(depth, "gemini-1.5-pro")
    assert r.params["marker"] == "point" and r.params["smoothness"] == 20.0
    assert r.variants["compare"] == "careful"
    r = resolve_params(
        depth, "gpt-4o-2024-08-06", {"pairs": "400", "variant.compare": "brief_near"}
    )
    assert r.params["pairs"] == 400 and r.variants["compare"] == "brief_near"
    with pytest.raises(UsageError, match="no parameter 'pears'"):
        resolve_params(depth, "gpt-4o", {"pears": "1"})
    with pytest.raises(UsageError, match="must be Int"):
        resolve_params(depth, "gpt-4o", {"pairs": "many"})
    with pytest.raises(UsageError, match="no variant"):
        resolve_params(depth, "gpt-4o", {"variant.compare": "nope"})


def test_compile_error_carries_all_diagnostics() -> None:
    text = "chain t {\n input image: Imag\n output Depth\n return nope\n}\n"
    with pytest.raises(CompileError) as info:
        compile_source(text, "t.chain")
    codes = [d.code for d in info.value.diagnostics]
    assert codes == ["E203", "E203", "E201"]
    assert "t.chain:2:15: error[E203]" in str(info.value)


def test_one_typo_gives_one_error() -> None:
    path = ROOT / "chains" / "depth.chain"
    text = path.read_text().replace("sample_pairs(regions", "sample_pairs(regionz")
    result = check_source(text, str(path))
    assert [d.code for d in result.diagnostics] == ["E201"]


@pytest.mark.parametrize(
    "signature",
    ['f(a: "x" |) -> Int', 'f(a: Int) -> "x" |', "f(a: Int -> Int", "f(a: Nope) -> Int"],
)
def test_malformed_signature_is_a_signature_error(signature: str) -> None:
    with pytest.raises(SignatureError):
        operation(signature)


def test_imports_bring_prompts_answers_and_labelsets(tmp_path: Path) -> None:
    (tmp_path / "pets.labels").write_text("cat\ndog\n")
    (tmp_path / "lib.chain").write_text(
        'labels pets = "pets.labels"\nanswer Pet { pet: Label(pets) }\n'
        'prompt which(view: Image) -> Pet {\n  user [view high] "Which pet?"\n}\n'
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "main.chain").write_text(
        'from "../lib.chain" import which\nchain m {\n  input image: Image\n  truth label: Label\n'
        "  output Label\n  let a = ask which(view = image)\n    oracle { pet = truth.label }\n"
        "  return a.pet\n}\n"
    )
    program = compile_file(tmp_path / "sub" / "main.chain")
    assert {ls.name: ls.source for ls in program.labelsets}["pets"] == "../pets.labels"


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainlang", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_exit_codes_and_outputs(tmp_path: Path) -> None:
    ok = _cli("check", "--explain", "chains/depth.chain")
    assert ok.returncode == 0 and "calls = max(pairs, ceil(K / 2)) per item" in ok.stdout
    bad = tmp_path / "bad.chain"
    bad.write_text("chain t {\n  input image: Imag\n}\n")
    res = _cli("check", "--json", str(bad))
    assert res.returncode == 1 and '"code": "E203"' in res.stdout
    assert _cli("check").returncode == 2
    assert _cli("dump", "--stage", "ast", "chains/depth.chain").returncode == 0
    messy = tmp_path / "messy.chain"
    messy.write_text((ROOT / "chains/examples/label.chain").read_text().replace("\n  ", "\n      "))
    assert _cli("fmt", "--check", str(messy)).returncode == 1
    assert _cli("fmt", str(messy)).returncode == 0
    assert _cli("fmt", "--check", str(messy)).returncode == 0


@pytest.mark.parametrize("command", ["check", "fmt"])
def test_a_folder_without_chains_is_a_usage_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A mistyped folder in CI must fail, not pass with nothing checked.
    assert main([command, str(tmp_path)]) == 2
    assert f"{tmp_path} holds no .chain files" in capsys.readouterr().err


def test_fmt_leaves_a_file_with_syntax_errors_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `f(n = 5, image)` must not be "fixed" into `f(image, n = 5)` behind the author's back.
    path = tmp_path / "kw.chain"
    text = (GOLDEN / "diagnostics" / "E303_positional_after_named.chain").read_text()
    path.write_text(text)
    assert main(["fmt", str(path)]) == 1
    assert path.read_text() == text
    assert "E303" in capsys.readouterr().err


def test_fmt_reports_a_file_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    messy = tmp_path / "messy.chain"
    messy.write_text((ROOT / "chains/examples/label.chain").read_text().replace("\n  ", "\n      "))

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError("read-only")

    monkeypatch.setattr(Path, "write_text", refuse)
    assert main(["fmt", str(messy)]) == 1
    assert f"{messy}: cannot write: permission denied" in capsys.readouterr().err


def test_check_imports_no_heavy_modules() -> None:
    code = (
        "import sys\nfrom chainlang.cli.app import main\n"
        "rc = main(['check', 'chains/depth.chain', 'chains/segment.chain'])\n"
        "heavy = {'torch', 'timm', 'skimage', 'openai', 'anthropic', 'google.genai',"
        " 'chainlang.vision'}\n"
        "print(sorted(m for m in heavy if m in sys.modules)); sys.exit(rc)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("[]")


COMMENTED = """chain c {
  input image: Image
  output Label

  prompt p(view: Image) -> Text {
    user [view] "Name it."
  }

  let xs = for i in [1, 2] {
    # before the let of a for body
    let j = i + 1
    # before the for body's value
    j
    # after the for body's value
  }
  let r = repeat with { k = 0 } up to 3 until k > 1 {
    # before the repeat's let
    let m = k + 1
    # before next
    next { k = m }
    # after next
  }
  return ask p(view = image)
    oracle {
      # before the oracle's let
      let t = "a"
      # before the oracle's value
      t
      # after the oracle's value
    }
    else {
      # before the fallback's value
      "b"
    }
}
"""


def test_comments_stay_in_the_body_that_holds_them() -> None:
    """`chainlang fmt` keeps every comment of a for, repeat, oracle and else body inside
    it, in its place (a comment once moved past the body's closing brace)."""
    module = parse(SourceFile.of("c.chain", COMMENTED), Diagnostics())
    assert module is not None
    text = unparse(module)
    assert text == COMMENTED
