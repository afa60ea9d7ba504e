from __future__ import annotations

import pytest

from clearhouse.demo.session import session_blocks
from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.engine import Engine


@pytest.fixture(scope="module")
def demo_journal() -> JournalStore:
    """The scripted demo session, journalled in memory."""
    store = MemoryJournalStore()
    engine = Engine(journal=store)
    for block in session_blocks():
        engine.apply_block(block)
    return store


@pytest.fixture(scope="module")
def signed_journal() -> JournalStore:
    """The signed demo session (every transaction a signed envelope, fills as MatchedFill), journalled."""
    from clearhouse.demo.signed_session import signed_session_blocks

    store = MemoryJournalStore()
    engine = Engine(journal=store)
    for block in signed_session_blocks():
        engine.apply_block(block)
    return store
