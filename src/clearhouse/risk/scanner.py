"""The columnar scan as the engine's candidate scanner (the ``CandidateScanner`` port).

Keeps a :class:`ColumnarBook` in sync with the accounts each block changed, screens every account
at the current prices with the vectorised kernel, and hands the engine a superset of the targets
below maintenance; the engine's exact check decides. Margin models can only raise maintenance above
the market's base fraction, so the mirror is screened with each market's largest current maintenance
fraction: conservative, never a miss. Without a usable price vector it falls back to the exact scan.

**Unchanged blocks skip the scan** (``reuse=True``, the default). When no account changed since the last
vectorised scan and every per-market / per-asset input other than prices (funding indices, maximum
maintenance fractions, haircuts, the listed markets and assets) is exactly what that scan saw, the
scan's own error bound gives every non-candidate row ``i`` an exact headroom of at least
``D_i = E_hat - MM_hat - tol`` (module docstring of :mod:`clearhouse.risk.scan`: ``tol`` covers the
float error and the ledger's integer rounding). Prices enter a bucket's ``equity - maintenance``
linearly, with a slope of at most ``|s_ij| (1 + mm_j)`` per market and ``|b_ia|`` per collateral asset
(the surrogate maintenance uses the largest fraction, so margin models stay covered). With
``R_k = max_i w_ik / D_i`` over the non-candidate rows and isolated slots, a block whose prices moved
by ``dP_k`` since that scan satisfies ``sum_k w_ik |dP_k| <= D_i sum_k R_k |dP_k| < D_i`` for every
such row when ``sum_k R_k |dP_k| <= 1 - 1e-6`` (the 1e-6 dwarfs the few ulps of evaluating the test),
so none of them can be below maintenance and the last scan's candidates are still a superset: the
scanner returns them without scanning. Anything else (a touched account, a new funding index, a
missing price) scans in full, so the exact check sees a superset either way and blocks are identical.
``last`` is then the scan the skip relied on (taken at earlier prices); drivers that chart ``last``
every block construct the scanner with ``reuse=False``.

The ratios are kept **by direction** (:func:`_ratio_loop`): a long's ``E - MM`` (with the largest
fraction ``mm < 1``) has slope ``s (1 - mm) > 0`` in its price and a positive balance's value grows
with it, so they can only lose when the price falls; shorts and debts only when it rises. ``R_k`` is
therefore two maxima per key, and a move uses the one of its direction (both when ``mm >= 1``).

**The nearest buckets** (the :data:`NEAR_ROWS` of largest ratio sum ``W_i / D_i``) are set apart:
``R'_k`` bounds every other bucket (each of its ratios is at most its sum), and when
``sum_k R'_k |dP_k| <= 1 - 1e-6`` fails nowhere but the full test does, the nearest buckets the move
may have brought below maintenance (their own test fails) are handed to the exact check as
candidates, without scanning, if they are at most :data:`NEAR_MAX` and the candidates do not exceed
the block's liquidation cap (then a fresh scan lets enforcement rank them).

**Blocks that changed a few accounts skip too** (at most :data:`RESCREEN_MAX`, every market on fixed
margin), e.g. the block after close-outs, where only the closed accounts and the liquidator changed.
Every other row keeps its proof above; each changed bucket is re-screened *exactly* at the current
prices (the ledger's own integer ``cross_summary`` / ``isolated_summary``, so it is a candidate exactly
when the exact check will say so) and, if it is not below maintenance, its ratios are merged into
``R_k`` for the later blocks that skip on the same scan. Its exact headroom ``H = E_int - MM_int``
bounds the real headroom from below (every rounding favours the protocol); real equity and
maintenance are linear in prices with the slopes above, and at any later price the integers are
within ``A + 3M`` units of the reals (``A`` balances, ``M`` positions: floors of collateral, PnL,
ceilings of funding owed and requirements). Since the skip test measures moves from the *scan's*
prices, the move from those to the current ones is charged up front:
``D' = H - (A + 3M + 2) - sum_k ceil(w_k |P_now,k - P_scan,k|)``; a bucket with ``D' <= 0`` becomes a
candidate until the next full scan (the exact check decides), else it contributes ``w_k / D'``. So
``sum_k R_k |dP_k| < 1`` still proves every non-candidate bucket stays at or above maintenance. The
book is not synced for those accounts: the next full scan syncs them with its own changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, cast

import numpy as np

from clearhouse.core.errors import InvalidValue, MissingPrice
from clearhouse.core.fixedpoint import WAD, WAD2
from clearhouse.ledger.enforcement import ExactScanner, Ranked, Target
from clearhouse.ledger.margin import PriceLookup, cross_summary, isolated_summary
from clearhouse.ledger.margin_models import FixedMargin
from clearhouse.ledger.model import LedgerState, MarketSpec
from clearhouse.risk.columnar import F64, I32, I64, U8, ColumnarBook
from clearhouse.risk.scan import HAVE_NUMBA, ScanResult, U, scan

if HAVE_NUMBA:
    from numba import njit

#: Relative safety of the skip test (``sum_k R_k |dP_k| <= 1 - SKIP_SAFETY``); see the module docstring.
SKIP_SAFETY = 1e-6
#: Most changed accounts a block re-screens exactly instead of scanning in full (module docstring).
RESCREEN_MAX = 64
#: How many of the nearest buckets (largest ratios) the skip keeps one by one (module docstring).
NEAR_ROWS = 128
#: Most of them a block hands to the exact check instead of scanning in full.
NEAR_MAX = 64


class ColumnarScanner:
    """Vectorised screening for :class:`clearhouse.ledger.engine.Engine` (``Engine(scanner=...)``)."""

    def __init__(self, reuse: bool = True) -> None:
        if reuse:
            warm_up()
        self.book: ColumnarBook | None = None
        #: Skip the scan in blocks where nothing can have crossed (module docstring).
        self.reuse = reuse
        #: How many blocks were answered from the last scan without scanning, by how: nothing changed
        #: and no bucket can have crossed (``skipped``); the same after re-screening the few accounts
        #: the block changed (``rescreened``); the nearest buckets added as candidates (``nearest``,
        #: with or without a re-screen). See the module docstring.
        self.skipped = 0
        self.rescreened = 0
        self.nearest = 0
        self._basis: tuple[object, ...] | None = None
        self._basis_prices: tuple[int, ...] | None = None
        #: ``_basis`` by market (id, spec, funding index, volatility multiplier) and by asset (id, spec).
        self._basis_markets: list[tuple[str, object, int, int]] = []
        self._basis_assets: list[tuple[str, object]] = []
        self._priced: list[tuple[int, str, int]] = []
        self._headroom: _Headroom | None = None
        #: Ratios of re-screened buckets, merged into ``_headroom`` (elementwise max).
        self._extra: list[float] = []
        #: Index in the ratios of each market of the book, and of each of its assets.
        self._mcol: dict[str, int] = {}
        self._acol: dict[str, int] = {}
        #: Every market on fixed margin (re-screening needs exact, price-linear maintenance).
        self._all_fixed = False
        #: Accounts re-screened since the last full scan: the book has not synced them yet.
        self._pending: set[str] = set()
        self._found: list[Target] = []
        #: ``last`` was scanned by the latest ``candidates`` call (at the state's current prices).
        self._fresh = False
        #: The last vectorised screening (None after a fallback), for drivers that chart it; with
        #: ``reuse`` a skipped block keeps the earlier scan it relied on (module docstring).
        self.last: ScanResult | None = None
        self._exact = ExactScanner()
        #: How many scans fell back to the exact path (missing or invalid prices).
        self.fallbacks = 0

    def candidates(self, state: LedgerState, touched: Collection[str]) -> Sequence[Target]:
        reusable = self.reuse and self._basis is not None and not state.contracts.instruments
        if reusable and (not touched or (len(touched) <= RESCREEN_MAX and self._all_fixed)):
            kept = self._reuse(state, touched)
            if kept is not None:
                self._fresh = False
                return kept
        self._basis = None
        self._fresh = False
        if self.book is None:
            self.book = ColumnarBook.from_state(state)
        else:
            if self._pending:
                touched = self._pending.union(touched)
            self.book.sync(state, touched)
        self._pending = set()
        book = self.book
        book.mm_frac = np.array(
            [
                state.markets[m].spec.margin_model.max_maintenance(
                    state.markets[m].spec.maintenance_margin, state.markets[m].vol_multiplier
                )
                / WAD
                for m in book.markets
            ],
            dtype=np.float64,
        )
        settlement = state.params.settlement_asset
        prices = {key: price for key, (price, _) in state.prices.items()}
        prices[settlement] = WAD
        # Drop the previous result first: while it is alive the scan cannot recycle its output block
        # (a fresh 5 x n float64 block per block otherwise, page faults at large n).
        self.last = None
        try:
            result = scan(book, prices)
        except (MissingPrice, InvalidValue):
            self.fallbacks += 1
            self.last = None
            return self._exact.candidates(state, touched)
        self.last = result
        self._fresh = True
        # C-level pairing (zip), no Python code per candidate: a stressed block has thousands.
        found: list[Target] = list(zip(result.candidates, repeat(None, len(result.candidates)), strict=True))
        found.extend(result.isolated_candidates)
        if state.contracts.instruments:
            # an account holding dated contracts is margined as a portfolio, which the perp mirror does
            # not see: its cross bucket is always a candidate (conservative; the exact check decides)
            seen = set(result.candidates)
            found.extend(
                (aid, None)
                for aid in sorted(state.accounts)
                if state.accounts[aid].contracts
                and aid not in seen
                and any(not p.isolated and p.size for p in state.accounts[aid].positions.values())
            )
            self._fresh = False  # neither reused nor ranked: the screen does not see portfolio margin
            return found
        if self.reuse:
            self._basis = basis = _basis(state, book)
            terms = cast(tuple[tuple[object, int, int], ...], basis[3])
            self._basis_markets = [(mid, *t) for mid, t in zip(book.markets, terms, strict=True)]
            self._basis_assets = list(zip(book.assets, cast(tuple[object, ...], basis[4]), strict=True))
            self._basis_prices = _exact_prices(book, prices)
            # (index, key, price) of every key but the settlement asset (priced at exactly 1)
            keyed = zip((*book.oracles, *book.assets), self._basis_prices, strict=True)
            self._priced = [(k, key, then) for k, (key, then) in enumerate(keyed) if key != book.settlement]
            self._headroom = None  # computed on the first block that might skip
            m = len(book.markets)
            self._extra = [0.0] * (2 * (m + len(book.assets)))
            self._mcol = {mid: j for j, mid in enumerate(book.markets)}
            self._acol = {a: m + i for i, a in enumerate(book.assets)}
            self._all_fixed = all(type(m.spec.margin_model) is FixedMargin for m in state.markets.values())
            self._found = found
        return list(found)

    def _reuse(self, state: LedgerState, touched: Collection[str]) -> list[Target] | None:
        """The last scan's candidates if no row can have crossed since (module docstring), with the
        ``touched`` accounts re-screened exactly; None when the block must scan in full."""
        book, last, basis_prices = self.book, self.last, self._basis_prices
        assert book is not None and basis_prices is not None
        if last is None or not self._same_basis(state):
            return None
        table = state.prices
        step: list[float] = []
        keys: list[int] = []
        down = len(basis_prices)  # ratio column of key k: k for a rise, down + k for a fall
        for k, key, then in self._priced:
            entry = table.get(key)
            if entry is None:
                return None  # the full scan decides (it falls back to the exact path)
            if entry[0] != then:
                step.append(abs(entry[0] - then) / WAD)  # exact int difference, rounded once
                keys.append(k if entry[0] > then else down + k)
        near: list[Target] = []
        if keys:
            head = self._head()
            # sum_k R_k |dP_k| over the moved keys only (unmoved ones contribute nothing; 0 x inf is nan)
            if not _exposure(head.full, keys, step) <= 1.0 - SKIP_SAFETY:
                # Only the nearest buckets may have crossed: they become candidates (the exact check
                # decides) when every other bucket is proven safe and they are few.
                if not _exposure(head.rest, keys, step) <= 1.0 - SKIP_SAFETY:
                    return None
                risky = head.at_risk(keys, step, NEAR_MAX)
                if risky is None:
                    return None
                near = risky
        if touched and not self._rescreen(state, touched):
            return None
        if len(self._found) + len(near) > state.params.max_liquidations_per_block:
            # More candidates than the block may close: a fresh scan lets enforcement rank them
            # (``ranked``: exact summaries for about the cap, not for every candidate).
            return None
        if near:
            self.nearest += 1
            return [*self._found, *near]
        if touched:
            self.rescreened += 1
        else:
            self.skipped += 1
        return list(self._found)

    def _same_basis(self, state: LedgerState) -> bool:
        """``_basis(state, book) == self._basis`` without building the tuple (the same comparisons:
        identity first, then equality, element by element, over ``_basis_terms`` flattened from it)."""
        basis = self._basis
        assert basis is not None
        markets, assets = state.markets, state.assets
        if state.params.settlement_asset != basis[0]:
            return False
        if tuple(markets) != basis[1] or tuple(assets) != basis[2]:
            return False
        for mid, spec, index, vol in self._basis_markets:
            m = markets[mid]
            if (m.spec is not spec and m.spec != spec) or m.funding_index != index or m.vol_multiplier != vol:
                return False
        for a, spec in self._basis_assets:
            now = assets[a]
            if now is not spec and now != spec:
                return False
        return True

    def _head(self) -> _Headroom:
        """The scan's headroom ratios (computed once per scan, on first use), merged with those of the
        buckets re-screened since."""
        head = self._headroom
        if head is None:
            assert self.book is not None and self.last is not None
            head = self._headroom = nearest_headroom(self.book, self.last, NEAR_ROWS)
            for k, e in enumerate(self._extra):
                head.merge(k, e)
        return head

    def _rescreen(self, state: LedgerState, touched: Collection[str]) -> bool:
        """Re-screen the changed accounts exactly at the current prices (module docstring): replace
        their entries in the candidates and merge their ratios. False when a price is missing."""
        book, basis_prices = self.book, self._basis_prices
        assert book is not None and basis_prices is not None
        mcol, acol, settlement = self._mcol, self._acol, book.settlement
        table, markets, accounts = state.prices, state.markets, state.accounts
        # |P_now - P_scan| per market (at its oracle's price) and per asset; the settlement asset is 1
        moved_m: dict[str, int] = {}
        moved_a: dict[str, int] = {}
        columns = [(moved_m, mid, book.oracles[j], j) for mid, j in mcol.items()]
        columns += [(moved_a, a, a, k) for a, k in acol.items()]
        for moved, name, key, k in columns:
            if key == settlement:
                moved[name] = 0
                continue
            entry = table.get(key)
            if entry is None:
                return False
            moved[name] = abs(entry[0] - basis_prices[k])
        price_of = _latest_lookup(state)
        keys = len(basis_prices)  # ratio columns: k for a rise of key k, keys + k for a fall
        found = [t for t in self._found if t[0] not in touched]
        extra = self._extra
        updates: list[tuple[int, float]] = []
        for aid in sorted(touched):
            acct = accounts.get(aid)
            if acct is None:
                continue
            if acct.contracts:
                return False  # portfolio margin: the full scan (and the exact check) decide
            cross: list[tuple[str, int, int]] = []  # (market, |size|, WAD + mm) of sized cross positions
            for mid, pos in acct.positions.items():
                if not pos.size:
                    continue
                if mid not in mcol:
                    return False
                spec = markets[mid].spec
                if pos.isolated:
                    summary = isolated_summary(state, pos, price_of)
                    slope = abs(pos.size) * (WAD + spec.maintenance_margin)
                    room = _room(summary.equity - summary.maintenance, 5, -(-slope * moved_m[mid] // WAD2))
                    if room is None:
                        found.append((aid, mid))
                    else:
                        r = slope / (WAD * room)
                        updates.extend((c, r) for c in _sides(mcol[mid], keys, pos.size, spec))
                else:
                    cross.append((mid, pos.size, WAD + spec.maintenance_margin))
            if not cross:
                continue  # no cross bucket to enforce
            held = [(a, b) for a, b in acct.balances.items() if b and a != settlement]
            if any(a not in acol for a, _ in held):
                return False
            summary = cross_summary(state, acct, price_of)
            drift = sum(-(-abs(size) * f * moved_m[mid] // WAD2) for mid, size, f in cross)
            drift += sum(-(-abs(b) * moved_a[a] // WAD) for a, b in held)
            slack = 3 * len(cross) + sum(1 for b in acct.balances.values() if b) + 2
            room = _room(summary.equity - summary.maintenance, slack, drift)
            if room is None:
                found.append((aid, None))
                continue
            for mid, size, f in cross:
                r = abs(size) * f / (WAD * room)
                updates.extend((c, r) for c in _sides(mcol[mid], keys, size, markets[mid].spec))
            # a balance loses value when its price falls (a debt, when it rises)
            updates.extend((acol[a] + (keys if b > 0 else 0), abs(b) / room) for a, b in held)
        head = self._headroom
        for c, r in updates:
            if r > extra[c]:
                extra[c] = r
                if head is not None:
                    head.merge(c, r)
        self._found = found
        self._pending.update(touched)
        return True

    def ranked(self, state: LedgerState) -> Ranked | None:
        """The latest call's candidates with what the scan proves about them, for
        ``ledger.enforcement.select_ranked``; None when that call did not scan at the current prices,
        when a market's margin model is not fixed (the screen's maintenance is then only an upper
        bound), or when a price the scan used is stale (the exact check would skip those buckets).

        Bounds (``clearhouse.risk.scan`` module docstring): the ledger's integers satisfy
        ``E_int <= E_real`` and ``MM_int >= MM_real`` (every rounding favours the protocol), each real
        within ``tol`` of its float with the integer rounding, so ``E_int in [E - 2 tol, E + tol]`` and
        ``MM_int in [MM - tol, MM + 2 tol]``. ``E + 2 tol < MM`` (with a 1e-12 relative margin for
        evaluating it; ``tol`` is itself >= ~18 ulps of ``E``) proves ``E_int < MM_int``. Buckets the
        mirror shows without size are left out (``confirm`` skips them: no cross position with size,
        or an isolated one of size 0; the mirror is synced, and an int is 0 iff its float is). The
        exact health ``floor(E_int WAD / MM_int) / WAD`` lies between the extreme corner ratios (less
        1e-18 for the floor), widened by 1e-9 relative for evaluating them.
        """
        last, book = self.last, self.book
        if not self._fresh or last is None or book is None:
            return None
        for mid in book.markets:
            if type(state.markets[mid].spec.margin_model) is not FixedMargin:
                return None
        now, max_age, settlement = state.time, state.params.max_price_age, book.settlement
        for key in (*book.oracles, *book.assets):
            if key != settlement and now - state.prices[key][1] > max_age:
                return None
        rows = last.candidate_rows
        slots = last.isolated_candidate_slots
        eq = np.concatenate([last.equity[rows], last.iso_equity[slots]])
        mm = np.concatenate([last.maintenance[rows], last.iso_maintenance[slots]])
        tol = np.concatenate([last.tolerance[rows], last.iso_tolerance[slots]])
        iso_size = book.isolated_sizes(last.iso_rows, slots)
        has_size = np.concatenate([book.cross_count[rows] > 0, iso_size != 0.0])
        certain = eq + 2.0 * tol < mm * (1.0 - 1e-12)
        e_lo, e_hi, m_lo, m_hi = eq - 2.0 * tol, eq + tol, mm - tol, mm + 2.0 * tol
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lo = np.minimum(e_lo / m_lo, e_lo / m_hi) - 1e-18
            hi = np.maximum(e_hi / m_lo, e_hi / m_hi)
            lo = lo - 1e-9 * np.abs(lo) - 1e-15
            hi = hi + 1e-9 * np.abs(hi) + 1e-15
        known = (m_lo > 0.0) & np.isfinite(lo) & np.isfinite(hi)
        lo, hi = np.where(known, lo, -np.inf), np.where(known, hi, np.inf)
        # A bucket without size (e.g. a closed-out account left at zero equity, which the screen's
        # tolerance nominates) is skipped by ``confirm``: leave it out.
        keep = np.flatnonzero(has_size)
        targets: list[Target] = [*zip(last.candidates, repeat(None)), *last.isolated_candidates]
        return Ranked(
            targets=[targets[i] for i in keep.tolist()] if keep.size < len(targets) else targets,
            certain=certain[keep].tolist(),
            lo=lo[keep].tolist(),
            hi=hi[keep].tolist(),
        )


def _basis(state: LedgerState, book: ColumnarBook) -> tuple[object, ...]:
    """Everything but prices and accounts the scan's result depends on: the listed markets and assets,
    the settlement asset, each market's spec (fractions, margin model, oracle), funding index and
    volatility multiplier (with the spec, the largest maintenance fraction), each asset's spec
    (haircut). Specs are immutable and shared by clones, so comparing them is mostly an identity test."""
    markets, assets = state.markets, state.assets
    return (
        state.params.settlement_asset,
        tuple(markets),
        tuple(assets),
        tuple((markets[m].spec, markets[m].funding_index, markets[m].vol_multiplier) for m in book.markets),
        tuple(assets[a] for a in book.assets),
    )


@dataclass(slots=True)
class _Headroom:
    """What a scan proves about the buckets it did not nominate, for the skip test: per price key
    ``full[k] = max_i w_ik / D_i`` over all of them and ``rest[k]`` over all but the nearest ones,
    whose ratio vectors are ``near`` (one row each, targets ``targets``)."""

    full: list[float]
    rest: list[float]
    near: F64
    targets: list[Target]
    #: Per ratio column, its (ratio, row) pairs of ``near`` largest first (built on first use; ``near``
    #: never changes after construction: a new scan makes a new ``_Headroom``).
    by_column: dict[int, list[tuple[float, int]]] = field(default_factory=dict)

    def merge(self, k: int, ratio: float) -> None:
        """Add a re-screened bucket's ratio for key ``k`` (to both maxima)."""
        if ratio > self.full[k]:
            self.full[k] = ratio
        if ratio > self.rest[k]:
            self.rest[k] = ratio

    def at_risk(self, keys: list[int], step: list[float], limit: int) -> list[Target] | None:
        """The nearest buckets a move of ``step`` on ``keys`` may bring below maintenance, or None when
        more than ``limit`` (the others are covered by ``rest``).

        One moved key (the usual block) without numpy: a bucket is at risk when ``ratio x step`` is not
        ``<= 1 - SKIP_SAFETY``, the same float test as the vector path. Ratios are never NaN and the step
        is positive, so the product is monotone in the ratio: walking the column largest first, the
        first safe bucket proves every later one safe."""
        if not self.targets:
            return []
        if len(keys) == 1:
            k, d = keys[0], step[0]
            column = self.by_column.get(k)
            if column is None:
                ratios = self.near[:, k].tolist()
                column = self.by_column[k] = sorted(((r, i) for i, r in enumerate(ratios)), reverse=True)
            hits: list[int] = []
            for ratio, row in column:
                if ratio * d <= 1.0 - SKIP_SAFETY:
                    break
                if len(hits) == limit:
                    return None
                hits.append(row)
            hits.sort()
            return [self.targets[i] for i in hits]
        move = np.zeros(self.near.shape[1])
        move[keys] = step
        with np.errstate(invalid="ignore"):  # 0 x inf on an unmoved key: nan, which is not safe
            exposure = self.near @ move
        risky = np.flatnonzero(~(exposure <= 1.0 - SKIP_SAFETY))
        if risky.size > limit:
            return None
        return [self.targets[i] for i in risky.tolist()]


def _offer_loop(heap_v: F64, heap_i: I64, acc: F64, t: float, b: int) -> None:
    """Keep the ``len(heap_v)`` largest ratio sums seen (a min-heap of (sum, bucket)); ``acc`` holds
    (how many are kept, the largest sum not kept)."""
    cap = heap_v.shape[0]
    filled = int(acc[0])
    if filled < cap:
        pos = filled
        acc[0] = filled + 1
        while pos > 0:
            parent = (pos - 1) // 2
            if heap_v[parent] <= t:
                break
            heap_v[pos] = heap_v[parent]
            heap_i[pos] = heap_i[parent]
            pos = parent
        heap_v[pos] = t
        heap_i[pos] = b
        return
    if not t > heap_v[0]:
        if t > acc[1]:
            acc[1] = t
        return
    if heap_v[0] > acc[1]:
        acc[1] = heap_v[0]
    pos = 0
    while True:
        c = 2 * pos + 1
        if c >= cap:
            break
        if c + 1 < cap and heap_v[c + 1] < heap_v[c]:
            c += 1
        if heap_v[c] >= t:
            break
        heap_v[pos] = heap_v[c]
        heap_i[pos] = heap_i[c]
        pos = c
    heap_v[pos] = t
    heap_i[pos] = b


_offer: Any = njit(cache=True, nogil=True)(_offer_loop) if HAVE_NUMBA else _offer_loop


def _ratio_loop(
    bal: F64, cstart: I32, clen: I32, ccol: I32, cvals: F64, mm: F64, equity: F64, maint: F64, tol: F64,
    is_cand: U8, iso_rows: I64, iso_cols: I64, iso_size: F64, iso_eq: F64, iso_mm: F64, iso_tol: F64,
    iso_is_cand: U8, moves: F64, heap_v: F64, heap_i: I64, acc: F64, out: F64,
) -> None:  # fmt: skip
    """``clearhouse.risk.scan._headroom_loop`` (the same ``D``, ``w`` and ``w / D``) by direction:
    ``out[k]`` is the largest ``w_k / D`` over the buckets a *rise* of key ``k`` can hurt, ``out[K + k]``
    over those a *fall* can hurt (``K`` keys): a long position and a positive balance lose only when
    their price falls, a short and a debt only when it rises (a long's maintenance grows with the
    price, but by ``mm < 1`` per unit of its gain; with ``mm >= 1`` both). Also keeps the buckets of
    largest ``W / D``, ``W`` the sum of their ``w`` over the keys whose price can move (``moves[k] == 1``;
    not the settlement asset), see :func:`_offer_loop` (bucket ``i`` is row ``i``, slot ``k`` is
    ``n + k``): each of a bucket's ratios on those keys is at most its ``W / D`` (rounding is monotone).

    Reads the mirror's sparse cross pool (``cstart``/``clen`` per row into ``ccol``/``cvals``, ascending
    column within a row, as the scan does): the same positions in the same order as a dense loop over
    the columns, so the same floats, without building dense n x M arrays. ``iso_size[k]`` is the size
    of isolated slot ``k`` of the scan.

    A ratio is divided out only when the product test ``w > out * D * (1 - 1e-12)`` says it may beat
    the running maximum (it never rejects one that does), so most rows cost no division."""
    n, na = bal.shape
    m = mm.shape[0]
    nk = m + na
    cap = heap_v.shape[0]
    shy = 1.0 - 1e-12
    for i in range(n):
        if is_cand[i]:
            continue
        d = equity[i] - maint[i] - tol[i]
        d -= 4.0 * U * (abs(equity[i]) + abs(maint[i]) + abs(tol[i]))
        pos = d > 0.0
        big = 0.0
        first = cstart[i]
        for p in range(first, first + clen[i]):
            j = ccol[p]
            s = cvals[p, 0]
            w = abs(s) * (1.0 + mm[j])
            if w > 0.0:
                big += w * moves[j]
                # the side that hurts, picked without a branch (longs and shorts interleave)
                c = nk + j if s > 0.0 else j
                if not pos or w > out[c] * d * shy:
                    r = w / d if pos else np.inf
                    if r > out[c]:
                        out[c] = r
                if mm[j] >= 1.0:  # both sides
                    c = j if s > 0.0 else nk + j
                    if not pos or w > out[c] * d * shy:
                        r = w / d if pos else np.inf
                        if r > out[c]:
                            out[c] = r
        for a in range(na):
            b = bal[i, a]
            if b != 0.0:
                w = abs(b)
                big += w * moves[m + a]
                c = nk + m + a if b > 0.0 else m + a
                if not pos or w > out[c] * d * shy:
                    r = w / d if pos else np.inf
                    if r > out[c]:
                        out[c] = r
        # with the heap full a sum only matters above the largest one left out (<= the heap's min)
        if big > 0.0 and (not pos or acc[0] < cap or big > acc[1] * d * shy):
            t = big / d if pos else np.inf
            if acc[0] < cap or t > heap_v[0]:
                _offer(heap_v, heap_i, acc, t, i)
            elif t > acc[1]:
                acc[1] = t
    for k in range(iso_rows.shape[0]):
        if iso_is_cand[k]:
            continue
        j = iso_cols[k]
        s = iso_size[k]
        w = abs(s) * (1.0 + mm[j])
        if w > 0.0:
            d = iso_eq[k] - iso_mm[k] - iso_tol[k]
            d -= 4.0 * U * (abs(iso_eq[k]) + abs(iso_mm[k]) + abs(iso_tol[k]))
            r = w / d if d > 0.0 else np.inf
            if (s < 0.0 or mm[j] >= 1.0) and r > out[j]:
                out[j] = r
            if (s > 0.0 or mm[j] >= 1.0) and r > out[nk + j]:
                out[nk + j] = r
            if moves[j] > 0.0:
                if acc[0] < cap or r > heap_v[0]:
                    _offer(heap_v, heap_i, acc, r, n + k)
                elif r > acc[1]:
                    acc[1] = r


_ratios: Any = njit(cache=True, error_model="numpy", nogil=True)(_ratio_loop) if HAVE_NUMBA else _ratio_loop


def _near_loop(
    bal: F64, cstart: I32, clen: I32, ccol: I32, cvals: F64, mm: F64, equity: F64, maint: F64, tol: F64,
    iso_rows: I64, iso_cols: I64, iso_size: F64, iso_eq: F64, iso_mm: F64, iso_tol: F64, chosen: I64,
    out: F64,
) -> None:  # fmt: skip
    """``out[t]``: the ratio columns of :func:`_ratio_loop` of bucket ``chosen[t]`` alone (the same
    floats, computed the same way)."""
    n, na = bal.shape
    m = mm.shape[0]
    nk = m + na
    for t in range(chosen.shape[0]):
        b = chosen[t]
        if b < n:
            i = b
            d = equity[i] - maint[i] - tol[i]
            d -= 4.0 * U * (abs(equity[i]) + abs(maint[i]) + abs(tol[i]))
            first = cstart[i]
            for p in range(first, first + clen[i]):
                j = ccol[p]
                s = cvals[p, 0]
                w = abs(s) * (1.0 + mm[j])
                if w > 0.0:
                    r = w / d if d > 0.0 else np.inf
                    if s < 0.0 or mm[j] >= 1.0:
                        out[t, j] = r
                    if s > 0.0 or mm[j] >= 1.0:
                        out[t, nk + j] = r
            for a in range(na):
                v = bal[i, a]
                if v != 0.0:
                    out[t, nk + m + a if v > 0.0 else m + a] = abs(v) / d if d > 0.0 else np.inf
        else:
            k = b - n
            j = iso_cols[k]
            s = iso_size[k]
            w = abs(s) * (1.0 + mm[j])
            if w > 0.0:
                d = iso_eq[k] - iso_mm[k] - iso_tol[k]
                d -= 4.0 * U * (abs(iso_eq[k]) + abs(iso_mm[k]) + abs(iso_tol[k]))
                r = w / d if d > 0.0 else np.inf
                if s < 0.0 or mm[j] >= 1.0:
                    out[t, j] = r
                if s > 0.0 or mm[j] >= 1.0:
                    out[t, nk + j] = r


_near: Any = njit(cache=True, error_model="numpy", nogil=True)(_near_loop) if HAVE_NUMBA else _near_loop


_warm = False


def warm_up() -> None:
    """Compile (or load from numba's cache) the skip's kernels once per process, before any block."""
    global _warm
    if _warm or not HAVE_NUMBA:
        return
    _warm = True
    f1, f2, i1 = np.zeros(1), np.zeros((1, 1)), np.zeros(1, dtype=np.int64)
    u1, j1, p3 = np.zeros(1, dtype=np.uint8), np.zeros(1, dtype=np.int32), np.zeros((1, 3))
    two, four = np.zeros(2), np.zeros(4)
    _ratios(f2, j1, j1, j1, p3, f1, f1, f1, f1, u1, i1, i1, f1, f1, f1, f1, u1, two, f1, i1, two, four)
    _near(f2, j1, j1, j1, p3, f1, f1, f1, f1, i1, i1, f1, f1, f1, f1, i1, np.zeros((1, 4)))


def nearest_headroom(book: ColumnarBook, last: ScanResult, keep: int) -> _Headroom:
    """The ratios of :func:`_ratio_loop` with the (at most) ``keep`` buckets of largest ratio sum set
    apart: ``rest`` is then the largest ratio sum of the others, for every column (a ratio is at
    most its bucket's sum). ``book`` must hold exactly the rows ``last`` scanned."""
    m, na = len(book.markets), len(book.assets)
    nk = m + na
    n, slots = book.n, last.iso_rows.shape[0]
    keep = max(keep, 1)
    # the sparse pools as the scan read them (no dense n x M copies)
    bal, mm, pool = book.balances, book.mm_frac, book.cross_pool
    cstart, clen, ccol, cvals = pool.start[:n], pool.length[:n], pool.col, pool.vals
    is_cand = np.zeros(n, dtype=np.uint8)
    is_cand[last.candidate_rows] = 1
    iso_is_cand = np.zeros(slots, dtype=np.uint8)
    iso_is_cand[last.isolated_candidate_slots] = 1
    heap_v, heap_i, acc = np.zeros(keep), np.zeros(keep, dtype=np.int64), np.zeros(2)
    full = np.zeros(2 * nk)
    moves = np.array([0.0 if k == book.settlement else 1.0 for k in (*book.oracles, *book.assets)])
    eq, mt, tol = last.equity, last.maintenance, last.tolerance
    iso_rows, iso_cols = last.iso_rows, last.iso_cols
    iso_size = book.isolated_sizes(iso_rows, np.arange(slots)) if slots else np.zeros(0)
    ie, im, it = last.iso_equity, last.iso_maintenance, last.iso_tolerance
    _ratios(
        bal, cstart, clen, ccol, cvals, mm, eq, mt, tol, is_cand,
        iso_rows, iso_cols, iso_size, ie, im, it, iso_is_cand, moves, heap_v, heap_i, acc, full,
    )  # fmt: skip
    top = np.sort(heap_i[: int(acc[0])])
    movable = [*moves.tolist(), *moves.tolist()]
    rest = [min(float(acc[1]), r) if mv else r for r, mv in zip(full.tolist(), movable, strict=True)]
    # The set-apart buckets' own ratios.
    near = np.zeros((top.size, 2 * nk))
    _near(
        bal, cstart, clen, ccol, cvals, mm, eq, mt, tol, iso_rows, iso_cols, iso_size, ie, im, it, top, near
    )  # fmt: skip
    ids, markets = last.account_ids, last.markets
    targets: list[Target] = [
        (ids[b], None) if b < n else (ids[iso_rows[b - n]], markets[iso_cols[b - n]]) for b in top.tolist()
    ]
    return _Headroom(full.tolist(), rest, near, targets)


def _exposure(ratios: list[float], keys: list[int], step: list[float]) -> float:
    """``sum_k R_k |dP_k|`` over the moved keys (one key: its product, which ``sum`` would return too)."""
    if len(keys) == 1:
        return ratios[keys[0]] * step[0]
    return sum(ratios[k] * d for k, d in zip(keys, step, strict=True))


def _sides(column: int, keys: int, size: int, spec: MarketSpec) -> tuple[int, ...]:
    """The ratio columns a position's risk counts in: a long loses when its price falls, a short when
    it rises (maintenance rises with the price, but slower than a long gains while the fraction is
    below 1; otherwise both)."""
    if spec.maintenance_margin >= WAD:
        return (column, keys + column)
    return (keys + column,) if size > 0 else (column,)


def _room(headroom: int, slack: int, drift: int) -> int | None:
    """``D' = H - slack - drift`` when positive (the bucket keeps a ratio), else None (a candidate)."""
    room = headroom - slack - drift
    return room if room > 0 else None


def _latest_lookup(state: LedgerState) -> PriceLookup:
    """The latest price of every key, the settlement asset at exactly 1: what the scan reads (the
    exact check also refuses stale prices, which only makes it enforce less)."""
    prices, settlement = state.prices, state.params.settlement_asset

    def lookup(key: str) -> int:
        if key == settlement:
            return WAD
        entry = prices.get(key)
        if entry is None:
            raise MissingPrice(f"no price for {key}")
        return entry[0]

    return lookup


def _exact_prices(book: ColumnarBook, prices: dict[str, int]) -> tuple[int, ...]:
    """Integer prices of the book's markets then assets, as the scan read them."""
    return tuple(prices[k] for k in (*book.oracles, *book.assets))
