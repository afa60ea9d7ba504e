"""Hostile documents: any single-character change of a proof is refused with ProofInvalid (or, when
it is a different true statement, accepted), never a crash. What ``check-*`` turns into exit 1."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearhouse.auth.keys import KeyPair
from clearhouse.journal.store import JournalStore
from clearhouse.proofs.accounts import check_account_proof, decode_proof, encode_proof, prove_account
from clearhouse.proofs.dispute import check_step, decode_step, encode_step, make_step
from clearhouse.proofs.history import engine_at
from clearhouse.proofs.tlog import InclusionProof, LogView, ProofInvalid, check_inclusion, decode, encode

from .test_dispute import _copy

NODE = KeyPair.from_seed(b"\x07" * 32)
CHARS = st.sampled_from([*'0123456789abcdef-"{}[],:nulltrue ', "\\", "\u00e9", "9" * 30])


@pytest.fixture(scope="module")
def documents(demo_journal: JournalStore) -> dict[str, tuple[bytes, Callable[[bytes], object]]]:
    engine = engine_at(demo_journal)
    root = engine.state_root()
    view = LogView.of_store(demo_journal)
    head = view.tree_head()
    _, step = make_step(demo_journal, _copy(demo_journal, {6: {"state_root": "ab" * 32}}))
    return {
        "inclusion": (
            encode_proof(prove_account(engine.state, "bob")),
            lambda b: check_account_proof(decode_proof(b), root),
        ),
        "absence": (
            encode_proof(prove_account(engine.state, "zoe", key=NODE)),
            lambda b: check_account_proof(decode_proof(b), root),
        ),
        "tlog": (
            encode(view.inclusion(4)),
            lambda b: check_inclusion(decode(b, InclusionProof), head.root_hash),
        ),
        "step": (encode_step(step), lambda b: check_step(decode_step(b))),
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["inclusion", "absence", "tlog", "step"]), st.integers(0, 10**6), CHARS)
def test_mutations_are_refused_never_crash(
    documents: dict[str, tuple[bytes, Callable[[bytes], object]]], kind: str, at: int, ch: str
) -> None:
    raw, check = documents[kind]
    text = raw.decode()
    i = at % len(text)
    mutated = (text[:i] + ch + text[i + 1 :]).encode()
    try:
        check(mutated)
    except ProofInvalid:
        return
