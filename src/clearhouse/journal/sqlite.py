"""SQLite journal: the embedded default.

WAL mode with ``synchronous=FULL``: a row is on disk when ``append`` returns, so killing the process (or
the machine) loses nothing that was reported committed. One ``BEGIN IMMEDIATE`` transaction per append
takes the write lock up front, so two processes appending to one file serialise instead of deadlocking.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from clearhouse.core.errors import JournalError
from clearhouse.journal.rows import GENESIS_HASH, ROW_FORMAT, ChainReport, JournalRow, check_next
from clearhouse.journal.store import (
    JournalStore,
    NotAJournal,
    damaged_head_error,
    parse_head_record,
    read_only_error,
    row_from_record,
    verify_with_head,
)

__all__ = ["SqliteJournalStore"]

_COLUMNS = "height, block, events, state_root, prev_hash, row_hash"

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS journal_rows (
        height     INTEGER PRIMARY KEY CHECK (height >= 1),
        block      BLOB NOT NULL,
        events     BLOB NOT NULL,
        state_root TEXT NOT NULL,
        prev_hash  TEXT NOT NULL,
        row_hash   TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS journal_head (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        height   INTEGER NOT NULL,
        row_hash TEXT NOT NULL,
        format   TEXT NOT NULL
    )
    """,
)


class SqliteJournalStore(JournalStore):
    """Journal in one SQLite file (tables ``journal_rows`` and ``journal_head``).

    The connection is shared by threads under a lock; open one store per process.

    ``read_only=True`` opens an existing journal without writing anything: the file is opened with a
    ``mode=ro`` URI, no pragma or schema statement runs, and a file that is not a SQLite database or
    lacks the journal tables raises :class:`NotAJournal`. A WAL journal whose ``-wal`` file is absent
    (cleanly closed, no writer) is opened ``immutable=1`` as well, because SQLite would otherwise create
    the ``-wal`` and ``-shm`` companions; a torn read there (a writer starting and checkpointing during
    the read) shows up as a chain or replay failure, never as a pass.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        page_size: int = 256,
        busy_timeout_s: float = 30.0,
        read_only: bool = False,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise JournalError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        if page_size < 1:
            raise JournalError(f"page_size must be >= 1, got {page_size}")
        self._path = os.fspath(path)
        self._page_size = page_size
        self._lock = threading.RLock()
        self._read_only = read_only
        target = self._read_only_uri() if read_only else self._path
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so one append = one transaction.
            self._conn = sqlite3.connect(
                target,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_s,
                uri=read_only,
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open SQLite journal at {self._path!r}: {exc}") from exc
        self._closed = False
        try:
            if read_only:
                self._check_journal()
            else:
                self._setup(synchronous)
        except BaseException:
            self._conn.close()
            self._closed = True
            raise

    def _read_only_uri(self) -> str:
        """A ``file:`` URI that opens the file read-only and never creates it or its companions."""
        path = Path(self._path)
        if not path.is_file():
            raise JournalError(f"no journal at {self._path!r}" + (" (a directory)" if path.is_dir() else ""))
        try:
            with path.open("rb") as f:
                header = f.read(100)
        except OSError as exc:
            raise JournalError(f"cannot read {self._path!r}: {exc}") from exc
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            what = "an empty file" if not header else "not a SQLite database"
            raise NotAJournal(f"not a clearhouse journal: {self._path!r} is {what}")
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        wal_mode = header[18] == 2 and header[19] == 2
        if wal_mode and not Path(f"{self._path}-wal").exists():
            uri += "&immutable=1"
        return uri

    def _check_journal(self) -> None:
        """Read-only open: the journal tables with their columns and our row format, or NotAJournal."""
        try:
            tables = {
                name: {col[1] for col in self._conn.execute(f"PRAGMA table_info({name})").fetchall()}
                for name in ("journal_rows", "journal_head")
            }
        except sqlite3.DatabaseError as exc:
            raise NotAJournal(f"not a clearhouse journal: {self._path!r} ({exc})") from exc
        want = {
            "journal_rows": set(_COLUMNS.split(", ")),
            "journal_head": {"id", "height", "row_hash", "format"},
        }
        for name, columns in want.items():
            if not columns <= tables[name]:
                raise NotAJournal(
                    f"not a clearhouse journal: {self._path!r} has no {name} table with the journal columns"
                )
        try:
            found = self._conn.execute("SELECT format FROM journal_head WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise NotAJournal(f"not a clearhouse journal: {self._path!r} ({exc})") from exc
        if found is not None and found[0] != ROW_FORMAT:
            raise JournalError(
                f"SQLite journal at {self._path!r} uses row format {found[0]!r}; "
                f"this code reads {ROW_FORMAT!r}"
            )

    @property
    def read_only(self) -> bool:
        return self._read_only

    def _setup(self, synchronous: str) -> None:
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() not in ("wal", "memory"):
                raise JournalError(f"SQLite journal at {self._path!r} could not switch to WAL (mode {mode})")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            with self._write() as cur:
                for statement in _SCHEMA:
                    cur.execute(statement)
                # A fresh journal gets its head record; a journal with rows but no head record is damaged
                # and must stay visibly so, not be silently reset.
                cur.execute(
                    "INSERT INTO journal_head (id, height, row_hash, format) "
                    "SELECT 1, 0, ?, ? WHERE NOT EXISTS (SELECT 1 FROM journal_head) "
                    "AND NOT EXISTS (SELECT 1 FROM journal_rows)",
                    (GENESIS_HASH, ROW_FORMAT),
                )
                found = cur.execute("SELECT format FROM journal_head WHERE id = 1").fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open SQLite journal at {self._path!r}: {exc}") from exc
        if found is not None and found[0] != ROW_FORMAT:
            raise JournalError(
                f"SQLite journal at {self._path!r} uses row format {found[0]!r}; "
                f"this code reads {ROW_FORMAT!r}"
            )

    @property
    def path(self) -> str:
        return self._path

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction; rolled back on any exception, so a refusal writes nothing."""
        with self._lock:
            self._check_open()
            if self._read_only:
                raise read_only_error(self)
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    @staticmethod
    def _head_for_append(cur: sqlite3.Cursor) -> tuple[int, str]:
        head = parse_head_record(
            cur.execute("SELECT height, row_hash FROM journal_head WHERE id = 1").fetchone()
        )
        if head is None:
            raise JournalError("journal is damaged: its head record is missing; run verify_chain()")
        height, hash_ = head
        if height > 0:
            stored = cur.execute("SELECT row_hash FROM journal_rows WHERE height = ?", (height,)).fetchone()
            stored_hash = None if stored is None else str(stored[0])
            if stored_hash != hash_:
                raise damaged_head_error(height, hash_, stored_hash)
        return height, hash_

    @staticmethod
    def _insert(cur: sqlite3.Cursor, row: JournalRow) -> None:
        try:
            cur.execute(
                f"INSERT INTO journal_rows ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (row.height, row.block, row.events, row.state_root, row.prev_hash, row.row_hash),
            )
        except sqlite3.IntegrityError as exc:
            raise JournalError(
                f"journal refuses row at height {row.height}: a row with that height is already stored "
                f"beyond the head record (the journal is damaged; run verify_chain())"
            ) from exc
        cur.execute(
            "UPDATE journal_head SET height = ?, row_hash = ? WHERE id = 1", (row.height, row.row_hash)
        )

    def append(self, row: JournalRow) -> None:
        with self._write() as cur:
            check_next(row, *self._head_for_append(cur))
            self._insert(cur, row)

    def append_many(self, rows: Iterable[JournalRow]) -> None:
        with self._write() as cur:
            height, hash_ = self._head_for_append(cur)
            for row in rows:
                check_next(row, height, hash_)
                self._insert(cur, row)
                height, hash_ = row.height, row.row_hash

    def head(self) -> JournalRow | None:
        with self._lock:
            self._check_open()
            record = self._conn.execute(
                f"SELECT {_COLUMNS} FROM journal_rows ORDER BY height DESC LIMIT 1"
            ).fetchone()
        return None if record is None else row_from_record(record)

    def get(self, height: int) -> JournalRow | None:
        if not self._is_height(height):
            return None
        with self._lock:
            self._check_open()
            record = self._conn.execute(
                f"SELECT {_COLUMNS} FROM journal_rows WHERE height = ?", (height,)
            ).fetchone()
        return None if record is None else row_from_record(record)

    def rows(self, start: int = 1) -> Iterator[JournalRow]:
        self._check_open()
        self._check_start(start)
        return self._pages(start)

    def _pages(self, start: int) -> Iterator[JournalRow]:
        # Keyset pages: no cursor stays open between yields, so appends can interleave with reading.
        after = start - 1
        while True:
            with self._lock:
                self._check_open()
                batch = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM journal_rows WHERE height > ? ORDER BY height LIMIT ?",
                    (after, self._page_size),
                ).fetchall()
            for record in batch:
                yield row_from_record(record)
            if len(batch) < self._page_size:
                return
            after = int(batch[-1][0])

    def __len__(self) -> int:
        with self._lock:
            self._check_open()
            record = self._conn.execute("SELECT COALESCE(MAX(height), 0) FROM journal_rows").fetchone()
        return int(record[0])

    def verify_chain(self) -> ChainReport:
        # One read transaction = one WAL snapshot: the head record and every page agree with each other.
        with self._lock:
            self._check_open()
            self._conn.execute("BEGIN")
            try:
                recorded = parse_head_record(
                    self._conn.execute("SELECT height, row_hash FROM journal_head WHERE id = 1").fetchone()
                )
                return verify_with_head(self._pages(1), recorded)
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"SqliteJournalStore({self._path!r})"
