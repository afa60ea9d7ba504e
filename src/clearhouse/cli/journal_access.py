"""Opening a journal a command only reads: read-only, never created, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from clearhouse.cli.errors import fail
from clearhouse.core.errors import ClearhouseError

if TYPE_CHECKING:
    from clearhouse.journal.store import JournalStore


def open_read_only(journal: str) -> JournalStore:
    """Open an existing journal for reading only; one-line error and exit 2 for anything else."""
    from clearhouse.journal import open_store, sqlite_path
    from clearhouse.journal.store import NotAJournal

    path = sqlite_path(journal)
    if path is not None and not Path(path).exists():
        fail(f"no journal at {journal}")
    try:
        return open_store(journal, verify=False, read_only=True)
    except NotAJournal as err:
        fail(str(err))
    except ClearhouseError as err:
        fail(f"cannot open journal {journal}: {err}")
