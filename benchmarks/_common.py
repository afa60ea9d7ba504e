"""Helpers every benchmark wants the same way: wall-clock timings of a callable, writing the results
file (its folder made first) with a ``wrote PATH`` line, and count arguments that refuse bad values."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console


def timings(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` calls of ``fn``, in order."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """The fastest of ``repeat`` calls (the least disturbed by other work on a shared machine)."""
    return min(timings(fn, repeat))


def write_results(out: Path, results: Any, console: Console) -> None:
    """Write ``results`` as indented JSON to ``out`` (creating its folder) and say so.

    An existing ``out`` is replaced only if it is a JSON file (a previous result): a mistyped
    ``--out`` naming a user's other file or a folder stops with an error and leaves it as it was."""
    if out.exists() or out.is_symlink():
        try:
            if not out.is_file() or out.is_symlink():
                raise ValueError("not a regular file")
            if out.stat().st_size > 64 << 20:
                raise ValueError("over 64 MiB")
            json.loads(out.read_text())
        except (ValueError, OSError) as err:
            message = f"refusing to overwrite {out}: it exists and is not a JSON results file ({err})"
            raise SystemExit(message) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {out}")


def count_arg(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``minimum``, else a clear usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse
