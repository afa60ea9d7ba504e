"""Incrementally updated digests of the auth state, so the state root costs O(what changed).

Hashing :meth:`clearhouse.auth.nonces.NonceBook.encode` whole each block costs O(signers x kept nonces)
(0.5 s per block at 100,000 signers), and :meth:`AuthRegistry.encode` O(accounts). The engine's auth
root uses these digests instead. Both are a :class:`BucketTree`: a fixed two-level tree over a 16-bit
bucket number (256 x 256 buckets), persistent (an update shares every untouched bucket with the old
tree and never changes it, so a rolled-back block's digest stays valid)::

    bucket(b0, b1) = sha256("B" || leaves of its keys, by key)              (32 zero bytes if empty)
    top(b0)        = sha256("T" || bucket(b0, 0) || ... || bucket(b0, 255))  (32 zero bytes if all empty)
    root           = sha256(domain || top(0) || ... || top(255))

* nonces: key = signer, bucket = the key's first two bytes,
  ``leaf = sha256("L" || 32-byte key || u32 count || u64 nonces ascending)``,
  domain ``"clearhouse/nonces/v2" 0x00``;
* registry accounts: key = account id, bucket = the first two bytes of ``sha256(id)``,
  ``leaf = sha256("A" || canonical JSON [id, owner, sorted sub-keys])``, domain
  ``"clearhouse/registry-accounts/v1" 0x00``; the registry digest is
  ``sha256("clearhouse/registry/v2" 0x00 || sha256(canonical JSON [sorted admins, reporters by feed
  and source]) || accounts root)``.

``nonce_digest`` / ``registry_digest`` compute them from scratch; tests check that the incremental
updates agree on random histories.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping

import msgspec

from clearhouse.auth.authorization import AccountKeys, AuthRegistry
from clearhouse.auth.nonces import NonceBook, NonceWindow

NONCES_V2_DOMAIN = b"clearhouse/nonces/v2\x00"
ACCOUNTS_DOMAIN = b"clearhouse/registry-accounts/v1\x00"
REGISTRY_V2_DOMAIN = b"clearhouse/registry/v2\x00"
_ZERO = bytes(32)
_EMPTY_ROW: tuple[tuple[tuple[str, bytes], ...], ...] = tuple(() for _ in range(256))
_ZEROS = (_ZERO,) * 256
_encoder = msgspec.json.Encoder(order="deterministic")

#: One bucket: ``(key, leaf)`` pairs sorted by key.
Bucket = tuple[tuple[str, bytes], ...]


def _bucket_hash(bucket: Bucket) -> bytes:
    return hashlib.sha256(b"B" + b"".join(h for _, h in bucket)).digest() if bucket else _ZERO


class BucketTree:
    """Immutable by convention: :meth:`update` returns a new tree sharing what did not change."""

    __slots__ = ("bucket_hashes", "buckets", "domain", "root", "tops")

    def __init__(
        self,
        domain: bytes,
        buckets: tuple[tuple[Bucket, ...], ...] = (_EMPTY_ROW,) * 256,
        bucket_hashes: tuple[tuple[bytes, ...], ...] = (_ZEROS,) * 256,
        tops: tuple[bytes, ...] = _ZEROS,
    ) -> None:
        self.domain = domain
        self.buckets = buckets
        self.bucket_hashes = bucket_hashes
        self.tops = tops
        self.root = hashlib.sha256(domain + b"".join(tops)).digest()

    def update(self, changes: Iterable[tuple[int, str, bytes | None]]) -> BucketTree:
        """The tree after ``changes``: ``(bucket 0..65535, key, leaf)``; a ``None`` leaf removes the key."""
        by_top: dict[int, dict[int, dict[str, bytes | None]]] = {}
        for bucket, key, value in changes:
            by_top.setdefault(bucket >> 8, {}).setdefault(bucket & 0xFF, {})[key] = value
        if not by_top:
            return self
        buckets = list(self.buckets)
        hashes = list(self.bucket_hashes)
        tops = list(self.tops)
        for b0, by_bucket in by_top.items():  # each top is computed from its own row: order is irrelevant
            row = list(buckets[b0])
            row_hashes = list(hashes[b0])
            for b1, updates in by_bucket.items():
                entries = dict(row[b1])
                for key, value in updates.items():
                    if value is None:
                        entries.pop(key, None)
                    else:
                        entries[key] = value
                row[b1] = tuple(sorted(entries.items()))
                row_hashes[b1] = _bucket_hash(row[b1])
            buckets[b0] = tuple(row)
            hashes[b0] = tuple(row_hashes)
            tops[b0] = hashlib.sha256(b"T" + b"".join(row_hashes)).digest() if any(row) else _ZERO
        return BucketTree(self.domain, tuple(buckets), tuple(hashes), tuple(tops))


# -- nonces ------------------------------------------------------------------------------------------


def leaf(signer: str, window: NonceWindow) -> bytes:
    return hashlib.sha256(
        b"L" + bytes.fromhex(signer) + struct.pack(f">I{len(window)}Q", len(window), *window)
    ).digest()


class NonceDigest:
    """The nonce book's tree; :meth:`update` takes each changed signer's whole new window."""

    __slots__ = ("root", "tree")

    def __init__(self, tree: BucketTree | None = None) -> None:
        self.tree = tree if tree is not None else BucketTree(NONCES_V2_DOMAIN)
        self.root = self.tree.root

    def update(self, changed: Mapping[str, NonceWindow]) -> NonceDigest:
        """The digest after ``changed`` (signer -> its new window; an empty window removes it)."""
        if not changed:
            return self
        return NonceDigest(
            self.tree.update((int(s[:4], 16), s, leaf(s, w) if w else None) for s, w in changed.items())
        )


EMPTY = NonceDigest()


def nonce_digest(book: NonceBook) -> NonceDigest:
    """The digest of a whole book, from scratch."""
    return EMPTY.update(book.windows)


# -- registry ----------------------------------------------------------------------------------------


def account_leaf(account: str, keys: AccountKeys) -> bytes:
    return hashlib.sha256(b"A" + _encoder.encode([account, keys.owner, sorted(keys.subkeys)])).digest()


def account_bucket(account: str) -> int:
    return int.from_bytes(hashlib.sha256(account.encode()).digest()[:2], "big")


class RegistryDigest:
    """The registry's digest: its small part (admins, reporters) hashed whole, accounts in a tree."""

    __slots__ = ("accounts", "root")

    def __init__(self, reg: AuthRegistry, accounts: BucketTree) -> None:
        self.accounts = accounts
        reporters = [[f, sorted(s.items())] for f, s in sorted(reg.reporters.items())]
        meta = hashlib.sha256(_encoder.encode([sorted(reg.admins), reporters])).digest()
        self.root = hashlib.sha256(REGISTRY_V2_DOMAIN + meta + accounts.root).digest()

    def update(self, reg: AuthRegistry, changed_accounts: Iterable[str]) -> RegistryDigest:
        """The digest of ``reg``, which differs from the registry of this digest only in the accounts
        ``changed_accounts`` (and possibly its admins and reporters)."""
        accounts = reg.accounts
        tree = self.accounts.update(
            (account_bucket(a), a, account_leaf(a, accounts[a]) if a in accounts else None)
            for a in changed_accounts
        )
        return RegistryDigest(reg, tree)


def registry_digest(reg: AuthRegistry) -> RegistryDigest:
    """The digest of a whole registry, from scratch."""
    return RegistryDigest(reg, BucketTree(ACCOUNTS_DOMAIN)).update(reg, reg.accounts)


__all__ = [
    "EMPTY",
    "NONCES_V2_DOMAIN",
    "BucketTree",
    "NonceDigest",
    "RegistryDigest",
    "account_leaf",
    "leaf",
    "nonce_digest",
    "registry_digest",
]
