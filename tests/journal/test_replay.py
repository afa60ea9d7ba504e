"""Replay verification: an untouched journal verifies; any tampering is named at its first bad block."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from clearhouse.demo.session import session_blocks
from clearhouse.journal import open_store
from clearhouse.journal.replay import resume, verify_journal
from clearhouse.journal.rows import make_row
from clearhouse.ledger.block import Block, decode_block, encode_block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import JournalError


def write_demo(location: str) -> str:
    with open_store(location) as store:
        engine = Engine(journal=store)
        for block in session_blocks():
            engine.apply_block(block)
        return engine.state_root()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite"
    write_demo(str(path))
    return path


def test_untouched_journal_verifies_to_the_same_root(journal: Path) -> None:
    expected = Engine()
    for block in session_blocks():
        expected.apply_block(block)
    with open_store(str(journal)) as store:
        report, engine = verify_journal(store)
    assert report.ok and report.blocks == 9
    assert report.final_root == expected.state_root() == engine.state_root()


def rewrite(path: Path, height: int, mutate, rechain: bool) -> None:  # type: ignore[no-untyped-def]
    """Change one block's content; with ``rechain`` recompute every row hash after it so that only the
    replay (not the hash chain) can notice."""
    with open_store(str(path), verify=False) as store:
        rows = list(store.rows())
    block = decode_block(rows[height - 1].block)
    rows[height - 1] = make_row(
        height,
        encode_block(mutate(block)),
        rows[height - 1].events,
        rows[height - 1].state_root,
        rows[height - 1].prev_hash,
    )
    if rechain:
        for i in range(height, len(rows)):
            r = rows[i]
            rows[i] = make_row(r.height, r.block, r.events, r.state_root, rows[i - 1].row_hash)
    con = sqlite3.connect(path)
    with con:
        for r in rows[height - 1 :]:
            con.execute(
                "UPDATE journal_rows SET block=?, events=?, state_root=?, prev_hash=?, row_hash=? "
                "WHERE height=?",
                (r.block, r.events, r.state_root, r.prev_hash, r.row_hash, r.height),
            )
        if rechain:
            con.execute("UPDATE journal_head SET row_hash=?", (rows[-1].row_hash,))
    con.close()


def cheaper_trade(block: Block) -> Block:
    txs = list(block.txs)
    txs[0] = msgspec.structs.replace(txs[0], price=txs[0].price - 1)  # type: ignore[call-arg]
    return msgspec.structs.replace(block, txs=tuple(txs))


def test_edited_and_rechained_block_is_caught_by_replay(journal: Path) -> None:
    rewrite(journal, 3, cheaper_trade, rechain=True)
    with open_store(str(journal), verify=False) as store:
        assert store.verify_chain().ok  # the chain alone cannot see it...
        report, _ = verify_journal(store)
    assert not report.ok and report.bad_height == 3  # ...the replay can
    assert "differ" in report.reason


def test_edited_row_bytes_are_named(journal: Path) -> None:
    con = sqlite3.connect(journal)
    with con:
        con.execute(
            "UPDATE journal_rows SET block=CAST(replace(block, '1890', '1891') AS BLOB) WHERE height=6"
        )
    con.close()
    with open_store(str(journal), verify=False) as store:
        report, _ = verify_journal(store)
    assert not report.ok and report.bad_height == 6 and "edited" in report.reason


def test_rehashed_row_without_rechaining_is_named(journal: Path) -> None:
    rewrite(journal, 5, lambda b: msgspec.structs.replace(b, prices={"ETH": 1}), rechain=False)
    with open_store(str(journal), verify=False) as store:
        report, _ = verify_journal(store)
    assert not report.ok and report.bad_height == 5


@pytest.mark.parametrize("height", [4, 9])
def test_deleted_row_is_named(journal: Path, height: int) -> None:
    con = sqlite3.connect(journal)
    with con:
        con.execute("DELETE FROM journal_rows WHERE height=?", (height,))
    con.close()
    with open_store(str(journal), verify=False) as store:
        report, _ = verify_journal(store)
    assert not report.ok and report.bad_height == height


def test_resume_continues_the_chain(journal: Path) -> None:
    with open_store(str(journal)) as store:
        engine = resume(store)
        engine.apply_block(Block(10, engine.state.time + 60, {"ETH": 1800 * 10**18}))
        assert len(store) == 10
        report, _ = verify_journal(store)
    assert report.ok and report.final_root == engine.state_root()


def test_engine_refuses_a_journal_that_already_has_blocks(journal: Path) -> None:
    with open_store(str(journal)) as store, pytest.raises(Exception, match="resume"):
        Engine(journal=store)


def test_failed_journal_write_rolls_the_block_back(tmp_path: Path) -> None:
    class Failing:
        def __init__(self) -> None:
            self.inner = open_store("memory:")

        def head(self):  # type: ignore[no-untyped-def]
            return self.inner.head()

        def append_block(self, height: int, block: bytes, events: bytes, root: str, prev: str) -> str:
            if height == 3:
                raise JournalError("disk full")
            return self.inner.append_block(height, block, events, root, prev)

    engine = Engine(journal=Failing())
    blocks = list(session_blocks())
    engine.apply_block(blocks[0])
    engine.apply_block(blocks[1])
    root = engine.state_root()
    with pytest.raises(JournalError):
        engine.apply_block(blocks[2])
    assert engine.state.height == 2 and engine.state_root() == root
    engine.journal = None
    engine.apply_block(blocks[2])  # the same block applies cleanly afterwards
    reference = Engine()
    for block in blocks[:3]:
        reference.apply_block(block)
    assert engine.state_root() == reference.state_root()
