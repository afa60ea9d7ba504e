"""In-memory journal: same contract as the database stores, for tests and throwaway simulations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from clearhouse.core.errors import JournalError
from clearhouse.journal.rows import GENESIS_HASH, ChainReport, JournalRow, check_next
from clearhouse.journal.store import JournalStore, damaged_head_error, verify_with_head

__all__ = ["MemoryJournalStore"]


class MemoryJournalStore(JournalStore):
    """Rows in a list, plus a head record kept apart from it exactly as the database stores keep one."""

    def __init__(self) -> None:
        self._rows: list[JournalRow] = []
        self._head_record: tuple[int, str] | None = (0, GENESIS_HASH)
        self._closed = False

    def _checked_head(self) -> tuple[int, str]:
        """The head record, after making sure the rows still agree with it."""
        if self._head_record is None:
            raise JournalError("journal is damaged: its head record is missing; run verify_chain()")
        height, hash_ = self._head_record
        if height > 0:
            stored = self.get(height)
            if stored is None or stored.row_hash != hash_:
                raise damaged_head_error(height, hash_, None if stored is None else stored.row_hash)
        return height, hash_

    def append(self, row: JournalRow) -> None:
        self._check_open()
        check_next(row, *self._checked_head())
        self._rows.append(row)
        self._head_record = (row.height, row.row_hash)

    def append_many(self, rows: Iterable[JournalRow]) -> None:
        self._check_open()
        height, hash_ = self._checked_head()
        batch: list[JournalRow] = []
        for row in rows:
            check_next(row, height, hash_)
            batch.append(row)
            height, hash_ = row.height, row.row_hash
        self._rows.extend(batch)
        self._head_record = (height, hash_)

    def head(self) -> JournalRow | None:
        self._check_open()
        return self._rows[-1] if self._rows else None

    def get(self, height: int) -> JournalRow | None:
        self._check_open()
        if not self._is_height(height) or height > len(self._rows):
            return None
        row = self._rows[height - 1]
        if row.height == height:
            return row
        # Only a tampered list gets here; fall back to a scan.
        return next((r for r in self._rows if r.height == height), None)

    def rows(self, start: int = 1) -> Iterator[JournalRow]:
        self._check_open()
        self._check_start(start)
        return self._iter(start)

    def _iter(self, start: int) -> Iterator[JournalRow]:
        # Index-based so rows appended while iterating are seen, like a database reader would see them.
        i = start - 1
        while i < len(self._rows):
            yield self._rows[i]
            i += 1

    def __len__(self) -> int:
        self._check_open()
        return self._rows[-1].height if self._rows else 0

    def verify_chain(self) -> ChainReport:
        self._check_open()
        return verify_with_head(iter(self._rows), self._head_record)

    def close(self) -> None:
        self._closed = True
        self._rows = []

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"MemoryJournalStore(rows={len(self._rows)}, closed={self._closed})"
