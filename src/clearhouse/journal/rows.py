"""Journal rows, their hash chain, and the streaming chain check.

A row commits to its block, its events, the state root after the block and the previous row's hash, so
editing, dropping, reordering or truncating rows breaks the chain at a height ``check_chain`` can name.
The chain cannot catch a writer who rewrites a whole suffix (and the head record) consistently: replaying
the blocks and comparing state roots, or anchoring the head hash elsewhere, is what catches that.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from clearhouse.core.errors import JournalError
from clearhouse.engine.sink import GENESIS_HASH as _GENESIS_HASH

__all__ = [
    "GENESIS_HASH",
    "MAX_HEIGHT",
    "ROW_FORMAT",
    "ChainFault",
    "ChainReport",
    "CorruptRow",
    "JournalRow",
    "check_chain",
    "check_next",
    "make_row",
    "row_hash",
]

#: ``prev_hash`` of the row at height 1 (defined with the engine's sink port, re-exported here).
GENESIS_HASH = _GENESIS_HASH

#: Heights are signed 64-bit in SQLite and PostgreSQL, so the journal stops one short of 2^63.
MAX_HEIGHT = 2**63 - 1

#: Version of the row encoding below; stored with the journal so a future change is detected, not misread.
ROW_FORMAT = "clearhouse-journal-row/1"

_DOMAIN = ROW_FORMAT.encode("ascii") + b"\x00"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _check_fields(
    height: object, block: object, events: object, state_root: object, prev_hash: object
) -> None:
    if not isinstance(height, int) or isinstance(height, bool):
        raise JournalError(f"journal row height must be an int, got {type(height).__name__}")
    if not 1 <= height <= MAX_HEIGHT:
        raise JournalError(f"journal row height must be in [1, 2^63 - 1], got {height}")
    if not isinstance(block, bytes):
        raise JournalError(f"journal row {height}: block must be bytes, got {type(block).__name__}")
    if not isinstance(events, bytes):
        raise JournalError(f"journal row {height}: events must be bytes, got {type(events).__name__}")
    if not _is_hex64(state_root):
        raise JournalError(
            f"journal row {height}: state_root must be 64 lowercase hex chars, got {state_root!r}"
        )
    if not _is_hex64(prev_hash):
        raise JournalError(
            f"journal row {height}: prev_hash must be 64 lowercase hex chars, got {prev_hash!r}"
        )


def row_hash(height: int, block: bytes, events: bytes, state_root: str, prev_hash: str) -> str:
    """Hash of one row: fixed-width fields only, so no two different rows share an encoding."""
    _check_fields(height, block, events, state_root, prev_hash)
    h = hashlib.sha256(_DOMAIN)
    h.update(height.to_bytes(8, "big"))
    h.update(hashlib.sha256(block).digest())
    h.update(hashlib.sha256(events).digest())
    h.update(bytes.fromhex(state_root))
    h.update(bytes.fromhex(prev_hash))
    return h.hexdigest()


@dataclass(frozen=True, slots=True, repr=False)
class JournalRow:
    """One committed block. ``block`` and ``events`` are opaque canonical bytes from the engine.

    Construction checks field shapes only; ``row_hash`` may disagree with the content (that is how a
    tampered row read back from storage is represented). Use :func:`make_row` to build a new row.
    """

    height: int
    block: bytes
    events: bytes
    state_root: str
    prev_hash: str
    row_hash: str

    def __post_init__(self) -> None:
        _check_fields(self.height, self.block, self.events, self.state_root, self.prev_hash)
        if not _is_hex64(self.row_hash):
            raise JournalError(
                f"journal row {self.height}: row_hash must be 64 lowercase hex chars, got {self.row_hash!r}"
            )

    def computed_hash(self) -> str:
        """The hash this row's content should carry."""
        return row_hash(self.height, self.block, self.events, self.state_root, self.prev_hash)

    def __repr__(self) -> str:
        # Blocks can be large; show sizes, not bytes.
        return (
            f"JournalRow(height={self.height}, block=<{len(self.block)} bytes>, "
            f"events=<{len(self.events)} bytes>, state_root={self.state_root[:12]}…, "
            f"prev_hash={self.prev_hash[:12]}…, row_hash={self.row_hash[:12]}…)"
        )


def make_row(height: int, block: bytes, events: bytes, state_root: str, prev_hash: str) -> JournalRow:
    """Build a row with its hash filled in."""
    return JournalRow(
        height=height,
        block=block,
        events=events,
        state_root=state_root,
        prev_hash=prev_hash,
        row_hash=row_hash(height, block, events, state_root, prev_hash),
    )


def check_next(row: JournalRow, head_height: int, head_hash: str) -> None:
    """Raise :class:`JournalError` unless ``row`` may be appended after the given head.

    Stores call this inside their write transaction, before writing anything.
    """
    if not isinstance(row, JournalRow):
        raise JournalError(f"can only append JournalRow values, got {type(row).__name__}")
    if row.height != head_height + 1:
        raise JournalError(
            f"journal refuses row at height {row.height}: the head is at height {head_height}, "
            f"so the next row must have height {head_height + 1}"
        )
    if row.prev_hash != head_hash:
        raise JournalError(
            f"journal refuses row at height {row.height}: prev_hash {row.prev_hash} does not match the "
            f"head's row_hash {head_hash} (height {head_height})"
        )
    expected = row.computed_hash()
    if row.row_hash != expected:
        raise JournalError(
            f"journal refuses row at height {row.height}: row_hash {row.row_hash} does not match its "
            f"content (expected {expected})"
        )


class CorruptRow(JournalError):
    """A stored row that cannot even be read as a :class:`JournalRow` (wrong types, bad hex).

    Stores raise it from ``rows()`` so :func:`check_chain` can report the height instead of crashing.
    """

    def __init__(self, height: int | None, message: str) -> None:
        super().__init__(message)
        self.height = height


class ChainFault(StrEnum):
    """Why a chain check failed."""

    GAP = "gap"  # a height is missing from the sequence
    REORDERED = "reordered"  # heights are present but out of order (or repeated)
    EDITED = "edited"  # a row's row_hash does not match its content
    BROKEN_LINK = "broken_link"  # a row's prev_hash is not the previous row's row_hash
    MALFORMED = "malformed"  # a stored row is unreadable (wrong types, bad hex)
    TRUNCATED = "truncated"  # the head record says the journal is longer than the rows present
    UNRECORDED = "unrecorded"  # rows exist beyond the height the head record says
    HEAD_MISMATCH = "head_mismatch"  # last row's hash differs from the head record's hash
    HEAD_MISSING = "head_missing"  # rows exist but the head record is gone


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Outcome of a chain check.

    ``count``, ``head_height`` and ``head_hash`` describe the verified prefix: when the check fails they
    describe the rows before ``bad_height``, which can still be trusted.
    """

    ok: bool
    count: int
    head_height: int
    head_hash: str
    bad_height: int | None = None
    fault: ChainFault | None = None
    detail: str = ""

    def raise_if_bad(self) -> None:
        """Turn a failed report into a :class:`JournalError` (for callers that must not continue)."""
        if not self.ok:
            raise JournalError(
                f"journal chain is broken at height {self.bad_height} ({self.fault}): {self.detail}"
            )


def _pull(it: Iterator[JournalRow]) -> JournalRow | CorruptRow | None:
    """Next row, the corruption error it raised, or None at the end (keeps the loop below flat)."""
    try:
        return next(it)
    except StopIteration:
        return None
    except CorruptRow as exc:
        return exc


def check_chain(rows: Iterable[JournalRow], *, recorded_head: tuple[int, str] | None = None) -> ChainReport:
    """Walk ``rows`` in order from height 1 and report the first bad height, holding two rows at most.

    ``recorded_head`` is the ``(height, row_hash)`` the store recorded with its last append; passing it
    also catches rows deleted from (or added at) the tail, which the chain alone cannot see.
    """
    if recorded_head is not None and not (isinstance(recorded_head[0], int) and recorded_head[0] >= 0):
        raise JournalError(f"recorded_head height must be an int >= 0, got {recorded_head[0]!r}")
    it = iter(rows)
    expected = 1
    prev_hash = GENESIS_HASH
    # Hashes at the recorded head's height and the one below it: the trusted prefix if the tail is bad.
    watch = () if recorded_head is None else (recorded_head[0] - 1, recorded_head[0])
    hash_at: dict[int, str] = {0: GENESIS_HASH}

    def report(bad: int | None = None, fault: ChainFault | None = None, detail: str = "") -> ChainReport:
        return ChainReport(
            ok=fault is None,
            count=expected - 1,
            head_height=expected - 1,
            head_hash=prev_hash,
            bad_height=bad,
            fault=fault,
            detail=detail,
        )

    item = _pull(it)
    while item is not None:
        if isinstance(item, CorruptRow):
            if item.height is not None and item.height > expected:
                return report(
                    expected,
                    ChainFault.GAP,
                    f"row for height {expected} is missing (next row present has height {item.height})",
                )
            return report(expected, ChainFault.MALFORMED, str(item))
        row = item
        item = _pull(it)
        if row.height < expected:
            return report(
                expected,
                ChainFault.REORDERED,
                f"row for height {row.height} appears where height {expected} was expected",
            )
        if row.height > expected:
            if isinstance(item, JournalRow) and item.height < row.height:
                return report(
                    expected,
                    ChainFault.REORDERED,
                    f"row for height {row.height} appears before height {item.height}",
                )
            return report(
                expected,
                ChainFault.GAP,
                f"row for height {expected} is missing (next row present has height {row.height})",
            )
        computed = row.computed_hash()
        if row.row_hash != computed:
            return report(
                row.height,
                ChainFault.EDITED,
                f"row {row.height} has row_hash {row.row_hash} but its content hashes to {computed}",
            )
        if row.prev_hash != prev_hash:
            return report(
                row.height,
                ChainFault.BROKEN_LINK,
                f"row {row.height} has prev_hash {row.prev_hash} "
                f"but row {row.height - 1} hashes to {prev_hash}",
            )
        prev_hash = row.row_hash
        if row.height in watch:
            hash_at[row.height] = prev_hash
        expected += 1

    if recorded_head is None:
        return report()
    head_height, head_hash = recorded_head
    last = expected - 1
    if last < head_height:
        return report(
            last + 1,
            ChainFault.TRUNCATED,
            f"head record says height {head_height} but the rows end at height {last}",
        )

    def prefix(n: int, bad: int, fault: ChainFault, detail: str) -> ChainReport:
        return ChainReport(
            ok=False, count=n, head_height=n, head_hash=hash_at[n], bad_height=bad, fault=fault, detail=detail
        )

    if hash_at[head_height] != head_hash:
        # Either the head record or that row was rewritten; only the rows before it are trusted.
        return prefix(
            max(head_height - 1, 0),
            max(head_height, 1),
            ChainFault.HEAD_MISMATCH,
            f"head record hash {head_hash} differs from the hash {hash_at[head_height]} of row {head_height}",
        )
    if last > head_height:
        return prefix(
            head_height,
            head_height + 1,
            ChainFault.UNRECORDED,
            f"rows run to height {last} but the head record says height {head_height}",
        )
    return report()
