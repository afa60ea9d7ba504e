"""A transparency log over the journal, RFC 9162 style: signed tree heads, inclusion and consistency proofs.

Leaf ``i`` (0-based) is journal row ``i + 1``. Its data is the row's fixed-width digest input
(136 bytes)::

    u64 height (big-endian) || SHA-256(block) || SHA-256(events) || state_root (32) || prev_hash (32)

so the leaf hash ``SHA-256(0x00 || data)`` commits to the whole row, and a proof shows the block's state
root in clear. A signed tree head (STH) binds a tree size, the log's root and the head row's state root
and hash to the node's ed25519 key. With the STH an auditor checks, in O(log n) hashes, that a block is in
the log (inclusion) and that a later log extends the earlier one without rewriting it (consistency).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TypeVar

import msgspec

from clearhouse.auth.keys import KeyPair
from clearhouse.journal.rows import JournalRow
from clearhouse.journal.store import JournalStore
from clearhouse.proofs.rfc9162 import (
    consistency_path,
    inclusion_path,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from clearhouse.proofs.signed_head import ProofInvalid, check_head_signature, sign_head
from clearhouse.proofs.signed_head import hex32 as _hex32

STH_DOMAIN = b"clearhouse/sth/v1\x00"
STH_VERSION = "clearhouse-sth/1"
INCLUSION_VERSION = "clearhouse-tlog-inclusion/1"
CONSISTENCY_VERSION = "clearhouse-tlog-consistency/1"

_encoder = msgspec.json.Encoder(order="deterministic")
T = TypeVar("T")


class TreeHead(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    tree_size: int
    #: RFC 9162 root over rows 1..tree_size (hex).
    root_hash: str
    #: State root and row hash of row ``tree_size`` (hex).
    state_root: str
    row_hash: str


class SignedTreeHead(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    head: TreeHead
    signer: str
    signature: str


class InclusionProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    height: int
    tree_size: int
    #: The leaf data (136 bytes, hex) of row ``height``.
    leaf: str
    path: list[str]
    root_hash: str


class ConsistencyProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    first: int
    second: int
    first_root: str
    second_root: str
    path: list[str]


def row_leaf_data(row: JournalRow) -> bytes:
    return (
        row.height.to_bytes(8, "big")
        + hashlib.sha256(row.block).digest()
        + hashlib.sha256(row.events).digest()
        + bytes.fromhex(row.state_root)
        + bytes.fromhex(row.prev_hash)
    )


def leaf_state_root(data: bytes) -> str:
    """The state root inside a leaf's data."""
    return data[72:104].hex()


class LogView:
    """The log of a journal's first ``size`` rows (all by default), read once."""

    def __init__(self, rows: Iterable[JournalRow]) -> None:
        self.data: list[bytes] = []
        self.rows_meta: list[tuple[str, str]] = []  # (state_root, row_hash)
        for row in rows:
            if row.height != len(self.data) + 1:
                raise ProofInvalid(f"journal row {row.height} out of sequence")
            self.data.append(row_leaf_data(row))
            self.rows_meta.append((row.state_root, row.row_hash))
        self.leaves = [leaf_hash(d) for d in self.data]

    @classmethod
    def of_store(cls, store: JournalStore, size: int | None = None) -> LogView:
        rows = store.rows()
        if size is None:
            return cls(rows)

        def first() -> Iterable[JournalRow]:
            for row in rows:
                if row.height > size:
                    break
                yield row

        view = cls(first())
        if len(view.data) < size:
            raise ProofInvalid(f"the journal has {len(view.data)} rows, fewer than {size}")
        return view

    def __len__(self) -> int:
        return len(self.leaves)

    def root(self, size: int | None = None) -> bytes:
        return root_of(self.leaves, 0, len(self.leaves) if size is None else size)

    def tree_head(self, size: int | None = None) -> TreeHead:
        n = len(self.leaves) if size is None else size
        if not 0 < n <= len(self.leaves):
            raise ProofInvalid(f"tree size {n} is not in 1..{len(self.leaves)}")
        state_root, row_hash = self.rows_meta[n - 1]
        return TreeHead(STH_VERSION, n, self.root(n).hex(), state_root, row_hash)

    def inclusion(self, height: int, size: int | None = None) -> InclusionProof:
        n = len(self.leaves) if size is None else size
        if not 1 <= height <= n <= len(self.leaves):
            raise ProofInvalid(f"block {height} is not in a log of size {n}")
        path = inclusion_path(height - 1, self.leaves[:n])
        return InclusionProof(
            INCLUSION_VERSION,
            height,
            n,
            self.data[height - 1].hex(),
            [p.hex() for p in path],
            self.root(n).hex(),
        )

    def consistency(self, first: int, second: int | None = None) -> ConsistencyProof:
        n = len(self.leaves) if second is None else second
        if not 0 < first <= n <= len(self.leaves):
            raise ProofInvalid(f"no consistency proof from {first} to {n} (log size {len(self.leaves)})")
        path = consistency_path(first, self.leaves[:n])
        return ConsistencyProof(
            CONSISTENCY_VERSION, first, n, self.root(first).hex(), self.root(n).hex(), [p.hex() for p in path]
        )


# -- signing and checking ------------------------------------------------------------------------------


def sign_tree_head(head: TreeHead, key: KeyPair) -> SignedTreeHead:
    return SignedTreeHead(head, *sign_head(STH_DOMAIN, head, key))


def check_tree_head(sth: SignedTreeHead, key: str | None = None) -> TreeHead:
    """Fields and signature (and, given ``key``, that the signer is that key)."""
    h = sth.head
    if h.version != STH_VERSION:
        raise ProofInvalid(f"unknown tree head version {h.version!r}")
    if type(h.tree_size) is not int or h.tree_size < 1:
        raise ProofInvalid("tree size must be a positive integer")
    for name in ("root_hash", "state_root", "row_hash"):
        _hex32(getattr(h, name), f"tree head {name}")
    check_head_signature(STH_DOMAIN, h, sth.signer, sth.signature, what="tree head", key=key)
    return h


def check_inclusion(proof: InclusionProof, root_hash: str | None = None) -> str:
    """Check the proof (against ``root_hash`` if given, else its own root); return the block's state root."""
    if proof.version != INCLUSION_VERSION:
        raise ProofInvalid(f"unknown inclusion proof version {proof.version!r}")
    try:
        data = bytes.fromhex(proof.leaf)
    except ValueError:
        raise ProofInvalid("leaf is not hex") from None
    if len(data) != 136 or int.from_bytes(data[:8], "big") != proof.height:
        raise ProofInvalid(f"leaf data is not row {proof.height}'s (136 bytes starting with its height)")
    root = _hex32(proof.root_hash if root_hash is None else root_hash, "root hash")
    if root_hash is not None and root_hash != proof.root_hash:
        raise ProofInvalid("proof is for another root than the expected one")
    path = [_hex32(p, "path entry") for p in proof.path]
    if not verify_inclusion(proof.height - 1, proof.tree_size, leaf_hash(data), path, root):
        raise ProofInvalid(f"block {proof.height} is not included in the log of size {proof.tree_size}")
    return leaf_state_root(data)


def check_consistency(
    proof: ConsistencyProof, old: TreeHead | None = None, new: TreeHead | None = None
) -> None:
    """The proof holds; with tree heads, it links exactly those two heads."""
    if proof.version != CONSISTENCY_VERSION:
        raise ProofInvalid(f"unknown consistency proof version {proof.version!r}")
    if old is not None and (old.tree_size, old.root_hash) != (proof.first, proof.first_root):
        raise ProofInvalid("the old tree head is not the proof's first tree")
    if new is not None and (new.tree_size, new.root_hash) != (proof.second, proof.second_root):
        raise ProofInvalid("the new tree head is not the proof's second tree")
    first_root = _hex32(proof.first_root, "first root")
    second_root = _hex32(proof.second_root, "second root")
    path = [_hex32(p, "path entry") for p in proof.path]
    if not verify_consistency(proof.first, proof.second, first_root, second_root, path):
        raise ProofInvalid(f"the log of size {proof.second} does not extend the log of size {proof.first}")


def encode(value: msgspec.Struct) -> bytes:
    return _encoder.encode(value)


def decode(data: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise ProofInvalid(f"not a {kind.__name__}: {err}") from None


__all__ = [
    "CONSISTENCY_VERSION",
    "INCLUSION_VERSION",
    "STH_DOMAIN",
    "STH_VERSION",
    "ConsistencyProof",
    "InclusionProof",
    "LogView",
    "ProofInvalid",
    "SignedTreeHead",
    "TreeHead",
    "check_consistency",
    "check_inclusion",
    "check_tree_head",
    "decode",
    "encode",
    "leaf_state_root",
    "row_leaf_data",
    "sign_tree_head",
]
