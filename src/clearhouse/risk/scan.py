"""Fast scan: float64 screening of every account at once, with a sound safety margin.

"Fast scan, exact enforce": the scan nominates *candidates*; enforcement re-checks each candidate with
the exact integer margin (:mod:`clearhouse.ledger.margin`) before acting. The scan must therefore never
miss an account the exact check would liquidate (false positives are fine, false negatives are not).

Error bound (see ``docs/risk.md`` for the derivation). Let ``u = 2**-53`` and ``gamma_k = k u / (1 - k u)``.
Every stored input and price is one correctly rounded conversion of an exact integer. For an account
with ``A`` assets and ``M`` markets, the computed ``E_hat`` and ``MM_hat`` satisfy (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., sec. 3.1-4.2: every expression of depth ``k`` is within
``gamma_k`` times the same expression evaluated on absolute values)::

    |E_hat - E_real| + |MM_hat - MM_real| <= gamma_k * T,   k = M + A + 8,
    T = sum_a |bal_a| p_a h_a + sum_m (|s_m| (P_m + |F_m| + |snap_m|) + |e_m| + |s_m| P_m mm_m)

and the ledger's integer rounding (floors of value, ceilings of funding owed and of requirements) gives
``E_int >= E_real - (A + 2M)`` and ``MM_int <= MM_real + M`` integer units (1 unit = 1e-18 here). Hence
``E_int < MM_int`` implies ``E_hat < MM_hat + gamma_k T + (A + 3M) 1e-18``. The scan nominates::

    E_hat < MM_hat * (1 + margin) + abs_tolerance + 2 gamma_k T_hat + (A + 3M + 1) 1e-18

The factor 2 covers ``T_hat`` being itself a float (``T_hat >= (1 - gamma_k) T``) and the rounding of
the right-hand side; ``margin`` (default 1e-9) and ``abs_tolerance`` (default 0) are optional extra
headroom. A relative margin on ``MM`` alone is *not* sound: with large collateral offset by a large
loss, the float error scales with ``T``, not with ``MM``. Isolated positions use the same bound with
``A = 0``, ``M = 1`` plus the margin term.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from clearhouse.ledger.errors import InvalidValue, MissingPrice
from clearhouse.ledger.fixedpoint import MAX_ABS, WAD
from clearhouse.risk.columnar import B1, F64, ColumnarBook

try:  # numba is an optional dependency (extra "fast")
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False

U = 2.0**-53
INT_UNIT = 1e-18
DEFAULT_MARGIN = 1e-9
DEFAULT_CAP = 50

Backend = Literal["auto", "numba", "numpy"]


class ScanMissingPrice(MissingPrice):
    """The scan was given no price for a market oracle key or a collateral asset it needs."""


class ScanInvalidPrice(InvalidValue):
    """The scan was given a NaN, infinite, non-positive, out-of-range or mistyped price."""


def gamma(k: int) -> float:
    """Higham's ``gamma_k = k u / (1 - k u)`` for float64."""
    ku = k * U
    if ku >= 0.5:
        raise InvalidValue(f"gamma_{k}: too many terms for a float64 error bound")
    return ku / (1.0 - ku)


# -- prices --------------------------------------------------------------------------------------


def price_keys(book: ColumnarBook) -> tuple[str, ...]:
    """Keys a price array must be aligned with: market oracle keys and non-settlement assets, sorted."""
    return tuple(sorted((set(book.oracles) | set(book.assets)) - {book.settlement}))


def price_vectors(
    book: ColumnarBook, prices: Mapping[str, int] | NDArray[np.float64]
) -> tuple[F64, F64]:
    """(per-market index price, per-asset price), both float64 in WAD units (2000.0 = 2000 USDC).

    ``prices`` is either a mapping key -> integer WAD price (as in ``LedgerState.prices`` values), or a
    float64 array aligned with :func:`price_keys` in WAD units. The settlement asset is priced at exactly
    1. Anything missing, NaN, infinite, <= 0, >= 2^255 (WAD) or of the wrong type is refused.
    """
    keys = price_keys(book)
    table: dict[str, float] = {}
    if isinstance(prices, np.ndarray):
        if prices.shape != (len(keys),):
            raise ScanMissingPrice(
                f"price array has shape {prices.shape}, expected ({len(keys)},) for {keys}"
            )
        if prices.dtype.kind != "f":
            raise ScanInvalidPrice(f"price array must be float64 (WAD units), got {prices.dtype}")
        for key, value in zip(keys, prices.tolist(), strict=True):
            if not math.isfinite(value) or value <= 0.0 or value >= MAX_ABS / WAD:
                raise ScanInvalidPrice(f"price of {key} is {value!r}: must be finite and > 0")
            table[key] = float(value)
    else:
        for key in keys:
            if key not in prices:
                raise ScanMissingPrice(f"risk scan: no price for {key}")
            value = prices[key]
            if type(value) is not int:
                raise ScanInvalidPrice(f"price of {key} must be an integer WAD, got {value!r}")
            if not 0 < value < MAX_ABS:
                raise ScanInvalidPrice(f"price of {key} is {value}: must be in (0, 2^255)")
            table[key] = value / WAD
    table[book.settlement] = 1.0
    market = np.array([table[k] for k in book.oracles], dtype=np.float64)
    asset = np.array([table[a] for a in book.assets], dtype=np.float64)
    return market, asset


# -- kernels ------------------------------------------------------------------------------------
# Both kernels return (equity, initial, maintenance, magnitude) for the cross bucket (n,) and
# (equity, maintenance, magnitude) for each isolated slot (n, M). They evaluate the same expressions;
# the numba one sums sequentially, numpy pairwise; both are within the gamma_k bound.


def _kernel_numpy(
    size: F64, entry: F64, snap: F64, margin: F64, iso: B1, cross: B1, bal: F64,
    mprice: F64, funding: F64, im: F64, mm: F64, aprice: F64, haircut: F64,
) -> tuple[F64, F64, F64, F64, F64, F64, F64]:  # fmt: skip
    absz = np.abs(size)
    value = size * mprice - entry - size * (funding - snap)
    notional = absz * mprice
    mmr = notional * mm
    imr = notional * im
    mag = absz * (mprice + np.abs(funding) + np.abs(snap)) + np.abs(entry) + mmr
    weight = np.where(bal > 0.0, aprice * haircut, aprice)
    coll = bal * weight
    equity = coll.sum(axis=1) + np.where(cross, value, 0.0).sum(axis=1)
    initial = np.where(cross, imr, 0.0).sum(axis=1)
    maint = np.where(cross, mmr, 0.0).sum(axis=1)
    magnitude = np.abs(coll).sum(axis=1) + np.where(cross, mag, 0.0).sum(axis=1)
    iso_equity = np.where(iso, margin + value, 0.0)
    iso_maint = np.where(iso, mmr, 0.0)
    iso_mag = np.where(iso, np.abs(margin) + mag, 0.0)
    return equity, initial, maint, magnitude, iso_equity, iso_maint, iso_mag


def _kernel_python_row(
    size: Sequence[float], entry: Sequence[float], snap: Sequence[float], cross: Sequence[bool],
    bal: Sequence[float], mprice: Sequence[float], funding: Sequence[float], mm: Sequence[float],
    aprice: Sequence[float], haircut: Sequence[float],
) -> tuple[float, float]:  # fmt: skip
    """(equity, maintenance) of one account's cross bucket in plain Python floats (benchmark baseline)."""
    eq = 0.0
    mmt = 0.0
    for a in range(len(bal)):
        b = bal[a]
        eq += b * aprice[a] * haircut[a] if b > 0.0 else b * aprice[a]
    for j in range(len(size)):
        if cross[j]:
            s = size[j]
            eq += s * mprice[j] - entry[j] - s * (funding[j] - snap[j])
            mmt += abs(s) * mprice[j] * mm[j]
    return eq, mmt


if HAVE_NUMBA:

    @njit(cache=True)
    def _kernel_numba(
        size: F64, entry: F64, snap: F64, margin: F64, iso: B1, cross: B1, bal: F64,
        mprice: F64, funding: F64, im: F64, mm: F64, aprice: F64, haircut: F64,
    ) -> tuple[F64, F64, F64, F64, F64, F64, F64]:  # fmt: skip
        n, m = size.shape
        na = bal.shape[1]
        equity = np.zeros(n)
        initial = np.zeros(n)
        maint = np.zeros(n)
        magnitude = np.zeros(n)
        iso_equity = np.zeros((n, m))
        iso_maint = np.zeros((n, m))
        iso_mag = np.zeros((n, m))
        for i in range(n):
            eq = 0.0
            imt = 0.0
            mmt = 0.0
            mag = 0.0
            for a in range(na):
                b = bal[i, a]
                c = b * (aprice[a] * haircut[a]) if b > 0.0 else b * aprice[a]
                eq += c
                mag += abs(c)
            for j in range(m):
                s = size[i, j]
                if not (cross[i, j] or iso[i, j]):
                    continue
                absz = abs(s)
                value = s * mprice[j] - entry[i, j] - s * (funding[j] - snap[i, j])
                notional = absz * mprice[j]
                mmr = notional * mm[j]
                pmag = absz * (mprice[j] + abs(funding[j]) + abs(snap[i, j])) + abs(entry[i, j]) + mmr
                if cross[i, j]:
                    eq += value
                    imt += notional * im[j]
                    mmt += mmr
                    mag += pmag
                if iso[i, j]:
                    iso_equity[i, j] = margin[i, j] + value
                    iso_maint[i, j] = mmr
                    iso_mag[i, j] = abs(margin[i, j]) + pmag
            equity[i] = eq
            initial[i] = imt
            maint[i] = mmt
            magnitude[i] = mag
        return equity, initial, maint, magnitude, iso_equity, iso_maint, iso_mag


# -- scan ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Approximate margin of every row of the mirror, and the nominated candidates.

    Arrays are indexed by mirror row (``book.account_ids``); values are float64 in WAD units.
    ``health`` is ``equity / maintenance`` (``+inf`` / ``-inf`` when nothing is required).
    ``tolerance`` is the per-row slack the candidate test allowed beyond ``maintenance``.
    """

    equity: F64
    initial: F64
    maintenance: F64
    health: F64
    tolerance: F64
    iso_equity: F64
    iso_maintenance: F64
    iso_health: F64
    #: Cross candidates, most underwater (lowest health) first, ties by mirror row.
    candidates: tuple[str, ...]
    candidate_health: tuple[float, ...]
    #: Isolated (account, market) candidates, lowest health first, ties by (row, market column).
    isolated_candidates: tuple[tuple[str, str], ...]
    isolated_health: tuple[float, ...]
    backend: str


def _health(equity: F64, maint: F64) -> F64:
    out = np.where(equity >= 0.0, np.inf, -np.inf)
    np.divide(equity, maint, out=out, where=maint > 0.0)
    return out


def scan(
    book: ColumnarBook,
    prices: Mapping[str, int] | NDArray[np.float64],
    *,
    margin: float = DEFAULT_MARGIN,
    abs_tolerance: float = 0.0,
    backend: Backend = "auto",
) -> ScanResult:
    """Screen every account and isolated position of ``book`` at ``prices`` (see module docstring)."""
    for name, extra in (("margin", margin), ("abs_tolerance", abs_tolerance)):
        if not (math.isfinite(extra) and extra >= 0.0):
            raise InvalidValue(f"scan {name} {extra!r} must be finite and >= 0")
    mprice, aprice = price_vectors(book, prices)
    if backend == "auto":
        backend = "numba" if HAVE_NUMBA else "numpy"
    if backend == "numba" and not HAVE_NUMBA:
        raise InvalidValue("numba backend requested but numba is not installed")
    kernel = _kernel_numba if backend == "numba" else _kernel_numpy
    n_markets, n_assets = len(book.markets), len(book.assets)
    equity, initial, maint, mag, iso_eq, iso_mm, iso_mag = kernel(
        book.size, book.entry, book.snapshot, book.margin, book.isolated, book.cross, book.balances,
        mprice, book.funding, book.im_frac, book.mm_frac, aprice, book.haircut,
    )  # fmt: skip
    g = gamma(n_markets + n_assets + 8)
    tol = maint * margin + abs_tolerance + 2.0 * g * mag + (n_assets + 3 * n_markets + 1) * INT_UNIT
    health = _health(equity, maint)
    flagged = np.flatnonzero(equity < maint + tol)
    order = flagged[np.lexsort((flagged, health[flagged]))]
    ids = book.account_ids

    iso_tol = iso_mm * margin + abs_tolerance + 2.0 * gamma(10) * iso_mag + 5 * INT_UNIT
    iso_health = _health(iso_eq, iso_mm)
    iso_health = np.where(book.isolated, iso_health, np.nan)
    rows, cols = np.nonzero(book.isolated & (iso_eq < iso_mm + iso_tol))
    iso_order = np.lexsort((cols, rows, iso_health[rows, cols]))
    rows, cols = rows[iso_order], cols[iso_order]
    return ScanResult(
        equity=equity,
        initial=initial,
        maintenance=maint,
        health=health,
        tolerance=tol,
        iso_equity=iso_eq,
        iso_maintenance=iso_mm,
        iso_health=iso_health,
        candidates=tuple(ids[i] for i in order.tolist()),
        candidate_health=tuple(health[order].tolist()),
        isolated_candidates=tuple(
            (ids[r], book.markets[c]) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
        ),
        isolated_health=tuple(iso_health[rows, cols].tolist()),
        backend=backend,
    )


def warm_up() -> float:
    """Compile (or load from cache) the numba kernel; returns the seconds it took (0 without numba)."""
    if not HAVE_NUMBA:
        return 0.0
    t0 = time.perf_counter()
    z = np.zeros((1, 1))
    b = np.zeros((1, 1), dtype=np.bool_)
    v = np.ones(1)
    _kernel_numba(z, z, z, z, b, b, z, v, v, v, v, v, v)
    return time.perf_counter() - t0


# -- ordering -----------------------------------------------------------------------------------

K = TypeVar("K", str, tuple[str, str])


def order_candidates(
    candidates: Sequence[K], healths: Sequence[float] | F64, height: int, cap: int = DEFAULT_CAP
) -> list[K]:
    """At most ``cap`` candidates to act on at block ``height``, lowest health first.

    Deterministic and starvation-free: the ``ceil(cap / 2)`` most underwater candidates (by
    ``(health, key)``) always go first; the remaining ``floor(cap / 2)`` slots are a window over the
    other candidates sorted by key, starting at ``(height * slots) mod len(rest)`` and wrapping. Over
    consecutive heights the window walks through the whole list, so a candidate that stays a candidate
    is picked within ``ceil(len(rest) / slots)`` blocks. No hashing, no randomness.
    """
    if type(cap) is not int or cap < 1:
        raise InvalidValue(f"cap must be a positive int, got {cap!r}")
    hs = [float(h) for h in healths]
    if len(hs) != len(candidates):
        raise InvalidValue(f"{len(candidates)} candidates but {len(hs)} healths")
    if any(math.isnan(h) for h in hs):
        raise InvalidValue("candidate health is NaN")
    ranked = sorted(zip(hs, candidates, strict=True), key=lambda hk: (hk[0], hk[1]))
    if len(ranked) <= cap:
        return [k for _, k in ranked]
    slots = cap // 2
    head = ranked[: cap - slots]
    rest = sorted(ranked[cap - slots :], key=lambda hk: hk[1])
    if slots:
        start = (height * slots) % len(rest)
        window = [rest[(start + i) % len(rest)] for i in range(min(slots, len(rest)))]
    else:
        window = []
    chosen = sorted(head + window, key=lambda hk: (hk[0], hk[1]))
    return [k for _, k in chosen]
