"""The fills of the current funding interval, the input of the mark's venue leg.

Each ``Trade`` adds its ``size x price`` and ``size`` to the market; each funding accrual reads the
interval's size-weighted price through :func:`clearhouse.oracle.mark.interval_venue_price` (the index
while the interval's notional is below ``mark_min_notional``) and starts a new interval. Weighting by
size means a 0.001 ETH print carries 0.001 ETH of weight, and the minimum notional means the interval's
fills must add up to a real amount before they count at all (splitting a trade does not help: the
threshold is on the interval's total).
"""

from __future__ import annotations

from clearhouse.ledger.model import MarketState
from clearhouse.oracle.mark import interval_venue_price


def record_fill(market: MarketState, size: int, price: int) -> None:
    """Add one fill of ``size`` (WAD, > 0) at ``price`` (WAD) to the market's current interval."""
    market.interval_value += size * price
    market.interval_size += size


def take_venue_price(market: MarketState, index: int) -> int:
    """The interval's venue price for the mark (see ``interval_venue_price``); resets the interval.
    Call on the market's clone being accrued."""
    price = interval_venue_price(
        market.interval_value, market.interval_size, market.spec.mark_min_notional, index
    )
    market.interval_value = market.interval_size = 0
    return price
