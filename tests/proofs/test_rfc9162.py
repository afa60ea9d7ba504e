"""RFC 9162 Merkle tree: reference roots, and every inclusion and consistency proof for random sizes."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.proofs.rfc9162 import (
    EMPTY_ROOT,
    CompactLog,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The test leaves and roots of Certificate Transparency's reference implementation (RFC 6962 and 9162
# share the tree): roots of the first n leaves for n = 1..8.
DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _mth(leaves: list[bytes]) -> bytes:
    """The RFC's recursive definition, independent of the iterative ``root_of``."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_reference_roots() -> None:
    leaves = [leaf_hash(d) for d in DATA]
    assert root_of([]) == EMPTY_ROOT
    for n in range(1, 9):
        assert root_of(leaves[:n]).hex() == ROOTS[n - 1]
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _flip(b: bytes, bit: int) -> bytes:
    i = (bit // 8) % len(b)
    return b[:i] + bytes([b[i] ^ (1 << (bit % 8))]) + b[i + 1 :]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies_and_any_altered_byte_fails(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    root = root_of(leaves)
    assert root == _mth(leaves)
    m = data.draw(st.integers(0, n - 1))
    path = inclusion_path(m, leaves)
    assert verify_inclusion(m, n, leaves[m], path, root)
    assert len(path) <= n.bit_length()
    bit = data.draw(st.integers(0, 255))
    assert not verify_inclusion(m, n, leaves[m], path, _flip(root, bit))
    assert not verify_inclusion(m, n, _flip(leaves[m], bit), path, root)
    if path:
        j = data.draw(st.integers(0, len(path) - 1))
        bad = [*path[:j], _flip(path[j], bit), *path[j + 1 :]]
        assert not verify_inclusion(m, n, leaves[m], bad, root)
        assert not verify_inclusion(m, n, leaves[m], path[:-1], root)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda x: x != m))
        assert not verify_inclusion(other, n, leaves[m], path, root)


def test_all_inclusion_proofs_small_sizes() -> None:
    for n in range(1, 34):
        leaves = _leaves(n)
        root = root_of(leaves)
        for m in range(n):
            assert verify_inclusion(m, n, leaves[m], inclusion_path(m, leaves), root)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_consistency_proof_verifies_and_any_altered_byte_fails(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    m = data.draw(st.integers(1, n))
    old, new = root_of(leaves[:m]), root_of(leaves)
    path = consistency_path(m, leaves)
    assert verify_consistency(m, n, old, new, path)
    bit = data.draw(st.integers(0, 255))
    assert not verify_consistency(m, n, _flip(old, bit), new, path)
    assert not verify_consistency(m, n, old, _flip(new, bit), path)
    if path:
        j = data.draw(st.integers(0, len(path) - 1))
        bad = [*path[:j], _flip(path[j], bit), *path[j + 1 :]]
        assert not verify_consistency(m, n, old, new, bad)
    # a rewritten history: same size, one old leaf changed
    if m < n:
        k = data.draw(st.integers(0, m - 1))
        forked = [*leaves[:k], leaf_hash(b"rewritten"), *leaves[k + 1 :]]
        assert not verify_consistency(m, n, old, root_of(forked), consistency_path(m, forked))


def test_all_consistency_proofs_small_sizes() -> None:
    for n in range(1, 34):
        leaves = _leaves(n)
        for m in range(1, n + 1):
            assert verify_consistency(m, n, root_of(leaves[:m]), root_of(leaves), consistency_path(m, leaves))


def test_compact_log_root_equals_the_full_tree_for_every_size() -> None:
    leaves = _leaves(300)
    log = CompactLog()
    assert log.root() == EMPTY_ROOT
    for n, leaf in enumerate(leaves, start=1):
        log.append(leaf)
        assert log.size == n
        assert log.root() == root_of(leaves[:n]) == _mth(leaves[:n])
