"""Admission of signed transactions: the security cases of issue 11, each refused with its typed error
and nothing changed; an admitted transaction uses its nonce."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.auth.authorization import AuthorizeKey, registry
from clearhouse.auth.envelope import SignedEnvelope
from clearhouse.auth.errors import (
    BadSignature,
    Expired,
    NonceOutOfWindow,
    NonceReused,
    Unauthorized,
    WrongChain,
)
from clearhouse.auth.nonces import DAY_MS
from clearhouse.auth.state import AuthState, admit_transaction
from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import ClearhouseError, InvalidValue

from .helpers import ADMIN, ALICE, BOB, CHAIN, HEIGHT, MALLORY, NOW_MS, key, signed

A, B, M = ALICE.public_hex, BOB.public_hex, MALLORY.public_hex
STATE = AuthState(
    registry=registry([ADMIN.public_hex])
    .apply(A, c.OpenAccount("alice", A))
    .apply(B, c.OpenAccount("bob", B))
    .apply(M, c.OpenAccount("mallory", M))
)
WITHDRAW = c.Withdraw("alice", "USD", 10**18)


def admit(state: AuthState, s: SignedEnvelope, **kw: int) -> tuple[AuthState, bytes]:
    return admit_transaction(
        state, s, chain_id=CHAIN, height=kw.get("height", HEIGHT), now_ms=kw.get("now_ms", NOW_MS)
    )


def test_an_admitted_transaction_uses_its_nonce_and_a_replay_is_refused() -> None:
    s = signed(ALICE, WITHDRAW)
    after, tx_hash = admit(STATE, s)
    assert after.nonces.window(A) == (NOW_MS,) and after.root() != STATE.root()
    assert len(tx_hash) == 32
    with pytest.raises(NonceReused):
        admit(after, s, height=HEIGHT + 1, now_ms=NOW_MS + 500)


def _tampered() -> SignedEnvelope:
    s = signed(ALICE, WITHDRAW)
    sig = bytearray(bytes.fromhex(s.signature))
    sig[63] ^= 0x01
    return SignedEnvelope(s.envelope, sig.hex())


CASES: list[tuple[str, object, type[ClearhouseError]]] = [
    ("tampered signature", _tampered, BadSignature),
    ("another key withdrawing from alice", lambda: signed(MALLORY, WITHDRAW), Unauthorized),
    ("wrong chain id", lambda: signed(ALICE, WITHDRAW, chain_id="mainnet"), WrongChain),
    ("expired (good til block passed)", lambda: signed(ALICE, WITHDRAW, good_til_block=HEIGHT - 1), Expired),
    (
        "expired (good til time passed)",
        lambda: signed(ALICE, WITHDRAW, good_til_block=None, good_til_time=NOW_MS - 1),
        Expired,
    ),
    (
        "nonce a day and more in the past",
        lambda: signed(ALICE, WITHDRAW, nonce=NOW_MS - DAY_MS - 1),
        NonceOutOfWindow,
    ),
    (
        "nonce from a clock far ahead",
        lambda: signed(ALICE, WITHDRAW, nonce=NOW_MS + DAY_MS + 1),
        NonceOutOfWindow,
    ),
    ("a bare trade", lambda: signed(ALICE, c.Trade("ETH-PERP", "alice", "bob", 1, 1)), Unauthorized),
    ("a non-admin listing an asset", lambda: signed(ALICE, c.ConfirmOracle("ETH")), Unauthorized),
    ("a stranger adding its key to alice", lambda: signed(MALLORY, AuthorizeKey("alice", M)), Unauthorized),
    (
        "a keeper paying itself into bob's account",
        lambda: signed(MALLORY, c.Liquidate("alice", "bob")),
        Unauthorized,
    ),
    (
        "a huge amount",
        lambda: msgspec.structs.replace(
            signed(ALICE, WITHDRAW),
            envelope=msgspec.structs.replace(
                signed(ALICE, WITHDRAW).envelope, command=c.Withdraw("alice", "USD", 2**256)
            ),
        ),
        InvalidValue,
    ),
]


@pytest.mark.parametrize(("name", "make", "error"), CASES, ids=[x[0] for x in CASES])
def test_each_refusal_is_typed_and_changes_nothing(
    name: str, make: object, error: type[ClearhouseError]
) -> None:
    used, _ = admit(STATE, signed(ALICE, WITHDRAW, nonce=NOW_MS - 5))  # some history first
    before = used.root()
    with pytest.raises(error):
        admit(used, make())  # type: ignore[operator]
    assert used.root() == before


def test_a_reused_nonce_across_different_commands_is_refused() -> None:
    after, _ = admit(STATE, signed(ALICE, WITHDRAW))
    with pytest.raises(NonceReused):
        admit(after, signed(ALICE, c.Withdraw("alice", "USD", 2 * 10**18)))  # new command, same nonce


def test_an_unauthorized_transaction_does_not_use_the_nonce() -> None:
    # A refusal changes nothing: the same nonce is still available for a correct transaction.
    with pytest.raises(Unauthorized):
        admit(STATE, signed(MALLORY, WITHDRAW))
    after, _ = admit(STATE, signed(MALLORY, c.Withdraw("mallory", "USD", 1)))
    assert after.nonces.window(M) == (NOW_MS,)


def test_a_sub_key_is_admitted_for_its_owners_account() -> None:
    sub = key(20)
    state = AuthState(registry=STATE.registry.apply(A, AuthorizeKey("alice", sub.public_hex)))
    after, _ = admit(state, signed(sub, WITHDRAW))
    assert after.nonces.window(sub.public_hex) == (NOW_MS,)  # nonces are per signing key
