"""Bit-reproducible float helpers for path generation.

NumPy dispatches ``exp``/``log`` to CPU-specific SIMD kernels (e.g. AVX-512 on some x86 machines)
whose last bit can differ from the scalar fallback, and ``@``/``cholesky`` go through BLAS/LAPACK whose
summation order depends on the library. A one-ulp difference changes the WAD integer the engine
sees, so paths use only IEEE-754 basic operations (``+ - * /``, ``sqrt``, ``ldexp``, ``rint``), which
are correctly rounded everywhere, in a fixed order:

* :func:`det_exp` — Cody–Waite range reduction and a degree-13 Taylor polynomial (≤ 2 ulp);
* :func:`cholesky` — plain Python Cholesky–Banachiewicz with ``math.sqrt``;
* :func:`correlate` — ``z_i = Σ_{j≤i} L[i][j]·ε_j`` accumulated left to right with elementwise ufuncs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_LN2_HI: Final = 6.93147180369123816490e-01  # fdlibm: high bits of ln 2 (k·LN2_HI exact)
_LN2_LO: Final = 1.90821492927058770002e-10
_INV_LN2: Final = 1.44269504088896338700e00
_COEFFS: Final = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))  # 1/13!, ..., 1/1!, 1


def det_exp(x: F64 | float) -> F64:
    """``exp(x)`` elementwise, bit-identical on every IEEE-754 machine (relative error ≤ ~2 ulp).

    ``det_exp(0) == 1`` exactly. Overflows to ``inf`` above ~709.78 and underflows to 0 below ~-745.
    """
    a = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        clipped = np.clip(a, -1100.0, 1100.0)
        k = np.rint(clipped * _INV_LN2)
        r = (clipped - k * _LN2_HI) - k * _LN2_LO
        p = np.full_like(r, _COEFFS[0])
        for c in _COEFFS[1:]:
            p = p * r + c
        out: F64 = np.ldexp(p, k.astype(np.int32))
    out = np.where(np.isnan(a), np.nan, out)
    return out


def cholesky(matrix: Sequence[Sequence[float]], tol: float = 1e-12) -> list[list[float]]:
    """Lower-triangular ``L`` with ``L Lᵀ = matrix`` for a symmetric positive *semi*-definite matrix.

    A pivot at or below ``tol`` (a perfectly dependent asset) gives a zero column instead of failing.
    The caller validates symmetry and semi-definiteness first.
    """
    n = len(matrix)
    lower = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = float(matrix[i][j])
            for k in range(j):
                s -= lower[i][k] * lower[j][k]
            if i == j:
                lower[i][i] = math.sqrt(s) if s > tol else 0.0
            elif lower[j][j] > 0.0:
                lower[i][j] = s / lower[j][j]
    return lower


def correlate(eps: F64, lower: Sequence[Sequence[float]] | None) -> F64:
    """Apply ``L`` to independent standard normals ``eps`` (shape ``(steps, assets)``) row by row."""
    if lower is None:
        return eps
    out = np.zeros_like(eps)
    n = eps.shape[1]
    for i in range(n):
        acc = np.zeros(eps.shape[0], dtype=np.float64)
        for j in range(i + 1):
            if lower[i][j] != 0.0:
                acc = acc + lower[i][j] * eps[:, j]
        out[:, i] = acc
    return out
