"""``TradeContract``: fills in dated futures and options, in the same accounts as perps (cross margin).

* **Options**: the premium ``floor(size × price)`` moves from buyer to seller at the trade; the
  position is a signed size. Its value in margin is the scenario table's mark (``ledger.contract_margin``).
* **Futures**: perp fill arithmetic without funding (:func:`future_fill`): opening adds ``± notional``
  to the cost basis, reducing realises P&L into the settlement balance against the listing's PnL pool.

Both sides must keep initial margin afterwards, or only have reduced and not lowered their health
(dYdX's rule, as perps); the oracle rule of the underlying decides open vs reduce.
"""

from __future__ import annotations

import msgspec

from clearhouse.core.errors import (
    InstrumentExpired,
    InvalidValue,
    SelfTrade,
    UnknownMarket,
)
from clearhouse.core.fixedpoint import WAD, check_range
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.contracts import ContractPosition, Listing
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.margin import MarginSummary, cross_summary
from clearhouse.ledger.model import Account
from clearhouse.ledger.price_band import check_fill_price
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.options.instruments import EuropeanOption, OptionKind


def future_fill(size: int, entry_value: int, delta: int, notional: int) -> tuple[int, int, int]:
    """(new size, new cost basis, realised P&L) of a future fill of ``delta`` for ``notional``: the
    arithmetic of ``kernel.fill`` without funding, so ``d(entry) + d(pool) == sign × notional``."""
    sign = 1 if delta > 0 else -1
    realised = 0
    if size == 0 or (size > 0) == (delta > 0):
        entry_value += sign * notional
    else:
        closed = min(abs(delta), abs(size))
        closed_notional = notional if closed == abs(delta) else notional * closed // abs(delta)
        basis = entry_value * closed // abs(size)
        realised = -sign * closed_notional - basis
        entry_value += sign * (notional - closed_notional) - basis
    return size + delta, entry_value, realised


def listing_for_trade(ctx: TxContext, instrument: str) -> Listing:
    """The listing of an instrument that still trades (open and before expiry)."""
    listing = ctx.contracts().instruments.get(instrument)
    if listing is None:
        raise UnknownMarket(f"unknown instrument {instrument!r}")
    if listing.status != "open" or listing.spec.is_expired(ctx.state.time):
        raise InstrumentExpired(f"instrument {instrument} expired at {listing.spec.expiry}; it only settles")
    return listing


def move_leg(
    ctx: TxContext, acct: Account, listing: Listing, delta: int, notional: int
) -> tuple[int, int, int]:
    """Apply one side of a fill of ``delta`` for ``notional`` to ``acct``: (old size, new size,
    realised P&L). Options: the buyer side pays the premium, the seller side receives it (the caller
    applies both sides, so the premium is moved exactly). Futures: realised P&L into the balance."""
    iid = listing.spec.symbol
    old = acct.contracts.get(iid, ContractPosition(0))
    if listing.is_option:
        new_size, entry, realised = old.size + delta, 0, 0
        kernel.credit_balance(acct, kernel.settle(ctx), -notional if delta > 0 else notional)
    else:
        new_size, entry, realised = future_fill(old.size, old.entry_value, delta, notional)
        kernel.credit_balance(acct, kernel.settle(ctx), realised)
    if new_size == 0 and entry == 0:
        acct.own_contracts().pop(iid, None)
    else:
        acct.own_contracts()[iid] = ContractPosition(new_size, entry)
    return old.size, new_size, realised


def check_margin(ctx: TxContext, acct: Account, old: int, new: int, what: str) -> None:
    """Initial margin after the fill, or a pure reduction that did not lower health."""
    price_of = kernel.prices(ctx)
    after = cross_summary(ctx.state, acct, price_of)

    def before() -> MarginSummary:  # the committed account, before this transaction
        return cross_summary(ctx.state, ctx.state.accounts[acct.id], price_of)

    kernel.require_initial_or_reduction(after, before, old, new, acct.id, what)


def check_premium(listing: Listing, price: int, index: int) -> None:
    """An option premium above its no-arbitrage bound (the index for a call, the strike for a put)
    is refused, as a perp fill outside its band."""
    spec = listing.spec
    assert isinstance(spec, EuropeanOption)
    bound = index if spec.option_kind is OptionKind.CALL else spec.strike
    if price > bound:
        raise InvalidValue(f"premium {price} of {spec.symbol} exceeds its bound {bound}")


def trade_contract(ctx: TxContext, c: cmd.TradeContract) -> None:
    if c.buyer == c.seller:
        raise SelfTrade(f"account {c.buyer} cannot trade with itself in {c.instrument}")
    listing = listing_for_trade(ctx, c.instrument)
    spec, terms = listing.spec, listing.terms
    spec.check_size(c.size)
    spec.check_price(c.price)
    buyer, seller = ctx.account(c.buyer), ctx.account(c.seller)
    index = kernel.prices(ctx)(spec.underlying)  # fresh index
    if listing.is_option:
        check_premium(listing, c.price, index)
    else:
        check_fill_price(c.instrument, c.price, index, terms.price_band)
    notional = check_range(c.size * c.price // WAD, f"notional of the {c.instrument} trade")
    fees = kernel.trade_fees(notional, c.taker, terms.taker_fee, terms.maker_fee)
    realised: dict[str, int] = {}
    oi, pool = listing.open_interest, listing.pnl_pool
    sides = []
    for side, acct, delta in (("buyer", buyer, c.size), ("seller", seller, -c.size)):
        old, new, realised[side] = move_leg(ctx, acct, listing, delta, notional)
        pool -= realised[side]
        oi += max(new, 0) - max(old, 0)
        kernel.check_fill_risk(ctx, new, old, spec.underlying, f"{side} {acct.id}", c.instrument)
        if fees[side]:
            kernel.credit_balance(acct, kernel.settle(ctx), -fees[side])
            pools = ctx.pools()
            pools.fees[kernel.settle(ctx)] = pools.fees.get(kernel.settle(ctx), 0) + fees[side]
        sides.append((acct, old, new))
    what = f"trade of {c.size} {c.instrument} at {c.price}"
    for acct, old, new in sides:
        check_margin(ctx, acct, old, new, what)
    book = ctx.contracts()
    book.instruments[c.instrument] = msgspec.structs.replace(listing, open_interest=oi, pnl_pool=pool)
    ctx.emit(
        ev.ContractTraded(
            c.instrument,
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


HANDLERS: Handlers = {cmd.TradeContract: trade_contract}
