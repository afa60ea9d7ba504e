"""Executors for :func:`clearhouse.lab.runner.run_paths` and sweeps: in-process, local processes, Dask.

Every executor has the same ``map(fn, tasks)`` as :class:`concurrent.futures.Executor` and yields the
outcomes **in task order**, whatever order they finish in. What travels is small: out go the
parameters (a :class:`~clearhouse.lab.runner.PathTask` per seed: the scenario source, its overrides
and the seed), back come the per-path summaries (and the timeseries/events tables only for the tasks
that ask for them, i.e. the first few paths). Many short paths are batched per worker task:
``ceil(N / (4 × workers))`` seeds per batch by default, so scheduling costs stay small while the
last batches still balance across workers.

A scenario file (not a built-in name) is read once in the parent and its TOML text is shipped with
each batch, so a worker of a remote Dask cluster needs the package but not the file (CSV files the
scenario reads resolve against the file's directory and must be reachable there too). Workers keep
the validated scenario in a per-process cache, so a batch of seeds validates once.

Same scenario + seeds → the same per-path summaries, byte for byte, on every executor
(``tests/lab/test_executors.py``): a path depends only on its scenario and its seed.

- :class:`InProcessExecutor` — one path after the other in this process (per-block progress).
- :class:`ProcessExecutor` — a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start
  method (safe with threads and on every platform; the caller's ``__main__`` must be import-safe).
- :class:`DaskExecutor` — a ``distributed.Client`` connected to ``address`` (a running scheduler,
  possibly on other machines) or to a ``LocalCluster(n_workers=K, threads_per_worker=1,
  processes=True)`` it starts and stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import math
import multiprocessing
import os
import signal
import threading
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import msgspec

from clearhouse.lab.runner import PathOutcome, PathTask, run_path, run_task
from clearhouse.lab.scenario import Scenario, read_table, set_path, validate

ExecutorKind = Literal["inprocess", "processes", "dask"]
EXECUTOR_KINDS: tuple[ExecutorKind, ...] = ("inprocess", "processes", "dask")

#: ``on_batch(paths_done, paths_total)`` after every finished batch.
BatchCallback = Callable[[int, int], None]
TaskFn = Callable[[PathTask], PathOutcome]

_json = msgspec.json.Encoder(order="deterministic")


# ----------------------------------------------------------------------------- what is shipped


@dataclass(frozen=True)
class SourceText:
    """A scenario file's TOML text, display name and directory, read once in the parent."""

    text: str
    file: str
    base_dir: str | None


@dataclass(frozen=True)
class Batch:
    """One worker task: consecutive tasks, and the text of the scenario files they name."""

    index: int
    tasks: tuple[PathTask, ...]
    sources: tuple[tuple[str, SourceText], ...] = ()


def source_text(source: str) -> SourceText | None:
    """The TOML text of a scenario *file* (``None`` for a built-in name: workers have the package)."""
    path = Path(source)
    if not (path.suffix == ".toml" or path.exists()):
        return None
    read_table(source)  # same errors as loading it here: missing file, invalid TOML
    return SourceText(path.read_text(), path.name, str(path.resolve().parent))


_WORKER_CACHE: dict[tuple[str, str], Scenario] = {}


def _scenario_from_text(src: SourceText, overrides: tuple[tuple[str, Any], ...]) -> Scenario:
    key = (hashlib.sha256(src.text.encode()).hexdigest() + src.file, _json.encode(dict(overrides)).decode())
    sc = _WORKER_CACHE.get(key)
    if sc is None:
        table = tomllib.loads(src.text)
        for dotted, value in overrides:
            set_path(table, dotted, value)
        sc = validate(table, src.file, Path(src.base_dir) if src.base_dir else None)
        _WORKER_CACHE[key] = sc
    return sc


def run_batch(fn: TaskFn, batch: Batch) -> list[PathOutcome]:
    """Run a batch in a worker (module level: importable under ``spawn`` and by Dask workers)."""
    sources = dict(batch.sources)
    out: list[PathOutcome] = []
    for task in batch.tasks:
        src = sources.get(task.source)
        if fn is run_task and src is not None:
            result = run_path(_scenario_from_text(src, task.overrides), task.seed)
            if task.keep_tables:
                out.append(PathOutcome(task.seed, result.summary, result.timeseries, result.events))
            else:
                out.append(PathOutcome(task.seed, result.summary))
        else:
            out.append(fn(task))
    return out


def chunk_size(n_tasks: int, workers: int, per_worker: int = 4) -> int:
    """Seeds per batch: ``ceil(N / (per_worker × workers))`` (at least 1)."""
    return max(1, math.ceil(n_tasks / (per_worker * max(1, workers))))


def make_batches(tasks: Sequence[PathTask], size: int) -> list[Batch]:
    """Consecutive batches of ``size`` tasks, each with the TOML text of the files it names."""
    texts: dict[str, SourceText | None] = {}
    batches: list[Batch] = []
    for i in range(0, len(tasks), size):
        chunk = tuple(tasks[i : i + size])
        names = sorted({t.source for t in chunk})
        for name in names:
            if name not in texts:
                texts[name] = source_text(name)
        shipped = tuple((n, st) for n in names if (st := texts[n]) is not None)
        batches.append(Batch(len(batches), chunk, shipped))
    return batches


# ----------------------------------------------------------------------------- Ctrl-C
#
# Ctrl-C reaches the whole foreground process group, workers included. Workers ignore it (no worker
# tracebacks); the parent gets the KeyboardInterrupt, cancels what is pending and *aborts* its workers
# (terminates them instead of waiting for running batches), so the command exits at once.

#: Seconds an abort waits for a worker or a Dask cluster to stop before giving up on it.
ABORT_TIMEOUT_S = 3.0


def _ignore_sigint() -> None:
    """Pool worker initializer: Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Processes started inside inherit an ignored SIGINT (kept across exec, and Python then leaves it
    ignored); used for Dask's LocalCluster, whose worker processes take no initializer. Ctrl-C during
    these few seconds of start-up is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ----------------------------------------------------------------------------- executors


class _Base:
    """Shared context-manager plumbing; ``on_batch`` reports progress per finished batch."""

    workers: int = 1

    def __init__(self, on_batch: BatchCallback | None = None, batch_size: int | None = None) -> None:
        self.on_batch = on_batch
        self.batch_size = batch_size

    def close(self) -> None:
        """Release workers (no-op for in-process)."""

    def abort(self) -> None:
        """Stop at once, dropping running work (after Ctrl-C or an error); default: :meth:`close`."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.close()
        else:
            self.abort()

    def _batches(self, tasks: Iterable[PathTask]) -> list[Batch]:
        items = list(tasks)
        size = self.batch_size or chunk_size(len(items), self.workers)
        return make_batches(items, size)

    def describe(self) -> str:
        return type(self).__name__


class InProcessExecutor(_Base):
    """Paths one after the other here; ``on_block`` reports the current path's block progress."""

    def __init__(
        self,
        on_batch: BatchCallback | None = None,
        on_block: Callable[[int, int], None] | None = None,
    ) -> None:
        super().__init__(on_batch, batch_size=1)
        self.on_block = on_block

    def map(self, fn: TaskFn, tasks: Iterable[PathTask]) -> Iterator[PathOutcome]:
        items = list(tasks)
        for i, task in enumerate(items):
            yield run_task(task, self.on_block) if fn is run_task else fn(task)
            if self.on_batch is not None:
                self.on_batch(i + 1, len(items))

    def describe(self) -> str:
        return "in-process"


class _Pooled(_Base):
    """Submit batches, collect them as they finish, yield outcomes in task order."""

    def _submit(self, fn: TaskFn, batch: Batch) -> Any:
        raise NotImplementedError

    def _completed(self, pending: set[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def _cancel(self, pending: set[Any]) -> None:
        for f in pending:
            f.cancel()

    def map(self, fn: TaskFn, tasks: Iterable[PathTask]) -> Iterator[PathOutcome]:
        batches = self._batches(tasks)
        total = sum(len(b.tasks) for b in batches)
        futures = {self._submit(fn, b): b.index for b in batches}
        pending = set(futures)
        done: dict[int, list[PathOutcome]] = {}
        next_index = 0
        finished = 0
        try:
            for fut in self._completed(pending):
                pending.discard(fut)
                outcomes: list[PathOutcome] = fut.result()
                done[futures[fut]] = outcomes
                finished += len(outcomes)
                if self.on_batch is not None:
                    self.on_batch(finished, total)
                while next_index in done:
                    yield from done.pop(next_index)
                    next_index += 1
        finally:
            if pending:
                self._cancel(pending)


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint
    )


class ProcessExecutor(_Pooled):
    """Local worker processes (``spawn``); ``workers`` defaults to the CPU count."""

    def __init__(
        self,
        workers: int | None = None,
        on_batch: BatchCallback | None = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(on_batch, batch_size)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = _spawn_pool(self.workers)
        return self._pool

    def _submit(self, fn: TaskFn, batch: Batch) -> Future[list[PathOutcome]]:
        return self.pool.submit(run_batch, fn, batch)

    def _completed(self, pending: set[Any]) -> Iterator[Any]:
        waiting = set(pending)
        while waiting:
            finished, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            yield from finished

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        """Cancel pending batches and terminate the workers instead of waiting for running ones."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # No public way to stop running workers before Python 3.14 (terminate_workers).
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(ABORT_TIMEOUT_S)

    def describe(self) -> str:
        return f"{self.workers} local process(es)"


class DaskExecutor(_Pooled):
    """Dask ``distributed``: connect to ``address`` or start a ``LocalCluster`` of ``workers``."""

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        on_batch: BatchCallback | None = None,
        batch_size: int | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(on_batch, batch_size)
        import importlib
        import logging

        dist: Any = importlib.import_module("distributed")  # untyped package
        self.address = address
        self._cluster: Any = None
        self._procs: list[Any] = []  # the LocalCluster's worker processes (multiprocessing children)
        if address is None:
            n = max(1, workers or os.cpu_count() or 1)
            before = set(multiprocessing.active_children())
            with _children_ignore_sigint():
                self._cluster = dist.LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.WARNING,
                )
            self._procs = [p for p in multiprocessing.active_children() if p not in before]
            self.client: Any = dist.Client(self._cluster, timeout=timeout)
        else:
            self.client = dist.Client(address, timeout=timeout)
            if workers:
                self.client.wait_for_workers(workers, timeout=timeout)
        info = self.client.scheduler_info(n_workers=-1)
        self.workers = max(1, sum(int(w.get("nthreads", 1)) for w in info["workers"].values()))

    def _submit(self, fn: TaskFn, batch: Batch) -> Any:
        return self.client.submit(run_batch, fn, batch, pure=False)

    def _completed(self, pending: set[Any]) -> Iterator[Any]:
        import importlib

        yield from importlib.import_module("distributed").as_completed(list(pending))

    def _cancel(self, pending: set[Any]) -> None:
        self.client.cancel(list(pending))

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def abort(self) -> None:
        """Pending futures were cancelled by ``map``; close the client and our cluster without waiting
        for running tasks (a remote cluster's workers are not ours to stop)."""
        import logging

        quiet = [logging.getLogger(name) for name in ("distributed", "tornado")]
        levels = [log.level for log in quiet]
        for log in quiet:  # closing mid-task logs worker and comm errors: the interrupt is reported once
            log.setLevel(logging.CRITICAL)
        try:
            # Shutting down after an interrupt: a failure to close cleanly has nobody left to tell.
            with contextlib.suppress(Exception):
                self.client.close(timeout=ABORT_TIMEOUT_S)
            # Workers busy in a task would make the cluster's graceful close (and distributed's own
            # close at exit) wait for the task: stop the processes this cluster started first, after
            # telling their nannies not to restart them (the status Nanny.close_gracefully sets).
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    status = importlib.import_module("distributed.core").Status
                    for nanny in list(getattr(self._cluster, "workers", {}).values()):
                        nanny.status = status.closing_gracefully
            for proc in self._procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in self._procs:
                proc.join(ABORT_TIMEOUT_S)
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close(timeout=ABORT_TIMEOUT_S)
                self._cluster = None
        finally:
            for log, level in zip(quiet, levels, strict=True):
                log.setLevel(level)

    def describe(self) -> str:
        where = self.address or "LocalCluster"
        return f"Dask {where} ({self.workers} worker thread(s))"


AnyExecutor = InProcessExecutor | ProcessExecutor | DaskExecutor


def make_executor(
    kind: ExecutorKind | None,
    *,
    paths: int,
    workers: int | None = None,
    scheduler: str | None = None,
    on_batch: BatchCallback | None = None,
    on_block: Callable[[int, int], None] | None = None,
    batch_size: int | None = None,
) -> AnyExecutor:
    """The executor the CLI options ask for.

    Default: Dask when a ``scheduler`` address is given, local processes for more than one path,
    in-process for one. ``workers`` defaults to the CPU count (processes: also at most ``paths``).
    """
    if kind is None:
        kind = "dask" if scheduler else ("processes" if paths > 1 else "inprocess")
    if scheduler and kind != "dask":
        raise ValueError(f"--scheduler needs --executor dask, got {kind}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if kind == "inprocess":
        return InProcessExecutor(on_batch=on_batch, on_block=on_block)
    if kind == "processes":
        n = workers or os.cpu_count() or 1
        return ProcessExecutor(max(1, min(n, paths)), on_batch=on_batch, batch_size=batch_size)
    if kind == "dask":
        return DaskExecutor(scheduler, workers, on_batch=on_batch, batch_size=batch_size)
    raise ValueError(f"unknown executor {kind!r}; one of {list(EXECUTOR_KINDS)}")


def with_tables(tasks: Sequence[PathTask], first: int) -> list[PathTask]:
    """Tasks where only the first ``first`` bring their timeseries and events back."""
    return [replace(t, keep_tables=i < first) for i, t in enumerate(tasks)]
