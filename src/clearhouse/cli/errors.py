"""The one way a command reports an error: one literal line on stderr, then a non-zero exit.

Literal: the message is printed with markup off, so ``[assets]`` in a scenario error survives (Rich
would read it as a style tag). One line: soft wrap, so a piped stderr is not cut at 80 columns.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

#: stderr, never wrapped or highlighted; shared by every command.
err_console = Console(stderr=True, soft_wrap=True, highlight=False)


def warn(message: str) -> None:
    """One literal line on stderr (no exit)."""
    err_console.print(message, markup=False, style="yellow")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr as literal text and exit with ``code`` (2: bad input)."""
    err_console.print(f"error: {message}", markup=False, style="red")
    raise typer.Exit(code)
