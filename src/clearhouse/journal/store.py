"""The journal port: one interface for three stores (memory, SQLite, PostgreSQL) and their shared checks.

This module imports none of the stores; :func:`clearhouse.journal.open.open_store` picks one from a
location string.

Every store keeps a *head record* (height and hash of the last appended row) written in the same
transaction as the row, so ``verify_chain`` can tell a journal whose tail was deleted from a shorter one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Self

from clearhouse.core.errors import JournalError
from clearhouse.journal.rows import (
    GENESIS_HASH,
    MAX_HEIGHT,
    ChainFault,
    ChainReport,
    CorruptRow,
    JournalRow,
    check_chain,
    make_row,
)

__all__ = ["JournalStore", "NotAJournal", "row_from_record"]


class JournalStore(ABC):
    """Append-only, hash-chained store of :class:`JournalRow` values.

    ``append`` is atomic: it writes the row and the head record in one transaction, or raises
    :class:`JournalError` and writes nothing. Reads never hold a transaction open between rows, so a
    reader can stream a long journal while a writer appends.
    """

    @abstractmethod
    def append(self, row: JournalRow) -> None:
        """Append the row after the head, in one transaction.

        Refuses (``JournalError``, nothing written) a row whose height is not head + 1, whose ``prev_hash``
        is not the head's ``row_hash``, or whose ``row_hash`` does not match its content.
        """

    @abstractmethod
    def append_many(self, rows: Iterable[JournalRow]) -> None:
        """Append consecutive rows in one transaction: all of them or, on any refusal, none."""

    def append_block(self, height: int, block: bytes, events: bytes, state_root: str, prev_hash: str) -> str:
        """The engine's sink port (:class:`clearhouse.engine.sink.BlockSink`): append the row chaining
        this block after ``prev_hash``; return its hash."""
        row = make_row(height, block, events, state_root, prev_hash)
        self.append(row)
        return row.row_hash

    @abstractmethod
    def head(self) -> JournalRow | None:
        """The row with the greatest height, or None for an empty journal."""

    @abstractmethod
    def get(self, height: int) -> JournalRow | None:
        """The row at ``height``, or None if there is none."""

    @abstractmethod
    def rows(self, start: int = 1) -> Iterator[JournalRow]:
        """Rows with height >= ``start`` in height order, fetched lazily (page by page for databases)."""

    @abstractmethod
    def __len__(self) -> int:
        """Height of the last row (the row count of an intact journal)."""

    @abstractmethod
    def verify_chain(self) -> ChainReport:
        """Check the whole chain and the head record from one consistent snapshot; run it on open."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection. Idempotent; any later call raises :class:`JournalError`."""

    @property
    @abstractmethod
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only (``append`` refuses)."""
        return False

    def __bool__(self) -> bool:
        # A store is a handle, not a container: an empty but open journal must not test false.
        return True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise JournalError(f"{type(self).__name__} is closed")

    @staticmethod
    def _is_height(height: object) -> bool:
        """A value ``get`` can look up (bools excluded: ``True`` is not height 1)."""
        return isinstance(height, int) and not isinstance(height, bool) and 1 <= height <= MAX_HEIGHT

    @staticmethod
    def _check_start(start: int) -> None:
        if not isinstance(start, int) or isinstance(start, bool) or start < 1:
            raise JournalError(f"rows(start) needs an int >= 1, got {start!r}")


def row_from_record(record: Sequence[object]) -> JournalRow:
    """Turn a stored ``(height, block, events, state_root, prev_hash, row_hash)`` tuple into a row.

    Raises :class:`CorruptRow` (naming the height) rather than a bare type error, because stored data
    may have been tampered with and the chain check must still report where.
    """
    if len(record) != 6:
        raise CorruptRow(None, f"stored journal record has {len(record)} fields, expected 6")
    height, block, events, state_root, prev_hash, hash_ = record
    known = height if isinstance(height, int) and not isinstance(height, bool) else None
    if isinstance(block, bytearray | memoryview):
        block = bytes(block)
    if isinstance(events, bytearray | memoryview):
        events = bytes(events)
    if not (
        known is not None
        and isinstance(block, bytes)
        and isinstance(events, bytes)
        and isinstance(state_root, str)
        and isinstance(prev_hash, str)
        and isinstance(hash_, str)
    ):
        types = ", ".join(type(v).__name__ for v in record)
        raise CorruptRow(
            known, f"stored journal row at height {height!r} has the wrong field types ({types})"
        )
    try:
        return JournalRow(known, block, events, state_root, prev_hash, hash_)
    except JournalError as exc:
        raise CorruptRow(known, f"stored journal row at height {known} is unreadable: {exc}") from exc


def verify_with_head(rows: Iterable[JournalRow], recorded_head: tuple[int, str] | None) -> ChainReport:
    """Shared ``verify_chain`` body: the chain check plus what a missing head record means."""
    if recorded_head is not None:
        return check_chain(rows, recorded_head=recorded_head)
    report = check_chain(rows)
    if not report.ok or report.count == 0:
        return report
    return ChainReport(
        ok=False,
        count=0,
        head_height=0,
        head_hash=GENESIS_HASH,
        bad_height=1,
        fault=ChainFault.HEAD_MISSING,
        detail=f"the journal holds {report.count} rows but its head record is missing",
    )


def parse_head_record(record: Sequence[object] | None) -> tuple[int, str] | None:
    """A stored ``(height, row_hash)`` head record, or None if it is missing or unreadable."""
    if record is None or len(record) != 2:
        return None
    height, hash_ = record
    if not isinstance(height, int) or isinstance(height, bool) or height < 0 or not isinstance(hash_, str):
        return None
    return height, hash_


def damaged_head_error(head_height: int, head_hash: str, stored_hash: str | None) -> JournalError:
    """The refusal ``append`` raises when the head record and the rows disagree."""
    found = "is missing" if stored_hash is None else f"has hash {stored_hash}"
    return JournalError(
        f"journal is damaged: the head record says height {head_height} with hash {head_hash}, "
        f"but row {head_height} {found}; run verify_chain() to find the first bad height"
    )


class NotAJournal(JournalError):
    """The location holds something that is not a clearhouse journal (raised by read-only opens, which
    must never turn a foreign file into a journal)."""

    code = "not_a_journal"


def read_only_error(store: JournalStore) -> JournalError:
    """The refusal a store opened with ``read_only=True`` gives to ``append``."""
    return JournalError(f"{store!r} was opened read-only; nothing can be appended")
