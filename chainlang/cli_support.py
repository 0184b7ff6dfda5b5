"""Pieces shared by the CLI command modules: exit codes, NAME=VALUE pairs, error guard."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from chainlang.errors import CompileError, UsageError

Sub = argparse._SubParsersAction  # type: ignore[type-arg]
EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments of ``flag`` as a dict; a malformed one is a UsageError."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{flag} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def guard(fn: Any) -> Any:
    """Print compile errors as diagnostics (exit 1) instead of a one-line message."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except CompileError as err:
            print(str(err), file=sys.stderr)
            return EXIT_DIAGNOSTICS

    return wrapped
