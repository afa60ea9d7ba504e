"""Independent replay: rebuild the ledger from a journal and check every row against the engine.

``verify_journal`` streams the rows from genesis, checks the hash chain, re-applies each block through
a fresh :class:`~clearhouse.ledger.engine.Engine`, and compares the recomputed events and state root
with what was journalled. The first row that disagrees is named. ``resume`` rebuilds an engine from a
journal and attaches it, so a node or a simulation can continue appending after a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from clearhouse.core.errors import ClearhouseError, JournalError
from clearhouse.journal.rows import GENESIS_HASH, row_hash
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import decode_block
from clearhouse.ledger.engine import Engine


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``blocks`` rows verified; on failure they are the rows before ``bad_height`` (always
    ``bad_height - 1``), so every failure reads "FAILED at block N, N - 1 verified before it"."""

    ok: bool
    blocks: int
    final_root: str | None
    bad_height: int | None = None
    reason: str = ""


def verify_journal(
    store: JournalStore,
    progress: Callable[[int], None] | None = None,
    on_root: Callable[[int, str], None] | None = None,
) -> tuple[VerifyReport, Engine]:
    """Replay ``store`` from genesis; return the report and the engine in its replayed state.

    ``on_root(height, state_root)`` is called for every row that replayed correctly (an operator's
    anchor, ``verify --expect-root``, may name a root before the end)."""
    engine = Engine()
    prev_hash = GENESIS_HASH
    expected = 1
    root: str | None = None

    def bad(height: int, reason: str) -> tuple[VerifyReport, Engine]:
        return VerifyReport(False, expected - 1, root, height, reason), engine

    try:
        rows = store.rows()
        for row in rows:
            if row.height != expected:
                what = "missing" if row.height > expected else "out of order"
                return bad(expected, f"block {expected} is {what} (found block {row.height} next)")
            if row.prev_hash != prev_hash:
                return bad(row.height, "previous-hash link does not match the row before it")
            if row_hash(row.height, row.block, row.events, row.state_root, row.prev_hash) != row.row_hash:
                return bad(row.height, "row hash does not match its content (row edited)")
            try:
                block = decode_block(row.block)
            except msgspec.DecodeError as err:
                return bad(row.height, f"block does not decode: {err}")
            if block.height != row.height:
                return bad(row.height, f"row holds block {block.height}")
            try:
                result = engine.apply_block(block)
            except ClearhouseError as err:
                return bad(row.height, f"block is rejected by the engine: {err}")
            if result.events_bytes != row.events:
                return bad(row.height, "replayed events differ from the journalled events")
            if result.state_root != row.state_root:
                return bad(
                    row.height, f"state root {result.state_root} differs from journalled {row.state_root}"
                )
            root = result.state_root
            prev_hash = row.row_hash
            expected += 1
            if on_root is not None:
                on_root(row.height, root)
            if progress is not None:
                progress(row.height)
    except JournalError as err:
        return bad(expected, str(err))
    chain = store.verify_chain()
    if not chain.ok:
        # The head-record checks can distrust rows that replayed (a missing head record distrusts all).
        height = chain.bad_height or expected
        trusted = min(expected - 1, height - 1)
        kept = root if trusted == expected - 1 else None
        return VerifyReport(False, trusted, kept, height, f"{chain.fault}: {chain.detail}"), engine
    return VerifyReport(True, expected - 1, root), engine


def resume(store: JournalStore) -> Engine:
    """Rebuild the engine from ``store`` (verifying it) and attach the store for further blocks."""
    report, engine = verify_journal(store)
    if not report.ok:
        raise JournalError(f"journal fails verification at block {report.bad_height}: {report.reason}")
    head = store.head()
    engine.attach_journal(store, head.row_hash if head is not None else GENESIS_HASH)
    return engine
