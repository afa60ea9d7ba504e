"""Compiled hashing of the account tree's nodes (``ledger.state_root.MerkleTree``), when available.

A node is ``sha256(b"N" + left + right)``. Through ``hashlib`` each costs ~0.45 us, almost all of it
the per-call set-up of an OpenSSL digest object; a block that closes out twenty accounts of 10,000
rehashes ~250 nodes that way (~0.1 ms). Here a numba-compiled loop calls OpenSSL's own SHA-256
(``SHA256_Init/Update/Final`` of the libcrypto that ``hashlib`` uses) once per node, ~0.1 us each, and
walks the dirty paths level by level without Python in between (the loops: ``tree_kernel_compiled``).

The same function, the same bytes: SHA-256 is SHA-256 (the first use checks the compiled path against
``hashlib`` on fixed inputs and falls back if anything differs). Off Linux, without numba, without a
libcrypto exporting those symbols, or if compiling fails, :func:`kernels` returns None and the tree
hashes with ``hashlib`` in Python: identical roots (``tests/ledger/test_state_root_tree.py`` runs both).

The tree's nodes are one flat buffer: level ``d`` (0 = leaves) holds ``capacity >> d`` nodes of 32 bytes
starting at node ``offset(d) = sum_{e < d} capacity >> e``; the last node is the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: ``update(nodes, capacity, dirty)``: rehash every ancestor of the (ascending, distinct) leaf positions
#: ``dirty``; ``rebuild(nodes, capacity)``: every node above the leaves.
Kernels = tuple[Callable[[NDArray[np.uint8], int, NDArray[np.int64]], None],
                Callable[[NDArray[np.uint8], int], None]]  # fmt: skip

_state: dict[str, Any] = {}


def kernels() -> Kernels | None:
    """The compiled update and rebuild loops, or None when they cannot be used here (tried once)."""
    if "kernels" not in _state:
        try:
            _state["kernels"] = _build()
        except Exception:  # any failure means: hash in Python (identical roots)
            _state["kernels"] = None
    result: Kernels | None = _state["kernels"]
    return result


def _build() -> Kernels | None:
    from clearhouse.ledger.tree_kernel_compiled import rebuild, update

    # Check the compiled path against hashlib on a small tree before trusting it.
    cap = 8
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(cap)]
    nodes = np.zeros(32 * (2 * cap - 1), dtype=np.uint8)
    nodes[: 32 * cap] = np.frombuffer(b"".join(leaves), dtype=np.uint8)
    rebuild(nodes, cap)
    level = leaves
    while len(level) > 1:
        level = [hashlib.sha256(b"N" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    if nodes[-32:].tobytes() != level[0]:
        return None
    nodes[32 * 3 : 32 * 4] = 7
    update(nodes, cap, np.array([3], dtype=np.int64))
    leaves[3] = bytes([7]) * 32
    level = leaves
    while len(level) > 1:
        level = [hashlib.sha256(b"N" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    if nodes[-32:].tobytes() != level[0]:
        return None
    kernels: Kernels = (update, rebuild)
    return kernels
