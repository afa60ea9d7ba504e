"""The Merkle tree of RFC 9162 (Certificate Transparency v2), section 2.1: hashes, proofs, verification.

``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left || right)``; a tree of ``n`` leaves splits
at ``k``, the largest power of two below ``n`` (so it is not padded). Generation follows the RFC's
recursive definitions (PATH, PROOF/SUBPROOF); verification follows its iterative algorithms
(2.1.3.2 and 2.1.4.2) word for word, so a proof made here verifies with any RFC 9162 implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_of(leaves: Sequence[bytes], lo: int = 0, hi: int | None = None) -> bytes:
    """MTH over the leaf hashes ``leaves[lo:hi]``."""
    hi = len(leaves) if hi is None else hi
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[lo]
    # iterative: complete subtrees bottom-up with a stack (RFC shape: left subtrees are powers of two)
    stack: list[tuple[int, bytes]] = []  # (size, hash)
    for i in range(lo, hi):
        size, h = 1, leaves[i]
        while stack and stack[-1][0] == size:
            s, left = stack.pop()
            h, size = node_hash(left, h), size + s
        stack.append((size, h))
    h = stack.pop()[1]
    while stack:
        h = node_hash(stack.pop()[1], h)
    return h


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) for ``m = index`` and ``n = len(leaves)`` (leaf hashes)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    out: list[bytes] = []

    def path(m: int, lo: int, hi: int) -> None:
        n = hi - lo
        if n == 1:
            return
        k = _split(n)
        if m < k:
            path(m, lo, lo + k)
            out.append(root_of(leaves, lo + k, hi))
        else:
            path(m - k, lo + k, hi)
            out.append(root_of(leaves, lo, lo + k))

    path(index, 0, len(leaves))
    return out


def consistency_path(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for ``m = first`` and ``n = len(leaves)``; ``0 < first <= n``."""
    n = len(leaves)
    if not 0 < first <= n:
        raise ValueError(f"no consistency proof from size {first} to {n}")
    out: list[bytes] = []

    def sub(m: int, lo: int, hi: int, complete: bool) -> None:
        n = hi - lo
        if m == n:
            if not complete:
                out.append(root_of(leaves, lo, hi))
            return
        k = _split(n)
        if m <= k:
            sub(m, lo, lo + k, complete)
            out.append(root_of(leaves, lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            out.append(root_of(leaves, lo, lo + k))

    sub(first, 0, n, True)
    return out


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2 (``first == second`` holds with an empty path and equal roots)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    proof = list(path)
    if first & (first - 1) == 0:
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class CompactLog:
    """An append-only RFC 9162 tree keeping only the roots of its perfect subtrees (O(log n) memory):
    ``append`` and ``root`` cost O(log n), so a node can sign a tree head every block without
    rehashing its history. Proofs still need the leaves (``inclusion_path`` / ``consistency_path``)."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes strictly decreasing

    def append(self, leaf: bytes) -> None:
        """Append a leaf *hash* (``leaf_hash(data)``)."""
        size, h = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            s, left = self._stack.pop()
            h, size = node_hash(left, h), size + s
        self._stack.append((size, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


__all__ = [
    "EMPTY_ROOT",
    "CompactLog",
    "consistency_path",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]
