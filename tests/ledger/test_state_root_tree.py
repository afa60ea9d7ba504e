"""The account tree's storage (wide levels as one bytearray, narrow ones as lists of bytes) gives the
roots of the definition: leaves padded with zero leaves to the next power of two, node =
sha256(b"N" + left + right)."""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger.state_root import MerkleTree

ZERO = bytes(32)


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


@pytest.mark.parametrize("compact", [1, MerkleTree.compact_width])
def test_worked_example_three_leaves(compact: int) -> None:
    tree = type("Tree", (MerkleTree,), {"compact_width": compact})()
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
@given(ops, st.sampled_from([1, 2, 4, 8, MerkleTree.compact_width]))
def test_incremental_roots_match_the_definition(program: list[tuple[str, int, int]], compact: int) -> None:
    """Appends, overwrites, truncations (rollbacks) and roots in any order: the same roots as a tree
    rebuilt from scratch, whichever levels are stored compact (``compact_width``). Like the engine,
    ``set`` only appends at the end or overwrites."""
    tree = type("Tree", (MerkleTree,), {"compact_width": compact})()
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


def test_a_large_tree_mixes_compact_and_list_levels() -> None:
    """At 3 x compact_width leaves the lowest levels are compact and the upper ones lists; overwrites,
    appends and a rollback across the capacity boundary give the definition's roots."""
    n = 3 * MerkleTree.compact_width
    leaves = [leaf(i) for i in range(n)]
    tree = MerkleTree()
    for i, x in enumerate(leaves):
        tree.set(i, x)
    assert tree.root() == reference_root(leaves)
    leaves[5], leaves[n - 1] = leaf(-1 % 2**63), leaf(7)
    tree.set(5, leaves[5])
    tree.set(n - 1, leaves[n - 1])
    assert tree.root() == reference_root(leaves)
    tree.truncate(MerkleTree.compact_width + 1)  # capacity 4 x compact_width -> 2 x compact_width
    assert tree.root() == reference_root(leaves[: MerkleTree.compact_width + 1])


class _SmallCompactTree(MerkleTree):
    compact_width = 2


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))])
def test_a_tree_with_compact_levels_copies_and_pickles(clone: Callable[[MerkleTree], MerkleTree]) -> None:
    """Compact levels are memoryviews, which neither pickle nor deep-copy by themselves: the copy has
    the same root, pending (dirty) leaves included, and is independent of the original."""
    tree = _SmallCompactTree()
    leaves = [leaf(i) for i in range(9)]
    for i, x in enumerate(leaves):
        tree.set(i, x)
    tree.root()
    tree.set(3, leaf(99))  # dirty, not yet hashed
    leaves[3] = leaf(99)
    twin = clone(tree)
    assert twin.root() == tree.root() == reference_root(leaves)
    twin.set(0, leaf(7))
    assert tree.root() == reference_root(leaves) != twin.root()
