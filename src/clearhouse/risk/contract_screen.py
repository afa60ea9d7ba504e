"""The portfolio-margin screen (``risk.portfolio_scan``) as the engine's contract screen port.

Each block, every account holding dated contracts is either screened in float64 over its
underlying's grid (one :class:`~clearhouse.risk.portfolio_scan.PortfolioBook` per underlying) or
nominated outright; the engine's exact check decides. The screen's no-miss bound holds for an account
whose whole requirement is one underlying's portfolio margin, so only those are screened:

* options on exactly one underlying ``U``, every cross perp and dated future priced by ``U`` (they are
  linear legs of the grid) — its ``cash`` is everything else the exact equity counts (collateral after
  haircuts, perp value net of funding, futures value), exact integers, so the screen's equity and
  maintenance are the exact ones up to the bounded float error;
* anything else (no option, options on several underlyings, a leg margined at fixed fractions) is
  nominated without screening (conservative: the exact check sees it), as is an account whose price
  is missing or stale (the exact path then skips it, as it would anyway).

The books are rebuilt every block (prices move every linear leg's ``size × price``); the cost is the
book build, ~70 µs per account, then the vectorised screen (``docs/portfolio-margin.md``).
"""

from __future__ import annotations

from collections.abc import Collection

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger.contract_margin import option_underlyings, portfolios
from clearhouse.ledger.margin import PriceLookup, collateral_value, fresh_price_lookup, position_terms
from clearhouse.ledger.model import Account, LedgerState
from clearhouse.risk.portfolio_scan import Backend, OptionsAccount, PortfolioBook, screen


class PortfolioContractScreen:
    """Vectorised screen of options accounts; ``margin`` is the screen's relative margin (0 is sound)."""

    def __init__(self, backend: Backend = "auto", margin: float = 0.0) -> None:
        self.backend: Backend = backend
        self.margin = margin
        #: Accounts screened / nominated without screening in the last block (for drivers).
        self.screened = 0
        self.nominated = 0

    def candidates(self, state: LedgerState) -> Collection[str]:
        price_of = fresh_price_lookup(state)
        out: list[str] = []
        groups: dict[str, list[OptionsAccount]] = {}
        for aid in sorted(state.accounts):
            account = state.accounts[aid]
            if not account.contracts:
                continue
            try:
                entry = _screenable(state, account, price_of)
            except ClearhouseError:
                entry = None
            if entry is None:
                out.append(aid)
            else:
                groups.setdefault(entry[0], []).append(entry[1])
        self.nominated = len(out)
        self.screened = sum(len(g) for g in groups.values())
        for u in sorted(groups):
            risk = state.contracts.tables[u]
            book = PortfolioBook.from_accounts(risk.table, groups[u])
            result = screen(book, risk.spec, risk.table, margin=self.margin, backend=self.backend)
            out.extend(result.candidates)
        return out


def _screenable(
    state: LedgerState, account: Account, price_of: PriceLookup
) -> tuple[str, OptionsAccount] | None:
    """``(underlying, account as the screen sees it)``, or None when it must be nominated."""
    lookup = price_of
    underlyings = option_underlyings(state.contracts, account)
    if len(underlyings) != 1 or underlyings[0] not in state.contracts.tables:
        return None
    u = underlyings[0]
    cash = collateral_value(account.balances, state, lookup)
    for pos in account.positions.values():
        if pos.isolated or not pos.size:
            continue
        market = state.markets[pos.market]
        if market.spec.oracle != u:
            return None
        cash += position_terms(pos, market, lookup(u))[0]
    for iid, cpos in account.contracts.items():
        listing = state.contracts.instruments[iid]
        if listing.spec.underlying != u:
            return None
        if not listing.is_option:
            cash += cpos.size * lookup(u) // WAD - cpos.entry_value
    portfolio = portfolios(state, account, lookup)[u]
    return u, OptionsAccount(account.id, cash, portfolio)


__all__ = ["PortfolioContractScreen"]
