"""Deterministic keys and envelopes for the auth tests."""

from __future__ import annotations

from clearhouse.auth.envelope import SignedEnvelope, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.ledger.commands import AnyCommand, Withdraw

CHAIN = "clearhouse-test"
NOW_MS = 1_700_000_000_000
HEIGHT = 1_000


def key(i: int) -> KeyPair:
    """The key of seed ``bytes([i]) * 32``."""
    return KeyPair.from_seed(bytes([i]) * 32)


ALICE, BOB, MALLORY, ADMIN = key(1), key(2), key(3), key(9)


def signed(
    k: KeyPair = ALICE,
    command: AnyCommand | None = None,
    *,
    nonce: int = NOW_MS,
    chain_id: str = CHAIN,
    good_til_block: int | None = HEIGHT + 5,
    good_til_time: int | None = None,
) -> SignedEnvelope:
    cmd = command if command is not None else Withdraw("alice", "USD", 10**18)
    return sign(
        k, cmd, chain_id=chain_id, nonce=nonce, good_til_block=good_til_block, good_til_time=good_til_time
    )
