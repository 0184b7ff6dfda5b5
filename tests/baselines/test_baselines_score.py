"""The specialist's own score, the ``score --baselines`` command, spec and answerer."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from baselines_helpers import DEPTH, DEPTH_PARAMS, SCENES, Folders, run_chain

from chainlang.cli import app as cli
from chainlang.errors import ScoringError, UsageError
from chainlang.language.types import RecordT
from chainlang.providers.base import Message, ModelRequest, ProviderError, TextPart
from chainlang.providers.registry import make_provider, parse_model, resolve_credentials
from chainlang.scoring.score import score_specialist


def test_direct_score_of_exact_predictions_is_perfect(manifest: Path, folders: Folders) -> None:
    s = score_specialist(f"folder:{folders.exact}", manifest, "DepthMap", n_boot=0)
    assert s.run == f"folder:{folders.exact} (direct)"
    assert s.model == f"specialist:folder:{folders.exact}"
    assert s.metrics["spearman"].value == pytest.approx(1.0)
    assert s.metrics["delta1"].value == pytest.approx(1.0)
    assert s.coverage.items == SCENES and s.coverage.items_failed == 0


def test_direct_score_of_noisy_predictions_is_imperfect(manifest: Path, folders: Folders) -> None:
    noisy = score_specialist(f"specialist:folder:{folders.noisy}", manifest, "DepthMap")
    assert 0.5 < noisy.metrics["spearman"].value < 0.999
    assert noisy.metrics["absrel"].value > 0.01
    assert set(noisy.per_image["spearman"].ids) == {p.stem for p in folders.noisy.glob("*.npy")}


def test_direct_score_of_labels(manifest: Path, folders: Folders) -> None:
    s = score_specialist(f"folder:{folders.labels}", manifest, "Label", n_boot=0)
    assert s.metrics["top1"].value == pytest.approx((SCENES - 1) / SCENES)


def test_direct_score_rejects_a_specialist_of_another_task(
    manifest: Path, folders: Folders
) -> None:
    with pytest.raises(ScoringError, match="no normals prediction for item"):
        score_specialist(f"folder:{folders.labels}", manifest, "NormalMap", n_boot=0)
    with pytest.raises(ScoringError, match="no metric is defined for Image outputs"):
        score_specialist(f"folder:{folders.exact}", manifest, "Image")


def test_cli_score_prints_every_baseline_row(
    manifest: Path, folders: Folders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_chain(DEPTH, manifest, "oracle:flip=0.2", tmp_path / "model")
    spec = f"specialist:folder:{folders.noisy}"
    code = cli.main(["score", str(tmp_path / "model"), "--baselines", f"oracle,random,{spec}"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split()[0] for line in out.splitlines()[2:]]
    assert rows == [
        "model",
        "model--oracle",
        "model--random",
        f"model--specialist-folder-{str(folders.noisy).strip('/').replace('/', '-')}",
        "noisy",
    ]
    assert re.search(r"noisy \(direct\)\s+\d\.\d{3} \[", out)
    # the baselines ran with the model run's parameters and journal
    info = json.loads((tmp_path / "model--oracle" / "run.json").read_text())
    assert {k: str(v) for k, v in info["params"].items() if k in DEPTH_PARAMS} == DEPTH_PARAMS
    assert info["cache"] == str(tmp_path / "cache.sqlite")


def test_cli_score_json_holds_the_direct_row(
    manifest: Path, folders: Folders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_chain(DEPTH, manifest, "oracle", tmp_path / "model")
    spec = f"specialist:folder:{folders.exact}"
    assert cli.main(["score", str(tmp_path / "model"), "--baselines", spec, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run"].endswith("(direct)") for r in rows] == [False, False, True]
    chain, direct = rows[1], rows[2]
    assert chain["model"] == direct["model"] == spec
    assert direct["metrics"]["spearman"]["value"] == pytest.approx(1.0)
    assert chain["metrics"]["answer_acc"]["value"] == 1.0


def test_cli_score_with_a_missing_specialist_folder_is_a_usage_error(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_chain(DEPTH, manifest, "oracle", tmp_path / "model")
    missing = tmp_path / "nowhere"
    code = cli.main(
        ["score", str(tmp_path / "model"), "--baselines", f"specialist:folder:{missing}"]
    )
    assert code == 2
    assert f"prediction folder not found: {missing}" in capsys.readouterr().err


def test_specialist_spec_keeps_weights_after_the_at_sign() -> None:
    ref = parse_model("specialist:timm:resnet18@/w/r18.safetensors")
    assert (ref.provider, ref.model, ref.base_url) == (
        "specialist",
        "timm:resnet18@/w/r18.safetensors",
        None,
    )
    ref = parse_model("specialist:folder:/data/preds:task=depth")
    assert (ref.model, ref.options) == ("folder:/data/preds", (("task", "depth"),))
    assert str(ref) == "specialist:folder:/data/preds:task=depth"


@pytest.mark.parametrize("model", ["specialist:folder", "specialist:depth-anything"])
def test_specialist_spec_needs_kind_and_target(model: str, manifest: Path, tmp_path: Path) -> None:
    # the spec parses (the registry does not know specialist kinds); the run refuses it
    assert parse_model(model).provider == "specialist"
    with pytest.raises(UsageError, match=r"bad specialist spec .* expected kind:target"):
        run_chain(DEPTH, manifest, model, tmp_path / "r")


def test_specialist_task_option_is_checked(
    manifest: Path, folders: Folders, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="task=height is not one of label, boxes"):
        run_chain(DEPTH, manifest, f"specialist:folder:{folders.exact}:task=height", tmp_path / "r")


def _request(oracle: object) -> ModelRequest:
    ref = parse_model("specialist:folder:/preds")
    return ModelRequest(
        model=ref,
        messages=(Message("user", (TextPart("which is nearer?"),)),),
        answer_type=RecordT(fields=()),
        schema={},
        oracle=oracle,
        origin="depth.chain:55:8",
    )


def test_specialist_answerer_replies_with_the_oracle_value() -> None:
    ref = parse_model("specialist:folder:/preds")
    provider = make_provider(ref, resolve_credentials(ref, {}))
    response = asyncio.run(provider.send(_request({"near": "red"}), timeout=1.0))
    assert response.parsed == {"near": "red"}
    assert response.usage.input_tokens == 0
    with pytest.raises(ProviderError, match=r"depth\.chain:55:8.*`oracle` clause") as err:
        asyncio.run(provider.send(_request(None), timeout=1.0))
    assert err.value.kind == "bad_request"


def test_specialist_answerer_rejects_unknown_options() -> None:
    ref = parse_model("specialist:folder:/preds:flip=0.3")
    with pytest.raises(UsageError, match="unknown options \\['flip'\\]"):
        make_provider(ref, resolve_credentials(ref, {}))
