"""A columnar (numpy) mirror of the ledger for fast risk screening.

Layout: one row per account (ordered by ``(account.index, account.id)``), one column per market (sorted
market ids) and per collateral asset (sorted asset ids). Values are float64 **in WAD units**
(``value_int / 10**18``; funding indices and snapshots ``/ 10**27``). Every integer is converted with
Python's ``int / int`` true division, which is correctly rounded, so each stored number carries a
relative error of at most ``u = 2**-53``. The scan (:mod:`clearhouse.risk.scan`) accounts for that
error; the mirror is for *screening* only, the exact integer check in :mod:`clearhouse.ledger.margin`
remains the authority.

Positions are stored **sparse**: accounts hold a few of the M markets, so a dense accounts x markets
layout moved mostly zeros through the scan. Two :class:`PositionPool` s hold them, one for cross
positions of non-zero size (``size, entry, snapshot``) and one for isolated positions
(``size, entry, snapshot, margin``): per row a ``start`` and a ``length`` into flat per-position
arrays, the row's positions contiguous and in ascending market column (the scan's summation order).
Balances stay dense (accounts x assets). What is stored per position is what
:func:`clearhouse.ledger.margin.cross_summary` / ``isolated_summary`` use: a cross position with
``size == 0`` contributes nothing (not stored), an isolated one with ``size == 0`` only its margin
(entry and snapshot stored as 0).

Rows are appended in ``(index, id)`` order during :meth:`ColumnarBook.sync`; the engine gives new accounts
increasing indices, so this is exactly the layout of a :meth:`ColumnarBook.rebuild`. A synced row whose
positions still fit its region is rewritten in place; otherwise it moves to the end of its pool. When a
pool is full it is compacted into row order (O(positions), amortised over the moves that filled it).
A change in the *set* of listed markets or assets triggers a full rebuild so columns stay sorted;
per-market data (funding index, margin fractions, oracle key) and per-asset haircuts are refreshed on
every sync (O(M + A)).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from clearhouse.core.errors import InvalidValue, UnknownAccount
from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.ledger.model import Account, LedgerState

F64 = NDArray[np.float64]
B1 = NDArray[np.bool_]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
U8 = NDArray[np.uint8]

_MIN_CAPACITY = 16
#: Slot indices are int32 (4 B per row less than int64; the scan measured the same either way).
_MAX_SLOTS = 2**31 - 1
#: Extra slots a row gets when it outgrows its region and moves (fewer moves for accounts that keep
#: opening markets; rows built in one go are packed tight).
_MOVE_SLACK = 2


def _pow2(n: int) -> int:
    cap = _MIN_CAPACITY
    while cap < n:
        cap *= 2
    return cap


def _slots(needed: int) -> int:
    if needed > _MAX_SLOTS:
        raise InvalidValue(f"risk mirror: {needed} position slots exceed int32 indexing")
    return max(_MIN_CAPACITY, needed)


def _offsets(counts: I64) -> I64:
    """Exclusive prefix sum."""
    out: I64 = np.cumsum(counts) - counts
    return out


class PositionPool:
    """Per-row regions in flat per-position arrays (a CSR layout that can be updated in place).

    Row ``i`` holds ``length[i]`` positions at ``start[i] ..``, ascending market column, inside a region
    of ``room[i]`` slots. ``col`` is the market column and ``vals[p]`` the position's float fields
    (one record per position: the scan reads them together). Slots ``[0, end)`` are in use or
    abandoned; a row that outgrows its region moves to ``end``. Why this layout: a sync rewrites only
    the touched rows (O(their positions), amortised), and a scan streams the pool in row order (after a
    build or a compaction it is exactly row order, with no gaps).
    """

    def __init__(self, fields: int, rows: int, slots: int) -> None:
        self.start: I32 = np.zeros(rows, dtype=np.int32)
        self.length: I32 = np.zeros(rows, dtype=np.int32)
        self.room: I32 = np.zeros(rows, dtype=np.int32)
        self.col: I32 = np.zeros(slots, dtype=np.int32)
        self.vals: F64 = np.zeros((slots, fields))
        self.end = 0

    @classmethod
    def packed(cls, fields: int, rows: int, counts: I64, cols: I64, vals: F64) -> PositionPool:
        """A pool for rows ``0 .. len(counts)`` with the given positions (row-major, ascending column
        within a row), packed tight in row order; ``rows`` is the row capacity."""
        total = int(counts.sum())
        # 1/8 spare for moves, and at least a slot per row of capacity: the spare is zero pages, which
        # cost no memory until written, and a book whose accounts open their first positions after the
        # build (a new engine) fills them in place instead of reallocating the pool in that block
        pool = cls(fields, rows, _slots(max(rows, total + total // 8)))
        n = counts.shape[0]
        if total:  # else leave the zero pages untouched (a book without isolated positions)
            pool.start[:n] = _offsets(counts)
            pool.length[:n] = counts
            pool.room[:n] = counts
        pool.col[:total] = cols
        pool.vals[:total] = vals
        pool.end = total
        return pool

    @property
    def fields(self) -> int:
        return int(self.vals.shape[1])

    def grow_rows(self, rows: int) -> None:
        """Row capacity ``rows`` (new rows are empty)."""
        for name in ("start", "length", "room"):
            old = getattr(self, name)
            new = np.zeros(rows, dtype=old.dtype)
            if self.end:  # a pool that never held a position is all zeros: leave the pages untouched
                new[: old.shape[0]] = old
            setattr(self, name, new)
        if self.col.shape[0] < rows:  # a slot per row, as a build reserves (zero pages until written)
            col, vals = np.zeros(rows, dtype=np.int32), np.zeros((rows, self.fields))
            col[: self.end] = self.col[: self.end]
            vals[: self.end] = self.vals[: self.end]
            self.col, self.vals = col, vals

    def live(self, n: int) -> tuple[I64, I64, I64]:
        """(row, slot index, column) of every position of rows ``0 .. n``, row-major (the scan's order)."""
        length = self.length[:n].astype(np.int64)
        total = int(length.sum())
        idx = np.repeat(self.start[:n] - _offsets(length), length) + np.arange(total, dtype=np.int64)
        rows = np.repeat(np.arange(n, dtype=np.int64), length)
        return rows, idx, self.col[idx].astype(np.int64)

    def dense(self, n: int, m: int, field: int) -> F64:
        """Field ``field`` as an n x m array (0 where the row has no position; diagnostics and tests)."""
        rows, idx, cols = self.live(n)
        out = np.zeros((n, m))
        out[rows, cols] = self.vals[idx, field]
        return out

    def occupied(self, n: int, m: int) -> B1:
        rows, _, cols = self.live(n)
        out = np.zeros((n, m), dtype=np.bool_)
        out[rows, cols] = True
        return out

    def nbytes(self) -> int:
        arrays = (self.start, self.length, self.room, self.col, self.vals)
        return sum(int(a.nbytes) for a in arrays)

    def rewrite(
        self, n: int, rows: list[int], counts: list[int], cols: list[int], vals: list[float], limit: int
    ) -> None:
        """Replace the positions of the (distinct) ``rows``: ``counts[k]`` positions for ``rows[k]``,
        ``cols`` / ``vals`` (flat, ``fields`` per position) row by row in that order, ascending column
        within a row. ``n`` is the number of live rows; ``limit`` the most positions a row can hold
        (the number of markets), which caps a moved row's spare slots. Pass ``rows`` ascending: moved
        rows are appended in that order, so the pool stays a forward stream for the scan."""
        r = np.array(rows, dtype=np.intp)
        cnt = np.array(counts, dtype=np.int64)
        total = int(cnt.sum())
        if not total and not self.length[r].any():
            return  # nothing held, nothing to hold (no write: zero pages stay unmapped)
        col_new = np.array(cols, dtype=np.int32)
        val_new = np.array(vals, dtype=np.float64).reshape(total, self.fields)
        # a moved row's room: its positions plus spare slots, at most ``limit``
        room = np.maximum(np.minimum(cnt + _MOVE_SLACK, limit), cnt)
        moving = cnt > self.room[r]
        need = room[moving]
        extra = int(need.sum())
        if self.end + extra > self.col.shape[0]:
            self._repack(n, r, cnt, col_new, val_new)
            return
        mr = r[moving]
        self.start[mr] = self.end + _offsets(need)
        self.room[mr] = need
        self.end += extra
        self.length[r] = cnt
        if total:
            dest = np.repeat(self.start[r] - _offsets(cnt), cnt) + np.arange(total, dtype=np.int64)
            self.col[dest] = col_new
            self.vals[dest] = val_new

    def _repack(self, n: int, r: NDArray[np.intp], cnt: I64, col_new: I32, val_new: F64) -> None:
        """Compaction: rows ``0 .. n`` tight in row order, the rows ``r`` with their new positions, into
        arrays with a quarter as much again spare. The next compaction therefore comes only after at
        least a quarter of what is then in use has been appended by moves: O(positions) per compaction,
        amortised O(1) per moved slot."""
        length = self.length[:n].astype(np.int64)
        kept = length.copy()
        kept[r] = 0
        new_len = length
        new_len[r] = cnt
        new_start = _offsets(new_len)
        total = int(new_len.sum())
        slots = _slots(total + total // 4)
        col = np.zeros(slots, dtype=np.int32)
        vals = np.zeros((slots, self.fields))
        n_kept = int(kept.sum())
        src = np.repeat(self.start[:n] - _offsets(kept), kept) + np.arange(n_kept, dtype=np.int64)
        dst = np.repeat(new_start - _offsets(kept), kept) + np.arange(n_kept, dtype=np.int64)
        col[dst] = self.col[src]
        vals[dst] = self.vals[src]
        dst = np.repeat(new_start[r] - _offsets(cnt), cnt) + np.arange(int(cnt.sum()), dtype=np.int64)
        col[dst] = col_new
        vals[dst] = val_new
        self.start[:n] = new_start
        self.length[:n] = new_len
        self.room[:n] = new_len
        self.col, self.vals, self.end = col, vals, total


class ColumnarBook:
    """Float64 mirror of the ledger's accounts (rows): sparse positions per market, dense balances."""

    def __init__(self) -> None:
        self.markets: tuple[str, ...] = ()
        self.oracles: tuple[str, ...] = ()
        self.assets: tuple[str, ...] = ()
        self.settlement: str = "USDC"
        #: Per-market initial / maintenance fractions (floats, 0.1 = 10%). Margin models may overwrite
        #: these arrays (e.g. with tiered or vol-scaled fractions) before a scan.
        self.im_frac: F64 = np.zeros(0)
        self.mm_frac: F64 = np.zeros(0)
        #: Per-market cumulative funding index / RAY.
        self.funding: F64 = np.zeros(0)
        #: Per-asset haircut (collateral factor) as a float fraction.
        self.haircut: F64 = np.zeros(0)
        self.account_ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.n = 0
        self._mcol: dict[str, int] = {}
        self._acol: dict[str, int] = {}
        #: Output buffers the scan may reuse (see ``clearhouse.risk.scan._row_outputs``).
        self.scan_workspace: F64 | None = None
        #: Bumped whenever rows are rewritten, so a scan result can tell that the mirror it read has
        #: changed since (``ScanResult.initial`` is derived from it lazily).
        self.version = 0
        #: Cross positions of non-zero size: fields size, entry, snapshot.
        self.cross_pool = PositionPool(3, _MIN_CAPACITY, _MIN_CAPACITY)
        #: Isolated positions: fields size, entry, snapshot, margin.
        self.iso_pool = PositionPool(4, _MIN_CAPACITY, _MIN_CAPACITY)
        self._alloc_rows(_MIN_CAPACITY)

    # -- storage ----------------------------------------------------------------------------------

    def _alloc_rows(self, capacity: int) -> None:
        self._bal = np.zeros((capacity, len(self.assets)))
        self._ids: NDArray[np.object_] = np.empty(capacity, dtype=object)

    @property
    def capacity(self) -> int:
        return int(self._bal.shape[0])

    def _grow(self, needed: int) -> None:
        cap = self.capacity
        if needed <= cap:
            return
        while cap < needed:
            cap *= 2
        n = self.n
        bal, ids = self._bal, self._ids
        self._alloc_rows(cap)
        self._bal[:n] = bal[:n]
        self._ids[:n] = ids[:n]
        self.cross_pool.grow_rows(cap)
        self.iso_pool.grow_rows(cap)

    @property
    def balances(self) -> F64:
        """Cross collateral balance per asset, in asset units (a view of the live rows)."""
        return self._bal[: self.n]

    @property
    def id_array(self) -> NDArray[np.object_]:
        """``account_ids`` as an object array (row -> id), so the scan turns candidate rows into ids
        with one fancy index instead of a Python loop. Rows below ``n`` are never rewritten: appends
        go past them and a rebuild allocates a new array, so a view taken by a scan stays valid."""
        return self._ids[: self.n]

    @property
    def cross_count(self) -> I32:
        """Number of cross positions (of non-zero size) per row (a view)."""
        return self.cross_pool.length[: self.n]

    @property
    def iso_count(self) -> I32:
        """Number of isolated positions per row (a view)."""
        return self.iso_pool.length[: self.n]

    @property
    def iso_row(self) -> U8:
        """1 where the row holds at least one isolated position, else 0 (a copy)."""
        return (self.iso_count > 0).astype(np.uint8)

    def isolated_sizes(self, iso_rows: I64, slots: I64) -> F64:
        """Sizes of the isolated slots ``slots`` of a scan whose slot rows were ``iso_rows``
        (``ScanResult.iso_rows``: row-major, ascending column within a row, as the pool stores a row's
        positions). O(len(slots) log), valid while the mirror is unchanged since that scan."""
        rows = iso_rows[slots]
        rank = slots - np.searchsorted(iso_rows, rows, side="left")
        out: F64 = self.iso_pool.vals[self.iso_pool.start[rows] + rank, 0]
        return out

    def nbytes(self) -> int:
        """Bytes held by the mirror's arrays (positions, balances, the id array's pointers)."""
        return (self.cross_pool.nbytes() + self.iso_pool.nbytes() + int(self._bal.nbytes)
                + int(self._ids.nbytes))  # fmt: skip

    # Dense n x M views, built on each access (O(n M), diagnostics and tests; the scan reads the pools).
    def _dense(self, field: int) -> F64:
        m = len(self.markets)
        out = self.cross_pool.dense(self.n, m, field) if field < 3 else np.zeros((self.n, m))
        rows, idx, cols = self.iso_pool.live(self.n)
        out[rows, cols] = self.iso_pool.vals[idx, field]
        return out

    @property
    def size(self) -> F64:
        """Position size in base units (size / WAD), n x M (0 where there is none; a new array)."""
        return self._dense(0)

    @property
    def entry(self) -> F64:
        """Signed entry value (cost basis) in quote units, n x M (a new array)."""
        return self._dense(1)

    @property
    def snapshot(self) -> F64:
        """Funding snapshot / RAY, n x M (a new array)."""
        return self._dense(2)

    @property
    def margin(self) -> F64:
        """Isolated margin in quote units, n x M (0 for cross positions; a new array)."""
        return self._dense(3)

    @property
    def isolated(self) -> B1:
        """True where the account holds an isolated position in the market, n x M (a new array)."""
        return self.iso_pool.occupied(self.n, len(self.markets))

    @property
    def cross(self) -> B1:
        """True where the account holds a cross position of non-zero size, n x M (a new array)."""
        return self.cross_pool.occupied(self.n, len(self.markets))

    # -- building ---------------------------------------------------------------------------------

    @classmethod
    def from_state(cls, state: LedgerState) -> ColumnarBook:
        book = cls()
        book.rebuild(state)
        return book

    def rebuild(self, state: LedgerState) -> None:
        """Discard everything and mirror ``state`` from scratch."""
        self.markets = tuple(sorted(state.markets))
        self.assets = tuple(sorted(state.assets))
        self._refresh_columns(state)
        accounts = sorted(state.accounts.values(), key=lambda a: (a.index, a.id))
        self.account_ids = [a.id for a in accounts]
        self.row_of = {aid: i for i, aid in enumerate(self.account_ids)}
        self.n = len(accounts)
        cap = _pow2(self.n)
        self._alloc_rows(cap)
        self._ids[: self.n] = self.account_ids
        self.cross_pool = PositionPool(3, cap, _MIN_CAPACITY)
        self.iso_pool = PositionPool(4, cap, _MIN_CAPACITY)
        self.version += 1
        self._fill_rows(list(range(self.n)), accounts, fresh=True)

    def sync(self, state: LedgerState, account_ids: Iterable[str]) -> None:
        """Bring the mirror up to date after a block that touched ``account_ids``.

        Cost O(M + A) for the per-market / per-asset columns plus O(A + positions) per touched account
        (amortised: a pool that fills up is compacted, see :class:`PositionPool`). Unknown ids raise
        :class:`UnknownAccount`.
        """
        if tuple(sorted(state.markets)) != self.markets or tuple(sorted(state.assets)) != self.assets:
            self.rebuild(state)
            return
        self._refresh_columns(state)
        touched: list[Account] = []
        for aid in set(account_ids):
            acct = state.accounts.get(aid)
            if acct is None:
                raise UnknownAccount(f"risk mirror: unknown account {aid!r}")
            touched.append(acct)
        new = sorted((a for a in touched if a.id not in self.row_of), key=lambda a: (a.index, a.id))
        if new:
            self._grow(self.n + len(new))
            for acct in new:
                self.row_of[acct.id] = self.n
                self.account_ids.append(acct.id)
                self._ids[self.n] = acct.id
                self.n += 1
        row_of = self.row_of
        touched.sort(key=lambda a: row_of[a.id])  # rows ascending: moved rows append in row order
        self._fill_rows([row_of[a.id] for a in touched], touched)

    def _refresh_columns(self, state: LedgerState) -> None:
        specs = [state.markets[m] for m in self.markets]
        self.oracles = tuple(ms.spec.oracle for ms in specs)
        self.im_frac = np.array([ms.spec.initial_margin / WAD for ms in specs], dtype=np.float64)
        self.mm_frac = np.array([ms.spec.maintenance_margin / WAD for ms in specs], dtype=np.float64)
        self.funding = np.array([ms.funding_index / RAY for ms in specs], dtype=np.float64)
        self.haircut = np.array([state.assets[a].haircut / WAD for a in self.assets], dtype=np.float64)
        self.settlement = state.params.settlement_asset
        self._mcol = {m: j for j, m in enumerate(self.markets)}
        self._acol = {a: j for j, a in enumerate(self.assets)}

    def _fill_rows(self, rows: list[int], accts: list[Account], *, fresh: bool = False) -> None:
        """Rewrite the given (distinct) rows from their accounts.

        Python only gathers one flat record per position / balance (the exact ``int / int``
        conversions), positions in ascending market column (columns are the sorted market ids);
        every array then gets a fixed number of batched numpy writes.
        """
        if not rows:
            return
        self.version += 1
        mcol, acol = self._mcol, self._acol
        # Flat lists (1-D float lists convert to numpy ~2x faster than lists of tuples).
        c_cnt: list[int] = []
        c_col: list[int] = []
        c_val: list[float] = []
        i_cnt: list[int] = []
        i_col: list[int] = []
        i_val: list[float] = []
        bal: list[float] = []
        add_cc, add_cv, add_ic, add_iv = c_col.append, c_val.extend, i_col.append, i_val.extend
        add_bal = bal.extend
        for row, acct in zip(rows, accts, strict=True):
            nc = ni = 0
            positions = acct.positions
            for mid in sorted(positions) if len(positions) > 1 else positions:
                pos = positions[mid]
                size = pos.size
                if pos.isolated:
                    add_ic(mcol[mid])
                    ni += 1
                    if size:
                        add_iv((size / WAD, pos.entry_value / WAD, pos.funding_snapshot / RAY,
                                pos.margin / WAD))  # fmt: skip
                    else:  # margin only: size, entry and snapshot are stored as 0
                        add_iv((0.0, 0.0, 0.0, pos.margin / WAD))
                elif size:
                    add_cc(mcol[mid])
                    nc += 1
                    add_cv((size / WAD, pos.entry_value / WAD, pos.funding_snapshot / RAY))
            c_cnt.append(nc)
            i_cnt.append(ni)
            for asset, amount in acct.balances.items():
                add_bal((row, acol[asset], amount / WAD))
        if fresh:  # rows 0 .. n in order: pack the pools tight (balances are already zero)
            cap, i64 = self.capacity, np.int64
            self.cross_pool = PositionPool.packed(
                3, cap, np.array(c_cnt, dtype=i64), np.array(c_col, dtype=i64), np.array(c_val).reshape(-1, 3)
            )
            self.iso_pool = PositionPool.packed(
                4, cap, np.array(i_cnt, dtype=i64), np.array(i_col, dtype=i64), np.array(i_val).reshape(-1, 4)
            )
        else:
            m = len(self.markets)
            self.cross_pool.rewrite(self.n, rows, c_cnt, c_col, c_val, m)
            self.iso_pool.rewrite(self.n, rows, i_cnt, i_col, i_val, m)
            self._bal[np.array(rows, dtype=np.intp)] = 0.0
        if bal:
            t = np.array(bal, dtype=np.float64).reshape(-1, 3)
            self._bal[t[:, 0].astype(np.intp), t[:, 1].astype(np.intp)] = t[:, 2]

    # -- synthetic books (benchmarks) -----------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        *,
        markets: tuple[str, ...],
        oracles: tuple[str, ...],
        assets: tuple[str, ...],
        settlement: str,
        im_frac: F64,
        mm_frac: F64,
        funding: F64,
        haircut: F64,
        size: F64,
        entry: F64,
        snapshot: F64,
        margin: F64,
        isolated: B1,
        balances: F64,
    ) -> ColumnarBook:
        """A mirror over given dense arrays (synthetic benchmark books); rows are named ``a0000000``...

        Cells flagged ``isolated`` become isolated positions (margin kept); other cells with a non-zero
        size become cross positions (margin ignored); the rest hold nothing.
        """
        book = cls()
        book.markets, book.oracles, book.assets, book.settlement = markets, oracles, assets, settlement
        book.im_frac, book.mm_frac, book.funding, book.haircut = im_frac, mm_frac, funding, haircut
        n = size.shape[0]
        iso = np.asarray(isolated, dtype=np.bool_)
        cross = ~iso & (size != 0)
        cap = max(_MIN_CAPACITY, n)
        for mask, fields, attr in ((cross, (size, entry, snapshot), "cross_pool"),
                                   (iso, (size, entry, snapshot, margin), "iso_pool")):  # fmt: skip
            rows, cols = np.nonzero(mask)  # row-major
            vals = np.stack([np.asarray(f, dtype=np.float64)[rows, cols] for f in fields], axis=1)
            counts = mask.sum(axis=1).astype(np.int64)
            setattr(book, attr, PositionPool.packed(len(fields), cap, counts, cols, vals))
        book._bal = np.zeros((cap, len(assets)))
        book._bal[:n] = balances
        book.n = n
        book.account_ids = [f"a{i:07d}" for i in range(n)]
        book._ids = np.empty(cap, dtype=object)
        book._ids[:n] = book.account_ids
        book.row_of = {aid: i for i, aid in enumerate(book.account_ids)}
        return book

    def equals(self, other: ColumnarBook) -> bool:
        """Exact equality of layout and contents (used to check incremental sync == rebuild); the
        pools' slot placement may differ, their positions per row may not."""
        same_meta = (
            self.markets == other.markets
            and self.oracles == other.oracles
            and self.assets == other.assets
            and self.settlement == other.settlement
            and self.account_ids == other.account_ids
            and self.id_array.tolist() == self.account_ids
            and other.id_array.tolist() == other.account_ids
            and self.n == other.n
        )
        if not same_meta:
            return False
        pairs: list[tuple[NDArray[np.generic], NDArray[np.generic]]] = [
            (self.im_frac, other.im_frac),
            (self.mm_frac, other.mm_frac),
            (self.funding, other.funding),
            (self.haircut, other.haircut),
            (self.cross_count, other.cross_count),
            (self.iso_count, other.iso_count),
            (self.size, other.size),
            (self.entry, other.entry),
            (self.snapshot, other.snapshot),
            (self.margin, other.margin),
            (self.isolated, other.isolated),
            (self.cross, other.cross),
            (self.balances, other.balances),
        ]
        return all(np.array_equal(a, b) for a, b in pairs)
