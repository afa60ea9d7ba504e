"""Expiry settlement price and payoffs, in exact integers.

**Settlement price** = the time-weighted average of the index over the ``window`` seconds (1,800 s =
30 minutes, as Deribit and Derive) that end at expiry. It is computed Derive-style as the difference of
a cumulative ``price × seconds`` aggregate: each oracle report's price holds until the next report, the
aggregate at time ``t`` is the integral of that step function from the first report to ``t``, and

    TWAP = (cum(expiry) − cum(expiry − window)) / window

(one subtraction and one division, whatever the number of reports; a live feed would keep the
aggregate as it reports, so settlement is O(1)).

**An expiry never settles on a bad price.** The result is a typed state: :class:`Ready` with the price,
or :class:`Waiting` with the reason —

* ``not_expired``: the block is before expiry;
* ``halted``: the oracle reports itself halted (circuit breaker) at expiry;
* ``no_reports`` / ``stale``: no report at or before expiry, or the last one older than ``max_age``
  (300 s: the feed must be fresher than 5 minutes at expiry);
* ``not_enough_coverage``: the window does not begin with a price (the first report is after its
  start), or fewer than ``min_coverage`` of its seconds are *fresh* (carried from a report at most
  ``max_age`` old). By default every second must be fresh; a report gap longer than ``max_age`` inside
  the window blocks settlement. Such a window cannot heal later (reports after expiry are not used),
  so resolving it is a governance decision left to the engine integration.

Reports after expiry are ignored; only reports at or before ``min(now, expiry)`` count.

**Rounding.** The TWAP division rounds half to even: the price is the same number for longs and
shorts, and half-even favours neither side. The protocol's favour is taken in the *payoffs*: each
position's amount is floored (``//``), so a credit rounds down and a debit rounds up (more negative);
over a balanced book the amounts sum to at most zero and the protocol keeps the dust (< 1e-18 quote
per position).

Worked example (WAD omitted): reports every 300 s from expiry − 1800 s, three at 2000 then three at
2100 (the last at expiry − 300 s, exactly 5 minutes old at expiry) → cum difference = 2000·900 +
2100·900 = 3,690,000 → TWAP = 2050. A long future of size 2 entered at 2000 receives (2050 − 2000)·2 =
100; a short 2100 put of size 1 pays (2100 − 2050)·1 = 50; a 2000 call pays its holder 50.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from clearhouse.core.errors import InvalidValue
from clearhouse.core.fixedpoint import WAD, check_positive, check_range
from clearhouse.options.instruments import OptionKind

#: Settlement window: the 30 minutes before expiry.
SETTLEMENT_WINDOW: Final = 1800
#: The feed must have reported within 5 minutes of expiry.
MAX_FEED_AGE: Final = 300


class OracleReport(msgspec.Struct, frozen=True, array_like=True):
    """One index print: Unix ``time`` (s) and ``price`` (WAD, > 0)."""

    time: int
    price: int


class WaitReason(enum.StrEnum):
    NOT_EXPIRED = "not_expired"
    HALTED = "halted"
    NO_REPORTS = "no_reports"
    STALE = "stale"
    NOT_ENOUGH_COVERAGE = "not_enough_coverage"


class Ready(msgspec.Struct, frozen=True):
    """The expiry can settle at ``price`` (WAD)."""

    price: int
    window_start: int
    window_end: int
    #: Seconds of the window carried from a report at most ``max_age`` old.
    fresh_seconds: int


class Waiting(msgspec.Struct, frozen=True):
    """The expiry must not settle yet; ``reason`` says why, ``detail`` names the numbers."""

    reason: WaitReason
    detail: str


SettlementState = Ready | Waiting


def div_half_even(a: int, b: int) -> int:
    """``a / b`` rounded to the nearest integer, ties to even (``b`` > 0)."""
    q, r = divmod(a, b)
    twice = 2 * r
    if twice > b or (twice == b and q % 2):
        q += 1
    return q


class CumulativeFeed:
    """An oracle's reports with the running ``price × seconds`` aggregate at each report.

    ``cum[i]`` is the integral of the step price from the first report to report ``i``. Reports must
    have strictly increasing times and positive prices (:class:`InvalidValue` otherwise).
    """

    __slots__ = ("cums", "prices", "times")

    def __init__(self, reports: Iterable[OracleReport]) -> None:
        self.times: list[int] = []
        self.prices: list[int] = []
        self.cums: list[int] = []
        for report in reports:
            self.append(report)

    def append(self, report: OracleReport) -> None:
        """Add a newer report, extending the aggregate (O(1))."""
        check_range(report.time, "report.time")
        check_positive(report.price, "report.price")
        if self.times:
            if report.time <= self.times[-1]:
                raise InvalidValue(f"report at {report.time} is not after the last one at {self.times[-1]}")
            self.cums.append(self.cums[-1] + self.prices[-1] * (report.time - self.times[-1]))
        else:
            self.cums.append(0)
        self.times.append(report.time)
        self.prices.append(report.price)

    def index_at(self, t: int) -> int:
        """Index of the last report at or before ``t`` (-1 if none)."""
        return bisect_right(self.times, t) - 1

    def cumulative(self, t: int) -> int:
        """The aggregate at ``t`` (``t`` at or after the first report)."""
        i = self.index_at(t)
        if i < 0:
            raise InvalidValue(f"no report at or before {t}")
        return self.cums[i] + self.prices[i] * (t - self.times[i])

    def fresh_seconds(self, start: int, end: int, max_age: int) -> int:
        """Seconds of ``[start, end)`` whose carried price comes from a report at most ``max_age`` old."""
        fresh = 0
        i = max(self.index_at(start), 0)
        while i < len(self.times) and self.times[i] < end:
            seg_start = max(self.times[i], start)
            seg_end = min(self.times[i + 1] if i + 1 < len(self.times) else end, end, self.times[i] + max_age)
            fresh += max(seg_end - seg_start, 0)
            i += 1
        return fresh


def settlement_price(
    reports: Sequence[OracleReport] | CumulativeFeed,
    expiry: int,
    now: int,
    *,
    halted: bool = False,
    window: int = SETTLEMENT_WINDOW,
    max_age: int = MAX_FEED_AGE,
    min_coverage: int | None = None,
) -> SettlementState:
    """The settlement state of an expiry at block time ``now`` (see the module doc for the rules)."""
    check_range(expiry, "expiry")
    check_range(now, "now")
    check_positive(window, "window")
    check_positive(max_age, "max_age")
    need = window if min_coverage is None else min_coverage
    if not 0 <= need <= window:
        raise InvalidValue(f"min_coverage {need} must be in [0, window={window}]")
    if now < expiry:
        return Waiting(WaitReason.NOT_EXPIRED, f"block time {now} is before expiry {expiry}")
    if halted:
        return Waiting(WaitReason.HALTED, f"the index feed is halted at expiry {expiry}")
    feed = reports if isinstance(reports, CumulativeFeed) else CumulativeFeed(reports)
    last = feed.index_at(expiry)
    if last < 0:
        return Waiting(WaitReason.NO_REPORTS, f"no index report at or before expiry {expiry}")
    age = expiry - feed.times[last]
    if age > max_age:
        return Waiting(
            WaitReason.STALE, f"last report at {feed.times[last]} is {age} s old at expiry (max {max_age})"
        )
    start = expiry - window
    if feed.times[0] > start:
        return Waiting(
            WaitReason.NOT_ENOUGH_COVERAGE,
            f"first report at {feed.times[0]} is after the window start {start}",
        )
    fresh = feed.fresh_seconds(start, expiry, max_age)
    if fresh < need:
        return Waiting(
            WaitReason.NOT_ENOUGH_COVERAGE,
            f"only {fresh} of {window} s in the window are fresh (need {need}, max report age {max_age})",
        )
    twap = div_half_even(feed.cumulative(expiry) - feed.cumulative(start), window)
    return Ready(twap, start, expiry, fresh)


def future_payoff(settlement: int, entry: int, size: int) -> int:
    """Cash a dated-future position receives at expiry: ``floor((settlement − entry) × size / WAD)``.

    ``size`` is signed (short < 0); all WAD. Flooring rounds a credit down and a debit up.
    """
    check_positive(settlement, "settlement")
    check_positive(entry, "entry")
    check_range(size, "size")
    return ((settlement - entry) * size) // WAD


def intrinsic_value(kind: OptionKind, settlement: int, strike: int) -> int:
    """Per-unit intrinsic value (WAD): ``max(S − K, 0)`` for a call, ``max(K − S, 0)`` for a put."""
    check_positive(settlement, "settlement")
    check_positive(strike, "strike")
    diff = settlement - strike if OptionKind(kind) is OptionKind.CALL else strike - settlement
    return max(diff, 0)


def option_payoff(kind: OptionKind, settlement: int, strike: int, size: int) -> int:
    """Cash an option position receives at expiry: ``floor(intrinsic × size / WAD)`` (short pays)."""
    check_range(size, "size")
    return (intrinsic_value(kind, settlement, strike) * size) // WAD


class SettledPosition(msgspec.Struct, frozen=True, array_like=True):
    account: str
    amount: int


def settle_book(
    payoffs: Iterable[tuple[str, int]],
) -> tuple[tuple[SettledPosition, ...], int]:
    """Order per-account amounts by account id and return them with the protocol's dust.

    ``dust = −Σ amounts`` is what flooring left with the protocol (>= 0 for a balanced book). The
    fixed order makes the events of an expiry independent of how positions were stored.
    """
    rows = tuple(SettledPosition(a, amount) for a, amount in sorted(payoffs))
    return rows, -sum(r.amount for r in rows)
