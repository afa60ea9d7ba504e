"""PostgreSQL journal: the production store.

psycopg is imported when a store is created, not when this module is, so the package works without it.
Each append is one transaction that locks the head record (``SELECT ... FOR UPDATE``) before checking
the row, so two writers cannot both append the same height: the second waits, then sees the new head and
is refused. The primary key on height backs that up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
    from psycopg.rows import TupleRow

__all__ = ["PostgresJournalStore"]

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
_COLUMNS = "height, block, events, state_root, prev_hash, row_hash"

#: Query parameter of a ``postgresql://`` location that names the journal table; stripped before libpq.
TABLE_PARAM = "journal_table"


def _check_ident(kind: str, name: str, max_len: int) -> str:
    # Lower-case, unquoted-style names only: no case-folding surprises between psql and this code.
    if not isinstance(name, str) or not _IDENT.fullmatch(name) or len(name) > max_len:
        raise JournalError(
            f"PostgreSQL journal {kind} must match [a-z_][a-z0-9_]* and be at most {max_len} chars, "
            f"got {name!r}"
        )
    return name


class PostgresJournalStore(JournalStore):
    """Journal in two tables, ``<table>`` (rows) and ``<table>_head``, optionally inside ``schema``.

    The schema and tables are created on first use. One connection, shared by threads under a lock.

    ``read_only=True`` creates nothing: the session is set to ``default_transaction_read_only`` before
    any query, the tables must already exist (else :class:`NotAJournal`), and ``append`` refuses.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        table: str = "journal",
        page_size: int = 500,
        connect_timeout_s: int = 10,
        read_only: bool = False,
    ) -> None:
        import psycopg
        from psycopg import sql

        self._schema = None if schema is None else _check_ident("schema", schema, 63)
        self._table = _check_ident("table", table, 58)
        if page_size < 1:
            raise JournalError(f"page_size must be >= 1, got {page_size}")
        self._page_size = page_size
        self._lock = threading.RLock()
        self._closed = True
        self._read_only = read_only

        def ident(name: str) -> sql.Identifier:
            return sql.Identifier(self._schema, name) if self._schema else sql.Identifier(name)

        rows_t, head_t = ident(self._table), ident(self._table + "_head")
        self._qualified = f"{self._schema}.{self._table}" if self._schema else self._table
        q = sql.SQL
        self._q_create_schema = q("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(self._schema or "public")
        )
        self._q_create_rows = q(
            "CREATE TABLE IF NOT EXISTS {} ("
            " height BIGINT PRIMARY KEY CHECK (height >= 1),"
            " block BYTEA NOT NULL, events BYTEA NOT NULL,"
            " state_root TEXT NOT NULL, prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL)"
        ).format(rows_t)
        self._q_create_head = q(
            "CREATE TABLE IF NOT EXISTS {} ("
            " id SMALLINT PRIMARY KEY CHECK (id = 1),"
            " height BIGINT NOT NULL, row_hash TEXT NOT NULL, format TEXT NOT NULL)"
        ).format(head_t)
        self._q_init_head = q(
            "INSERT INTO {head} (id, height, row_hash, format) SELECT 1, 0, %s, %s"
            " WHERE NOT EXISTS (SELECT 1 FROM {head}) AND NOT EXISTS (SELECT 1 FROM {rows})"
        ).format(head=head_t, rows=rows_t)
        self._q_format = q("SELECT format FROM {} WHERE id = 1").format(head_t)
        self._q_head = q("SELECT height, row_hash FROM {} WHERE id = 1").format(head_t)
        self._q_head_lock = q("SELECT height, row_hash FROM {} WHERE id = 1 FOR UPDATE").format(head_t)
        self._q_set_head = q("UPDATE {} SET height = %s, row_hash = %s WHERE id = 1").format(head_t)
        self._q_hash_at = q("SELECT row_hash FROM {} WHERE height = %s").format(rows_t)
        self._q_insert = q("INSERT INTO {} (" + _COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s)").format(rows_t)
        self._q_last = q("SELECT " + _COLUMNS + " FROM {} ORDER BY height DESC LIMIT 1").format(rows_t)
        self._q_get = q("SELECT " + _COLUMNS + " FROM {} WHERE height = %s").format(rows_t)
        self._q_page = q("SELECT " + _COLUMNS + " FROM {} WHERE height > %s ORDER BY height LIMIT %s").format(
            rows_t
        )
        self._q_len = q("SELECT COALESCE(MAX(height), 0) FROM {}").format(rows_t)

        # autocommit: every transaction is an explicit conn.transaction() block, nothing is left open.
        try:
            self._conn: psycopg.Connection[TupleRow] = psycopg.connect(
                dsn, autocommit=True, connect_timeout=connect_timeout_s
            )
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise JournalError(f"cannot connect to the PostgreSQL journal: {detail}") from exc
        self._closed = False
        try:
            if read_only:
                self._check_journal()
            else:
                self._setup()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str, *, read_only: bool = False) -> PostgresJournalStore:
        """Open from a ``postgresql://`` URL, taking ``journal_table=[schema.]table`` out of its query."""
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        chosen = [v for k, v in params if k == TABLE_PARAM]
        if not chosen:
            return cls(url, read_only=read_only)
        if len(chosen) > 1:
            raise JournalError(f"{TABLE_PARAM} is given more than once in the journal location")
        dsn = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in params if k != TABLE_PARAM])))
        schema, _, table = chosen[0].rpartition(".")
        return cls(dsn, schema=schema or None, table=table, read_only=read_only)

    @property
    def read_only(self) -> bool:
        return self._read_only

    def _check_journal(self) -> None:
        """Read-only open: every later statement runs read-only; the tables must exist already."""
        with self._lock, self._conn.cursor() as cur:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cur.execute(
                "SELECT to_regclass(%s), to_regclass(%s)", (self._qualified, self._qualified + "_head")
            )
            found = cur.fetchone()
            if found is None or found[0] is None or found[1] is None:
                raise NotAJournal(
                    f"not a clearhouse journal: no tables {self._qualified} and {self._qualified}_head"
                )
            try:
                cur.execute(self._q_format)
                fmt = cur.fetchone()
            except Exception as exc:  # psycopg errors: a table of that name with other columns
                raise NotAJournal(f"not a clearhouse journal: {self._qualified}_head ({exc})") from exc
        if fmt is not None and fmt[0] != ROW_FORMAT:
            raise JournalError(
                f"PostgreSQL journal {self._qualified} uses row format {fmt[0]!r}; "
                f"this code reads {ROW_FORMAT!r}"
            )

    def _setup(self) -> None:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            # Serialise first-time creation between processes opening the same fresh journal.
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", ("clearhouse.journal:" + self._qualified,)
            )
            cur.execute(
                "SELECT to_regclass(%s), to_regclass(%s)", (self._qualified, self._qualified + "_head")
            )
            found = cur.fetchone()
            if found is None or found[0] is None or found[1] is None:
                if self._schema is not None:
                    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self._schema,))
                    if cur.fetchone() is None:
                        cur.execute(self._q_create_schema)
                cur.execute(self._q_create_rows)
                cur.execute(self._q_create_head)
            # A journal with rows but no head record is damaged and must stay visibly so.
            cur.execute(self._q_init_head, (GENESIS_HASH, ROW_FORMAT))
            cur.execute(self._q_format)
            fmt = cur.fetchone()
        if fmt is not None and fmt[0] != ROW_FORMAT:
            raise JournalError(
                f"PostgreSQL journal {self._qualified} uses row format {fmt[0]!r}; "
                f"this code reads {ROW_FORMAT!r}"
            )

    @property
    def qualified_name(self) -> str:
        """``schema.table`` (or ``table``) of the rows table; the head record is in ``<that>_head``."""
        return self._qualified

    def _head_for_append(self, cur: psycopg.Cursor[TupleRow]) -> tuple[int, str]:
        cur.execute(self._q_head_lock)
        head = parse_head_record(cur.fetchone())
        if head is None:
            raise JournalError("journal is damaged: its head record is missing; run verify_chain()")
        height, hash_ = head
        if height > 0:
            cur.execute(self._q_hash_at, (height,))
            stored = cur.fetchone()
            stored_hash = None if stored is None else str(stored[0])
            if stored_hash != hash_:
                raise damaged_head_error(height, hash_, stored_hash)
        return height, hash_

    def _insert(self, cur: psycopg.Cursor[TupleRow], row: JournalRow) -> None:
        cur.execute(
            self._q_insert, (row.height, row.block, row.events, row.state_root, row.prev_hash, row.row_hash)
        )
        cur.execute(self._q_set_head, (row.height, row.row_hash))

    def _write(self, rows: Iterable[JournalRow]) -> None:
        from psycopg import errors

        with self._lock:
            self._check_open()
            if self._read_only:
                raise read_only_error(self)
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    height, hash_ = self._head_for_append(cur)
                    for row in rows:
                        check_next(row, height, hash_)
                        self._insert(cur, row)
                        height, hash_ = row.height, row.row_hash
            except errors.UniqueViolation as exc:
                raise JournalError(
                    f"journal refuses the append: a row with that height is already stored in "
                    f"{self._qualified} beyond the head record (the journal is damaged; run verify_chain())"
                ) from exc

    def append(self, row: JournalRow) -> None:
        self._write((row,))

    def append_many(self, rows: Iterable[JournalRow]) -> None:
        self._write(rows)

    def head(self) -> JournalRow | None:
        with self._lock:
            self._check_open()
            record = self._conn.execute(self._q_last).fetchone()
        return None if record is None else row_from_record(record)

    def get(self, height: int) -> JournalRow | None:
        if not self._is_height(height):
            return None
        with self._lock:
            self._check_open()
            record = self._conn.execute(self._q_get, (height,)).fetchone()
        return None if record is None else row_from_record(record)

    def rows(self, start: int = 1) -> Iterator[JournalRow]:
        self._check_open()
        self._check_start(start)
        return self._pages(start)

    def _pages(self, start: int) -> Iterator[JournalRow]:
        # Keyset pages, no server cursor held between yields: readers never block or pin the writer.
        after = start - 1
        while True:
            with self._lock:
                self._check_open()
                batch = self._conn.execute(self._q_page, (after, self._page_size)).fetchall()
            for record in batch:
                yield row_from_record(record)
            if len(batch) < self._page_size:
                return
            after = int(batch[-1][0])

    def __len__(self) -> int:
        with self._lock:
            self._check_open()
            record = self._conn.execute(self._q_len).fetchone()
        return 0 if record is None else int(record[0])

    def verify_chain(self) -> ChainReport:
        # REPEATABLE READ: the head record and every page come from one snapshot, so a concurrent
        # append cannot look like a truncated or over-long journal.
        with self._lock:
            self._check_open()
            with self._conn.transaction():
                self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                recorded = parse_head_record(self._conn.execute(self._q_head).fetchone())
                return verify_with_head(self._pages(1), recorded)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"PostgresJournalStore(table={self._qualified!r})"
