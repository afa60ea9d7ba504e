"""The journal's transparency log: every block's inclusion, every pair's consistency, signed heads, and
that any altered character of a proof document is refused."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.auth.keys import KeyPair
from clearhouse.journal.store import JournalStore
from clearhouse.proofs.tlog import (
    ConsistencyProof,
    InclusionProof,
    LogView,
    ProofInvalid,
    check_consistency,
    check_inclusion,
    check_tree_head,
    decode,
    encode,
    sign_tree_head,
)

NODE = KeyPair.from_seed(b"\x03" * 32)


def test_every_block_and_every_pair(demo_journal: JournalStore) -> None:
    view = LogView.of_store(demo_journal)
    n = len(view)
    assert n == len(demo_journal)
    for size in range(1, n + 1):
        head = check_tree_head(sign_tree_head(view.tree_head(size), NODE), NODE.public_hex)
        assert head.state_root == demo_journal.get(size).state_root  # type: ignore[union-attr]
        for h in range(1, size + 1):
            proof = decode(encode(view.inclusion(h, size)), InclusionProof)
            assert check_inclusion(proof, head.root_hash) == demo_journal.get(h).state_root  # type: ignore[union-attr]
        for first in range(1, size + 1):
            check_consistency(view.consistency(first, size), view.tree_head(first), head)


def test_signed_head_is_bound_to_its_key_and_fields(demo_journal: JournalStore) -> None:
    view = LogView.of_store(demo_journal)
    sth = sign_tree_head(view.tree_head(), NODE)
    with pytest.raises(ProofInvalid):
        check_tree_head(sth, KeyPair.from_seed(b"\x04" * 32).public_hex)
    for field in ("root_hash", "state_root", "row_hash"):
        forged = msgspec.structs.replace(sth, head=msgspec.structs.replace(sth.head, **{field: "00" * 32}))
        with pytest.raises(ProofInvalid):
            check_tree_head(forged)
    with pytest.raises(ProofInvalid):
        check_tree_head(msgspec.structs.replace(sth, head=msgspec.structs.replace(sth.head, tree_size=3)))


def _variants(raw: bytes) -> list[bytes]:
    """Every hex digit of the document changed (one at a time), and every decimal digit."""
    out = []
    text = raw.decode()
    for i, ch in enumerate(text):
        if ch in "0123456789abcdef":
            out.append((text[:i] + ("1" if ch == "0" else "0") + text[i + 1 :]).encode())
    return out


def test_any_altered_character_of_a_proof_fails(demo_journal: JournalStore) -> None:
    view = LogView.of_store(demo_journal)
    inclusion = encode(view.inclusion(3))
    consistency = encode(view.consistency(3))
    head, old = view.tree_head(), view.tree_head(3)
    for bad in _variants(inclusion):
        with pytest.raises(ProofInvalid):
            check_inclusion(decode(bad, InclusionProof), head.root_hash)
    for bad in _variants(consistency):
        with pytest.raises(ProofInvalid):
            check_consistency(decode(bad, ConsistencyProof), old, head)
