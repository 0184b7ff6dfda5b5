"""Binding a declared name to its implementation, late.

Operations and metrics are declared with a ``"module:function"`` string so that
checking a chain imports neither vision code nor scoring code; the function is
imported the first time a run needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chainlang.errors import UsageError


def load_impl(kind: str, name: str, impl: str) -> Callable[..., Any]:
    """Import ``impl`` (``"module:function"``) for the ``kind`` called ``name``.

    Raises:
        UsageError: The module or function does not exist.
    """
    module, _, attr = impl.partition(":")
    try:
        fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(
            f"{kind} '{name}' is implemented by {impl}, which cannot be loaded: {exc}"
        ) from exc
    return fn
