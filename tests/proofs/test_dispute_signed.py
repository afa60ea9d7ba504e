"""Disputes on a signed ledger: the step proof carries the auth state, authenticated by the auth root
that the state root appends, and re-executes signed envelopes (nonces, registry, fill book)."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import decode_block
from clearhouse.proofs.dispute import check_step, decode_step, encode_step, make_step
from clearhouse.proofs.tlog import ProofInvalid
from .test_dispute import _copy

replace = msgspec.structs.replace


def test_altered_signed_event_found_at_its_block_and_transaction(signed_journal: JournalStore) -> None:
    row = signed_journal.get(3)
    assert row is not None
    block = decode_block(row.block)
    assert block.signed and not block.txs  # every transaction is a signed envelope
    events = msgspec.json.decode(row.events)
    # the second MatchedFill's trade (a signed envelope: its index counts the bare transactions first)
    traded = [i for i, e in enumerate(events) if e["type"] == "Traded"][1]
    tx = next(e["tx_index"] for e in reversed(events[:traded]) if e["type"] == "TransactionAdmitted")
    assert tx == 1
    altered = msgspec.json.decode(row.events)
    altered[traded]["size"] += 1
    liar = _copy(signed_journal, {3: {"events": msgspec.json.encode(altered), "state_root": "ab" * 32}})
    div, proof = make_step(signed_journal, liar, ("honest", "liar"))
    assert div.kind == "execution" and div.height == 3 and div.first_tx == tx
    assert proof.tx_count == len(block.txs) + len(block.signed)
    assert proof.auth is not None
    verdict = check_step(decode_step(encode_step(proof)))
    assert verdict.matches == {"honest": True, "liar": False}


@pytest.mark.parametrize("height", [1, 2, 3, 6, 9])
def test_forged_root_on_signed_ledger_recomputed(signed_journal: JournalStore, height: int) -> None:
    liar = _copy(signed_journal, {height: {"state_root": "cd" * 32}})
    div, proof = make_step(liar, signed_journal, ("liar", "honest"))
    assert div.height == height and proof.tx_index == proof.tx_count - 1
    verdict = check_step(decode_step(encode_step(proof)))
    assert verdict.block_root == signed_journal.get(height).state_root  # type: ignore[union-attr]
    assert verdict.matches == {"liar": False, "honest": True}
