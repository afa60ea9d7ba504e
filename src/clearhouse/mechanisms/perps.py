"""Perpetual futures: ``ListMarket``, ``UpdateMarket``, ``SetVolatility``, ``TransferMargin``,
``SettleFunding`` and ``Trade``, and the block's funding hook (:func:`accrue_funding`, run by the engine
before the block's oracle reports; see docs/concepts.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from clearhouse.core.errors import (
    AlreadyExists,
    InsufficientBalance,
    InsufficientMargin,
    InvalidParameters,
    InvalidValue,
    MarginModeConflict,
    SelfTrade,
    UnknownAsset,
)
from clearhouse.core.fixedpoint import RAY, WAD, check_range
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.instrument import Requirement, Sensitivities
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.margin import (
    cross_summary,
    funding_owed,
    isolated_summary,
    position_terms,
)
from clearhouse.ledger.model import LedgerState, MarketSpec, MarketState, Position
from clearhouse.ledger.price_band import check_fill_price
from clearhouse.ledger.trade_window import record_fill, take_venue_price
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.oracle.rules import Action


def list_market(ctx: TxContext, c: cmd.ListMarket) -> None:
    spec = c.market
    if spec.id in ctx.state.markets:
        raise AlreadyExists(f"market {spec.id} is already listed")
    if ctx.state.params.settlement_asset not in ctx.state.assets:
        raise UnknownAsset(
            f"market {spec.id}: settlement asset {ctx.state.params.settlement_asset} is not listed"
        )
    ctx.put_market(MarketState(spec, last_funding_time=ctx.state.time))
    ctx.emit(ev.MarketListed(spec.id, spec.oracle, spec.initial_margin, spec.maintenance_margin))


def update_market(ctx: TxContext, c: cmd.UpdateMarket) -> None:
    market = ctx.market(c.market.id)
    if c.market.oracle != market.spec.oracle:
        raise InvalidParameters(f"market {c.market.id}: the oracle key cannot change")
    market.spec = c.market
    s = c.market
    ctx.emit(
        ev.MarketUpdated(
            s.id, s.initial_margin, s.maintenance_margin, s.taker_fee, s.maker_fee, s.liquidation_fee
        )
    )


def set_volatility(ctx: TxContext, c: cmd.SetVolatility) -> None:
    ctx.market(c.market).vol_multiplier = c.multiplier
    ctx.emit(ev.VolatilitySet(c.market, c.multiplier))


def transfer_margin(ctx: TxContext, c: cmd.TransferMargin) -> None:
    settle = ctx.state.params.settlement_asset
    kernel.asset(ctx, settle, abs(c.amount))
    acct = ctx.account(c.account)
    market = ctx.market(c.market)
    pos = acct.positions.get(c.market)
    if pos is None:
        if c.amount < 0:
            raise InsufficientBalance(f"account {c.account} has no isolated margin in {c.market}")
        pos = acct.positions[c.market] = Position(
            c.market, funding_snapshot=market.funding_index, isolated=True
        )
    elif not pos.isolated:
        raise MarginModeConflict(f"account {c.account} holds a cross position in {c.market}")
    kernel.settle_funding(ctx, acct, pos, market)
    prices = kernel.prices(ctx)
    kernel.require(ctx, Action.WITHDRAW, [market.spec.oracle, *kernel.margin_keys(ctx, acct)])
    if c.amount > 0:
        balance = acct.balances.get(settle, 0)
        if balance < c.amount:
            raise InsufficientBalance(
                f"account {c.account} holds {balance} {settle}, cannot move {c.amount} to {c.market}"
            )
        acct.balances[settle] = balance - c.amount
        pos.margin += c.amount
        after = cross_summary(ctx.state, acct, prices)
        if not after.meets_initial:
            raise InsufficientMargin(
                f"moving {c.amount} to isolated {c.market} leaves account {c.account} cross equity "
                f"{after.equity} below initial {after.initial}"
            )
    else:
        amount = -c.amount
        if pos.margin < amount:
            raise InsufficientBalance(
                f"isolated {c.market} of {c.account} holds {pos.margin}, cannot release {amount}"
            )
        pos.margin -= amount
        acct.balances[settle] = acct.balances.get(settle, 0) + amount
        if pos.size:
            after = isolated_summary(ctx.state, pos, prices)
            if not after.meets_initial:
                raise InsufficientMargin(
                    f"releasing {amount} from isolated {c.market} of {c.account} leaves equity "
                    f"{after.equity} below initial {after.initial}"
                )
    if pos.is_empty:
        del acct.positions[c.market]
    ctx.emit(ev.MarginTransferred(c.account, c.market, c.amount))


def settle_funding_cmd(ctx: TxContext, c: cmd.SettleFunding) -> None:
    acct = ctx.account(c.account)
    for mid in sorted(acct.positions):
        kernel.settle_funding(ctx, acct, acct.positions[mid], ctx.market(mid))


def trade(ctx: TxContext, c: cmd.Trade) -> None:
    if c.buyer == c.seller:
        raise SelfTrade(f"account {c.buyer} cannot trade with itself in {c.market}")
    market = ctx.market(c.market)
    spec = market.spec
    if c.size % spec.step_size:
        raise InvalidValue(f"size {c.size} is not a multiple of {c.market}'s step {spec.step_size}")
    buyer, seller = ctx.account(c.buyer), ctx.account(c.seller)
    prices = kernel.prices(ctx)
    check_fill_price(c.market, c.price, prices(spec.oracle), spec.price_band)  # fresh index, band
    notional = check_range(c.size * c.price // WAD, f"notional of the {c.market} trade")
    fees = kernel.trade_fees(notional, c.taker, spec.taker_fee, spec.maker_fee)
    realised = {}
    for side, acct, delta in (("buyer", buyer, c.size), ("seller", seller, -c.size)):
        before_pos = acct.positions.get(c.market)
        old_size = before_pos.size if before_pos is not None else 0
        pos, realised[side] = kernel.fill(ctx, acct, market, delta, notional)
        kernel.check_fill_risk(ctx, pos.size, old_size, spec.oracle, f"{side} {acct.id}", c.market)
        kernel.charge_fee(ctx, acct, pos, fees[side])
        what = f"trade of {c.size} {c.market} at {c.price}"
        kernel.check_fill_margin(ctx, acct, pos, old_size, prices, what)
        kernel.drop_if_empty(acct, pos)
    market.last_trade_price = c.price
    market.last_trade_time = ctx.state.time
    record_fill(market, c.size, c.price)
    ctx.emit(
        ev.Traded(
            c.market,
            c.buyer,
            c.seller,
            c.size,
            c.price,
            notional,
            fees["buyer"],
            fees["seller"],
            realised["buyer"],
            realised["seller"],
        )
    )


def funding_rate(spec: MarketSpec, mark: int, index_price: int) -> int:
    """Funding rate per period (WAD): premium of the mark over the index plus interest, clamped to
    ``clamp_factor x (initial - maintenance)`` as dYdX v4 does.

    The mark is the median-of-three estimate (oracle + basis EMA, the venue's last trade since the
    previous accrual, external median) so one manipulated input cannot move funding alone."""
    cap = spec.funding_clamp_factor * (spec.initial_margin - spec.maintenance_margin) // WAD
    if not cap:  # clamped to [-0, 0] (e.g. funding switched off with a zero clamp factor)
        return 0
    premium = (mark - index_price) * WAD // index_price
    return max(-cap, min(cap, premium + spec.funding_interest))


def accrue_funding(state: LedgerState, now: int, undo: BlockUndo, events: list[ev.Event]) -> None:
    """The block's funding hook: advance every market's funding index over ``[last_funding_time, now]``
    (O(markets)) at the last recorded index price, before the block's own oracle reports are read.
    Markets are replaced in the state directly (the block's ``undo`` keeps the originals)."""
    markets, prices, originals = state.markets, state.prices, undo.markets
    for mid in sorted(markets) if len(markets) > 1 else tuple(markets):
        market = markets[mid]
        elapsed = now - market.last_funding_time
        if elapsed <= 0:
            continue
        spec = market.spec
        entry = prices.get(spec.oracle)
        new = market.clone()
        new.last_funding_time = now
        if entry is not None:
            index_price = entry[0]
            new.mark = estimator = market.mark.copy()
            # no fills in the interval: the venue leg is the index (``take_venue_price``, nothing to reset)
            fills = new.interval_size or new.interval_value
            venue = take_venue_price(new, index_price) if fills else index_price
            mark = estimator.update_mark(now, index_price, venue)
            new.mark_price = mark
            rate = funding_rate(spec, mark, index_price)
            if rate:  # a zero rate moves nothing
                delta = rate * index_price * elapsed * RAY // (WAD * WAD * spec.funding_period)
                if delta:
                    new.funding_index += delta
                    events.append(ev.FundingAccrued(mid, mark, rate, new.funding_index, elapsed))
        if mid not in originals:
            originals[mid] = market
        markets[mid] = new


@dataclass(frozen=True, slots=True)
class PerpInstrument:
    """A perpetual position in ``market`` (the committed market: its funding index, open interest and
    volatility multiplier), as the margin arithmetic of :mod:`clearhouse.ledger.margin` values it."""

    market: MarketState

    def value(self, position: Position, price: int) -> int:
        return position_terms(position, self.market, price)[0]

    def settlement_owed(self, position: Position) -> int:
        return funding_owed(position, self.market.funding_index)

    def requirement(self, position: Position, price: int) -> Requirement:
        _, initial, maintenance = position_terms(position, self.market, price)
        return Requirement(initial, maintenance)

    def sensitivities(self, position: Position, price: int) -> Sensitivities:
        return Sensitivities(delta=position.size)


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.ListMarket: list_market,
    cmd.UpdateMarket: update_market,
    cmd.SetVolatility: set_volatility,
    cmd.TransferMargin: transfer_margin,
    cmd.SettleFunding: settle_funding_cmd,
    cmd.Trade: trade,
}
