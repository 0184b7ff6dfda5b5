"""A run's session: options, providers, the scheduler, run identity, batch sizes.

The orchestration behind :mod:`chainlang.api` (the public facade, which
re-exports what is public here) and behind sweeps
(:mod:`chainlang.experiments.sweep`): turn :class:`RunOptions` and a model into
settings (:func:`settings_for`, through :mod:`chainlang.language.params`),
build the providers and the one scheduler of a run or sweep
(:func:`make_providers`, :func:`make_scheduler`), say what makes a run
resumable (:func:`run_identity`), size ``batch items`` (:func:`items_per_batch`),
and run or price a chain (:func:`arun`, :func:`aplan`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import tomllib
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chainlang.data.manifest import Dataset, load_dataset
from chainlang.errors import ChainlangError, OperationError, UsageError
from chainlang.language import ir
from chainlang.providers.base import ModelRef, Params
from chainlang.providers.specs import batch_providers, spec_for
from chainlang.runtime.interpreter import Settings

if TYPE_CHECKING:
    from chainlang.runtime.prep_pool import Launcher

T = TypeVar("T")
DEFAULT_CACHE = Path(".chainlang") / "cache.sqlite"


@dataclass(frozen=True)
class RunOptions:
    """How to run: parameters, samples, limits, money, cache and display.

    Attributes:
        params: ``-p name=value`` overrides (``variant.<prompt>=<name>`` picks a variant).
        labels: ``--labels alias=name_or_path`` rebinds a label set of the chain.
        samples: independent answers per question (distinct cache entries).
        concurrency, rpm, tpm: limits for the model (None: the models file's defaults;
            ``rpm=None`` adapts to 429s).
        max_cost: dollars never to exceed (None: no cap).
        cache: the sqlite journal; shared by every run that names it.
        config: a TOML file with ``[limits]``, ``[prices]`` and provider sections.
        timeout_s: per-call timeout (synchronous calls).
        max_retry_wait_s: the longest ``Retry-After`` waited for; a question asked to
            wait longer fails as ``rate_limit`` with the provider's message.
        window: dataset items in flight at once (default 4; 64 with ``dispatch="batch"``,
            so that one batch holds a stage of many items).
        dispatch: ``sync`` (one call per question) or ``batch`` (through the providers'
            batch APIs at their batch price; answers take minutes to hours).
        poll_s: with ``dispatch="batch"``, seconds between two looks at a running batch.
        flush_s: with ``dispatch="batch"``, submit once no question arrived for this long.
        force_new: start the run folder afresh even if it holds another run.
        workers: processes evaluating items, image work included (1: everything in this
            process; None: one per core once a run has 8 or more items left, else 1).
        progress: ``auto`` (rich on a terminal, plain lines otherwise), ``plain`` or ``none``.
        temperature, max_tokens, seed: sampling settings sent to the model.
        engine: ``local`` (this process) or ``ray`` (items spread over the workers of a Ray
            cluster, one shared rate limit and budget; :mod:`chainlang.runtime.rayengine`).
        address: with ``engine="ray"``, the cluster to join (None: start a local one).
    """

    params: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    samples: int = 1
    concurrency: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    max_cost: float | None = None
    cache: Path | None = DEFAULT_CACHE
    config: Path | None = None
    timeout_s: float = 120.0
    max_retry_wait_s: float = 120.0
    window: int | None = None
    force_new: bool = False
    progress: str = "auto"
    temperature: float | None = 0.0
    max_tokens: int | None = 4000
    seed: int | None = None
    max_failures: int | None = None
    dispatch: str = "sync"
    poll_s: float = 60.0
    flush_s: float = 2.0
    engine: str = "local"
    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {self.workers}")
        if self.samples < 1:
            raise UsageError(f"--samples must be at least 1, got {self.samples}")
        if self.window is not None and self.window < 1:
            raise UsageError(f"the item window must be at least 1, got {self.window}")
        if self.dispatch not in ("sync", "batch"):
            raise UsageError(f"--dispatch must be 'sync' or 'batch', got {self.dispatch!r}")
        if self.poll_s <= 0 or self.flush_s < 0:
            raise UsageError("--poll must be positive and the flush delay not negative")
        if self.dispatch == "batch" and self.cache is None:
            raise UsageError(
                "--dispatch batch needs a cache file: it records submitted batches there"
            )
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1, got {self.max_tokens}")
        self._check_engine()

    def _check_engine(self) -> None:
        if self.engine not in ("local", "ray"):
            raise UsageError(f"--engine must be 'local' or 'ray', got {self.engine!r}")
        if self.engine == "ray" and self.dispatch != "sync":
            raise UsageError("--engine ray sends questions one by one: use --dispatch sync")
        if self.engine == "ray" and self.cache is None:
            raise UsageError("--engine ray needs a cache file: it is how workers share answers")

    @property
    def items_in_flight(self) -> int:
        """The item window, defaulting by dispatch mode."""
        if self.window is not None:
            return self.window
        # four items per worker: while some wait for answers, the worker draws others
        # (two left each worker idle about 10% of a simulated depth run: 1.62x on 2
        # cores against 1.67x with four; benchmarks/prep_pool.py)
        return max(64 if self.dispatch == "batch" else 4, 4 * self.worker_count)

    @property
    def worker_count(self) -> int:
        """The preparation workers of a run (``workers``, defaulting to the cores)."""
        from chainlang.runtime.prep_pool import default_workers

        return self.workers if self.workers is not None else default_workers()


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder and totals."""

    out: Path
    summary: Any
    session: Any = None  # this invocation's tally: questions, journal hits, tokens, dollars


def load_chain(path: str | Path) -> ir.Program:
    """Compile a ``.chain`` file.

    Raises:
        CompileError: the chain has errors (``err.diagnostics`` holds them all).
    """
    from chainlang.language.compiler import compile_file

    return compile_file(Path(path))


def parse_model(spec: str | ModelRef) -> ModelRef:
    """``openai:gpt-4o`` / ``oracle:flip=0.3`` / ... → :class:`ModelRef`."""
    if isinstance(spec, ModelRef):
        return spec
    from chainlang.providers.registry import parse_model as parse

    return parse(spec)


def settings_for(
    program: ir.Program, model: ModelRef, options: RunOptions, dataset: Dataset | None = None
) -> Settings:
    """Resolve parameters and variants for ``model`` (defaults blocks, then overrides)."""
    from chainlang.language.params import resolve_params

    resolved = resolve_params(program, model.model or model.provider, options.params)
    sampling = Params(
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        seed=options.seed,
    )
    return Settings(
        model=model,
        params=dict(resolved.params),
        variants=dict(resolved.variants),
        sampling=sampling,
        samples=options.samples,
        dataset_labels=dataset.labelset if dataset is not None else None,
    )


def read_config(path: Path | None) -> dict[str, Any]:
    """Read the optional TOML config (limits, prices, provider keys and base URLs)."""
    if path is None:
        return {}
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"config file {path} is not valid TOML: {err}") from None


def make_providers(models: list[ModelRef], options: RunOptions) -> dict[ModelRef, Any]:
    """One provider per model, built now: a missing key or a bad model option is a
    usage error before any work starts (and before a run folder is written).

    Raises:
        UsageError: naming every missing key, or the bad option.
    """
    from chainlang.providers.registry import check_credentials, make_provider
    from chainlang.vision.encode import Encoder

    if options.address is not None and options.engine != "ray":
        # checked here, where every local run and sweep passes before any work
        raise UsageError("--address names a Ray cluster: use it with --engine ray")
    creds = check_credentials(models, os.environ, read_config(options.config))
    encoder = Encoder()  # shared: an image shown to several models is encoded once per size
    made = {ref: make_provider(ref, creds[ref], encoder=encoder) for ref in models}
    if options.dispatch == "batch":
        made = {ref: _through_batches(ref, p, options) for ref, p in made.items()}
    return made


# Kept for chainlang.api, which exports it; the specs say which providers batch.
BATCH_PROVIDERS = frozenset(batch_providers())


def _through_batches(ref: ModelRef, provider: Any, options: RunOptions) -> Any:
    """``provider`` behind a batch dispatcher (simulated answerers stay as they are)."""
    from chainlang.runtime.batchapi import BatchDispatcher
    from chainlang.runtime.batchstore import BatchStore

    spec = spec_for(ref.provider)
    if spec.simulated:
        return provider
    if not spec.batch:
        raise UsageError(
            f"{ref} has no batch API (batch dispatch works with "
            f"{', '.join(batch_providers())}); use --dispatch sync"
        )
    assert options.cache is not None  # checked by RunOptions
    return BatchDispatcher(
        provider,
        BatchStore(options.cache),
        flush_s=options.flush_s,
        poll_s=options.poll_s,
        on_event=lambda line: print(line, file=sys.stderr),
    )


def batch_models(providers: Mapping[ModelRef, Any]) -> frozenset[ModelRef]:
    """The models whose questions go through a batch API."""
    from chainlang.runtime.batchapi import BatchDispatcher

    return frozenset(r for r, p in providers.items() if isinstance(p, BatchDispatcher))


def make_scheduler(
    models: list[ModelRef],
    options: RunOptions,
    observer: Any = None,
    *,
    salt: str = "",
    providers: dict[ModelRef, Any] | None = None,
    limits_source: Any = None,
    budget: Any = None,
    journal: Any = None,
) -> Any:
    """The one scheduler of a run or sweep (providers built by :func:`make_providers`).

    With ``engine="ray"`` (and no ``providers``) this is the driver's
    :class:`~chainlang.runtime.rayengine.RayEngine` instead: each of its workers
    makes its own scheduler here, passing the cluster's shared ``limits_source``
    and ``budget`` (and, on another node than the driver's, the ``journal`` it serves).
    """
    from chainlang.runtime.cache import Journal
    from chainlang.runtime.cost import Budget, PriceTable
    from chainlang.runtime.retry import RetryPolicy
    from chainlang.runtime.scheduler import ErrorBudget, Scheduler

    if options.engine == "ray" and providers is None:
        return ray_engine().RayEngine.start(models, options)
    config = read_config(options.config)
    providers = providers if providers is not None else make_providers(models, options)
    if budget is None and options.max_cost is not None:
        budget = Budget(options.max_cost)
    return Scheduler(
        providers=providers,
        limits=limits_config(options, config),
        limits_source=limits_source,
        cache=journal if journal is not None else Journal(options.cache) if options.cache else None,
        budget=budget,
        prices=PriceTable.load(config.get("prices")),
        error_budget=ErrorBudget(max_failures=options.max_failures),
        observer=observer,
        timeout_s=options.timeout_s,
        retry=RetryPolicy(max_wait=options.max_retry_wait_s),
        salt=salt or f"ir{ir.IR_VERSION}",
        batch_models=batch_models(providers),
    )


def ray_engine() -> Any:
    """The Ray engine's module, imported now (never before ``engine="ray"`` asks for it).

    Raises:
        UsageError: Ray is not installed.
    """
    try:
        import ray  # noqa: F401  (only to say clearly that it is missing)
    except ImportError:
        raise UsageError(
            "--engine ray needs Ray: pip install 'chainlang[ray]' (docs/scale.md)"
        ) from None
    from chainlang.runtime import rayengine

    return rayengine


def limits_config(options: RunOptions, config: Mapping[str, Any]) -> Any:
    """The user's limits: the config's ``[limits]``, with ``--concurrency``, ``--rpm`` and
    ``--tpm`` as the default of every model when given."""
    from chainlang.runtime.limits import LimitsConfig, ModelLimits

    limits = LimitsConfig.from_mapping(config.get("limits", {}))
    if options.concurrency or options.rpm or options.tpm:
        default = ModelLimits(options.concurrency or 16, options.rpm, options.tpm)
        limits = LimitsConfig(default, limits.per_model)
    return limits


async def arun(
    chain: str | Path | ir.Program,
    data: str | Path | Dataset,
    model: str | ModelRef,
    *,
    out: str | Path,
    options: RunOptions | None = None,
    chain_path: str | Path | None = None,
    scheduler: Any = None,
) -> RunResult:
    """Run ``chain`` on every item of ``data`` with ``model``; results go to ``out``.

    Rerunning into the same folder resumes: finished items are skipped and
    answered questions come from the journal. A sweep passes its own
    ``scheduler`` so that every cell shares one set of limits and one cache
    (the caller then owns closing it).
    """
    from chainlang.runtime.execute import Runner
    from chainlang.runtime.runfolder import RunFolder

    options = options or RunOptions()
    if options.engine == "ray":
        return await ray_engine().arun_ray(  # type: ignore[no-any-return]  # a RunResult
            chain, data, model, out=out, options=options, chain_path=chain_path, engine=scheduler
        )
    own = scheduler is None
    # a sweep's runs share its pool: only a run of its own starts a launcher early
    data, launcher = _early_launcher(data, options) if own else (data, None)
    try:
        program, dataset, ref, settings, identity = await prepare_run(
            chain, data, model, options, chain_path
        )
    except BaseException:
        if launcher is not None:
            await asyncio.to_thread(launcher.close)
        raise
    providers = make_providers([ref], options) if own else None
    folder = None
    try:
        folder = RunFolder.open(Path(out), identity, force_new=options.force_new)
        total, estimated = _expected_questions(program, settings, dataset, folder, options.samples)
        progress = _progress(options.progress, total) if own else None
        if progress is not None:
            progress.estimated = estimated
        if own:
            scheduler = make_scheduler([ref], options, progress, providers=providers)
    except BaseException:
        # No scheduler owns the providers yet: close their clients and stores here.
        if folder is not None:
            folder.close()
        for provider in (providers or {}).values():
            await provider.aclose()
        if launcher is not None:
            await asyncio.to_thread(launcher.close)
        raise
    batch = items_per_batch(program, settings)
    runner = Runner(
        program, settings, scheduler, folder, options.samples, options.items_in_flight, batch,
        workers=options.workers, launcher=launcher,
    )  # fmt: skip
    try:
        summary = await _unwrapped(runner.run(dataset))
    finally:
        try:
            if runner.launcher is not None:  # the run stopped before its pool took it
                await asyncio.to_thread(runner.launcher.close)
            if own:
                await scheduler.aclose()
            if progress is not None and hasattr(progress, "close"):
                progress.close()
        finally:
            folder.close()  # the next run into the folder may start
    return RunResult(Path(out), summary, progress)


def _early_launcher(
    data: str | Path | Dataset, options: RunOptions
) -> tuple[str | Path | Dataset, Launcher | None]:
    """The dataset (read, when it can be) and, when the run will want preparation
    workers, a pool launcher started now: its imports then overlap the chain's
    compilation. A dataset that cannot be read is left for :func:`prepare_run` to
    report, after the chain's own errors."""
    if options.workers == 1 or options.engine != "local":
        return data, None
    from chainlang.runtime.prep_pool import AUTO_MIN_UNITS, Launcher, pool_size

    try:
        dataset = data if isinstance(data, Dataset) else load_dataset(data)
    except ChainlangError:
        return data, None
    units = min(len(dataset) * options.samples, AUTO_MIN_UNITS)
    return dataset, Launcher() if pool_size(options.workers, units) > 1 else None


async def prepare_run(
    chain: str | Path | ir.Program,
    data: str | Path | Dataset,
    model: str | ModelRef,
    options: RunOptions,
    chain_path: str | Path | None = None,
) -> tuple[ir.Program, Dataset, ModelRef, Settings, Any]:
    """What every engine does before a run: compile, load, check, resolve.

    Returns the program (label sets bound), the dataset, the model, the
    settings and the run's identity, once the label sets, the truth types and the
    provider's contract are checked (a limit the provider's documentation says it
    enforces stops the run here, before anything is paid).
    """
    from chainlang.runtime.contract_check import check_before_paying
    from chainlang.runtime.labels import check_truth_labels
    from chainlang.runtime.truth import check_truth_types

    program, path = _program(chain, chain_path, options.labels)
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    check_truth_labels(program, dataset)
    check_truth_types(program, dataset)
    ref = parse_model(model)
    settings = settings_for(program, ref, options, dataset)
    identity = run_identity(program, path, dataset, ref, settings, options)
    await check_before_paying(
        program, dataset, settings, items_per_batch=items_per_batch(program, settings)
    )
    return program, dataset, ref, settings, identity


async def _unwrapped(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro``; a chainlang error raised inside a task group surfaces as itself.

    Items run in task groups, so a run-wide stop (the error budget, a bad
    setting met by the first question) arrives wrapped in an exception group.
    """
    try:
        return await coro
    except* ChainlangError as group:
        raise _first_error(group) from None


def _first_error(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


def run(*args: Any, **kwargs: Any) -> RunResult:
    """Synchronous :func:`arun` (usable in notebooks)."""
    return run_sync(arun(*args, **kwargs))


async def aplan(
    chain: str | Path | ir.Program,
    data: str | Path | Dataset,
    model: str | ModelRef,
    *,
    options: RunOptions | None = None,
    sample_items: int = 2,
) -> Any:
    """Price a run before paying for it (see :mod:`chainlang.runtime.plan`)."""
    from chainlang.runtime.cost import PriceTable
    from chainlang.runtime.plan import make_plan

    options = options or RunOptions()
    program, path = _program(chain, None, options.labels)
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    ref = parse_model(model)
    settings = settings_for(program, ref, options, dataset)
    prices = PriceTable.load(read_config(options.config).get("prices"))
    return await make_plan(
        program, dataset, settings, prices=prices, samples=options.samples,
        sample_items=sample_items, chain_name=str(path) if path else program.name,
        batch=options.dispatch == "batch" and spec_for(ref.provider).batch,
        items_per_batch=items_per_batch(program, settings),
    )  # fmt: skip


def plan(*args: Any, **kwargs: Any) -> Any:
    """Synchronous :func:`aplan`."""
    return run_sync(aplan(*args, **kwargs))


def run_identity(
    program: ir.Program,
    path: Path | None,
    dataset: Dataset,
    model: ModelRef,
    settings: Settings,
    options: RunOptions,
) -> Any:
    """What makes a run resumable: same chain source, params, variants, model, data."""
    import hashlib

    from chainlang.runtime.runfolder import RunIdentity

    ids = "\n".join(dataset.ids()).encode()
    return RunIdentity(
        chain=str(path) if path else program.name,
        chain_sha256=source_digest(program, path),
        params={k: v for k, v in settings.params.items()},
        variants=dict(settings.variants),
        model=str(model),
        samples=options.samples,
        dataset=str(Path(dataset.root).resolve()),
        dataset_sha256=hashlib.sha256(ids).hexdigest(),
        ir_version=ir.IR_VERSION,
        labels=dict(options.labels),
        sampling={
            "temperature": options.temperature,
            "max_tokens": options.max_tokens,
            "seed": options.seed,
        },
        info={"cache": str(options.cache) if options.cache else None},
    )


def source_digest(program: ir.Program, path: Path | None) -> str:
    """sha256 of the chain's text (an edited file is a different run)."""
    import hashlib

    text = path.read_bytes() if path is not None and path.is_file() else program.source.encode()
    return hashlib.sha256(text).hexdigest()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, even from inside a running loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name="chainlang-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _program(
    chain: str | Path | ir.Program, path: str | Path | None, labels: Mapping[str, str]
) -> tuple[ir.Program, Path | None]:
    """The compiled chain with its label sets bound (see :mod:`chainlang.runtime.labels`)."""
    from chainlang.runtime.labels import bind_labelsets

    if isinstance(chain, ir.Program):
        where = Path(path) if path else None
        program = chain
    else:
        where = Path(chain)
        program = load_chain(chain)
    return bind_labelsets(program, where.parent if where else None, labels), where


def items_per_batch(program: ir.Program, settings: Settings) -> int | None:
    """``batch items = B`` evaluated with the resolved parameters (None: no batching)."""
    from chainlang.language.analysis.staticeval import static_value
    from chainlang.runtime.execute import asks_of, item_batched_asks

    expr = program.batch_items
    if expr is None:
        asks = [a for a in asks_of(program) if a.batch_items is not None]
        expr = asks[0].batch_items if asks else None
    if expr is None or not item_batched_asks(program):
        return None
    try:  # the checker's own evaluator (E603 refuses what it cannot compute)
        value = static_value(expr, settings.params)
    except (UsageError, OperationError) as err:
        raise UsageError(f"'batch items' cannot be computed: {err}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"'batch items' must be a positive whole number, got {value!r}")
    return value


def _progress(mode: str, total: int | None) -> Any:
    """A tally of this invocation, displayed as ``mode`` asks (``none``: counted only)."""
    from chainlang.runtime.progress import PlainProgress, Tally, make_progress

    if mode == "none":
        return Tally(total)
    if mode == "plain":
        return PlainProgress(total, sys.stderr, 10.0)
    progress = make_progress(total)
    if hasattr(progress, "__enter__"):
        progress.__enter__()
    return progress


def _expected_questions(
    program: ir.Program, settings: Settings, dataset: Dataset, folder: Any, samples: int
) -> tuple[int | None, bool]:
    """Questions left to ask (an upper bound where loops depend on answers), or None,
    and whether that number rests on an estimated data size (then it is no bound)."""
    import math

    from chainlang.runtime.execute import result_key

    if program.bounds is None:
        return None, False
    values = dict(settings.params)
    try:
        per_item = float(program.bounds.evaluate(values))
    except ChainlangError:
        return None, False  # a size only the run knows, or a formula the values break
    estimated = any(s.name not in values for s in program.bounds.symbols)
    left = sum(not folder.is_done(result_key(i, s)) for i in dataset.ids() for s in range(samples))
    return math.ceil(per_item * left), estimated
