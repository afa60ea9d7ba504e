"""Where a block goes after the engine applied it: the port the journal implements.

The engine depends on this protocol, never on a store: :class:`clearhouse.journal.store.JournalStore`
implements it (``append_block`` builds and appends the hash-chained row). The append runs inside the
block's try, so a failed write rolls the whole block back.
"""

from __future__ import annotations

from typing import Protocol

#: ``prev_hash`` of the first row of a journal (the hash "before" block 1).
GENESIS_HASH = "00" * 32


class BlockSink(Protocol):
    """A destination for applied blocks, in order."""

    def head(self) -> object | None:
        """The last block appended, or None if none was (the engine refuses a non-empty sink)."""
        ...

    def append_block(self, height: int, block: bytes, events: bytes, state_root: str, prev_hash: str) -> str:
        """Append one block's canonical bytes and root after the row hashed ``prev_hash``; return the
        new row's hash."""
        ...
