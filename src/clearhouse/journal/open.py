"""Open a journal store from a location string; the one place that knows every store.

Driver imports stay inside :func:`open_store`, so importing the journal package never pulls in
``psycopg`` (an optional dependency) or a store that is not used.

Locations follow SQLAlchemy's URL convention for SQLite: ``sqlite:///rel/path`` is relative to the
current directory (three slashes, then the path) and ``sqlite:////abs/path`` is absolute (the fourth
slash starts the path). A plain filesystem path works too.
"""

from __future__ import annotations

from clearhouse.core.errors import JournalError
from clearhouse.journal.store import JournalStore

__all__ = ["open_store", "sqlite_path"]

_SQLITE = "sqlite:///"


def sqlite_path(location: str) -> str | None:
    """The filesystem path of a SQLite location (plain path or ``sqlite:///``), else None.

    ``memory:``, ``postgresql://...`` and malformed ``sqlite:`` or unknown ``scheme://`` locations give
    None; :func:`open_store` explains what is wrong with the malformed ones.
    """
    if location == "memory:" or location.startswith(("postgresql://", "postgres://")):
        return None
    if location.startswith("sqlite:"):
        path = location[len(_SQLITE) :] if location.startswith(_SQLITE) else ""
        return path or None
    if "://" in location or (location.endswith(":") and ":" not in location[:-1]):
        return None
    return location


def open_store(location: str, *, verify: bool = True, read_only: bool = False) -> JournalStore:
    """Open the journal at ``location``.

    - ``"memory:"``: a fresh in-memory journal (tests, short simulations);
    - a filesystem path, ``"sqlite:///relative/path"`` or ``"sqlite:////absolute/path"``: SQLite;
    - ``"postgresql://..."`` or ``"postgres://..."``: PostgreSQL; an optional ``journal_table=[schema.]table``
      query parameter picks the table (default ``journal`` in the connection's search path).

    With ``verify`` (the default) the chain is checked before the store is returned and a broken chain
    raises :class:`JournalError`, so nothing appends onto a damaged journal. Pass ``verify=False`` to
    inspect a damaged journal or when the caller replays it anyway.

    With ``read_only`` the store creates nothing (no file, table or head record), refuses ``append``,
    and raises :class:`~clearhouse.journal.store.NotAJournal` for anything that is not already a
    clearhouse journal: the mode for ``clearhouse verify`` and ``clearhouse risk``.
    """
    if not isinstance(location, str) or not location.strip():
        raise JournalError(f"journal location must be a non-empty string, got {location!r}")
    store: JournalStore
    if location == "memory:":
        from clearhouse.journal.memory import MemoryJournalStore

        store = MemoryJournalStore()
    elif location.startswith(("postgresql://", "postgres://")):
        try:
            from clearhouse.journal.postgres import PostgresJournalStore

            store = PostgresJournalStore.from_url(location, read_only=read_only)
        except ImportError as exc:
            raise JournalError(
                f"PostgreSQL journals need psycopg, which is not installed ({exc}); "
                "install the extra: pip install -e '.[postgres]'"
            ) from None
    else:
        path = sqlite_path(location)
        if path is None:
            if location.startswith("sqlite:"):
                raise JournalError(
                    "SQLite journal location must look like sqlite:///relative/path or "
                    f"sqlite:////absolute/path, got {location!r}"
                )
            # "scheme://..." we don't know, or a bare "name:" (a typo of memory:) — not a file to create.
            raise JournalError(
                f"unknown journal location {location!r}: use memory:, a path, sqlite:///path or postgresql://..."
            )
        from clearhouse.journal.sqlite import SqliteJournalStore

        store = SqliteJournalStore(path, read_only=read_only)
    if verify:
        try:
            store.verify_chain().raise_if_bad()
        except BaseException:
            store.close()
            raise
    return store
