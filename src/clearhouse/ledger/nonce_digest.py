"""An incrementally updated digest of the nonce book, so the state root costs O(signers changed).

Hashing :meth:`clearhouse.auth.nonces.NonceBook.encode` whole each block costs O(signers x kept nonces)
(0.5 s per block at 100,000 signers). The engine's auth root uses this digest instead: a fixed two-level
tree over the first two bytes of the signer's public key (256 x 256 buckets), persistent (a new digest
shares every untouched bucket with the old one, so a rolled-back block's digest is still valid)::

    leaf(signer)   = sha256("L" || 32-byte key || u32 count || u64 nonces ascending)
    bucket(b0, b1) = sha256("B" || leaves of its signers, by key)         (32 zero bytes if empty)
    top(b0)        = sha256("T" || bucket(b0, 0) || ... || bucket(b0, 255))  (32 zero bytes if all empty)
    root           = sha256("clearhouse/nonces/v2" 0x00 || top(0) || ... || top(255))

:func:`nonce_digest` computes it from scratch; :meth:`NonceDigest.update` after a block's changes (a test
checks they agree on random histories).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping

from clearhouse.auth.nonces import NonceBook, NonceWindow

NONCES_V2_DOMAIN = b"clearhouse/nonces/v2\x00"
_ZERO = bytes(32)
_EMPTY_TOP = tuple(() for _ in range(256))
_ZEROS = (_ZERO,) * 256

#: One bucket: ``(signer, leaf)`` pairs sorted by signer.
Bucket = tuple[tuple[str, bytes], ...]


def leaf(signer: str, window: NonceWindow) -> bytes:
    return hashlib.sha256(
        b"L" + bytes.fromhex(signer) + struct.pack(f">I{len(window)}Q", len(window), *window)
    ).digest()


def _bucket_hash(bucket: Bucket) -> bytes:
    return hashlib.sha256(b"B" + b"".join(h for _, h in bucket)).digest() if bucket else _ZERO


class NonceDigest:
    """Immutable by convention: :meth:`update` returns a new digest sharing what did not change."""

    __slots__ = ("bucket_hashes", "buckets", "root", "tops")

    def __init__(
        self,
        buckets: tuple[tuple[Bucket, ...], ...] = (_EMPTY_TOP,) * 256,
        bucket_hashes: tuple[tuple[bytes, ...], ...] = (_ZEROS,) * 256,
        tops: tuple[bytes, ...] = _ZEROS,
    ) -> None:
        self.buckets = buckets
        self.bucket_hashes = bucket_hashes
        self.tops = tops
        self.root = hashlib.sha256(NONCES_V2_DOMAIN + b"".join(tops)).digest()

    def update(self, changed: Mapping[str, NonceWindow]) -> NonceDigest:
        """The digest after ``changed`` (signer -> its whole new window; an empty window removes it)."""
        if not changed:
            return self
        by_top: dict[int, dict[int, dict[str, NonceWindow]]] = {}
        for signer, window in changed.items():
            key = bytes.fromhex(signer[:4])
            by_top.setdefault(key[0], {}).setdefault(key[1], {})[signer] = window
        buckets = list(self.buckets)
        hashes = list(self.bucket_hashes)
        tops = list(self.tops)
        for b0, by_bucket in by_top.items():  # each top is computed from its own row: order is irrelevant
            row = list(buckets[b0])
            row_hashes = list(hashes[b0])
            for b1, updates in by_bucket.items():
                entries = dict(row[b1])
                for signer, window in updates.items():
                    if window:
                        entries[signer] = leaf(signer, window)
                    else:
                        entries.pop(signer, None)
                row[b1] = tuple(sorted(entries.items()))
                row_hashes[b1] = _bucket_hash(row[b1])
            buckets[b0] = tuple(row)
            hashes[b0] = tuple(row_hashes)
            tops[b0] = hashlib.sha256(b"T" + b"".join(row_hashes)).digest() if any(row) else _ZERO
        return NonceDigest(tuple(buckets), tuple(hashes), tuple(tops))


EMPTY = NonceDigest()


def nonce_digest(book: NonceBook) -> NonceDigest:
    """The digest of a whole book, from scratch."""
    return EMPTY.update(book.windows)


__all__ = ["EMPTY", "NONCES_V2_DOMAIN", "NonceDigest", "leaf", "nonce_digest"]
