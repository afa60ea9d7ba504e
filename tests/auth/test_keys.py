"""Key files: 0600, never overwritten, sealed seeds need the right passphrase, edits are refused."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import nacl.pwhash
import pytest

from clearhouse.auth.errors import KeyFileError
from clearhouse.auth.keys import KeyPair, is_sealed, load_key, read_public_key, save_key

# The cheapest argon2id cost libsodium allows, so the tests stay fast; one test uses the default cost.
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def test_generated_keys_differ_and_sign_verifiably() -> None:
    a, b = KeyPair.generate(), KeyPair.generate()
    assert a.public_key != b.public_key and len(a.public_key) == 32
    sig = a.sign(b"msg")
    assert len(sig) == 64
    a.signing_key.verify_key.verify(b"msg", sig)
    assert KeyPair.from_seed(a.seed).public_hex == a.public_hex


def test_clear_key_file_round_trips_with_mode_0600(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = save_key(tmp_path / "keys" / "alice.key", key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key(path).seed == key.seed
    assert read_public_key(path) == key.public_hex
    assert not is_sealed(path)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = save_key(tmp_path / "a.key", KeyPair.generate())
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        save_key(path, KeyPair.generate())
    assert path.read_bytes() == before


def test_sealed_key_needs_the_right_passphrase(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = save_key(tmp_path / "a.key", key, "correct horse", **FAST)
    raw = path.read_bytes()
    assert key.seed.hex().encode() not in raw  # the seed is not in clear
    assert is_sealed(path) and read_public_key(path) == key.public_hex
    assert load_key(path, "correct horse").seed == key.seed
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_key(path, "wrong horse")
    with pytest.raises(KeyFileError, match="sealed"):
        load_key(path)


def test_default_argon2id_cost_round_trips(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = save_key(tmp_path / "a.key", key, "pw")
    doc = json.loads(path.read_bytes())
    assert doc["sealed"]["opslimit"] == nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
    assert load_key(path, "pw").seed == key.seed


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="empty passphrase"):
        save_key(tmp_path / "a.key", KeyPair.generate(), "", **FAST)
    assert not (tmp_path / "a.key").exists()


def _edit(path: Path, **changes: object) -> None:
    doc = json.loads(path.read_bytes())
    for dotted, value in changes.items():
        target = doc
        *parents, leaf = dotted.split("__")
        for p in parents:
            target = target[p]
        target[leaf] = value
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)


def test_an_edited_public_key_is_refused(tmp_path: Path) -> None:
    path = save_key(tmp_path / "a.key", KeyPair.generate())
    _edit(path, public_key=KeyPair.generate().public_hex)
    with pytest.raises(KeyFileError, match="does not belong"):
        load_key(path)


def test_an_edited_ciphertext_is_refused(tmp_path: Path) -> None:
    path = save_key(tmp_path / "a.key", KeyPair.generate(), "pw", **FAST)
    ct = json.loads(path.read_bytes())["sealed"]["ciphertext"]
    flipped = f"{int(ct[0], 16) ^ 1:x}" + ct[1:]
    _edit(path, sealed__ciphertext=flipped)
    with pytest.raises(KeyFileError, match="wrong passphrase, or the sealed key was altered"):
        load_key(path, "pw")


def test_a_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = save_key(tmp_path / "a.key", KeyPair.generate())
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(path)


def test_garbage_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no key file"):
        load_key(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"\xff\xfe not json")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="not a clearhouse key file"):
        load_key(bad)


def test_seed_length_is_checked() -> None:
    with pytest.raises(KeyFileError):
        KeyPair.from_seed(b"short")


def test_rfc8032_test_vector_1() -> None:
    """A key file's seed is the RFC 8032 secret key: the standard's first vector (empty message)."""
    key = KeyPair.from_seed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    assert key.public_hex == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert key.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
        "d25bf5f0595bbe24655141438e7a100b"
    )
