"""``python -m chainlang`` runs the command-line interface."""

from __future__ import annotations

import sys

from chainlang.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
