"""Signing primitives shared by envelopes, orders and reports: field checks and domain-separated digests.

Every signed object in clearhouse is signed over ``sha256(domain || u8(len(chain_id)) || chain_id ||
payload)`` with ed25519, each kind of object under its own domain, so no signature is valid for two kinds.
"""

from __future__ import annotations

import hashlib

import nacl.exceptions
import nacl.signing

from clearhouse.auth.errors import BadSignature
from clearhouse.auth.keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from clearhouse.ledger.errors import InvalidValue

U64_MAX = 2**64 - 1
MAX_CHAIN_ID = 64


def check_u64(value: int, name: str) -> int:
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise InvalidValue(f"{name} must be an integer in [0, 2^64), got {value!r}")
    return value


def check_chain_id(chain_id: str) -> bytes:
    """The chain id's bytes: 1-64 printable ASCII characters."""
    if not isinstance(chain_id, str) or not 0 < len(chain_id) <= MAX_CHAIN_ID:
        raise InvalidValue(f"chain id must be 1-{MAX_CHAIN_ID} characters, got {chain_id!r}")
    if not (chain_id.isascii() and chain_id.isprintable()):
        raise InvalidValue(f"chain id must be printable ASCII, got {chain_id!r}")
    return chain_id.encode()


def check_public_key(key: str) -> bytes:
    """The 32 bytes of a lower-case hex public key (one spelling per key, so one hash per envelope)."""
    if not isinstance(key, str) or len(key) != 2 * PUBLIC_KEY_BYTES or key != key.lower():
        raise InvalidValue(f"public key must be {2 * PUBLIC_KEY_BYTES} lower-case hex digits, got {key!r}")
    try:
        return bytes.fromhex(key)
    except ValueError:
        raise InvalidValue(f"public key {key!r} is not hex") from None


def domain_digest(domain: bytes, chain_id: str, payload: bytes) -> bytes:
    """``sha256(domain || u8(len(chain_id)) || chain_id || payload)`` (shared with signed orders)."""
    chain = check_chain_id(chain_id)
    return hashlib.sha256(domain + bytes([len(chain)]) + chain + payload).digest()


def verify_signature(signer: str, digest: bytes, signature: str, what: str = "envelope") -> None:
    """Raise :class:`BadSignature` unless ``signature`` (hex) is ``signer``'s over ``digest``."""
    try:
        key = bytes.fromhex(signer)
        sig = bytes.fromhex(signature)
    except (ValueError, TypeError):
        raise BadSignature(f"{what} signer or signature is not hex") from None
    if len(key) != PUBLIC_KEY_BYTES or len(sig) != SIGNATURE_BYTES or signature != signature.lower():
        raise BadSignature(f"{what} of {signer[:16]}…: malformed key or signature")
    try:
        nacl.signing.VerifyKey(key).verify(digest, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        raise BadSignature(f"{what} of {signer[:16]}… does not verify") from None


__all__ = [
    "MAX_CHAIN_ID",
    "U64_MAX",
    "check_chain_id",
    "check_public_key",
    "check_u64",
    "domain_digest",
    "verify_signature",
]
