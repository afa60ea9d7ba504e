"""Disputes: a tampered journal is found at the right block and transaction, and the one-step proof
re-executes alone (its witness authenticated against the agreed pre-state root)."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.journal.rows import GENESIS_HASH, make_row
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import decode_block, encode_block
from clearhouse.proofs.dispute import (
    DisputeError,
    check_step,
    decode_step,
    encode_step,
    first_divergence,
    make_step,
)
from clearhouse.proofs.tlog import ProofInvalid

replace = msgspec.structs.replace


def _copy(store: JournalStore, edit: dict[int, dict[str, object]]) -> MemoryJournalStore:
    """A copy of ``store`` with some rows' fields replaced and the chain rebuilt (a consistent liar)."""
    out = MemoryJournalStore()
    prev = GENESIS_HASH
    for row in store.rows():
        fields = {"block": row.block, "events": row.events, "state_root": row.state_root}
        fields.update(edit.get(row.height, {}))  # type: ignore[arg-type]
        new = make_row(row.height, fields["block"], fields["events"], fields["state_root"], prev)  # type: ignore[arg-type]
        out.append(new)
        prev = new.row_hash
    return out


def _alter_event(events: bytes, index: int) -> bytes:
    """Change the first integer field of event ``index`` by one."""
    items = msgspec.json.decode(events)
    ev = items[index]
    key = next(k for k, v in ev.items() if isinstance(v, int) and not isinstance(v, bool))
    ev[key] += 1
    return msgspec.json.encode(items)


def test_identical_journals_have_no_dispute(demo_journal: JournalStore) -> None:
    assert first_divergence(demo_journal, _copy(demo_journal, {})).kind == "none"
    with pytest.raises(DisputeError):
        make_step(demo_journal, _copy(demo_journal, {}))


def test_altered_event_found_at_its_block_and_transaction(demo_journal: JournalStore) -> None:
    row = demo_journal.get(3)
    assert row is not None
    events = msgspec.json.decode(row.events)
    # the block's 4 transactions: find an event of the third (the first Withdraw)
    withdraw = next(i for i, e in enumerate(events) if "Withdraw" in e.get("type", ""))
    liar = _copy(demo_journal, {3: {"events": _alter_event(row.events, withdraw), "state_root": "ab" * 32}})
    div, proof = make_step(demo_journal, liar, ("honest", "liar"))
    assert div.kind == "execution" and div.height == 3 and div.first_tx == 2
    verdict = check_step(decode_step(encode_step(proof)))
    assert verdict.matches == {"honest": True, "liar": False}
    assert verdict.block_root is None  # not the last transaction: the events decide
    assert [a.id for a in proof.accounts]  # the accounts the prefix read, each with its path


@pytest.mark.parametrize("height", [1, 2, 6, 9])
def test_forged_root_found_at_the_last_transaction_and_root_recomputed(
    demo_journal: JournalStore, height: int
) -> None:
    liar = _copy(demo_journal, {height: {"state_root": "cd" * 32}})
    div, proof = make_step(liar, demo_journal, ("liar", "honest"))
    assert div.height == height
    assert proof.tx_index == proof.tx_count - 1
    verdict = check_step(proof)
    honest_root = demo_journal.get(height).state_root  # type: ignore[union-attr]
    assert verdict.block_root == honest_root  # recomputed from the witness alone (sparse Merkle update)
    assert verdict.matches == {"liar": False, "honest": True}
    if height == 1:
        # accounts opened in the block: shown absent (directory) and appended into a growing tree
        assert proof.count == 0 and {a.id for a in proof.absent} >= {"alice", "bob"}
        assert verdict.assumptions == []  # count 0 is proven by the root: nothing to assume


def test_input_divergence_is_not_an_execution_step(demo_journal: JournalStore) -> None:
    row = demo_journal.get(3)
    assert row is not None
    block = decode_block(row.block)
    other = replace(block, txs=block.txs[:2])
    liar = _copy(demo_journal, {3: {"block": encode_block(other)}})
    div = first_divergence(demo_journal, liar)
    assert div.kind == "input" and div.height == 3 and div.first_tx == 2
    with pytest.raises(DisputeError):
        make_step(demo_journal, liar)


def test_altered_step_proof_is_refused(demo_journal: JournalStore) -> None:
    liar = _copy(demo_journal, {3: {"state_root": "ef" * 32}})
    _, proof = make_step(demo_journal, liar)
    check_step(proof)
    acct = proof.accounts[0]
    # an account's balance raised in the witness
    bumped = acct.account.replace('"USDC",', '"USDC",1', 1)
    assert bumped != acct.account
    cases = [
        replace(proof, accounts=[replace(acct, account=bumped), *proof.accounts[1:]]),
        replace(proof, accounts=proof.accounts[1:]),  # a read account left out
        replace(proof, pre_state_root="00" * 32),
        replace(proof, globals=proof.globals.replace('"max_price_age":', '"max_price_age":1', 1)),
        replace(
            proof,
            accounts=[
                replace(acct, siblings=list(reversed(acct.siblings))),
                *proof.accounts[1:],
            ],
        ),
    ]
    for bad in cases:
        with pytest.raises(ProofInvalid):
            check_step(bad)


def test_altered_digits_of_the_witness_are_refused(demo_journal: JournalStore) -> None:
    """Every 5th hex/decimal digit from the block to the claims, changed one at a time: refused.

    (The claims are what is disputed; ``tx_index`` changed names another, equally checkable step.)"""
    liar = _copy(demo_journal, {6: {"state_root": "ef" * 32}})
    _, proof = make_step(demo_journal, liar)
    raw = encode_step(proof).decode()
    assert accepted_alterations(raw, raw.index('"block":'), raw.index('"claims":'), 5) == []


def accepted_alterations(raw: str, start: int, end: int, stride: int) -> list[str]:
    """Change every ``stride``-th hex/decimal digit of ``raw[start:end]``, one at a time; return the
    places (with context) where the altered step proof still checked."""
    accepted = []
    for i in range(start, end, stride):
        ch = raw[i]
        if ch not in "0123456789abcdef":
            continue
        altered = raw[:i] + ("1" if ch == "0" else "0") + raw[i + 1 :]
        try:
            check_step(decode_step(altered.encode()))
        except ProofInvalid:
            continue
        accepted.append(raw[max(0, i - 40) : i + 5])
    return accepted


def test_account_opened_mid_history_grows_the_tree_and_is_assumed_absent() -> None:
    from clearhouse.demo.session import owner_key, session_blocks
    from clearhouse.ledger import commands as c
    from clearhouse.ledger.block import Block
    from clearhouse.ledger.engine import Engine

    store = MemoryJournalStore()
    engine = Engine(journal=store)
    for block in session_blocks():
        engine.apply_block(block)
    # 4 accounts fill a tree of capacity 4: a fifth doubles it
    extra = Block(
        engine.state.height + 1, engine.state.time + 60, txs=(c.OpenAccount("dave", owner_key("dave")),)
    )
    engine.apply_block(extra)
    h = extra.height
    liar = _copy(store, {h: {"state_root": "12" * 32}})
    div, proof = make_step(store, liar, ("honest", "liar"))
    assert div.height == h and proof.count == 4 and proof.append_path is None  # full tree: no empty slot
    assert [a.id for a in proof.absent] == ["dave"]
    verdict = check_step(proof)
    assert verdict.block_root == store.get(h).state_root  # type: ignore[union-attr]
    assert verdict.matches == {"honest": True, "liar": False}
    assert verdict.assumptions and "dave" in verdict.assumptions[0]
    # claiming an existing account is absent: the directory neighbours give it away
    assert proof.absent[0].left is not None
    lie = replace(proof.absent[0], id=proof.absent[0].left.account_id)
    with pytest.raises(ProofInvalid):
        check_step(replace(proof, absent=[lie]))
    # a sixth account goes into the empty slot 5 of the capacity-8 tree (the append path is used)
    extra2 = Block(h + 1, extra.time + 60, txs=(c.OpenAccount("erin", owner_key("erin")),))
    engine.apply_block(extra2)
    liar2 = _copy(store, {h + 1: {"state_root": "34" * 32}})
    _, proof2 = make_step(liar2, store, ("liar", "honest"))
    assert proof2.count == 5 and proof2.append_path is not None and len(proof2.append_path) == 3
    verdict2 = check_step(proof2)
    assert verdict2.block_root == store.get(h + 1).state_root  # type: ignore[union-attr]
    assert verdict2.matches == {"liar": False, "honest": True}
