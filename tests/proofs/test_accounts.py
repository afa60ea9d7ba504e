"""Account proofs against the engine's own state roots (unchanged), and non-inclusion via the directory."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.auth.keys import KeyPair
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.model import Account, LedgerState
from clearhouse.ledger.state_root import full_state_root
from clearhouse.proofs.accounts import (
    AccountTree,
    capacity_of,
    check_account_proof,
    decode_proof,
    encode_proof,
    prove_account,
)
from clearhouse.proofs.history import engine_at
from clearhouse.proofs.tlog import ProofInvalid

NODE = KeyPair.from_seed(b"\x07" * 32)


def test_every_account_at_every_height_proves_against_the_engine_root(demo_journal: JournalStore) -> None:
    for height in range(1, len(demo_journal) + 1):
        engine = engine_at(demo_journal, height)
        root = engine.state_root()
        assert root == demo_journal.get(height).state_root  # type: ignore[union-attr]
        tree = AccountTree.of_state(engine.state)
        for account_id in engine.state.accounts:
            proof = decode_proof(encode_proof(prove_account(engine.state, account_id, tree=tree)))
            assert proof.kind == "inclusion"
            assert check_account_proof(proof, root).startswith("valid")
        absent = prove_account(engine.state, "mallory", tree=tree, key=NODE)
        assert check_account_proof(absent, root, key=NODE.public_hex).startswith(
            "valid: account mallory is absent"
        )


def _state(n: int) -> LedgerState:
    state = LedgerState()
    for i in range(n):
        aid = f"acct-{(i * 7919) % 1000:04d}-{i}"
        state.accounts[aid] = Account(aid, "00" * 32, i, {"USDC": i * 10**18})
    return state


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 70), st.data())
def test_proofs_for_random_sizes_and_any_altered_byte_fails(n: int, data: st.DataObject) -> None:
    state = _state(n)
    root = full_state_root(state)
    tree = AccountTree.of_state(state)
    # a missing id sorted anywhere: before all, between two, after all
    absent = data.draw(st.sampled_from(["", "a", "acct-0500-", "zzz", "acct-0000-0x"]))
    if absent:
        proof = prove_account(state, absent, tree=tree, key=NODE)
        check_account_proof(proof, root)
        _all_flips_fail(proof, root, state)
    if n:
        aid = data.draw(st.sampled_from(sorted(state.accounts)))
        proof = prove_account(state, aid, tree=tree)
        assert len(proof.siblings or []) == capacity_of(n).bit_length() - 1  # log2 of the capacity
        check_account_proof(proof, root)
        _all_flips_fail(proof, root, state)
        # an account that exists cannot get a valid non-inclusion proof from an honest directory
        with pytest.raises(ProofInvalid):
            check_account_proof(prove_account(state, aid + "\x00", tree=tree, key=NODE), "00" * 32)


def _all_flips_fail(proof: object, root: str, state: LedgerState) -> None:
    """Flip hex digits / characters of the JSON document: each result is refused or unparseable, except
    a non-inclusion proof whose account id was changed into another absent id (a true statement)."""
    raw = encode_proof(proof)  # type: ignore[arg-type]
    text = raw.decode()
    step = max(1, len(text) // 60)
    for i in range(0, len(text), step):
        ch = text[i]
        repl = {"0": "1", "1": "0", "a": "b", "f": "e", "9": "8"}.get(ch)
        if repl is None:
            continue
        altered = (text[:i] + repl + text[i + 1 :]).encode()
        try:
            doc = decode_proof(altered)
        except ProofInvalid:
            continue
        if doc == decode_proof(raw):
            continue
        try:
            check_account_proof(doc, root)
        except (ProofInvalid, msgspec.ValidationError):
            continue
        original = decode_proof(raw)
        assert doc.kind == original.kind == "non-inclusion"
        assert doc.account_id != original.account_id and doc.account_id not in state.accounts
        assert msgspec.structs.replace(doc, account_id=original.account_id) == original


def test_wrong_root_and_forged_directory_refused(demo_journal: JournalStore) -> None:
    engine = engine_at(demo_journal)
    state = engine.state
    root = engine.state_root()
    aid = next(iter(state.accounts))
    with pytest.raises(ProofInvalid):
        check_account_proof(prove_account(state, aid), "11" * 32)
    absent = prove_account(state, "zed", key=NODE)
    with pytest.raises(ProofInvalid):
        check_account_proof(absent, root, key=KeyPair.from_seed(b"\x08" * 32).public_hex)
    # a directory head re-signed by another key for a made-up directory is refused under the pinned key
    assert absent.directory is not None
    forged = msgspec.structs.replace(
        absent, directory=msgspec.structs.replace(absent.directory, signature="00" * 64)
    )
    with pytest.raises(ProofInvalid):
        check_account_proof(forged, root)
