"""A columnar (numpy) mirror of the ledger for fast risk screening.

Layout: one row per account, one column per market (sorted market ids) and per collateral asset
(sorted asset ids). Values are float64 **in WAD units** (``value_int / 10**18``; funding indices and
snapshots ``/ 10**27``). Every integer is converted with Python's ``int / int`` true division, which is
correctly rounded, so each stored number carries a relative error of at most ``u = 2**-53``. The scan
(:mod:`clearhouse.risk.scan`) accounts for that error; the mirror is for *screening* only, the exact
integer check in :mod:`clearhouse.ledger.margin` remains the authority.

Per position the mirror stores what :func:`clearhouse.ledger.margin.cross_summary` /
``isolated_summary`` actually use: a cross position with ``size == 0`` contributes nothing, an isolated
one with ``size == 0`` only its margin, so for ``size == 0`` the entry value and snapshot are stored as 0.

Rows are ordered by ``(account.index, account.id)``. The engine gives new accounts increasing indices,
so appending new accounts in that order during :meth:`ColumnarBook.sync` yields exactly the layout of a
:meth:`ColumnarBook.rebuild`. Row arrays grow by doubling. A change in the *set* of listed markets or
assets (governance, rare) triggers a full rebuild so columns stay sorted; per-market data (funding
index, margin fractions, oracle key) and per-asset haircuts are refreshed on every sync (O(M + A)).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from clearhouse.core.errors import UnknownAccount
from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.ledger.model import Account, LedgerState

F64 = NDArray[np.float64]
B1 = NDArray[np.bool_]
I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]

_MIN_CAPACITY = 16


class ColumnarBook:
    """Float64 mirror of the ledger's accounts (rows) x markets / assets (columns)."""

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
        #: Bumped whenever rows are rewritten in place, so a scan result can tell that the arrays
        #: it still views have changed since (``ScanResult.initial`` is derived from them lazily).
        self.version = 0
        self._alloc(_MIN_CAPACITY)

    # -- storage ----------------------------------------------------------------------------------

    def _alloc(self, capacity: int) -> None:
        m, a = len(self.markets), len(self.assets)
        self._size = np.zeros((capacity, m))
        self._entry = np.zeros((capacity, m))
        self._snap = np.zeros((capacity, m))
        self._margin = np.zeros((capacity, m))
        self._iso = np.zeros((capacity, m), dtype=np.bool_)
        self._cross = np.zeros((capacity, m), dtype=np.bool_)
        self._iso_row = np.zeros(capacity, dtype=np.uint8)
        self._bal = np.zeros((capacity, a))
        self._ids: NDArray[np.object_] = np.empty(capacity, dtype=object)

    def _arrays(self) -> tuple[NDArray[np.generic], ...]:
        """Every per-row array (the order ``_grow`` copies them in)."""
        return (self._size, self._entry, self._snap, self._margin, self._iso, self._cross,
                self._iso_row, self._bal, self._ids)  # fmt: skip

    @property
    def capacity(self) -> int:
        return int(self._size.shape[0])

    def _grow(self, needed: int) -> None:
        cap = self.capacity
        if needed <= cap:
            return
        while cap < needed:
            cap *= 2
        n = self.n
        old = self._arrays()
        self._alloc(cap)
        new = self._arrays()
        for src, dst in zip(old, new, strict=True):
            dst[:n] = src[:n]

    # Views of the live rows (no copies).
    @property
    def size(self) -> F64:
        """Position size in base units (size / WAD)."""
        return self._size[: self.n]

    @property
    def entry(self) -> F64:
        """Signed entry value (cost basis) in quote units."""
        return self._entry[: self.n]

    @property
    def snapshot(self) -> F64:
        """Funding snapshot / RAY."""
        return self._snap[: self.n]

    @property
    def margin(self) -> F64:
        """Isolated margin in quote units (0 for cross positions)."""
        return self._margin[: self.n]

    @property
    def isolated(self) -> B1:
        """True where the account holds an isolated position in the market."""
        return self._iso[: self.n]

    @property
    def cross(self) -> B1:
        """True where the account holds a cross position of non-zero size in the market."""
        return self._cross[: self.n]

    @property
    def iso_row(self) -> U8:
        """1 where the row holds at least one isolated slot, else 0. The scan evaluates the other
        rows without the per-cell cross mask, which is exact because every cell that is neither
        cross nor isolated holds zeros (``_fill_rows`` and ``from_arrays`` keep it so)."""
        return self._iso_row[: self.n]

    @property
    def balances(self) -> F64:
        """Cross collateral balance per asset, in asset units."""
        return self._bal[: self.n]

    @property
    def id_array(self) -> NDArray[np.object_]:
        """``account_ids`` as an object array (row -> id), so the scan turns candidate rows into ids
        with one fancy index instead of a Python loop. Rows below ``n`` are never rewritten: appends
        go past them and a rebuild allocates a new array, so a view taken by a scan stays valid."""
        return self._ids[: self.n]

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
        self._alloc(max(_MIN_CAPACITY, _pow2(self.n)))
        self._ids[: self.n] = self.account_ids
        self._fill_rows(list(range(self.n)), accounts, fresh=True)

    def sync(self, state: LedgerState, account_ids: Iterable[str]) -> None:
        """Bring the mirror up to date after a block that touched ``account_ids``.

        Cost O(M + A) for the per-market / per-asset columns plus O(M + A + positions) per touched
        account. Unknown ids raise :class:`UnknownAccount`.
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

        Python only gathers one tuple per position / balance (the exact ``int / int`` conversions);
        every array then gets one batched fancy-index write, so a sync makes a fixed number of numpy
        calls instead of ~10 per account.
        """
        if not rows:
            return
        self.version += 1
        mcol, acol = self._mcol, self._acol
        # Flat lists (one extend per position / balance; 1-D float lists convert to numpy ~2x faster
        # than lists of tuples): cross = (row, col, size, entry, snap)*, iso = (... , margin)*,
        # bal = (row, col, amount)*. Row / column indices are small ints, exact in float64.
        cross: list[float] = []
        iso: list[float] = []
        bal: list[float] = []
        add_cross, add_iso, add_bal = cross.extend, iso.extend, bal.extend
        for row, acct in zip(rows, accts, strict=True):
            for mid, pos in acct.positions.items():
                size = pos.size
                if pos.isolated:
                    if size:
                        add_iso((row, mcol[mid], size / WAD, pos.entry_value / WAD,
                                 pos.funding_snapshot / RAY, pos.margin / WAD))  # fmt: skip
                    else:  # margin only: size, entry and snapshot are stored as 0
                        add_iso((row, mcol[mid], 0.0, 0.0, 0.0, pos.margin / WAD))
                elif size:
                    add_cross((row, mcol[mid], size / WAD, pos.entry_value / WAD,
                               pos.funding_snapshot / RAY))  # fmt: skip
            for asset, amount in acct.balances.items():
                add_bal((row, acol[asset], amount / WAD))
        if not fresh:  # freshly allocated arrays are already zero
            idx = np.array(rows, dtype=np.intp)
            for arr in (self._size, self._entry, self._snap, self._margin, self._bal):
                arr[idx] = 0.0
            self._iso[idx] = False
            self._cross[idx] = False
            self._iso_row[idx] = 0
        for cells, width, flags in ((cross, 5, self._cross), (iso, 6, self._iso)):
            if not cells:
                continue
            t = np.array(cells, dtype=np.float64).reshape(-1, width)
            r, c = t[:, 0].astype(np.intp), t[:, 1].astype(np.intp)
            self._size[r, c] = t[:, 2]
            self._entry[r, c] = t[:, 3]
            self._snap[r, c] = t[:, 4]
            flags[r, c] = True
            if width == 6:
                self._margin[r, c] = t[:, 5]
                self._iso_row[r] = 1
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
        """A mirror over given arrays (for synthetic benchmark books); rows are named ``a0000000``..."""
        book = cls()
        book.markets, book.oracles, book.assets, book.settlement = markets, oracles, assets, settlement
        book.im_frac, book.mm_frac, book.funding, book.haircut = im_frac, mm_frac, funding, haircut
        n = size.shape[0]
        book._size = np.ascontiguousarray(size, dtype=np.float64)
        book._entry = np.ascontiguousarray(entry, dtype=np.float64)
        book._snap = np.ascontiguousarray(snapshot, dtype=np.float64)
        book._margin = np.ascontiguousarray(margin, dtype=np.float64)
        book._iso = np.ascontiguousarray(isolated, dtype=np.bool_)
        book._cross = (~book._iso) & (book._size != 0)
        # cells that are neither cross nor isolated hold zeros (the scan relies on it, see iso_row)
        empty = ~(book._cross | book._iso)
        book._size = np.where(empty, 0.0, book._size)
        book._entry = np.where(empty, 0.0, book._entry)
        book._snap = np.where(empty, 0.0, book._snap)
        book._iso_row = np.asarray(book._iso.any(axis=1), dtype=np.uint8).reshape(-1)
        book._bal = np.ascontiguousarray(balances, dtype=np.float64)
        book.n = n
        book.account_ids = [f"a{i:07d}" for i in range(n)]
        book._ids = np.array(book.account_ids, dtype=object)
        book.row_of = {aid: i for i, aid in enumerate(book.account_ids)}
        return book

    def equals(self, other: ColumnarBook) -> bool:
        """Exact equality of layout and contents (used to check incremental sync == rebuild)."""
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
        pairs = [
            (self.im_frac, other.im_frac),
            (self.mm_frac, other.mm_frac),
            (self.funding, other.funding),
            (self.haircut, other.haircut),
            (self.size, other.size),
            (self.entry, other.entry),
            (self.snapshot, other.snapshot),
            (self.margin, other.margin),
            (self.isolated, other.isolated),
            (self.cross, other.cross),
            (self.iso_row, other.iso_row),
            (self.balances, other.balances),
        ]
        return all(np.array_equal(a, b) for a, b in pairs)


def _pow2(n: int) -> int:
    cap = _MIN_CAPACITY
    while cap < n:
        cap *= 2
    return cap
