"""Cross margin of an account that holds dated futures or options: portfolio margin per underlying.

For every underlying on which the account holds an option, the whole book on that underlying — its
options, its dated futures and its cross perps priced by the same key — is margined together over the
underlying's scenario table (``options.portfolio_margin.portfolio_margin``, exact integers): options
count in equity at the table's mark (``floor(Σ size × mark)``), linear legs at the index. Futures on
an underlying without options take their listing's fixed fractions, perps their market's model.
This is the margin model behind ``margin.cross_summary`` for such accounts (one interface).
"""

from __future__ import annotations

from collections.abc import Callable

from clearhouse.core.errors import MissingPrice
from clearhouse.core.fixedpoint import WAD, WAD2, mul_div_up
from clearhouse.ledger.contracts import ContractBook
from clearhouse.ledger.model import Account, LedgerState, MarketState, Position
from clearhouse.options.portfolio_margin import (
    LinearPosition,
    MarginResult,
    OptionPosition,
    Portfolio,
    portfolio_margin,
)

PerpTerms = Callable[[Position, MarketState, int], tuple[int, int, int]]


def option_underlyings(book: ContractBook, account: Account) -> list[str]:
    """Underlyings on which ``account`` holds a non-zero option position (sorted)."""
    found = {
        book.instruments[iid].spec.underlying
        for iid, pos in account.contracts.items()
        if pos.size and book.instruments[iid].is_option
    }
    return sorted(found)


def portfolios(
    state: LedgerState, account: Account, price_of: Callable[[str], int]
) -> dict[str, Portfolio]:
    """The portfolio per option underlying (options, futures, cross perps on that key)."""
    book = state.contracts
    out: dict[str, tuple[list[OptionPosition], list[LinearPosition]]] = {
        u: ([], []) for u in option_underlyings(book, account)
    }
    for iid in sorted(account.contracts):
        pos = account.contracts[iid]
        spec = book.instruments[iid].spec
        legs = out.get(spec.underlying)
        if legs is None or not pos.size:
            continue
        if book.instruments[iid].is_option:
            legs[0].append(OptionPosition(iid, pos.size))
        else:
            legs[1].append(LinearPosition(iid, pos.size, price_of(spec.underlying)))
    for mid in sorted(account.positions):
        pos_p = account.positions[mid]
        key = state.markets[mid].spec.oracle
        if pos_p.isolated or not pos_p.size or key not in out:
            continue
        out[key][1].append(LinearPosition(mid, pos_p.size, price_of(key)))
    return {u: Portfolio(tuple(o), tuple(lin)) for u, (o, lin) in out.items()}


def underlying_margin(state: LedgerState, underlying: str, portfolio: Portfolio) -> MarginResult:
    """Portfolio margin of one underlying's book over its scenario table."""
    risk = state.contracts.tables.get(underlying)
    if risk is None:
        raise MissingPrice(f"no scenario table for {underlying}: options on it cannot be margined")
    return portfolio_margin(risk.spec, risk.table, portfolio)


def contract_terms(
    state: LedgerState, account: Account, price_of: Callable[[str], int], perp_terms: PerpTerms
) -> tuple[int, int, int]:
    """(equity of positions, initial, maintenance) of the account's cross positions and contracts;
    collateral is not included (``margin.cross_summary`` adds it)."""
    book = state.contracts
    pm = portfolios(state, account, price_of)
    equity = initial = maintenance = 0
    for pos in account.positions.values():
        if pos.isolated or pos.size == 0:
            continue
        market = state.markets[pos.market]
        value, im, mm = perp_terms(pos, market, price_of(market.spec.oracle))
        equity += value
        if market.spec.oracle not in pm:
            initial += im
            maintenance += mm
    option_value: dict[str, int] = {}
    for iid in sorted(account.contracts):
        cpos = account.contracts[iid]
        listing = book.instruments[iid]
        u = listing.spec.underlying
        if listing.is_option:
            risk = book.tables.get(u)
            if risk is None:
                raise MissingPrice(f"no scenario table for {u}: option {iid} cannot be valued")
            option_value[u] = option_value.get(u, 0) + cpos.size * risk.table.row(iid).mark
            continue
        price = price_of(u)
        equity += cpos.size * price // WAD - cpos.entry_value
        if u not in pm:
            terms = listing.terms
            initial += mul_div_up(abs(cpos.size) * price, terms.initial_margin, WAD2)
            maintenance += mul_div_up(abs(cpos.size) * price, terms.maintenance_margin, WAD2)
    for u in sorted(option_value):
        equity += option_value[u] // WAD
    for u in sorted(pm):
        result = underlying_margin(state, u, pm[u])
        initial += result.initial
        maintenance += result.maintenance
    return equity, initial, maintenance


__all__ = ["contract_terms", "option_underlyings", "portfolios", "underlying_margin"]
