"""Signed transaction envelopes: what a client signs, how its bytes are fixed, how it is verified.

An :class:`Envelope` binds a command to a chain, a signer, a nonce and an expiry. Its canonical bytes are
the msgspec JSON encoding the journal already uses for commands (``order="deterministic"``: struct fields
in declaration order, decimal integers of any size, no whitespace). The signed message is a 32-byte
domain-separated digest::

    digest = sha256(b"clearhouse/tx/v1\\x00" || u8(len(chain_id)) || chain_id || canonical_bytes(envelope))

and the signature is ed25519 (libsodium: canonical ``S``, small-order keys refused) over that digest. The
digest is also the transaction hash a node acknowledges. On the wire a :class:`SignedEnvelope` must be
*exactly* its canonical encoding (:func:`decode_signed` re-encodes and compares), so one transaction has
one byte string and one hash: no duplicate keys, whitespace or escape variants.

Nothing here reads the clock or holds state; expiry and nonces are judged in :mod:`clearhouse.auth.nonces`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor

import msgspec

from clearhouse.auth.commands import TxCommand
from clearhouse.auth.errors import MalformedEnvelope, WrongChain
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.signing import (
    check_chain_id,
    check_public_key,
    check_u64,
    domain_digest,
    verify_signature,
)
from clearhouse.ledger.errors import ClearhouseError, InvalidValue

TX_DOMAIN = b"clearhouse/tx/v1\x00"


class Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One command as its signer authorised it.

    ``nonce`` is a u64, by convention the signer's wall-clock time in milliseconds (Hyperliquid's
    scheme); ``good_til_block`` is the last height that may include it, ``good_til_time`` the last block
    time in milliseconds. At least one of the two must be set, so no envelope stays valid forever.
    """

    chain_id: str
    #: Lower-case hex of the signer's 32-byte ed25519 public key.
    signer: str
    nonce: int
    command: TxCommand
    good_til_block: int | None = None
    good_til_time: int | None = None

    def check(self) -> None:
        """Stateless validation of the envelope's own fields (and of its command's)."""
        check_chain_id(self.chain_id)
        check_public_key(self.signer)
        check_u64(self.nonce, "nonce")
        if self.good_til_block is None and self.good_til_time is None:
            raise InvalidValue(f"envelope of {self.signer[:16]}… needs good_til_block or good_til_time")
        if self.good_til_block is not None:
            check_u64(self.good_til_block, "good_til_block")
        if self.good_til_time is not None:
            check_u64(self.good_til_time, "good_til_time")
        self.command.check()


class SignedEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    envelope: Envelope
    #: Lower-case hex of the 64-byte ed25519 signature over :func:`signing_digest`.
    signature: str


_encoder = msgspec.json.Encoder(order="deterministic")
_signed_decoder = msgspec.json.Decoder(SignedEnvelope)


def canonical_bytes(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def signing_digest(envelope: Envelope) -> bytes:
    """The 32 bytes that are signed; also the transaction hash."""
    return domain_digest(TX_DOMAIN, envelope.chain_id, canonical_bytes(envelope))


def sign_envelope(envelope: Envelope, key: KeyPair) -> SignedEnvelope:
    """Sign ``envelope`` with ``key``, which must be its signer."""
    envelope.check()
    if key.public_hex != envelope.signer:
        raise InvalidValue(f"key {key.public_hex[:16]}… is not the envelope's signer {envelope.signer[:16]}…")
    return SignedEnvelope(envelope, key.sign(signing_digest(envelope)).hex())


def sign(
    key: KeyPair,
    command: TxCommand,
    *,
    chain_id: str,
    nonce: int,
    good_til_block: int | None = None,
    good_til_time: int | None = None,
) -> SignedEnvelope:
    """Build and sign the envelope of ``command`` from ``key``."""
    env = Envelope(chain_id, key.public_hex, nonce, command, good_til_block, good_til_time)
    return sign_envelope(env, key)


def verify(signed: SignedEnvelope, chain_id: str) -> bytes:
    """Check chain, fields and signature; return the transaction hash.

    Raises :class:`WrongChain`, :class:`~clearhouse.ledger.errors.InvalidValue` (bad fields) or
    :class:`BadSignature`. Expiry and nonces are the state's business (:mod:`clearhouse.auth.nonces`).
    """
    env = signed.envelope
    if env.chain_id != chain_id:
        raise WrongChain(f"envelope of {env.signer[:16]}… is for chain {env.chain_id!r}, not {chain_id!r}")
    env.check()
    digest = signing_digest(env)
    verify_signature(env.signer, digest, signed.signature)
    return digest


def encode_signed(signed: SignedEnvelope) -> bytes:
    """The canonical wire and journal bytes of a signed envelope."""
    return _encoder.encode(signed)


def decode_signed(data: bytes) -> SignedEnvelope:
    """Decode wire bytes; refuse anything that is not the canonical encoding (:class:`MalformedEnvelope`)."""
    try:
        signed = _signed_decoder.decode(data)
    except (msgspec.DecodeError, ClearhouseError) as err:
        raise MalformedEnvelope(f"not a signed envelope: {err}") from None
    if encode_signed(signed) != bytes(data):
        raise MalformedEnvelope("signed envelope is not in canonical encoding")
    return signed


VerifyResult = bytes | ClearhouseError


def _verify_chunk(chunk: Sequence[SignedEnvelope], chain_id: str) -> list[VerifyResult]:
    out: list[VerifyResult] = []
    for signed in chunk:
        try:
            out.append(verify(signed, chain_id))
        except ClearhouseError as err:
            out.append(err)
    return out


def verify_many(
    signed: Sequence[SignedEnvelope],
    chain_id: str,
    *,
    executor: Executor | None = None,
    chunk_size: int = 256,
) -> list[VerifyResult]:
    """Verify a batch: for each envelope its hash, or the error that refuses it (order preserved).

    libsodium releases the GIL while verifying, so a thread pool passed as ``executor`` can use more
    than one core; without one the batch is verified in the calling thread. The result is the same
    either way (a pure function per envelope).
    """
    if executor is None or len(signed) <= chunk_size:
        return _verify_chunk(signed, chain_id)
    chunks = [signed[i : i + chunk_size] for i in range(0, len(signed), chunk_size)]
    job: Callable[[Sequence[SignedEnvelope]], list[VerifyResult]] = lambda c: _verify_chunk(c, chain_id)  # noqa: E731
    results: list[VerifyResult] = []
    for part in executor.map(job, chunks):
        results.extend(part)
    return results


__all__ = [
    "TX_DOMAIN",
    "Envelope",
    "SignedEnvelope",
    "VerifyResult",
    "canonical_bytes",
    "decode_signed",
    "encode_signed",
    "sign",
    "sign_envelope",
    "signing_digest",
    "verify",
    "verify_many",
]
