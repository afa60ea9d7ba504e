"""Options shared by the commands that run many paths (``simulate``, ``sweep``), checked up front."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from clearhouse.cli.errors import fail

if TYPE_CHECKING:
    from clearhouse.lab.executors import ExecutorKind

#: Seeds are stored as signed 64-bit integers (parquet ``seed`` column), so each must be in [0, 2^63).
MAX_SEED = 2**63 - 1


def executor_kind(
    executor: str | None, workers: int | None, scheduler: str | None, paths: int
) -> ExecutorKind:
    """Validate the executor options (exit code 2 naming the option) and resolve the default:
    Dask with a scheduler address, processes for several paths, else in-process."""
    from clearhouse.lab.executors import EXECUTOR_KINDS

    if executor is not None and executor not in EXECUTOR_KINDS:
        fail(f"--executor {executor!r} must be one of {', '.join(EXECUTOR_KINDS)}")
    if workers is not None and workers < 1:
        fail(f"--workers must be >= 1, got {workers}")
    if scheduler and executor not in (None, "dask"):
        fail(f"--scheduler needs --executor dask, got {executor}")
    kind: ExecutorKind = "inprocess"
    for k in EXECUTOR_KINDS:
        if executor == k:
            kind = k
            break
    else:
        kind = "dask" if scheduler else ("processes" if paths > 1 else "inprocess")
    if kind == "dask" and not _has_module("distributed"):
        fail("--executor dask needs Dask's distributed package: pip install -e '.[dask]'")
    return kind


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None (import blocked)
        return False


def check_seeds(first: int, count: int, what: str = "--seed") -> None:
    """Refuse, before anything runs, seeds outside [0, 2^63 - 1] (``first`` .. ``first + count - 1``)."""
    if first < 0:
        fail(f"{what} must be >= 0, got {first}")
    if first + count - 1 > MAX_SEED:
        fail(
            f"{what} {first} with {count} path(s) needs seeds up to {first + count - 1}, "
            f"beyond the largest seed 2^63 - 1 = {MAX_SEED}"
        )


def check_output(out: Path) -> None:
    """Refuse an output path the output policy will not write to, before a long run."""
    from clearhouse.lab.output_dir import OutputDirError, check_output_dir

    try:
        check_output_dir(out)
    except OutputDirError as err:
        fail(str(err))
