"""Disputes on a signed ledger: the step proof carries the auth state, authenticated by the auth root
that the state root appends, and re-executes signed envelopes (nonces, registry, fill book)."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import decode_block
from clearhouse.proofs.dispute import StepProof, check_step, decode_step, encode_step, make_step
from clearhouse.proofs.tlog import ProofInvalid

from .test_dispute import _copy, accepted_alterations

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


def _step(signed_journal: JournalStore, height: int = 3) -> StepProof:
    liar = _copy(signed_journal, {height: {"state_root": "ef" * 32}})
    return make_step(signed_journal, liar, ("honest", "liar"))[1]


def test_altered_auth_state_is_refused(signed_journal: JournalStore) -> None:
    proof = _step(signed_journal, 6)
    assert proof.auth is not None
    check_step(proof)
    auth = proof.auth
    state = msgspec.json.decode(auth.state)
    signer = next(iter(state["nonces"]["windows"]))
    fewer = {**state, "nonces": {"windows": {**state["nonces"]["windows"], signer: []}}}
    no_fills = {**state, "fills": {"orders": {}}}
    cases = [
        replace(proof, auth=None),  # the auth root left out
        replace(proof, auth=replace(auth, chain_id=auth.chain_id + "x")),
        replace(proof, auth=replace(auth, require_signatures=not auth.require_signatures)),
        replace(proof, auth=replace(auth, rules=replace(auth.rules, capacity=auth.rules.capacity + 1))),
        # a nonce window emptied; the fill book emptied
        replace(proof, auth=replace(auth, state=msgspec.json.encode(fewer).decode())),
        replace(proof, auth=replace(auth, state=msgspec.json.encode(no_fills).decode())),
        replace(proof, auth=replace(auth, state=auth.state + " ")),  # not canonical
        replace(proof, auth=replace(auth, state="{")),
    ]
    assert state["fills"]["orders"]  # block 6 follows MatchedFills: the fill book is in use
    for bad in cases:
        with pytest.raises(ProofInvalid):
            check_step(bad)


def test_altered_digits_of_the_auth_witness_are_refused(signed_journal: JournalStore) -> None:
    """Every 3rd hex/decimal digit of the auth part (nonce windows, registry keys, fill book), changed
    one at a time: refused (the rest of the witness is scanned by ``test_dispute``)."""
    raw = encode_step(_step(signed_journal, 6)).decode()
    start = raw.index('"auth":')
    assert raw.endswith("}}") and "nonces" in raw[start:] and "fills" in raw[start:]
    assert sum(ch in "0123456789abcdef" for ch in raw[start::3]) > 100
    assert accepted_alterations(raw, start, len(raw), 3) == []


def test_unsigned_proof_encoding_has_no_auth_field(demo_journal: JournalStore) -> None:
    liar = _copy(demo_journal, {6: {"state_root": "ef" * 32}})
    _, proof = make_step(demo_journal, liar)
    assert proof.auth is None and b'"auth"' not in encode_step(proof)
