"""Exact margin arithmetic: equity, initial and maintenance requirements, health.

Rounding always favours the protocol: collateral value and PnL round down, funding owed and
requirements round up. ``equity < maintenance`` (an exact integer comparison) is the liquidation test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clearhouse.core.errors import MissingPrice, StalePrice
from clearhouse.core.fixedpoint import WAD, WAD2, mul_div_up, rmul_up
from clearhouse.ledger.contract_margin import contract_terms
from clearhouse.ledger.margin_models import FixedMargin
from clearhouse.ledger.model import Account, LedgerState, MarketState, Position

PriceLookup = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class MarginSummary:
    equity: int
    initial: int
    maintenance: int

    @property
    def liquidatable(self) -> bool:
        return self.equity < self.maintenance

    @property
    def meets_initial(self) -> bool:
        return self.equity >= self.initial

    @property
    def health(self) -> int | None:
        """Equity / maintenance in WAD (rounded down); ``None`` when nothing is required."""
        if self.maintenance == 0:
            return None
        return self.equity * WAD // self.maintenance


#: The last lookup made, with what it was made from: (prices table, time, params, lookup). The lookup
#: depends on nothing else, and the table is replaced (never mutated in place) when prices change; it
#: reads the table live anyway, so handing it out again for the same three objects is exact.
_last_lookup: tuple[object, int, object, PriceLookup] | None = None


_new = object.__new__
_set_equity, _set_initial, _set_maintenance = (
    getattr(MarginSummary, name).__set__ for name in ("equity", "initial", "maintenance")
)


def make_summary(equity: int, initial: int, maintenance: int) -> MarginSummary:
    """``MarginSummary(equity, initial, maintenance)``, built in half the time: the frozen dataclass's
    ``__init__`` sets each slot through ``object.__setattr__``; this sets the same slots through their
    descriptors (the class has no ``__post_init__``, so the object is the same in every respect)."""
    summary: MarginSummary = _new(MarginSummary)
    _set_equity(summary, equity)
    _set_initial(summary, initial)
    _set_maintenance(summary, maintenance)
    return summary


def fresh_price_lookup(state: LedgerState) -> PriceLookup:
    """A lookup that refuses unknown prices and prices older than ``max_price_age``."""
    global _last_lookup
    prices = state.prices
    now = state.time
    params = state.params
    last = _last_lookup
    if last is not None and last[0] is prices and last[1] == now and last[2] is params:
        return last[3]
    max_age = params.max_price_age
    settlement = params.settlement_asset

    def lookup(key: str) -> int:
        if key == settlement:
            return WAD
        entry = prices.get(key)
        if entry is None:
            raise MissingPrice(f"no oracle price for {key}")
        price, at = entry
        if now - at > max_age:
            raise StalePrice(f"price of {key} is {now - at}s old (max {max_age}s)")
        return price

    _last_lookup = (prices, now, params, lookup)
    return lookup


def unrealised_pnl(pos: Position, price: int) -> int:
    """``size x price - entry_value``, the size x price product rounded down."""
    return pos.size * price // WAD - pos.entry_value


def funding_owed(pos: Position, index: int) -> int:
    """Funding the position owes since its snapshot (> 0 pays, < 0 receives), rounded up."""
    return rmul_up(pos.size, index - pos.funding_snapshot)


def requirement(size: int, price: int, fraction: int) -> int:
    """``|size| x price x fraction``, rounded up."""
    return mul_div_up(abs(size) * price, fraction, WAD2)


def collateral_value(balances: dict[str, int], state: LedgerState, price_of: PriceLookup) -> int:
    """Haircut value of cross collateral; a negative settlement balance counts in full."""
    total = 0
    assets = state.assets
    for asset_id, amount in balances.items():
        if amount == 0:
            continue
        if amount < 0:
            total += amount * price_of(asset_id) // WAD
        else:
            total += amount * price_of(asset_id) * assets[asset_id].haircut // WAD2
    return total


def margin_fractions(market: MarketState, size: int, price: int) -> tuple[int, int]:
    """(initial, maintenance) fractions the market's margin model sets for a position of ``size``."""
    spec = market.spec
    model = spec.margin_model
    if type(model) is FixedMargin:
        return spec.initial_margin, spec.maintenance_margin
    return model.fractions(
        spec.initial_margin,
        spec.maintenance_margin,
        abs(size) * price // WAD,
        market.open_interest * price // WAD,
        market.vol_multiplier,
    )


def position_terms(pos: Position, market: MarketState, price: int) -> tuple[int, int, int]:
    """(value, initial, maintenance) of one position at ``price``: value = upnl - funding owed."""
    value = unrealised_pnl(pos, price) - funding_owed(pos, market.funding_index)
    im_fraction, mm_fraction = margin_fractions(market, pos.size, price)
    return (
        value,
        requirement(pos.size, price, im_fraction),
        requirement(pos.size, price, mm_fraction),
    )


def cross_summary(state: LedgerState, account: Account, price_of: PriceLookup) -> MarginSummary:
    """Margin of the account's cross bucket: all collateral and every cross position."""
    equity, initial, maintenance = cross_totals(state, account, price_of)
    return make_summary(equity, initial, maintenance)


def cross_totals(state: LedgerState, account: Account, price_of: PriceLookup) -> tuple[int, int, int]:
    """``(equity, initial, maintenance)`` of :func:`cross_summary` as a plain tuple (no summary object:
    the liquidator's check after every close-out needs only the comparison).

    The per-position arithmetic is :func:`position_terms` written out (the hot path of enforcement:
    every confirmation and every liquidator check): the same integers, term by term."""
    equity = collateral_value(account.balances, state, price_of)
    if account.contracts:  # dated futures / options: portfolio margin per underlying
        value, im, mm = contract_terms(state, account, price_of, position_terms)
        return equity + value, im, mm
    initial = maintenance = 0
    markets = state.markets
    for pos in account.positions.values():
        size = pos.size
        if pos.isolated or size == 0:
            continue
        market = markets[pos.market]
        spec = market.spec
        price = price_of(spec.oracle)
        # unrealised_pnl - funding_owed (funding_owed is 0 when the snapshot is the index)
        equity += size * price // WAD - pos.entry_value
        index, snapshot = market.funding_index, pos.funding_snapshot
        if index != snapshot:
            equity -= rmul_up(size, index - snapshot)
        if type(spec.margin_model) is FixedMargin:
            im_fraction, mm_fraction = spec.initial_margin, spec.maintenance_margin
        else:
            im_fraction, mm_fraction = margin_fractions(market, size, price)
        gross = -(size if size > 0 else -size) * price  # requirement(): mul_div_up(|size| x price, f, WAD2)
        initial -= gross * im_fraction // WAD2
        maintenance -= gross * mm_fraction // WAD2
    return equity, initial, maintenance


class MarginTable:
    """:func:`cross_totals` for many accounts at one set of prices, each lookup made once.

    Enforcement computes the cross summary of every candidate and checks the liquidator after every
    close-out, all at the same prices, asset specs, market specs and funding indices (nothing in an
    enforcement step changes them). The table keeps, per asset, its price and ``price x haircut``, and
    per market with fixed margin, its price, funding index and ``price x fraction`` for both
    fractions, so an account's totals are a few multiplications per entry: the same integers as
    :func:`cross_totals` (``a x p x h // WAD2 == a x (p x h) // WAD2``), the same lookups in the same
    order (so the same :class:`MissingPrice` / :class:`StalePrice` where it refuses). Markets with
    another margin model are read live (their fractions follow the committed open interest), and
    accounts holding dated contracts go through :func:`cross_totals`. Use a table only while those
    inputs stay put: within one enforcement step.
    """

    __slots__ = ("_markets", "_prices", "_products", "price_of", "state")

    def __init__(self, state: LedgerState, price_of: PriceLookup) -> None:
        self.state = state
        self.price_of = price_of
        self._prices: dict[str, int] = {}
        self._products: dict[str, int] = {}
        #: market id -> (price, funding index, price x initial fraction, price x maintenance fraction)
        self._markets: dict[str, tuple[int, int, int, int]] = {}

    def _price(self, key: str) -> int:
        price = self._prices[key] = self.price_of(key)
        return price

    def price(self, key: str) -> int:
        """``price_of(key)``, looked up once."""
        price = self._prices.get(key)
        return self._price(key) if price is None else price

    def _product(self, asset_id: str) -> int:
        price = self._prices.get(asset_id)
        if price is None:
            price = self._price(asset_id)
        product = self._products[asset_id] = price * self.state.assets[asset_id].haircut
        return product

    def _market(self, market_id: str) -> tuple[int, int, int, int] | None:
        """The fixed-margin terms of ``market_id`` (None for another margin model: read it live)."""
        market = self.state.markets[market_id]
        spec = market.spec
        price = self.price(spec.oracle)
        if type(spec.margin_model) is not FixedMargin:
            return None
        terms = price, market.funding_index, price * spec.initial_margin, price * spec.maintenance_margin
        self._markets[market_id] = terms
        return terms

    def collateral(self, balances: dict[str, int]) -> int:
        """:func:`collateral_value` of ``balances``."""
        total = 0
        prices, products = self._prices, self._products
        for asset_id, amount in balances.items():
            if amount == 0:
                continue
            if amount < 0:
                price = prices.get(asset_id)
                total += amount * (self._price(asset_id) if price is None else price) // WAD
            else:
                product = products.get(asset_id)
                if product is None:
                    product = self._product(asset_id)
                total += amount if product == WAD2 else amount * product // WAD2  # == when x WAD2 // WAD2
        return total

    def cross_totals(self, account: Account) -> tuple[int, int, int]:
        """:func:`cross_totals` of ``account``: ``(equity, initial, maintenance)``."""
        if account.contracts:
            return cross_totals(self.state, account, self.price_of)
        equity = self.collateral(account.balances)
        initial = maintenance = 0
        table = self._markets
        for pos in account.positions.values():
            size = pos.size
            if pos.isolated or size == 0:
                continue
            terms = table.get(pos.market) or self._market(pos.market)
            if terms is None:  # not fixed margin: position_terms, live
                market = self.state.markets[pos.market]
                value, im, mm = position_terms(pos, market, self.price(market.spec.oracle))
                equity += value
                initial += im
                maintenance += mm
                continue
            price, index, im_product, mm_product = terms
            equity += size * price // WAD - pos.entry_value
            snapshot = pos.funding_snapshot
            if index != snapshot:
                equity -= rmul_up(size, index - snapshot)
            gross = size if size < 0 else -size  # -|size|: requirement() rounds up
            initial -= gross * im_product // WAD2
            maintenance -= gross * mm_product // WAD2
        return equity, initial, maintenance


def isolated_summary(state: LedgerState, pos: Position, price_of: PriceLookup) -> MarginSummary:
    """Margin of one isolated position: its own collateral only."""
    market = state.markets[pos.market]
    if pos.size == 0:
        return MarginSummary(pos.margin - funding_owed(pos, market.funding_index), 0, 0)
    value, im, mm = position_terms(pos, market, price_of(market.spec.oracle))
    return MarginSummary(pos.margin + value, im, mm)


def health_not_worse(before: MarginSummary, after: MarginSummary) -> bool:
    """True when ``after.equity / after.mm >= before.equity / before.mm`` (cross-multiplied)."""
    if after.maintenance == 0:
        return after.equity >= 0
    if before.maintenance == 0:
        return False
    return after.equity * before.maintenance >= before.equity * after.maintenance
