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
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import repeat

import numpy as np

from clearhouse.core.errors import InvalidValue, MissingPrice
from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger.enforcement import ExactScanner, Ranked, Target
from clearhouse.ledger.margin_models import FixedMargin
from clearhouse.ledger.model import LedgerState
from clearhouse.risk.columnar import ColumnarBook
from clearhouse.risk.scan import ScanResult, headroom_ratios, scan

#: Relative safety of the skip test (``sum_k R_k |dP_k| <= 1 - SKIP_SAFETY``); see the module docstring.
SKIP_SAFETY = 1e-6


class ColumnarScanner:
    """Vectorised screening for :class:`clearhouse.ledger.engine.Engine` (``Engine(scanner=...)``)."""

    def __init__(self, reuse: bool = True) -> None:
        self.book: ColumnarBook | None = None
        #: Skip the scan in blocks where nothing can have crossed (module docstring).
        self.reuse = reuse
        #: How many blocks were answered from the last scan without scanning.
        self.skipped = 0
        self._basis: tuple[object, ...] | None = None
        self._basis_prices: tuple[int, ...] | None = None
        self._ratios: list[float] | None = None
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
        reusable = self.reuse and not touched and not state.contracts.instruments
        if reusable and self.book is not None and self._basis is not None:
            kept = self._reuse(state)
            if kept is not None:
                self.skipped += 1
                self._fresh = False
                return kept
        self._basis = None
        self._fresh = False
        if self.book is None:
            self.book = ColumnarBook.from_state(state)
        else:
            self.book.sync(state, touched)
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
            self._basis = _basis(state, book)
            self._basis_prices = _exact_prices(book, prices)
            self._ratios = None  # computed on the first block that might skip
            self._found = found
        return list(found)

    def _reuse(self, state: LedgerState) -> list[Target] | None:
        """The last scan's candidates if no row can have crossed since (module docstring), else None."""
        book, last, basis_prices = self.book, self.last, self._basis_prices
        assert book is not None and basis_prices is not None
        if last is None or _basis(state, book) != self._basis:
            return None
        table, settlement = state.prices, book.settlement
        step: list[float] = []
        keys: list[int] = []
        for k, (key, then) in enumerate(zip((*book.oracles, *book.assets), basis_prices, strict=True)):
            if key == settlement:
                continue  # priced at exactly 1 by the scan
            entry = table.get(key)
            if entry is None:
                return None  # the full scan decides (it falls back to the exact path)
            if entry[0] != then:
                step.append(abs(entry[0] - then) / WAD)  # exact int difference, rounded once
                keys.append(k)
        if not keys:
            return list(self._found)
        if self._ratios is None:
            self._ratios = headroom_ratios(book, last).tolist()
        ratios = self._ratios
        # sum_k R_k |dP_k| over the moved keys only (unmoved ones contribute nothing; 0 x inf is nan)
        if not sum(ratios[k] * d for k, d in zip(keys, step, strict=True)) <= 1.0 - SKIP_SAFETY:
            return None
        return list(self._found)


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


def _exact_prices(book: ColumnarBook, prices: dict[str, int]) -> tuple[int, ...]:
    """Integer prices of the book's markets then assets, as the scan read them."""
    return tuple(prices[k] for k in (*book.oracles, *book.assets))
