"""Signed blocks through the journal: they replay and verify; an altered envelope byte fails verify at
its block (the replayed admission refuses what was applied)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clearhouse.auth.commands import AuthorizeKey
from clearhouse.auth.envelope import SignedEnvelope
from clearhouse.journal import open_store
from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.journal.replay import verify_journal
from clearhouse.journal.rows import JournalRow, make_row
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.admission import tx_outcomes
from clearhouse.ledger.errors import JournalError
from clearhouse.ledger.fixedpoint import WAD

from .engine_world import ALICE, MALLORY, World


def write(path: Path) -> World:
    with open_store(str(path)) as store:
        w = World(journal=store)
        w.apply(w.tx(ALICE, c.Withdraw("alice", "USDC", 100 * WAD)))
        w.apply(w.tx(MALLORY, c.Withdraw("alice", "USDC", 100 * WAD)))
        w.apply(w.tx(ALICE, c.Withdraw("alice", "USDC", 1 * WAD)))
        w.engine.journal = None
        return w


def test_a_signed_journal_verifies_to_the_same_root(tmp_path: Path) -> None:
    w = write(tmp_path / "j.sqlite")
    with open_store(str(tmp_path / "j.sqlite"), verify=False, read_only=True) as store:
        report, engine = verify_journal(store)
    assert report.ok and report.blocks == 5
    assert report.final_root == w.engine.state_root() == engine.state_root()
    assert engine.state.auth == w.engine.state.auth
    assert engine.state.accounts["alice"].balances["USDC"] == 9_899 * WAD


def test_outcomes_name_each_transaction_with_its_hash(tmp_path: Path) -> None:
    w = World()
    good = w.tx(ALICE, c.Withdraw("alice", "USDC", 5 * WAD))
    bad = w.tx(MALLORY, c.Withdraw("alice", "USDC", 5 * WAD))
    poor = w.tx(ALICE, c.Withdraw("alice", "USDC", 10**9 * WAD))
    result = w.apply(good, bad, poor)
    out = tx_outcomes(w.blocks[-1], result.events)
    assert [o.status for o in out] == ["applied", "refused", "failed"]
    assert [o.code for o in out] == [None, "unauthorized", "insufficient_balance"]
    admitted = [e for e in result.events if isinstance(e, ev.TransactionAdmitted)]
    assert [e.tx_index for e in admitted] == [0, 2]
    assert out[0].tx_hash == admitted[0].tx_hash and out[2].tx_hash == admitted[1].tx_hash
    assert out[1].tx_hash is not None and len(out[1].tx_hash) == 64


def _alter(path: Path, height: int, old: bytes, new: bytes, rechain: bool) -> None:
    """Replace one byte string in block ``height``'s journalled bytes, directly in SQLite (as an attacker
    would); with ``rechain`` recompute every row hash after it so that only the replay can notice."""
    with open_store(str(path), verify=False) as store:
        rows = list(store.rows())
    row = rows[height - 1]
    assert row.block.count(old) == 1
    block = row.block.replace(old, new)
    con = sqlite3.connect(path)
    with con:
        if not rechain:
            con.execute("UPDATE journal_rows SET block=? WHERE height=?", (block, height))
        else:
            rows[height - 1] = make_row(height, block, row.events, row.state_root, row.prev_hash)
            for i in range(height, len(rows)):
                r = rows[i]
                rows[i] = make_row(r.height, r.block, r.events, r.state_root, rows[i - 1].row_hash)
            for r in rows[height - 1 :]:
                con.execute(
                    "UPDATE journal_rows SET block=?, prev_hash=?, row_hash=? WHERE height=?",
                    (r.block, r.prev_hash, r.row_hash, r.height),
                )
            con.execute("UPDATE journal_head SET row_hash=?", (rows[-1].row_hash,))
    con.close()


@pytest.mark.parametrize("rechain", [True, False])
def test_an_altered_signature_byte_fails_verify_at_that_block(tmp_path: Path, rechain: bool) -> None:
    path = tmp_path / "j.sqlite"
    w = write(path)
    text = bytes(w.blocks[2].signed[0])  # block 3: alice's signed withdrawal
    i = text.index(b'"signature":"') + len(b'"signature":"') + 10
    flipped = text[:i] + (b"0" if text[i : i + 1] != b"0" else b"1") + text[i + 1 :]
    _alter(path, 3, text, flipped, rechain)
    with open_store(str(path), verify=False, read_only=True) as store:
        if rechain:
            assert store.verify_chain().ok  # the hash chain alone cannot see it...
        report, _ = verify_journal(store)
    assert not report.ok and report.bad_height == 3 and report.blocks == 2
    # ...the replay can: the altered envelope is refused (bad_signature), so the events differ
    assert ("events differ" if rechain else "edited") in report.reason


class FailingJournal(MemoryJournalStore):
    fail = False

    def append(self, row: JournalRow) -> None:
        if self.fail:
            raise JournalError("disk full")
        super().append(row)


def test_a_signed_block_whose_journal_write_fails_is_rolled_back_completely() -> None:
    store = FailingJournal()
    w, twin = World(journal=store), World()

    def envelopes(x: World) -> list[SignedEnvelope]:
        sub = AuthorizeKey("alice", "07" * 32)
        return [x.tx(ALICE, c.Withdraw("alice", "USDC", 100 * WAD)), x.tx(ALICE, sub)]

    envs, twin_envs = envelopes(w), envelopes(twin)
    assert envs == twin_envs
    before_root, before_auth = w.engine.state_root(), w.engine.state.auth
    store.fail = True
    with pytest.raises(JournalError):
        w.apply(*envs)
    assert w.engine.state_root() == before_root and w.engine.state.auth is before_auth
    store.fail = False  # the same block again: as if the failed attempt never happened
    assert w.apply(*envs).state_root == twin.apply(*twin_envs).state_root
