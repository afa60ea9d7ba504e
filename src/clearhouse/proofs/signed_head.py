"""Signed heads, shared by the transparency log's tree heads and the account directory's heads: one
digest rule (``sha256(domain || canonical JSON of the head)``), one signing and one checking path, so the
two documents cannot drift apart in how they are signed or refused."""

from __future__ import annotations

import hashlib

import msgspec

from clearhouse.auth.keys import KeyPair
from clearhouse.auth.signing import check_public_key, verify_signature
from clearhouse.ledger.errors import ClearhouseError

_encoder = msgspec.json.Encoder(order="deterministic")


class ProofInvalid(ClearhouseError):
    """A proof, tree head or signature that does not check; the message says which part."""

    code = "proof_invalid"


def hex32(value: object, what: str) -> bytes:
    """A 32-byte value given as 64 lower-case hex digits (one spelling per value)."""
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        raise ProofInvalid(f"{what} must be 64 lower-case hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ProofInvalid(f"{what} is not hex") from None


def head_digest(domain: bytes, head: msgspec.Struct) -> bytes:
    return hashlib.sha256(domain + _encoder.encode(head)).digest()


def sign_head(domain: bytes, head: msgspec.Struct, key: KeyPair) -> tuple[str, str]:
    """The signer (public key, hex) and the signature (hex) of ``head``."""
    return key.public_hex, key.sign(head_digest(domain, head)).hex()


def check_head_signature(
    domain: bytes, head: msgspec.Struct, signer: str, signature: str, *, what: str, key: str | None = None
) -> None:
    """The signer is a valid key (and, given ``key``, that key) and its signature of ``head`` verifies."""
    try:
        check_public_key(signer)
    except ClearhouseError as err:
        raise ProofInvalid(f"{what} signer: {err}") from None
    if key is not None and signer != key.lower():
        raise ProofInvalid(f"{what} is signed by {signer}, not the expected key {key.lower()}")
    try:
        verify_signature(signer, head_digest(domain, head), signature, what=what)
    except ClearhouseError as err:
        raise ProofInvalid(str(err)) from None


__all__ = ["ProofInvalid", "check_head_signature", "head_digest", "hex32", "sign_head"]
