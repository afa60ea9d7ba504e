"""Fixtures for the journal tests: row chains, and one harness per store so a single suite runs on all three.

A harness opens handles on one journal and tampers with its storage *directly* (a side connection for
the databases), the way an operator or an attacker would, bypassing the store's own checks.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from clearhouse.journal import open_store
from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.journal.rows import GENESIS_HASH, JournalRow, make_row
from clearhouse.journal.store import JournalStore

POSTGRES_DSN_ENV = "CLEARHOUSE_TEST_POSTGRES_DSN"
POSTGRES_SKIP_REASON = "set CLEARHOUSE_TEST_POSTGRES_DSN to run the PostgreSQL journal tests"


def make_chain(
    n: int, *, start: int = 1, prev_hash: str = GENESIS_HASH, salt: bytes = b""
) -> list[JournalRow]:
    """``n`` valid consecutive rows; blocks are binary (every byte value, NULs, empty events) on purpose."""
    out: list[JournalRow] = []
    for height in range(start, start + n):
        seed = hashlib.sha256(salt + height.to_bytes(8, "big")).digest()
        block = bytes(range(256)) + seed * (height % 7) if height == 1 else b"\x00" + seed * (1 + height % 5)
        events = b"" if height % 3 == 0 else b"events\x00\xff" + seed[: height % 11]
        state_root = hashlib.sha256(b"root" + seed).hexdigest()
        row = make_row(height, block, events, state_root, prev_hash)
        out.append(row)
        prev_hash = row.row_hash
    return out


class Harness(ABC):
    """One journal in one kind of store, plus direct access to its storage for tampering."""

    name: str
    #: Survives close + reopen.
    persistent: bool = True

    def __init__(self) -> None:
        self._opened: list[JournalStore] = []

    def open(self, *, verify: bool = False) -> JournalStore:
        """A new handle on the journal (the same one for memory), optionally verified on open."""
        store = self._open(verify)
        self._opened.append(store)
        return store

    @abstractmethod
    def _open(self, verify: bool) -> JournalStore: ...

    def reopen(self, store: JournalStore, *, verify: bool = False) -> JournalStore:
        """Close ``store`` and open the journal again (what a restarted process sees)."""
        if self.persistent:
            store.close()
        return self.open(verify=verify)

    # -- tampering: direct writes to storage, bypassing the store --------------------------------------

    @abstractmethod
    def overwrite_row(self, row: JournalRow) -> None:
        """Replace the stored content at ``row.height`` with ``row``'s fields (hash left as given)."""

    @abstractmethod
    def delete_rows(self, heights: list[int]) -> None: ...

    @abstractmethod
    def delete_head_record(self) -> None: ...

    @abstractmethod
    def corrupt_state_root(self, height: int, value: str) -> None:
        """Store a value no JournalRow would accept (to test unreadable rows)."""

    def swap_rows(self, a: JournalRow, b: JournalRow) -> None:
        """Put ``a``'s content at ``b``'s height and the reverse (heights are keys in the databases)."""
        self.overwrite_row(replace(b, height=a.height))
        self.overwrite_row(replace(a, height=b.height))

    def cleanup(self) -> None:
        for store in self._opened:
            store.close()


class MemoryHarness(Harness):
    name = "memory"
    persistent = False

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryJournalStore()

    def _open(self, verify: bool) -> JournalStore:
        if verify:
            self.store.verify_chain().raise_if_bad()
        return self.store

    def _index(self, height: int) -> int:
        return next(i for i, r in enumerate(self.store._rows) if r.height == height)

    def overwrite_row(self, row: JournalRow) -> None:
        self.store._rows[self._index(row.height)] = row

    def delete_rows(self, heights: list[int]) -> None:
        self.store._rows = [r for r in self.store._rows if r.height not in heights]

    def delete_head_record(self) -> None:
        self.store._head_record = None

    def corrupt_state_root(self, height: int, value: str) -> None:
        raise NotImplementedError("a memory journal holds JournalRow values: no field can be unreadable")

    def swap_rows(self, a: JournalRow, b: JournalRow) -> None:
        # In a list a swap is a genuine reordering, not a content exchange.
        i, j = self._index(a.height), self._index(b.height)
        rows = self.store._rows
        rows[i], rows[j] = rows[j], rows[i]


class SqliteHarness(Harness):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.location = str(path)

    def _open(self, verify: bool) -> JournalStore:
        return open_store(self.location, verify=verify)

    def _exec(self, statement: str, params: tuple[object, ...] = ()) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(statement, params)
        finally:
            conn.close()

    def overwrite_row(self, row: JournalRow) -> None:
        self._exec(
            "UPDATE journal_rows SET block = ?, events = ?, state_root = ?, prev_hash = ?, row_hash = ? "
            "WHERE height = ?",
            (row.block, row.events, row.state_root, row.prev_hash, row.row_hash, row.height),
        )

    def delete_rows(self, heights: list[int]) -> None:
        for height in heights:
            self._exec("DELETE FROM journal_rows WHERE height = ?", (height,))

    def delete_head_record(self) -> None:
        self._exec("DELETE FROM journal_head")

    def corrupt_state_root(self, height: int, value: str) -> None:
        self._exec("UPDATE journal_rows SET state_root = ? WHERE height = ?", (value, height))


class PostgresHarness(Harness):
    """A journal in a fresh schema of its own, dropped afterwards."""

    name = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg

        super().__init__()
        self.dsn = dsn
        self.schema = f"ch_journal_test_{uuid.uuid4().hex[:12]}"
        self.admin = psycopg.connect(dsn, autocommit=True)

    @property
    def location(self) -> str:
        """An ``open_store`` location for this journal (URL DSNs only)."""
        parts = urlsplit(self.dsn)
        query = "&".join(q for q in (parts.query, f"journal_table={self.schema}.journal") if q)
        return urlunsplit(parts._replace(query=query))

    def _open(self, verify: bool) -> JournalStore:
        from clearhouse.journal.postgres import PostgresJournalStore

        store = PostgresJournalStore(self.dsn, schema=self.schema, table="journal")
        if verify:
            try:
                store.verify_chain().raise_if_bad()
            except BaseException:
                store.close()
                raise
        return store

    def _exec(self, statement: str, params: tuple[object, ...] = (), table: str = "journal") -> None:
        from psycopg import sql

        query = sql.SQL(statement).format(t=sql.Identifier(self.schema, table))
        self.admin.execute(query, params)

    def overwrite_row(self, row: JournalRow) -> None:
        self._exec(
            "UPDATE {t} SET block = %s, events = %s, state_root = %s, prev_hash = %s, row_hash = %s "
            "WHERE height = %s",
            (row.block, row.events, row.state_root, row.prev_hash, row.row_hash, row.height),
        )

    def delete_rows(self, heights: list[int]) -> None:
        self._exec("DELETE FROM {t} WHERE height = ANY(%s)", (heights,))

    def delete_head_record(self) -> None:
        self._exec("DELETE FROM {t}", table="journal_head")

    def corrupt_state_root(self, height: int, value: str) -> None:
        self._exec("UPDATE {t} SET state_root = %s WHERE height = %s", (value, height))

    def cleanup(self) -> None:
        from psycopg import sql

        try:
            super().cleanup()
        finally:
            self.admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )
            self.admin.close()


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    dsn = os.environ.get(POSTGRES_DSN_ENV, "").strip()
    if not dsn:
        pytest.skip(POSTGRES_SKIP_REASON)
    return dsn


_POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


def _harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h: Harness
    if request.param == "memory":
        h = MemoryHarness()
    elif request.param == "sqlite":
        h = SqliteHarness(tmp_path / "journal.sqlite")
    else:
        h = PostgresHarness(request.getfixturevalue("postgres_dsn"))
    try:
        yield h
    finally:
        h.cleanup()


@pytest.fixture(params=["memory", "sqlite", _POSTGRES])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The conformance suite's only knob: which store the journal lives in."""
    yield from _harness(request, tmp_path)


@pytest.fixture(params=["sqlite", _POSTGRES])
def db_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The database stores only: for what a memory journal has no notion of (reopening, second
    writers, unreadable stored values)."""
    yield from _harness(request, tmp_path)


@pytest.fixture
def postgres_harness(postgres_dsn: str) -> Iterator[PostgresHarness]:
    """A PostgreSQL journal in a schema of its own, for tests outside the conformance class."""
    h = PostgresHarness(postgres_dsn)
    try:
        yield h
    finally:
        h.cleanup()


@pytest.fixture
def chain() -> Callable[..., list[JournalRow]]:
    """``make_chain`` as a fixture, so test modules need not import from conftest."""
    return make_chain
