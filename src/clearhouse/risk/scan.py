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
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, Literal, NoReturn, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from clearhouse.core.errors import InvalidValue, MissingPrice
from clearhouse.core.fixedpoint import MAX_ABS, WAD
from clearhouse.ledger.enforcement import rotate_by_health
from clearhouse.risk.columnar import F64, I32, I64, U8, ColumnarBook

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
T = TypeVar("T")


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
    return _price_keys(book.oracles, book.assets, book.settlement)


@lru_cache(maxsize=64)
def _price_keys(oracles: tuple[str, ...], assets: tuple[str, ...], settlement: str) -> tuple[str, ...]:
    """:func:`price_keys` by the book's columns (a tick's fixed cost: computed once per column set)."""
    return tuple(sorted((set(oracles) | set(assets)) - {settlement}))


_MAX_PRICE = MAX_ABS / WAD


def price_vectors(
    book: ColumnarBook, prices: Mapping[str, int] | NDArray[np.float64]
) -> tuple[F64, F64]:
    """(per-market index price, per-asset price), both float64 in WAD units (2000.0 = 2000 USDC).

    ``prices`` is either a mapping key -> integer WAD price (as in ``LedgerState.prices`` values), or a
    float64 array aligned with :func:`price_keys` in WAD units. The settlement asset is priced at exactly
    1. Anything missing, NaN, infinite, <= 0, >= 2^255 (WAD) or of the wrong type is refused.
    """
    keys = price_keys(book)
    values: list[float]
    if isinstance(prices, np.ndarray):
        if prices.shape != (len(keys),):
            raise ScanMissingPrice(
                f"price array has shape {prices.shape}, expected ({len(keys)},) for {keys}"
            )
        if prices.dtype.kind != "f":
            raise ScanInvalidPrice(f"price array must be float64 (WAD units), got {prices.dtype}")
        values = prices.tolist()
        for key, value in zip(keys, values, strict=True):
            if not math.isfinite(value) or value <= 0.0 or value >= _MAX_PRICE:
                raise ScanInvalidPrice(f"price of {key} is {value!r}: must be finite and > 0")
    else:
        values = []
        get = prices.get
        for key in keys:
            price = get(key)
            if type(price) is not int or not 0 < price < MAX_ABS:
                _refuse_price(prices, key)
            values.append(price / WAD)
    values.append(1.0)  # the settlement asset
    market_idx, asset_idx = _price_index(book.oracles, book.assets, book.settlement)
    vec = np.array(values, dtype=np.float64)
    return vec[market_idx], vec[asset_idx]


def _refuse_price(prices: Mapping[str, int], key: str) -> NoReturn:
    """Raise the typed error for a mapping's missing or invalid price of ``key``."""
    if key not in prices:
        raise ScanMissingPrice(f"risk scan: no price for {key}")
    value = prices[key]
    if type(value) is not int:
        raise ScanInvalidPrice(f"price of {key} must be an integer WAD, got {value!r}")
    raise ScanInvalidPrice(f"price of {key} is {value}: must be in (0, 2^255)")


@lru_cache(maxsize=64)
def _price_index(oracles: tuple[str, ...], assets: tuple[str, ...], settlement: str) -> tuple[I64, I64]:
    """Per market oracle and per asset, its index in :func:`price_keys` (the settlement asset: one
    past the end, where :func:`price_vectors` puts its price 1)."""
    keys = _price_keys(oracles, assets, settlement)
    where = {k: i for i, k in enumerate(keys)} | {settlement: len(keys)}
    market = np.array([where[k] for k in oracles], dtype=np.int64)
    asset = np.array([where[a] for a in assets], dtype=np.int64)
    market.flags.writeable = False
    asset.flags.writeable = False
    return market, asset


# -- kernels ------------------------------------------------------------------------------------
# Both kernels read the mirror's sparse pools (``ColumnarBook.cross_pool`` / ``iso_pool``: per row a
# start and a length into flat per-position arrays, ascending market column within a row), evaluate
# the same expressions in the same order (per market, ``P*mm``, ``P*im`` and ``P + |F|`` are formed
# once per tick) and return the same tuple:
#
#   per row (n,):        equity, initial (numpy only; None from numba), maintenance, tolerance
#   cross candidates:    mirror rows (int64, ascending)
#   per isolated slot:   row, column (int64, row-major order), equity, maintenance, health, tolerance
#   isolated candidates: indices into the slot arrays (int64, ascending)
#
# Per row both add the collateral terms (asset order), then the cross positions in ascending market
# column: the order of the former dense kernels, whose empty cells added only zeros, so the floats are
# the same bit for bit. Neither builds an n x M temporary.

KernelOut = tuple[F64, F64 | None, F64, F64, I64, I64, I64, F64, F64, F64, F64, I64]
#: The mirror as the kernels read it: balances (n x A), then per pool start, length (per row), column
#: and value records (per position): cross (size, entry, snapshot), isolated (..., margin).
Mirror = tuple[F64, I32, I32, I32, F64, I32, I32, I32, F64]


def mirror_arrays(book: ColumnarBook) -> Mirror:
    """The kernels' view of ``book`` (no copies)."""
    n, cp, ip = book.n, book.cross_pool, book.iso_pool
    return (book.balances, cp.start[:n], cp.length[:n], cp.col, cp.vals,
            ip.start[:n], ip.length[:n], ip.col, ip.vals)  # fmt: skip


def _per_market(mprice: F64, funding: F64, im: F64, mm: F64) -> tuple[F64, F64, F64]:
    """Per-tick constants: ``P*mm``, ``P*im`` and ``P + |F|`` per market."""
    return mprice * mm, mprice * im, mprice + np.abs(funding)


def _row_sum(rows: I64, weights: F64, n: int) -> F64:
    """Per-row sums of ``weights`` (sequential per row, in record order)."""
    out: F64 = np.bincount(rows, weights=weights, minlength=n).astype(np.float64, copy=False)
    return out


def _gather(start: I32, length: I32) -> tuple[I64, I64]:
    """(row, slot) of every position, row-major."""
    n = start.shape[0]
    ln = length.astype(np.int64)
    total = int(ln.sum())
    idx = np.repeat(start - (np.cumsum(ln) - ln), ln) + np.arange(total, dtype=np.int64)
    return np.repeat(np.arange(n, dtype=np.int64), ln), idx


def _kernel_numpy(
    mirror: Mirror, mprice: F64, funding: F64, im: F64, mm: F64, aprice: F64, haircut: F64,
    rel: float, absol: float, g2: float, slack: float, g2_iso: float, slack_iso: float,
) -> KernelOut:  # fmt: skip
    bal, cstart, clen, ccol, cval, istart, ilen, icol, ival = mirror
    n = bal.shape[0]
    pmm, pim, pmag = _per_market(mprice, funding, im, mm)
    coll = bal * np.where(bal > 0.0, aprice * haircut, aprice)

    def terms(rows_idx: tuple[I64, I64], col: I32, val: F64) -> tuple[I64, I64, F64, F64, F64]:
        rows, idx = rows_idx
        cols = col[idx].astype(np.int64)
        s, e, sn = val[idx, 0], val[idx, 1], val[idx, 2]
        absz = np.abs(s)
        value = s * mprice[cols] - e - s * (funding[cols] - sn)
        mmr = absz * pmm[cols]
        pm = absz * (pmag[cols] + np.abs(sn)) + np.abs(e) + mmr
        return rows, cols, value, mmr, pm

    gc = _gather(cstart, clen)
    rc, ccols, value, mmr, pm = terms(gc, ccol, cval)
    equity = coll.sum(axis=1) + _row_sum(rc, value, n)
    initial = _row_sum(rc, np.abs(cval[gc[1], 0]) * pim[ccols], n)
    maint = _row_sum(rc, mmr, n)
    mag = np.abs(coll).sum(axis=1) + _row_sum(rc, pm, n)
    tol = maint * rel + absol + g2 * mag + slack
    cand = np.flatnonzero(equity < maint + tol)

    gi = _gather(istart, ilen)
    iso_rows, iso_cols, ivalue, iso_mm, ipm = terms(gi, icol, ival)
    iso_margin = ival[gi[1], 3]
    iso_eq = iso_margin + ivalue
    iso_tol = iso_mm * rel + absol + g2_iso * (np.abs(iso_margin) + ipm) + slack_iso
    iso_health = _health(iso_eq, iso_mm)
    iso_cand = np.flatnonzero(iso_eq < iso_mm + iso_tol)
    return (
        equity, initial, maint, tol, cand,
        iso_rows, iso_cols, iso_eq, iso_mm, iso_health, iso_tol, iso_cand,
    )  # fmt: skip


def _kernel_python_row(
    lo: int, hi: int, col: Sequence[int], size: Sequence[float], entry: Sequence[float],
    snap: Sequence[float], bal: Sequence[float], mprice: Sequence[float], funding: Sequence[float],
    mm: Sequence[float], aprice: Sequence[float], haircut: Sequence[float],
) -> tuple[float, float]:  # fmt: skip
    """(equity, maintenance) of one account's cross bucket in plain Python floats (benchmark baseline):
    its cross positions are ``lo .. hi`` of the pool's per-position lists."""
    eq = 0.0
    mmt = 0.0
    for a in range(len(bal)):
        b = bal[a]
        eq += b * aprice[a] * haircut[a] if b > 0.0 else b * aprice[a]
    for p in range(lo, hi):
        j = col[p]
        s = size[p]
        eq += s * mprice[j] - entry[p] - s * (funding[j] - snap[p])
        mmt += abs(s) * mprice[j] * mm[j]
    return eq, mmt


if HAVE_NUMBA:

    @njit(cache=True, error_model="numpy", nogil=True)
    def _kernel_numba_into(
        bal: F64, cstart: I32, clen: I32, ccol: I32, cval: F64,
        istart: I32, ilen: I32, icol: I32, ival: F64,
        mprice: F64, funding: F64, im: F64, mm: F64, aprice: F64, haircut: F64,
        rel: float, absol: float, g2: float, slack: float, g2_iso: float, slack_iso: float,
        equity: F64, maint: F64, tol: F64, cand: I64, rows: I64,
        iso_rows: I64, iso_cols: I64, iso_eq: F64, iso_mm: F64, iso_health: F64, iso_tol: F64,
        iso_cand: I64,
    ) -> tuple[int, int, int]:  # fmt: skip
        """The scan in a few passes over the accounts, writing into caller-allocated arrays (numpy
        allocates large arrays on huge pages; numba's allocator would page-fault every scan); ``rows``
        is scratch (n,). Returns the number of cross candidates, isolated slots and isolated
        candidates written; or ``(-1, slots, 0)``, having written nothing, when the isolated outputs
        do not have exactly one entry per isolated position (``slots``).

        Passes (each a simple loop the CPU predicts well; the former single pass branched on every
        row's position count, which is random, and mispredicted about once per row holding any):
        1. per row, the collateral terms (asset order) into ``equity``, ``maint`` = +0 and into
           ``tol`` the final tolerance of a row without cross positions, else its ``T_hat`` so far;
        2. the isolated positions, row by row (slots row-major; skipped when there are none);
        3. the rows holding cross positions, gathered branch-free into ``rows``, then their
           positions (ascending column) added to the row's running sums, and its tolerance;
        4. the candidate test per row, in row order (into ``cand``, which may be ``rows``).
        Every sum starts at +0 and adds the same terms in the same order as the single pass did
        (collateral, then positions by column), so the floats are the same bit for bit. Indices are
        unsigned so the compiled loads need no negative-index wraparound.
        """
        n = np.uint64(bal.shape[0])
        na = bal.shape[1]
        slots = 0
        for i in range(n):
            slots += ilen[i]
        if slots != iso_rows.shape[0]:
            return -1, slots, 0
        pmm = mprice * mm
        pmag = mprice + np.abs(funding)
        wpos = aprice * haircut
        if na == 1:
            w0 = wpos[0]
            a0 = aprice[0]
            for i in range(n):
                b = bal[i, 0]
                c = b * (w0 if b > 0.0 else a0)
                mag = 0.0 + abs(c)
                mmt = 0.0
                equity[i] = 0.0 + c
                maint[i] = mmt
                tol[i] = mag if clen[i] else mmt * rel + absol + g2 * mag + slack
        else:
            for i in range(n):
                eq = 0.0
                mag = 0.0
                for a in range(na):
                    b = bal[i, a]
                    c = b * (wpos[a] if b > 0.0 else aprice[a])
                    eq += c
                    mag += abs(c)
                mmt = 0.0
                equity[i] = eq
                maint[i] = mmt
                tol[i] = mag if clen[i] else mmt * rel + absol + g2 * mag + slack
        ni = 0
        nic = 0
        for i in range(n if iso_rows.shape[0] else 0):
            if ilen[i] == 0:
                continue
            q0 = np.uint64(istart[i])
            for q in range(q0, q0 + np.uint64(ilen[i])):
                j = np.uint64(icol[q])
                s = ival[q, 0]
                e = ival[q, 1]
                sn = ival[q, 2]
                mg = ival[q, 3]
                absz = abs(s)
                value = s * mprice[j] - e - s * (funding[j] - sn)
                mmr = absz * pmm[j]
                pm = absz * (pmag[j] + abs(sn)) + abs(e) + mmr
                ieq = mg + value
                itol = mmr * rel + absol + g2_iso * (abs(mg) + pm) + slack_iso
                iso_rows[ni] = i
                iso_cols[ni] = j
                iso_eq[ni] = ieq
                iso_mm[ni] = mmr
                iso_health[ni] = ieq / mmr if mmr > 0.0 else (np.inf if ieq >= 0.0 else -np.inf)
                iso_tol[ni] = itol
                if ieq < mmr + itol:
                    iso_cand[nic] = ni
                    nic += 1
                ni += 1
        nr = 0
        for i in range(n):
            rows[nr] = i
            nr += clen[i] > 0
        for r in range(nr):
            row = np.uint64(rows[r])
            eq = equity[row]
            mmt = 0.0
            mag = tol[row]
            p0 = np.uint64(cstart[row])
            for p in range(p0, p0 + np.uint64(clen[row])):
                j = np.uint64(ccol[p])
                s = cval[p, 0]
                e = cval[p, 1]
                sn = cval[p, 2]
                absz = abs(s)
                value = s * mprice[j] - e - s * (funding[j] - sn)
                mmr = absz * pmm[j]
                pm = absz * (pmag[j] + abs(sn)) + abs(e) + mmr
                eq += value
                mmt += mmr
                mag += pm
            equity[row] = eq
            maint[row] = mmt
            tol[row] = mmt * rel + absol + g2 * mag + slack
        nc = 0
        for i in range(n):
            if equity[i] < maint[i] + tol[i]:
                cand[nc] = i
                nc += 1
        return nc, ni, nic


_WORKSPACE_LOCK = threading.Lock()


class _Holder:
    scan_workspace: F64 | None = None


def _idle_refs() -> int:
    """``sys.getrefcount(block)`` for a block referenced only by its holder and one local, taken in
    the same way as in :func:`_workspace` (calibrated, as the interpreter's own references to an
    argument vary by Python version)."""
    holder = _Holder()
    holder.scan_workspace = np.empty((4, 1))
    block = holder.scan_workspace
    return sys.getrefcount(block)


_IDLE_REFS = _idle_refs()


def _workspace(book: ColumnarBook, n: int) -> F64:
    """A fresh-or-recycled (4, n) float64 block: equity, maintenance, tolerance, and a row the kernel
    uses as int64 scratch (the rows holding cross positions, then the candidate rows).

    A fresh 40 MB block per scan at 1M accounts costs ~15 ms in page faults (glibc returns freed
    blocks to the OS, so every scan faults them in again). The block is kept on the book and reused
    when nothing else references it any more, i.e. the previous result and every view of its arrays
    are gone (CPython refcount; views hold a reference to their base). Otherwise a new block is made.
    """
    with _WORKSPACE_LOCK:
        block = book.scan_workspace
        if block is None or block.shape != (4, n) or sys.getrefcount(block) != _IDLE_REFS:
            block = np.empty((4, n))
            book.scan_workspace = block
    return block


#: Shared isolated-slot outputs of a book without isolated positions (size 0: nothing to write; the
#: kernel's signature needs writeable arrays).
_EMPTY_I64: I64 = np.empty(0, dtype=np.int64)
_EMPTY_F64: F64 = np.empty(0)


def _kernel_numba(
    mirror: Mirror, mprice: F64, funding: F64, im: F64, mm: F64, aprice: F64, haircut: F64,
    rel: float, absol: float, g2: float, slack: float, g2_iso: float, slack_iso: float,
    block: F64 | None = None, iso_slots_hint: int | None = None,
) -> KernelOut:  # fmt: skip
    """Allocate the outputs (O(1) numpy calls; the (4, n) per-row block may be given) and run the
    compiled passes. The isolated outputs need the number of isolated slots: ``iso_slots_hint`` if
    given (0 for a pool that never held one saves a numpy reduction per tick), else counted; the
    kernel checks it and a wrong hint costs one more call with the exact count."""
    bal, ilen = mirror[0], mirror[6]
    n = bal.shape[0]
    # An int32 sum cannot overflow, as a pool holds at most 2**31 - 1 slots (and the int32
    # reduction is ~3x faster than numpy's default int64 one).
    k = int(ilen.sum(dtype=np.int32)) if iso_slots_hint is None else iso_slots_hint
    if block is None:
        block = np.empty((4, n))
    equity, maint, tol = block[0], block[1], block[2]
    scratch = block[3].view(np.int64)  # rows holding cross positions, then the candidate rows
    while True:
        if k:
            iso_rows, iso_cols, iso_cand = (np.empty(k, dtype=np.int64) for _ in range(3))
            iso_eq, iso_mm, iso_health, iso_tol = (np.empty(k) for _ in range(4))
        else:  # no isolated position (the usual book): shared empties, no allocation
            iso_rows = iso_cols = iso_cand = _EMPTY_I64
            iso_eq = iso_mm = iso_health = iso_tol = _EMPTY_F64
        nc, ni, nic = _kernel_numba_into(
            *mirror, mprice, funding, im, mm, aprice, haircut, rel, absol, g2, slack, g2_iso, slack_iso,
            equity, maint, tol, scratch, scratch,
            iso_rows, iso_cols, iso_eq, iso_mm, iso_health, iso_tol, iso_cand,
        )  # fmt: skip
        if nc >= 0:
            break
        assert ni != k
        k = ni
    assert ni == k
    return (
        equity, None, maint, tol, scratch[:nc].copy(),
        iso_rows, iso_cols, iso_eq, iso_mm, iso_health, iso_tol, iso_cand[:nic],
    )  # fmt: skip


# -- scan ---------------------------------------------------------------------------------------


class _cached(Generic[T]):
    """``functools.cached_property`` without its per-access lock (Python < 3.12 takes an ``RLock``
    on every first access, ~0.5 us; a tick reads four of these). Two threads racing on a first
    access both compute the same pure value; the second write wins with an equal one."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _cached[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> T | _cached[T]:
        if obj is None:
            return self
        value = self.func(obj)
        obj.__dict__[self.name] = value  # a non-data descriptor: later reads find the dict first
        return value


@dataclass(frozen=True)
class ScanResult:
    """Approximate margin of every row of the mirror and of every isolated slot, and the candidates.

    Per-row arrays are indexed by mirror row (``book.account_ids``); values are float64 in WAD units.
    ``health`` is ``equity / maintenance`` (``+inf`` / ``-inf`` when nothing is required).
    ``tolerance`` is the per-row slack the candidate test allowed beyond ``maintenance``.
    Isolated positions are sparse: slot ``k`` is ``(iso_rows[k], iso_cols[k])`` (mirror row, market
    column), slots in row-major order; :meth:`iso_slot` finds one.

    Candidates are kept as ordered index arrays (``candidate_rows``, ``isolated_candidate_slots``);
    the id tuples ``candidates`` / ``isolated_candidates`` and their healths are built on first access
    and cached. Building them is part of a tick's cost (a driver needs the ids), so it is C-level
    work only: one fancy index into the mirror's id array and a ``tolist`` / ``zip``, no Python code
    per candidate (~10-30 ns each).
    """

    equity: F64
    maintenance: F64
    tolerance: F64
    iso_rows: I64
    iso_cols: I64
    iso_equity: F64
    iso_maintenance: F64
    iso_health: F64
    iso_tolerance: F64
    #: Cross candidate rows, most underwater (lowest health) first, ties by mirror row.
    candidate_rows: I64
    #: Isolated candidate slots, lowest health first, ties by (row, market column).
    isolated_candidate_slots: I64
    backend: str
    account_ids: Sequence[str] = field(repr=False)
    markets: tuple[str, ...] = field(repr=False)
    #: ``account_ids`` as an object array (the mirror's ``id_array`` when the scan ran).
    id_array: NDArray[np.object_] = field(repr=False)
    #: Per-row initial requirement if the backend computed it (numpy); else derived on first access
    #: from ``_initial_inputs`` (``P * im`` per market, the mirror and its version at scan time).
    _initial: F64 | None = field(default=None, repr=False)
    _initial_inputs: tuple[F64, ColumnarBook, int] | None = field(default=None, repr=False)

    @_cached
    def initial(self) -> F64:
        """Per-row initial margin requirement (float64, WAD units).

        Not written by the numba kernel (no driver needs it per tick, and one fewer (n,) output is
        ~2 ms less memory traffic per 1M-account tick): computed on first access with the kernel's
        former sum order, so the same floats. It reads the mirror, so it must be asked for before
        the mirror is next synced; afterwards it raises rather than mix two states.
        """
        if self._initial is not None:
            return self._initial
        if self._initial_inputs is None:
            raise InvalidValue("scan result has no initial requirements")
        pim, book, version = self._initial_inputs
        if book.version != version:
            raise InvalidValue("risk mirror synced since this scan: its initial requirements are gone")
        cp = book.cross_pool
        out = np.empty(book.n)
        _initial_rows(cp.start[: book.n], cp.length[: book.n], cp.col, cp.vals, pim, out)
        return out

    @_cached
    def candidates(self) -> tuple[str, ...]:
        """Cross candidates (account ids), most underwater first, ties by mirror row."""
        rows = self.candidate_rows
        return tuple(self.id_array[rows].tolist()) if rows.shape[0] else ()

    @_cached
    def health(self) -> F64:
        """Per-row ``equity / maintenance`` (``+inf`` / ``-inf`` when nothing is required).

        Derived on first access, not written by the kernel: a driver needs the candidates' healths
        only, and one fewer (n,) output is ~2 ms less memory traffic per 1M-account tick. The same
        IEEE division as the kernel's, so the same floats.
        """
        return _health(self.equity, self.maintenance)

    @_cached
    def candidate_health(self) -> tuple[float, ...]:
        rows = self.candidate_rows
        if not rows.shape[0]:
            return ()
        return tuple(_health(self.equity[rows], self.maintenance[rows]).tolist())

    @_cached
    def isolated_candidates(self) -> tuple[tuple[str, str], ...]:
        """Isolated (account, market) candidates, lowest health first, ties by (row, column)."""
        slots = self.isolated_candidate_slots
        if not slots.shape[0]:
            return ()
        ids = self.id_array[self.iso_rows[slots]].tolist()
        markets = _object_array(self.markets)[self.iso_cols[slots]].tolist()
        return tuple(zip(ids, markets, strict=True))

    @_cached
    def isolated_health(self) -> tuple[float, ...]:
        slots = self.isolated_candidate_slots
        return tuple(self.iso_health[slots].tolist()) if slots.shape[0] else ()

    def iso_slot(self, row: int, col: int) -> int | None:
        """Index of the isolated slot at (mirror row, market column), or None if there is none."""
        lo = int(np.searchsorted(self.iso_rows, row, side="left"))
        hi = int(np.searchsorted(self.iso_rows, row, side="right"))
        hits = np.flatnonzero(self.iso_cols[lo:hi] == col)
        return lo + int(hits[0]) if hits.size else None


@lru_cache(maxsize=64)
def _object_array(keys: tuple[str, ...]) -> NDArray[np.object_]:
    """``keys`` as a read-only object array (market column -> id), made once per market set."""
    out = np.array(keys, dtype=object)
    out.flags.writeable = False
    return out


def _initial_loop(cstart: I32, clen: I32, ccol: I32, cval: F64, pim: F64, out: F64) -> None:
    """Per-row ``sum_j |s_j| * (P_j * im_j)`` over the cross positions, in the scan kernel's order."""
    for i in range(cstart.shape[0]):
        imt = 0.0
        p0 = cstart[i]
        for p in range(p0, p0 + clen[i]):
            imt += abs(cval[p, 0]) * pim[ccol[p]]
        out[i] = imt


_initial_rows: Any = (
    njit(cache=True, error_model="numpy", nogil=True)(_initial_loop) if HAVE_NUMBA else _initial_loop
)


def _health(equity: F64, maint: F64) -> F64:
    out = np.where(equity >= 0.0, np.inf, -np.inf)
    np.divide(equity, maint, out=out, where=maint > 0.0)
    return out


@lru_cache(maxsize=64)
def _bounds(n_markets: int, n_assets: int) -> tuple[float, float, float, float]:
    """The error-bound constants (module docstring) for a book's column counts: ``2 gamma_k`` and
    the integer slack per cross row, then the same per isolated slot."""
    g2 = 2.0 * gamma(n_markets + n_assets + 8)
    slack = (n_assets + 3 * n_markets + 1) * INT_UNIT
    return g2, slack, 2.0 * gamma(10), 5 * INT_UNIT


def _new_result(**fields: Any) -> ScanResult:
    """A :class:`ScanResult` from every one of its fields, without the frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field, ~2 us of a ~50 us tick on a 10k book). It
    has no ``__post_init__``; the fields are set exactly as ``__init__`` would set them."""
    result: ScanResult = object.__new__(ScanResult)
    result.__dict__.update(fields)
    return result


def scan(
    book: ColumnarBook,
    prices: Mapping[str, int] | NDArray[np.float64],
    *,
    margin: float = DEFAULT_MARGIN,
    abs_tolerance: float = 0.0,
    backend: Backend = "auto",
) -> ScanResult:
    """Screen every account and isolated position of ``book`` at ``prices`` (see module docstring).

    Work proportional to the number of accounts happens in one compiled call; Python touches only the
    candidates (ordering and ids).
    """
    if not (0.0 <= margin < math.inf and 0.0 <= abs_tolerance < math.inf):  # False for NaN
        for name, extra in (("margin", margin), ("abs_tolerance", abs_tolerance)):
            if not (math.isfinite(extra) and extra >= 0.0):
                raise InvalidValue(f"scan {name} {extra!r} must be finite and >= 0")
    mprice, aprice = price_vectors(book, prices)
    if backend == "auto":
        backend = "numba" if HAVE_NUMBA else "numpy"
    if backend == "numba" and not HAVE_NUMBA:
        raise InvalidValue("numba backend requested but numba is not installed")
    args = (
        mirror_arrays(book), mprice, book.funding, book.im_frac, book.mm_frac, aprice, book.haircut,
        float(margin), float(abs_tolerance), *_bounds(len(book.markets), len(book.assets)),
    )  # fmt: skip
    numba = backend == "numba"
    if numba:
        # A pool that never held an isolated position has none (slots below ``end`` only): the usual
        # engine book skips counting them; the kernel checks the count either way.
        hint = 0 if book.iso_pool.end == 0 else None
        res = _kernel_numba(*args, block=_workspace(book, book.n), iso_slots_hint=hint)
    else:
        res = _kernel_numpy(*args)
    (
        equity, initial, maint, tol, cand,
        iso_rows, iso_cols, iso_eq, iso_mm, iso_health, iso_tol, iso_cand,
    ) = res  # fmt: skip
    # Both index arrays come out ascending (row-major), so a stable sort on health alone gives the
    # documented tie order (row, then market column); fewer than two are already in order.
    order = cand[np.argsort(_health(equity[cand], maint[cand]), kind="stable")] if cand.shape[0] > 1 else cand
    iso_order = (
        iso_cand[np.argsort(iso_health[iso_cand], kind="stable")] if iso_cand.shape[0] > 1 else iso_cand
    )
    return _new_result(
        equity=equity,
        _initial=initial,
        _initial_inputs=(mprice * book.im_frac, book, book.version),
        maintenance=maint,
        tolerance=tol,
        iso_rows=iso_rows,
        iso_cols=iso_cols,
        iso_equity=iso_eq,
        iso_maintenance=iso_mm,
        iso_health=iso_health,
        iso_tolerance=iso_tol,
        candidate_rows=order,
        isolated_candidate_slots=iso_order,
        backend=backend,
        # Rows are only ever appended to (sync) or the list is replaced (rebuild), so the ids of the
        # rows scanned here stay valid for this result.
        account_ids=book.account_ids,
        markets=book.markets,
        id_array=book.id_array,
    )


def warm_up() -> float:
    """Compile (or load from cache) the numba kernel; returns the seconds it took (0 without numba)."""
    if not HAVE_NUMBA:
        return 0.0
    t0 = time.perf_counter()
    z = np.zeros((1, 1))
    start, length, col = np.zeros(1, dtype=np.int32), np.ones(1, dtype=np.int32), np.zeros(1, dtype=np.int32)
    mirror = (z, start, length, col, np.zeros((1, 3)), start, length, col, np.zeros((1, 4)))
    v = np.ones(1)
    _kernel_numba(mirror, v, v, v, v, v, v, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    _initial_rows(start, length, col, np.zeros((1, 3)), v, np.empty(1))
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
    return rotate_by_health(list(zip(hs, candidates, strict=True)), height, cap)


# -- headroom (skipping unchanged blocks) -------------------------------------------------------


def _headroom_loop(
    bal: F64, cstart: I32, clen: I32, ccol: I32, cval: F64, istart: I32, ilen: I32, icol: I32,
    ival: F64, mm: F64, equity: F64, maint: F64, tol: F64, is_cand: U8,
    iso_rows: I64, iso_cols: I64, iso_eq: F64, iso_mm: F64, iso_tol: F64, iso_is_cand: U8,
    out: F64,
) -> bool:  # fmt: skip
    """``out[k] = max_i w_ik / D_i`` over non-candidate rows and isolated slots (see
    :func:`headroom_ratios`); ``inf`` where some bucket with ``w_ik > 0`` has no positive headroom.
    False if the mirror's isolated positions are not the result's slots (mirror changed since)."""
    n = bal.shape[0]
    m = mm.shape[0]
    na = bal.shape[1]
    for i in range(n):
        if is_cand[i]:
            continue
        d = equity[i] - maint[i] - tol[i]
        d -= 4.0 * U * (abs(equity[i]) + abs(maint[i]) + abs(tol[i]))
        p0 = cstart[i]
        for p in range(p0, p0 + clen[i]):
            j = ccol[p]
            w = abs(cval[p, 0]) * (1.0 + mm[j])
            if w > 0.0:
                r = w / d if d > 0.0 else np.inf
                if r > out[j]:
                    out[j] = r
        for a in range(na):
            w = abs(bal[i, a])
            if w > 0.0:
                r = w / d if d > 0.0 else np.inf
                if r > out[m + a]:
                    out[m + a] = r
    k = 0
    for i in range(n):
        q0 = istart[i]
        for q in range(q0, q0 + ilen[i]):
            j = icol[q]
            if k >= iso_rows.shape[0] or iso_rows[k] != i or iso_cols[k] != j:
                return False
            w = abs(ival[q, 0]) * (1.0 + mm[j])
            if not iso_is_cand[k] and w > 0.0:
                d = iso_eq[k] - iso_mm[k] - iso_tol[k]
                d -= 4.0 * U * (abs(iso_eq[k]) + abs(iso_mm[k]) + abs(iso_tol[k]))
                r = w / d if d > 0.0 else np.inf
                if r > out[j]:
                    out[j] = r
            k += 1
    return bool(k == iso_rows.shape[0])


_headroom: Any = (
    njit(cache=True, error_model="numpy", nogil=True)(_headroom_loop) if HAVE_NUMBA else _headroom_loop
)


def headroom_ratios(book: ColumnarBook, result: ScanResult) -> F64:
    """Per price key (the book's market oracles, then its assets) the largest ``w / D`` over the
    buckets ``result`` did *not* nominate, where ``D`` is the bucket's proven exact headroom
    ``E_hat - MM_hat - tol`` (less a few ulps for evaluating it) and ``w`` its price sensitivity:
    ``|s| (1 + mm)`` per position, ``|balance|`` per collateral asset (a haircut is at most 1).

    A price move ``dP`` (WAD units) with ``sum_k R_k |dP_k| < 1`` therefore cannot bring any of those
    buckets below maintenance: each moves by at most ``sum_k w_k |dP_k| < D``. ``book`` must hold
    exactly the rows ``result`` scanned (nothing synced since).
    """
    n, m, na = book.n, len(book.markets), len(book.assets)
    out = np.zeros(m + na)
    is_cand = np.zeros(n, dtype=np.uint8)
    is_cand[result.candidate_rows] = 1
    iso_is_cand = np.zeros(result.iso_rows.shape[0], dtype=np.uint8)
    iso_is_cand[result.isolated_candidate_slots] = 1
    if result.equity.shape[0] != n or not bool(_headroom(
        *mirror_arrays(book), book.mm_frac, result.equity, result.maintenance, result.tolerance, is_cand,
        result.iso_rows, result.iso_cols, result.iso_equity, result.iso_maintenance,
        result.iso_tolerance, iso_is_cand, out,
    )):  # fmt: skip
        raise InvalidValue("risk mirror changed since this scan: no headroom ratios")
    return out
