"""``chainlang lsp`` is a command; without pygls it says how to install it, no traceback."""

from __future__ import annotations

import subprocess
import sys

from lsp_helpers import ROOT

_WITHOUT_PYGLS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pygls" or name.startswith("pygls."):
            raise ImportError("No module named 'pygls'")
        return None
sys.meta_path.insert(0, Block())
from chainlang.cli.app import main
sys.exit(main(["lsp"]))
"""


def test_lsp_is_listed_in_the_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chainlang", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0 and "lsp" in done.stdout


def test_without_pygls_it_says_how_to_install_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYGLS],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'chainlang[lsp]'" in done.stderr
    assert "Traceback" not in done.stderr
