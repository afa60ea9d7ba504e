"""ed25519 keys and key files.

A key is a 32-byte ed25519 seed (libsodium through PyNaCl). A key file is a small canonical JSON document
holding the public key in clear and the seed either in clear or sealed with a passphrase: the passphrase
is stretched with argon2id (salt and cost stored in the file) into a 32-byte key for XSalsa20-Poly1305
(``SecretBox``), which authenticates the ciphertext, so a wrong passphrase or an edited file is refused
rather than yielding a different key. Files are created with mode 0600 and never overwritten; a file
readable by group or others is refused on load (as ssh does). :meth:`KeyPair.generate` is the only
place that draws randomness (the OS's); everything else is deterministic.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec
import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from clearhouse.auth.errors import KeyFileError

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
#: Default argon2id cost: libsodium's "interactive" limits (64 MiB, 2 passes).
DEFAULT_OPSLIMIT: int = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
DEFAULT_MEMLIMIT: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An ed25519 signing key and its public key."""

    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh key from the operating system's random source."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """The key of a 32-byte seed (deterministic: tests and derived keys)."""
        if len(seed) != SEED_BYTES:
            raise KeyFileError(f"an ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def seed(self) -> bytes:
        return bytes(self.signing_key.encode())

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key.encode())

    @property
    def public_hex(self) -> str:
        """Lower-case hex of the public key: the form accounts and envelopes carry."""
        return self.public_key.hex()

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached ed25519 signature of ``message``."""
        return bytes(self.signing_key.sign(message).signature)


class SealedSeed(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A seed encrypted under a passphrase (argon2id -> XSalsa20-Poly1305)."""

    kdf: Literal["argon2id"]
    opslimit: int
    memlimit: int
    salt: str
    nonce: str
    ciphertext: str


class KeyFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The on-disk document: exactly one of ``seed`` (hex, clear) and ``sealed`` is set."""

    version: Literal[1]
    algorithm: Literal["ed25519"]
    public_key: str
    seed: str | None = None
    sealed: SealedSeed | None = None


_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(KeyFile)


def _kdf(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    if not passphrase:
        raise KeyFileError("an empty passphrase protects nothing; omit it instead")
    return bytes(
        nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=opslimit, memlimit=memlimit
        )
    )


def seal_seed(
    seed: bytes, passphrase: str, *, opslimit: int = DEFAULT_OPSLIMIT, memlimit: int = DEFAULT_MEMLIMIT
) -> SealedSeed:
    """Encrypt ``seed`` under ``passphrase`` with a fresh random salt and nonce."""
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_kdf(passphrase, salt, opslimit, memlimit))
    ciphertext = box.encrypt(seed, nonce).ciphertext
    return SealedSeed("argon2id", opslimit, memlimit, salt.hex(), nonce.hex(), bytes(ciphertext).hex())


def open_seed(sealed: SealedSeed, passphrase: str) -> bytes:
    """The seed inside ``sealed``; :class:`KeyFileError` on a wrong passphrase or edited ciphertext."""
    try:
        salt, nonce, ciphertext = (bytes.fromhex(x) for x in (sealed.salt, sealed.nonce, sealed.ciphertext))
        key = _kdf(passphrase, salt, sealed.opslimit, sealed.memlimit)
        return bytes(nacl.secret.SecretBox(key).decrypt(ciphertext, nonce))
    except nacl.exceptions.CryptoError:
        raise KeyFileError("wrong passphrase, or the sealed key was altered") from None
    except (ValueError, TypeError) as err:  # bad hex, bad lengths, cost parameters out of range
        raise KeyFileError(f"sealed key is malformed: {err}") from None


def encode_key_file(
    key: KeyPair,
    passphrase: str | None = None,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
) -> bytes:
    """The key file bytes of ``key`` (sealed when a passphrase is given)."""
    if passphrase is None:
        doc = KeyFile(1, "ed25519", key.public_hex, seed=key.seed.hex())
    else:
        sealed = seal_seed(key.seed, passphrase, opslimit=opslimit, memlimit=memlimit)
        doc = KeyFile(1, "ed25519", key.public_hex, sealed=sealed)
    return _encoder.encode(doc) + b"\n"


def save_key(
    path: Path,
    key: KeyPair,
    passphrase: str | None = None,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
) -> Path:
    """Write ``key`` to a new file at ``path`` with mode 0600 (its directory 0700 if created).

    Refuses with :class:`KeyFileError` if anything exists at ``path``: a key is never overwritten.
    """
    data = encode_key_file(key, passphrase, opslimit=opslimit, memlimit=memlimit)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; refusing to overwrite a key") from None
    try:
        os.fchmod(fd, 0o600)  # the umask could only have removed bits; make the mode exact
        with os.fdopen(fd, "wb", closefd=True) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path


def _read(path: Path) -> KeyFile:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it"
        )
    try:
        doc = _decoder.decode(path.read_bytes())
    except msgspec.DecodeError as err:
        raise KeyFileError(f"{path} is not a clearhouse key file: {err}") from None
    if (doc.seed is None) == (doc.sealed is None):
        raise KeyFileError(f"{path} must hold exactly one of a clear or a sealed seed")
    return doc


def read_public_key(path: Path) -> str:
    """The public key (hex) of a key file, without needing its passphrase."""
    doc = _read(path)
    _check_hex_key(doc.public_key, path)
    return doc.public_key


def is_sealed(path: Path) -> bool:
    return _read(path).sealed is not None


def load_key(path: Path, passphrase: str | None = None) -> KeyPair:
    """The key in ``path``; a sealed key needs its passphrase. The stored public key must match the
    seed (an edited public key is refused)."""
    doc = _read(path)
    if doc.sealed is not None:
        if passphrase is None:
            raise KeyFileError(f"{path} is sealed with a passphrase; give it")
        seed = open_seed(doc.sealed, passphrase)
    else:
        assert doc.seed is not None
        try:
            seed = bytes.fromhex(doc.seed)
        except ValueError:
            raise KeyFileError(f"{path}: seed is not hex") from None
    key = KeyPair.from_seed(seed)
    if key.public_hex != doc.public_key:
        raise KeyFileError(f"{path}: public key {doc.public_key} does not belong to the stored seed")
    return key


def _check_hex_key(value: str, path: Path) -> None:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(f"{path}: public key is not hex") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise KeyFileError(f"{path}: public key must be {PUBLIC_KEY_BYTES} bytes, got {len(raw)}")


__all__ = [
    "DEFAULT_MEMLIMIT",
    "DEFAULT_OPSLIMIT",
    "KeyFile",
    "KeyPair",
    "SealedSeed",
    "encode_key_file",
    "is_sealed",
    "load_key",
    "open_seed",
    "read_public_key",
    "save_key",
    "seal_seed",
]
