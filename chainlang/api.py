"""The Python API: load a chain, price it, run it, from a script or a notebook.

    >>> import chainlang
    >>> program = chainlang.load_chain("chains/depth.chain")          # doctest: +SKIP
    >>> plan = chainlang.plan(program, "data/syn", "openai:gpt-4o")    # doctest: +SKIP
    >>> result = chainlang.run(program, "data/syn", "oracle", out="runs/x")  # doctest: +SKIP
    >>> result.summary.items_ok                                        # doctest: +SKIP

Every coroutine has a synchronous twin (``run``/``arun``, ``plan``/``aplan``);
the synchronous one also works inside a running event loop (Jupyter) by
running the coroutine on a helper thread.

This module is the public facade: the orchestration behind it (options,
providers, the scheduler, run identity, batch sizes) lives in
:mod:`chainlang.runtime.session`, and every name below is that module's.
"""

from __future__ import annotations

from chainlang.runtime.session import (
    BATCH_PROVIDERS,
    DEFAULT_CACHE,
    RunOptions,
    RunResult,
    aplan,
    arun,
    batch_models,
    items_per_batch,
    load_chain,
    make_providers,
    make_scheduler,
    parse_model,
    plan,
    read_config,
    run,
    run_identity,
    run_sync,
    settings_for,
    source_digest,
)

__all__ = [
    "BATCH_PROVIDERS",
    "DEFAULT_CACHE",
    "RunOptions",
    "RunResult",
    "aplan",
    "arun",
    "batch_models",
    "items_per_batch",
    "load_chain",
    "make_providers",
    "make_scheduler",
    "parse_model",
    "plan",
    "read_config",
    "run",
    "run_identity",
    "run_sync",
    "settings_for",
    "source_digest",
]
