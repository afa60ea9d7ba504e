"""Signed cancels: one order by id, or every order of an account in a market.

A cancel is signed like an order (ed25519 over a domain-separated digest, :mod:`clearhouse.auth.signing`)
under its own domains, so a cancel signature can never pass as an order or a transaction. The book accepts
a cancel only from the key that signed the order(s) it cancels. A cancel-all carries a nonce that must be
above the signer's previous cancel-all in that market, so replaying an old cancel-all cannot cancel orders
placed after it.
"""

from __future__ import annotations

import msgspec

from clearhouse.auth.keys import KeyPair
from clearhouse.auth.signing import (
    check_chain_id,
    check_public_key,
    check_u64,
    domain_digest,
    verify_signature,
)
from clearhouse.ledger.errors import InvalidValue

CANCEL_DOMAIN = b"clearhouse/cancel/v1\x00"
CANCEL_ALL_DOMAIN = b"clearhouse/cancel-all/v1\x00"

_encoder = msgspec.json.Encoder(order="deterministic")


class CancelOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Cancel the resting order whose id (hex of :func:`clearhouse.auth.orders.order_id`) is ``order_id``."""

    chain_id: str
    market: str
    order_id: str

    def check(self) -> None:
        check_chain_id(self.chain_id)
        if len(self.order_id) != 64 or self.order_id != self.order_id.lower():
            raise InvalidValue(f"order id must be 64 lower-case hex digits, got {self.order_id!r}")
        bytes.fromhex(self.order_id)


class CancelAll(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Cancel every resting order of ``account`` in ``market`` signed by the same key."""

    chain_id: str
    market: str
    account: str
    #: u64, strictly above the signer's previous cancel-all in this market.
    nonce: int

    def check(self) -> None:
        check_chain_id(self.chain_id)
        check_u64(self.nonce, "cancel-all nonce")
        if not self.account or not self.market:
            raise InvalidValue("cancel-all needs an account and a market")


class SignedCancel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cancel: CancelOrder
    signer: str
    signature: str


class SignedCancelAll(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cancel: CancelAll
    signer: str
    signature: str


def _digest(cancel: CancelOrder | CancelAll) -> bytes:
    domain = CANCEL_DOMAIN if isinstance(cancel, CancelOrder) else CANCEL_ALL_DOMAIN
    return domain_digest(domain, cancel.chain_id, _encoder.encode(cancel))


def sign_cancel(cancel: CancelOrder, key: KeyPair) -> SignedCancel:
    cancel.check()
    return SignedCancel(cancel, key.public_hex, key.sign(_digest(cancel)).hex())


def sign_cancel_all(cancel: CancelAll, key: KeyPair) -> SignedCancelAll:
    cancel.check()
    return SignedCancelAll(cancel, key.public_hex, key.sign(_digest(cancel)).hex())


def verify_cancel(signed: SignedCancel | SignedCancelAll) -> None:
    """Fields and signature (raises ``InvalidValue`` / ``BadSignature``)."""
    signed.cancel.check()
    check_public_key(signed.signer)
    verify_signature(signed.signer, _digest(signed.cancel), signed.signature, what="cancel")


__all__ = [
    "CANCEL_ALL_DOMAIN",
    "CANCEL_DOMAIN",
    "CancelAll",
    "CancelOrder",
    "SignedCancel",
    "SignedCancelAll",
    "sign_cancel",
    "sign_cancel_all",
    "verify_cancel",
]
