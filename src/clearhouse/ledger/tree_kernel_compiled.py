"""The compiled loops of :mod:`clearhouse.ledger.tree_kernel` (imported only through
``tree_kernel.kernels``, which falls back to hashlib when this module cannot load).

Importing it needs Linux, numba and a libcrypto exporting ``SHA256_Init/Update/Final``, loaded into the
process for the compiled code (``llvmlite.binding.load_library_permanently``), which calls them by name;
the loops live at module level so numba's on-disk cache keeps them between processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

import llvmlite.binding as llvm  # type: ignore[import-untyped]
import numpy as np
from numba import njit
from numba import types as nbt

if not sys.platform.startswith("linux"):
    # e.g. macOS aborts a process that loads its unversioned system libcrypto: hashlib it is
    raise ImportError("the compiled tree hashing is used on Linux only")
_path = ctypes.util.find_library("crypto")
if _path is None:
    raise ImportError("no libcrypto found")
_lib = ctypes.CDLL(_path)
for _name in ("SHA256_Init", "SHA256_Update", "SHA256_Final"):
    getattr(_lib, _name)  # AttributeError if this libcrypto does not export it
llvm.load_library_permanently(_path)

_types: Any = nbt  # numba's type objects are untyped callables
_vp = _types.voidptr
sha_init = _types.ExternalFunction("SHA256_Init", _types.int32(_vp))
sha_update = _types.ExternalFunction("SHA256_Update", _types.int32(_vp, _vp, _types.uintp))
sha_final = _types.ExternalFunction("SHA256_Final", _types.int32(_vp, _vp))


@njit(cache=True, nogil=True)
def _node(ctx: Any, tag: Any, nodes: Any, child: int, parent: int) -> None:
    """``nodes[parent] = sha256(b"N" + nodes[child] + nodes[child + 1])`` (node indices, 32 bytes each)."""
    c = ctx.ctypes.data
    base = nodes.ctypes.data
    sha_init(c)
    sha_update(c, tag.ctypes.data, 1)
    sha_update(c, base + 32 * child, 64)
    sha_final(base + 32 * parent, c)


@njit(cache=True, nogil=True)
def update(nodes: Any, capacity: int, dirty: Any) -> None:
    """Rehash every ancestor of the ascending, distinct leaf positions ``dirty``, level by level."""
    ctx = np.zeros(512, dtype=np.uint8)  # SHA256_CTX is 112 bytes; room to spare
    tag = np.full(1, 78, dtype=np.uint8)  # b"N"
    cur = dirty.copy()
    n = cur.shape[0]
    width, off = capacity, 0
    while width > 1:
        up = off + width
        m, last = 0, -1
        for k in range(n):
            p = cur[k] // 2
            if p != last:  # ascending: two dirty siblings share their parent
                _node(ctx, tag, nodes, off + 2 * p, up + p)
                cur[m] = p
                m += 1
                last = p
        n = m
        width //= 2
        off = up


@njit(cache=True, nogil=True)
def rebuild(nodes: Any, capacity: int) -> None:
    """Hash every node above the leaves."""
    ctx = np.zeros(512, dtype=np.uint8)
    tag = np.full(1, 78, dtype=np.uint8)
    width, off = capacity, 0
    while width > 1:
        up = off + width
        for p in range(width // 2):
            _node(ctx, tag, nodes, off + 2 * p, up + p)
        width //= 2
        off = up
