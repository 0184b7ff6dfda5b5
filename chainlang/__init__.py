"""chainlang: evaluate vision-language models on vision tasks by prompt chaining.

The Python API lives in :mod:`chainlang.api`; its main names are re-exported
here lazily, so ``import chainlang`` (and ``chainlang check``) stays light.

    >>> import chainlang
    >>> program = chainlang.load_chain("chains/depth.chain")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunOptions", "aplan", "arun", "load_chain", "plan", "run"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from chainlang import api

        return getattr(api, name)
    raise AttributeError(f"module 'chainlang' has no attribute {name!r}")
