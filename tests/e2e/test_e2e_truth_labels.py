"""A dataset whose truth labels are not the chain's labels is refused before any question."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import CHAINS, run_chain

from chainlang.errors import UsageError

SEGMENT = CHAINS / "segment.chain"
LABEL = CHAINS / "examples" / "label.chain"


def test_a_label_set_mismatch_names_the_exact_labels_fix(
    syn_manifest: Path, tmp_path: Path
) -> None:
    # The synthetic scenes' truth indexes into the `synthetic` set; segment.chain answers
    # COCO-stuff labels. Without the rebinding every question would be an invalid answer.
    out = tmp_path / "run"
    with pytest.raises(UsageError, match=r"--labels coco_stuff133=synthetic") as err:
        run_chain(SEGMENT, syn_manifest, "oracle", out, {"segments": 8})
    assert "floor" in str(err.value)  # a label the chain's set lacks is named
    assert not (out / "results.jsonl").exists()


def test_the_labels_fix_runs(syn_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    labels = {"coco_stuff133": "synthetic"}
    result = run_chain(SEGMENT, syn_manifest, "oracle", out, {"segments": 8}, labels=labels)
    assert result.summary.items_ok == result.summary.items == 2


def test_inline_truth_labels_outside_the_set_are_refused(
    sample_manifest: Path, tmp_path: Path
) -> None:
    # The bundled photos carry their labels inline (no dataset label set): "horse" and
    # "cat" are animals, not ImageNet class names.
    with pytest.raises(UsageError, match=r"label file.*--labels animals=") as err:
        run_chain(
            LABEL, sample_manifest, "oracle", tmp_path / "run", labels={"animals": "imagenet1k"}
        )
    assert "'cat'" in str(err.value)
