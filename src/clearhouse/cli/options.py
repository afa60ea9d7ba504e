"""Options shared by the commands that run many paths (``simulate``, ``sweep``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from clearhouse.lab.executors import ExecutorKind


def executor_kind(
    console: Console, executor: str | None, workers: int | None, scheduler: str | None, paths: int
) -> ExecutorKind:
    """Validate the executor options (exit code 2 naming the option) and resolve the default:
    Dask with a scheduler address, processes for several paths, else in-process."""
    from clearhouse.lab.executors import EXECUTOR_KINDS

    problem = None
    if executor is not None and executor not in EXECUTOR_KINDS:
        problem = f"--executor {executor!r} must be one of {', '.join(EXECUTOR_KINDS)}"
    elif workers is not None and workers < 1:
        problem = f"--workers must be >= 1, got {workers}"
    elif scheduler and executor not in (None, "dask"):
        problem = f"--scheduler needs --executor dask, got {executor}"
    if problem:
        console.print(f"[red]{problem}[/]")
        raise typer.Exit(2)
    for kind in EXECUTOR_KINDS:
        if executor == kind:
            return kind
    return "dask" if scheduler else ("processes" if paths > 1 else "inprocess")
