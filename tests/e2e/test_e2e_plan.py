"""Pricing a run (``plan``) and the key check of ``run``: plans need no key and send nothing;
a run whose provider key is missing stops with a clear usage error before any question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import CHAINS

from chainlang.api import RunOptions, parse_model, plan
from chainlang.cli.app import main
from chainlang.testing.fake_provider import FakeProviderServer

PAIRS = 16
PARAMS = {"pairs": str(PAIRS), "segments": "30"}
DEPTH = CHAINS / "depth.chain"
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key in the environment (a plan must not need one)."""
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


def _cli(*args: str) -> list[str]:
    params = [x for name, value in PARAMS.items() for x in ("-p", f"{name}={value}")]
    return [*args, *params]


def test_api_plan_prices_one_call_per_pair(syn_manifest: Path, no_keys: None) -> None:
    priced = plan(DEPTH, syn_manifest, "openai:gpt-4o", options=RunOptions(params=PARAMS))

    assert priced.exact and priced.calls_per_item == PAIRS
    assert priced.items == 2 and priced.total_calls == 2 * PAIRS
    assert priced.usd_per_item is not None and priced.usd_per_item > 0
    assert priced.usd_worst_per_item >= priced.usd_per_item
    assert priced.total_usd == pytest.approx(2 * priced.usd_per_item)
    # Every depth question shows the model one marked image.
    assert priced.per_call["image_tokens"] > 0


def test_without_max_tokens_the_plan_assumes_the_cap_the_budget_reserves(
    syn_manifest: Path, no_keys: None
) -> None:
    from chainlang.runtime.cost import PriceTable

    options = RunOptions(params=PARAMS, max_tokens=None)
    priced = plan(DEPTH, syn_manifest, "openai:o1", options=options)  # 32,768 output tokens
    info = PriceTable.load().lookup(parse_model("openai:o1"))
    assert info is not None and info.max_output != 4096  # else the test proves nothing
    assert priced.per_call["max_output_tokens"] == info.max_output


def test_cli_plan_text_and_json(
    syn_manifest: Path, no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("plan", str(DEPTH), "--data", str(syn_manifest), "--model", "openai:gpt-4o")
    assert main(_cli(*base)) == 0
    text = capsys.readouterr().out
    assert f"calls per item   exactly {PAIRS}" in text, text
    expected = next(line for line in text.splitlines() if line.startswith("per item"))
    dollars = float(expected.split("$")[1].split()[0])
    assert dollars > 0, expected

    assert main(_cli(*base, "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["calls_per_item"] == {"formula": doc["calls_per_item"]["formula"],
                                     "exact": True, "value": PAIRS}  # fmt: skip
    assert doc["total_calls"] == 2 * PAIRS
    assert doc["usd_per_item"] > 0 and doc["total_usd"] > 0


def test_oracle_plan_costs_nothing(syn_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("plan", str(DEPTH), "--data", str(syn_manifest), "--model", "oracle", "--json")
    assert main(_cli(*args)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["calls_per_item"]["value"] == PAIRS
    assert doc["usd_per_item"] == 0 and doc["total_usd"] == 0


def test_run_without_key_is_a_usage_error_before_any_work(
    syn_manifest: Path, no_keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # A server stands ready, so a question sent despite the missing key would be seen.
    with FakeProviderServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
        out = tmp_path / "run"
        args = ("run", str(DEPTH), "--data", str(syn_manifest), "--model", "openai:gpt-4o")
        code = main(_cli(*args, "--out", str(out), "--cache", str(tmp_path / "c.sqlite")))
        sent = srv.requests

    err = capsys.readouterr().err
    assert code == 2, err
    assert "OPENAI_API_KEY" in err, err
    assert "Traceback" not in err
    assert sent == []
    assert not (out / "results.jsonl").exists(), "no item may run without a key"
