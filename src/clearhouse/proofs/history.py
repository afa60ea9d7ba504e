"""Read a journal up to a height: the engine state after block ``h``, every root checked on the way.

Read-only on the store. Shared by ``clearhouse prove`` and ``clearhouse dispute``.
"""

from __future__ import annotations

import msgspec

from clearhouse.engine.engine import Engine
from clearhouse.journal.rows import GENESIS_HASH, row_hash
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import decode_block
from clearhouse.ledger.errors import ClearhouseError, JournalError


def engine_at(store: JournalStore, height: int | None = None) -> Engine:
    """Replay rows 1..``height`` (all when None) through a fresh engine, checking chain and roots."""
    engine = Engine()
    prev = GENESIS_HASH
    for row in store.rows():
        if height is not None and row.height > height:
            break
        if row.height != engine.state.height + 1 or row.prev_hash != prev:
            raise JournalError(f"journal chain is broken at block {row.height}")
        if row_hash(row.height, row.block, row.events, row.state_root, row.prev_hash) != row.row_hash:
            raise JournalError(f"journal row {row.height} is edited")
        try:
            result = engine.apply_block(decode_block(row.block))
        except (msgspec.DecodeError, ClearhouseError) as err:
            raise JournalError(f"block {row.height} does not replay: {err}") from None
        if result.state_root != row.state_root:
            raise JournalError(
                f"block {row.height}: replayed root {result.state_root} != journalled {row.state_root}"
            )
        prev = row.row_hash
    if height is not None and engine.state.height != height:
        raise JournalError(f"the journal ends at block {engine.state.height}, before block {height}")
    return engine


__all__ = ["engine_at"]
