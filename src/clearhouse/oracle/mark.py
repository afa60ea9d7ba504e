"""Mark price for perpetuals: the median of three independent estimates.

1. ``oracle + EMA(venue - oracle)``: the index plus a smoothed basis (Hyperliquid: 150 s EMA);
2. the venue's own price: in the ledger :func:`interval_venue_price`, the size-weighted average fill
   price since the last funding accrual, or the index while that interval's traded notional is below
   the market's minimum (a dust trade cannot set it); with an order book, :func:`venue_price` =
   median(best bid, best ask, last trade);
3. the median of external venues' perp prices.

With three estimates one manipulated input cannot move the mark beyond the other two. With two
available the mark is the floor of their mean (one input then moves it by half its error) and
with only the first it is ``oracle + basis``. All integers; the EMA is zero-order hold like the
oracle's (see :mod:`clearhouse.oracle.averages`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from clearhouse.core.fixedpoint import MAX_ABS, WAD, check_positive
from clearhouse.oracle.averages import ExponentialAverage
from clearhouse.oracle.errors import UpdateOutOfOrder
from clearhouse.oracle.intmath import median3, median_floor, median_of


def venue_price(best_bid: int | None, best_ask: int | None, last_trade: int | None) -> int | None:
    """median(bid, ask, last) when all three exist, else the floor mean of those that do, else None."""
    present = [p for p in (best_bid, best_ask, last_trade) if p is not None]
    if not present:
        return None
    for p in present:
        check_positive(p, "venue price input")
    return median_floor(sorted(present))


def interval_venue_price(value: int, size: int, min_notional: int, index: int) -> int:
    """The venue leg of the mark for one funding interval, from its fills.

    ``value`` is the sum of ``size x price`` over the interval's fills (WAD^2) and ``size`` the sum of
    their sizes (WAD). When the traded notional ``value / WAD`` reaches ``min_notional`` the result is
    the size-weighted average fill price, rounded down (so it lies between the lowest and the highest
    fill price, inside the price band); otherwise it is ``index``: no fill, or only dust, is read as
    no premium, and the basis EMA decays toward zero instead of holding the last print.
    """
    if size <= 0 or value // WAD < min_notional:
        return index
    return value // size


class MarkEstimate(msgspec.Struct, frozen=True):
    """The mark price and the estimates it came from (``None`` where an input was missing)."""

    time: int
    mark: int
    oracle_plus_basis: int
    venue: int | None
    external: int | None


class MarkPrice:
    """Stateful mark-price calculator for one perp market (holds the basis EMA)."""

    __slots__ = ("_basis", "_time")

    def __init__(self, basis_half_life: int = 150) -> None:
        self._basis = ExponentialAverage(basis_half_life)
        self._time: int | None = None

    def update(
        self, now: int, oracle: int, venue: int | None, external: Sequence[int] | None = None
    ) -> MarkEstimate:
        """Mark price at ``now`` from the oracle (index) price, the venue price and external prices."""
        first = self._advance(now, oracle, venue)
        if not external:  # the ledger's case: no external venues
            if venue is None:
                return MarkEstimate(now, first, first, None, None)
            # median of two: the floor of their mean
            return MarkEstimate(now, (first + venue) // 2, first, venue, None)
        for p in external:
            check_positive(p, "external price")
        ext = median_of(list(external))
        estimates = [e for e in (venue, ext) if e is not None]
        if len(estimates) == 2:
            mark = median3(first, estimates[0], estimates[1])
        else:
            mark = median_floor(sorted([first, *estimates]))
        return MarkEstimate(now, mark, first, venue, ext)

    def update_mark(self, now: int, oracle: int, venue: int | None) -> int:
        """``update(now, oracle, venue).mark`` (no external venues, the ledger's case) without building
        the estimate: the same checks, the same state afterwards, the same mark. The funding hook calls
        it for every market every block."""
        first = self._advance(now, oracle, venue)
        return first if venue is None else (first + venue) // 2

    def _advance(self, now: int, oracle: int, venue: int | None) -> int:
        """Check the inputs, record the venue's basis, move to ``now``; the first estimate (oracle plus
        the smoothed basis). After a crash the smoothed basis can exceed the new oracle price; the
        estimate is floored at one unit instead of failing, since the mark feeds funding every block
        (and funding is clamped)."""
        if type(oracle) is not int or not 0 < oracle < MAX_ABS:
            check_positive(oracle, "oracle price")  # raises the typed error
        if self._time is not None and now < self._time:
            raise UpdateOutOfOrder(f"mark update at {now} before the last one at {self._time}")
        if venue is not None:
            if type(venue) is not int or not 0 < venue < MAX_ABS:
                check_positive(venue, "venue price")
            self._basis.record(now, venue - oracle)
        self._time = now
        return max(oracle + (self._basis.value(now) or 0), 1)

    def state(self) -> list[Any]:
        return [self._time, self._basis.state()]

    def encode_state(self) -> bytes:
        return msgspec.json.encode(self.state())

    def copy(self) -> MarkPrice:
        new = MarkPrice.__new__(MarkPrice)
        new._basis, new._time = self._basis.copy(), self._time
        return new
