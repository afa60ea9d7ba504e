"""All-or-nothing operations: snapshot the participants, restore them if anything raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Snapshottable(Protocol):
    def _save(self) -> object: ...

    def _load(self, state: object) -> None: ...


@contextmanager
def atomic(*parts: Snapshottable | None) -> Iterator[None]:
    """Run the body; if it raises, put every participant back as it was and re-raise."""
    saved = [(p, p._save()) for p in parts if p is not None]
    try:
        yield
    except BaseException:
        for part, state in reversed(saved):
            part._load(state)
        raise
