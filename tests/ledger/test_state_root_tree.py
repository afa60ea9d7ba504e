"""The account tree (every level in one flat buffer, nodes hashed by the compiled loops of
``ledger.tree_kernel`` or by hashlib in Python) gives the roots of the definition: leaves padded with
zero leaves to the next power of two, node = sha256(b"N" + left + right)."""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger import tree_kernel
from clearhouse.ledger.state_root import MerkleTree

ZERO = bytes(32)


class KernelTree(MerkleTree):
    """Every root through the compiled loops (when this machine has them)."""

    kernel_min_capacity = 1


class PythonTree(MerkleTree):
    """Every root with hashlib in Python."""

    kernel_min_capacity = 2**62


PATHS = [KernelTree, PythonTree]


def reference_root(leaves: list[bytes]) -> bytes:
    """The root straight from the definition (capacity = next power of two >= len, at least 1)."""
    capacity = 1
    while capacity < len(leaves):
        capacity *= 2
    level = leaves + [ZERO] * (capacity - len(leaves))
    while len(level) > 1:
        level = [hashlib.sha256(b"N" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def leaf(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


@pytest.mark.parametrize("tree_class", PATHS)
def test_worked_example_three_leaves(tree_class: type[MerkleTree]) -> None:
    tree = tree_class()
    assert tree.root() == ZERO
    a, b, c = leaf(1), leaf(2), leaf(3)
    tree.set(0, a)
    assert tree.root() == a  # one leaf: capacity 1, the root is the leaf
    tree.set(1, b)
    tree.set(2, c)
    left = hashlib.sha256(b"N" + a + b).digest()
    right = hashlib.sha256(b"N" + c + ZERO).digest()
    assert tree.root() == hashlib.sha256(b"N" + left + right).digest()
    assert len(tree) == 3
    tree.truncate(1)
    assert tree.root() == a and len(tree) == 1
    tree.truncate(0)
    assert tree.root() == ZERO and len(tree) == 0


def test_leaf_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        MerkleTree().set(0, b"short")


ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 40), st.integers(0, 10**6)),
        st.tuples(st.just("truncate"), st.integers(0, 40), st.just(0)),
        st.tuples(st.just("root"), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops, st.sampled_from(PATHS))
def test_incremental_roots_match_the_definition(
    program: list[tuple[str, int, int]], tree_class: type[MerkleTree]
) -> None:
    """Appends, overwrites, truncations (rollbacks) and roots in any order: the same roots as a tree
    rebuilt from scratch, with the compiled loops or without. Like the engine, ``set`` only appends at
    the end or overwrites."""
    tree = tree_class()
    leaves: list[bytes] = []
    for op, index, value in program:
        if op == "set":
            index = min(index, len(leaves))  # the engine's indices: existing ones or the next one
            if index == len(leaves):
                leaves.append(leaf(value))
            else:
                leaves[index] = leaf(value)
            tree.set(index, leaves[index])
        elif op == "truncate":
            del leaves[index:]
            tree.truncate(index)
        else:
            assert tree.root() == reference_root(leaves)
        assert len(tree) == len(leaves)
    assert tree.root() == reference_root(leaves)


@pytest.mark.parametrize("tree_class", PATHS)
def test_a_large_tree(tree_class: type[MerkleTree]) -> None:
    """A few thousand leaves: overwrites, appends and a rollback across the capacity boundary give the
    definition's roots on either path."""
    n = 3 * 1024
    leaves = [leaf(i) for i in range(n)]
    tree = tree_class()
    for i, x in enumerate(leaves):
        tree.set(i, x)
    assert tree.root() == reference_root(leaves)
    for i in (5, 6, 700, 1500, n - 1):
        leaves[i] = leaf(-i % 2**63)
        tree.set(i, leaves[i])
    assert tree.root() == reference_root(leaves)
    tree.truncate(1025)  # capacity 4096 -> 2048
    assert tree.root() == reference_root(leaves[:1025])


def test_the_compiled_loops_load_where_numba_and_libcrypto_are() -> None:
    """On Linux where numba is installed (the ``fast`` extra) and libcrypto exports SHA256_*, the tree
    uses the compiled loops (else every test above ran the hashlib path twice)."""
    pytest.importorskip("numba")
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux") or ctypes.util.find_library("crypto") is None:
        pytest.skip("the compiled loops are used on Linux with a libcrypto only")
    assert tree_kernel.kernels() is not None


@pytest.mark.parametrize("size", [9, 3000])  # nodes in a bytearray; in an anonymous mapping
@pytest.mark.parametrize("tree_class", PATHS)
@pytest.mark.parametrize("clone", [copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))])
def test_a_tree_copies_and_pickles(
    clone: Callable[[MerkleTree], MerkleTree], tree_class: type[MerkleTree], size: int
) -> None:
    """The copy has the same root, pending (dirty) leaves included, and is independent of the original."""
    tree = tree_class()
    leaves = [leaf(i) for i in range(size)]
    for i, x in enumerate(leaves):
        tree.set(i, x)
    tree.root()
    tree.set(3, leaf(99))  # dirty, not yet hashed
    leaves[3] = leaf(99)
    twin = clone(tree)
    assert twin.root() == tree.root() == reference_root(leaves)
    twin.set(0, leaf(7))
    assert tree.root() == reference_root(leaves) != twin.root()
