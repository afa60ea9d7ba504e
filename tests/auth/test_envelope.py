"""Envelopes: canonical bytes, the domain-separated digest, signature checks and strict wire decoding."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import msgspec
import nacl.signing
import pytest

from clearhouse.auth.envelope import (
    TX_DOMAIN,
    Envelope,
    SignedEnvelope,
    canonical_bytes,
    decode_signed,
    encode_signed,
    sign,
    sign_envelope,
    signing_digest,
    verify,
    verify_many,
)
from clearhouse.auth.errors import BadSignature, MalformedEnvelope, WrongChain
from clearhouse.ledger.commands import Deposit, Withdraw
from clearhouse.ledger.errors import ClearhouseError, InvalidValue

from .helpers import ALICE, BOB, CHAIN, HEIGHT, NOW_MS, signed


def test_canonical_bytes_are_the_documented_json() -> None:
    env = Envelope(CHAIN, ALICE.public_hex, 7, Withdraw("alice", "USD", 5), good_til_block=12)
    expected = (
        b'{"chain_id":"clearhouse-test","signer":"' + ALICE.public_hex.encode() + b'","nonce":7,'
        b'"command":{"type":"Withdraw","account":"alice","asset":"USD","amount":5},'
        b'"good_til_block":12,"good_til_time":null}'
    )
    assert canonical_bytes(env) == expected


def test_digest_is_sha256_of_domain_length_chain_and_bytes_and_is_what_is_signed() -> None:
    s = signed()
    env = s.envelope
    by_hand = hashlib.sha256(
        b"clearhouse/tx/v1\x00" + bytes([len(CHAIN)]) + CHAIN.encode() + canonical_bytes(env)
    ).digest()
    assert TX_DOMAIN == b"clearhouse/tx/v1\x00"
    assert signing_digest(env) == by_hand
    nacl.signing.VerifyKey(ALICE.public_key).verify(by_hand, bytes.fromhex(s.signature))
    assert verify(s, CHAIN) == by_hand


def test_big_amounts_survive_canonical_round_trip() -> None:
    s = signed(command=Withdraw("alice", "USD", 2**254))
    assert decode_signed(encode_signed(s)) == s
    verify(decode_signed(encode_signed(s)), CHAIN)


def test_wrong_chain_is_refused() -> None:
    with pytest.raises(WrongChain):
        verify(signed(chain_id="other-chain"), CHAIN)


def test_a_flipped_signature_bit_is_refused() -> None:
    s = signed()
    sig = bytearray(bytes.fromhex(s.signature))
    sig[10] ^= 1
    with pytest.raises(BadSignature):
        verify(SignedEnvelope(s.envelope, sig.hex()), CHAIN)


def test_an_edited_command_under_the_old_signature_is_refused() -> None:
    s = signed(command=Withdraw("alice", "USD", 1))
    forged = msgspec.structs.replace(s.envelope, command=Withdraw("alice", "USD", 10**24))
    with pytest.raises(BadSignature):
        verify(SignedEnvelope(forged, s.signature), CHAIN)


def test_a_signature_of_another_key_is_refused() -> None:
    s = signed(BOB)
    claimed = msgspec.structs.replace(s.envelope, signer=ALICE.public_hex)
    with pytest.raises(BadSignature):
        verify(SignedEnvelope(claimed, s.signature), CHAIN)


@pytest.mark.parametrize("sig", ["", "zz" * 64, "00" * 63, ("ab" * 64).upper()])
def test_malformed_signatures_are_refused(sig: str) -> None:
    with pytest.raises(BadSignature):
        verify(SignedEnvelope(signed().envelope, sig), CHAIN)


def test_envelope_fields_are_validated() -> None:
    with pytest.raises(InvalidValue, match="good_til_block or good_til_time"):
        signed(good_til_block=None, good_til_time=None)
    with pytest.raises(InvalidValue, match="nonce"):
        signed(nonce=2**64)
    with pytest.raises(InvalidValue, match="deposit amount"):
        signed(command=Deposit("alice", "USD", 0))
    with pytest.raises(InvalidValue, match="chain id"):
        signed(chain_id="")
    env = Envelope(CHAIN, ALICE.public_hex.upper(), 1, Withdraw("alice", "USD", 1), good_til_block=1)
    with pytest.raises(InvalidValue, match="lower-case"):
        sign_envelope(env, ALICE)


def test_a_key_cannot_sign_for_another_signer() -> None:
    env = Envelope(CHAIN, BOB.public_hex, 1, Withdraw("alice", "USD", 1), good_til_block=1)
    with pytest.raises(InvalidValue, match="not the envelope's signer"):
        sign_envelope(env, ALICE)


def test_wire_decoding_accepts_only_the_canonical_bytes() -> None:
    s = signed()
    wire = encode_signed(s)
    assert decode_signed(wire) == s
    variants = {
        "whitespace": wire.replace(b'"nonce":', b'"nonce": '),
        "duplicate key": wire.replace(b'"nonce":', b'"nonce":1,"nonce":', 1),
        "escape": wire.replace(b'"alice"', b'"\\u0061lice"'),
        "float": wire.replace(b'"amount":1000000000000000000', b'"amount":1e18'),
        "unknown field": wire.replace(b'{"envelope"', b'{"x":1,"envelope"'),
        "non-utf8": wire.replace(b"alice", b"\xffalice"),
        "truncated": wire[:-5],
        "not json": b"\x00\x01\x02",
    }
    for name, data in variants.items():
        assert data != wire, name
        with pytest.raises(MalformedEnvelope):
            decode_signed(data)


def test_verify_many_matches_one_by_one_with_and_without_threads() -> None:
    batch = [signed(nonce=NOW_MS + i) for i in range(600)]
    sig = bytearray(bytes.fromhex(batch[3].signature))
    sig[0] ^= 0x80
    batch[3] = SignedEnvelope(batch[3].envelope, sig.hex())
    batch[400] = signed(chain_id="other")
    sequential = verify_many(batch, CHAIN)
    with ThreadPoolExecutor(2) as pool:
        threaded = verify_many(batch, CHAIN, executor=pool, chunk_size=64)
    assert [type(r) for r in sequential] == [type(r) for r in threaded]
    assert [r for r in sequential if isinstance(r, bytes)] == [r for r in threaded if isinstance(r, bytes)]
    assert isinstance(sequential[3], BadSignature) and isinstance(sequential[400], WrongChain)
    assert sum(isinstance(r, ClearhouseError) for r in sequential) == 2
    assert sequential[5] == verify(batch[5], CHAIN)


def test_same_envelope_signs_to_the_same_bytes() -> None:
    # ed25519 is deterministic: one envelope, one signature, one hash.
    a, b = signed(), signed()
    assert encode_signed(a) == encode_signed(b)
    assert (
        sign(ALICE, Withdraw("alice", "USD", 10**18), chain_id=CHAIN, nonce=NOW_MS, good_til_block=HEIGHT + 5)
        == a
    )


def test_regression_vector_of_docs_auth_md() -> None:
    """Signature-format stability: this digest was produced by the implementation once and is quoted in
    docs/auth.md. If it changes, every signature made before stops verifying (bump the domain instead)."""
    from clearhouse.auth.keys import KeyPair

    k = KeyPair.from_seed(bytes([1]) * 32)
    s = sign(
        k,
        Withdraw("alice", "USDC", 250 * 10**18),
        chain_id="clearhouse-devnet",
        nonce=1733240000000,
        good_til_block=120,
    )
    assert k.public_hex == "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    assert len(canonical_bytes(s.envelope)) == 266
    assert (
        signing_digest(s.envelope).hex() == "beeb5d20d353d37c14c54cebd8798589f7f46d3462d615acea75375f829df91e"
    )
    assert verify(s, "clearhouse-devnet") == signing_digest(s.envelope)


def test_envelopes_carry_the_auth_commands_and_decode_them_back() -> None:
    from clearhouse.auth.commands import AuthorizeKey, MatchedFill
    from clearhouse.auth.orders import Fill, Order, sign_order

    order = Order(CHAIN, "alice", "ETH-PERP", "buy", 10**18, 2000 * 10**18, 1, good_til_block=HEIGHT)
    sell = Order(CHAIN, "bob", "ETH-PERP", "sell", 10**18, 2000 * 10**18, 1, good_til_block=HEIGHT)
    fill = MatchedFill(
        sign_order(order, ALICE), sign_order(sell, BOB), Fill("ETH-PERP", 10**18, 2000 * 10**18, "buyer")
    )
    for cmd in (AuthorizeKey("alice", BOB.public_hex), fill):
        s = signed(command=cmd)
        back = decode_signed(encode_signed(s))
        assert back == s and type(back.envelope.command) is type(cmd)
        verify(back, CHAIN)


def test_libsodium_verification_releases_the_gil() -> None:
    """What makes a thread pool in verify_many worth having: while one thread verifies, another Python
    thread runs. With a 50 s switch interval the interpreter never forces a hand-over, so the main
    thread only gets the GIL back when the verifying thread releases it inside the C call."""
    import sys
    import threading
    import time

    s = signed()
    digest, sig = signing_digest(s.envelope), bytes.fromhex(s.signature)
    vk = nacl.signing.VerifyKey(ALICE.public_key)
    done = threading.Event()

    def work() -> None:
        for _ in range(1500):
            vk.verify(digest, sig)
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(50.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        ticks = 0
        while not done.is_set():
            ticks += 1
            time.sleep(0)
        worker.join()
    finally:
        sys.setswitchinterval(old)
    assert ticks > 100


def test_huge_numbers_are_refused_with_typed_errors() -> None:
    from clearhouse.ledger.errors import ValueOutOfRange

    wire = encode_signed(signed())
    beyond_2_255 = decode_signed(wire.replace(b'"amount":1000000000000000000', b'"amount":' + b"9" * 80))
    with pytest.raises(ValueOutOfRange):
        verify(beyond_2_255, CHAIN)
    with pytest.raises(MalformedEnvelope, match="out of range"):
        decode_signed(wire.replace(b'"amount":1000000000000000000', b'"amount":' + b"9" * 100_000))
    with pytest.raises(InvalidValue, match="nonce"):
        verify(
            decode_signed(wire.replace(f'"nonce":{NOW_MS}'.encode(), b'"nonce":' + str(2**64).encode())),
            CHAIN,
        )
