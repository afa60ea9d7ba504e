"""The columnar scan as the engine's candidate scanner (the ``CandidateScanner`` port).

Keeps a :class:`ColumnarBook` in sync with the accounts each block changed, screens every account
at the current prices with the vectorised kernel, and hands the engine a superset of the targets
below maintenance; the engine's exact check decides. Margin models can only raise maintenance above
the market's base fraction, so the mirror is screened with each market's largest current maintenance
fraction: conservative, never a miss. Without a usable price vector it falls back to the exact scan.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import repeat

import numpy as np

from clearhouse.core.errors import InvalidValue, MissingPrice
from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger.enforcement import ExactScanner, Target
from clearhouse.ledger.model import LedgerState
from clearhouse.risk.columnar import ColumnarBook
from clearhouse.risk.scan import ScanResult, scan


class ColumnarScanner:
    """Vectorised screening for :class:`clearhouse.ledger.engine.Engine` (``Engine(scanner=...)``)."""

    def __init__(self) -> None:
        self.book: ColumnarBook | None = None
        #: The last vectorised screening (None after a fallback), for drivers that chart it.
        self.last: ScanResult | None = None
        self._exact = ExactScanner()
        #: How many scans fell back to the exact path (missing or invalid prices).
        self.fallbacks = 0

    def candidates(self, state: LedgerState, touched: Collection[str]) -> Sequence[Target]:
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
        return found
