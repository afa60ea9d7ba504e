"""Aggregators: the fresh reports of one update → one candidate price, or a refusal.

All aggregators share one interface, :class:`Aggregator`. The feed hands each call the fresh
reports of its price sources, sorted by source id, and the update time. Cross-sectional
aggregators (median, weighted median, quorum median, Pyth) are stateless; time aggregators (TWAP,
geometric TWAP, EMA) feed an inner cross-sectional aggregator's price into a time average and keep
that state (exposed through :meth:`Aggregator.state` and :meth:`Aggregator.copy`).

The time of an aggregate is the oldest observation time among the reports it used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple, Self

from clearhouse.oracle.averages import ExponentialAverage, TimeWeightedAverage
from clearhouse.oracle.config import (
    CrossSectionConfig,
    EmaConfig,
    GeometricTwapConfig,
    MedianConfig,
    PythConfig,
    QuorumMedianConfig,
    TwapConfig,
    WeightedMedianConfig,
)
from clearhouse.oracle.intmath import ONE, exp_one, ln_one, median_floor, weighted_median
from clearhouse.oracle.reports import SourceReport

_WAD_TO_ONE = ONE // 10**18


class Aggregate(NamedTuple):
    """A candidate price (WAD), its observation time, optional confidence (WAD) and source count."""

    price: int
    time: int
    confidence: int | None
    sources: int


class Refused(NamedTuple):
    """The aggregator declines to produce a price; the feed goes STALE with ``reason``."""

    reason: str


class Aggregator(ABC):
    """Interface of every aggregator plug-in."""

    name: ClassVar[str]

    @abstractmethod
    def aggregate(self, now: int, reports: Sequence[SourceReport]) -> Aggregate | Refused:
        """Combine ``reports`` (fresh, one per source, sorted by source) at time ``now``.

        Time aggregators also record the inner price at ``now``.
        """

    def state(self) -> list[Any]:
        """Canonical (JSON-able) state; empty for stateless aggregators."""
        return []

    def copy(self) -> Aggregator:
        """An independent copy (stateless aggregators are immutable and return themselves)."""
        return self


def _oldest(reports: Sequence[SourceReport]) -> int:
    return min(r.observed_at for r in reports)


class Median(Aggregator):
    """Median of prices; an even count gives the floor of the mean of the two middle prices."""

    name = "median"

    def __init__(self, config: MedianConfig | None = None) -> None:
        self.config = config or MedianConfig()

    def aggregate(self, now: int, reports: Sequence[SourceReport]) -> Aggregate | Refused:
        if not reports:
            return Refused("no fresh source")
        return Aggregate(
            median_floor(sorted([r.price for r in reports])), _oldest(reports), None, len(reports)
        )


class QuorumMedian(Aggregator):
    """Median that refuses below ``quorum`` fresh sources (Maker's Median ``bar``)."""

    name = "quorum_median"

    def __init__(self, config: QuorumMedianConfig) -> None:
        self.config = config

    def aggregate(self, now: int, reports: Sequence[SourceReport]) -> Aggregate | Refused:
        if len(reports) < self.config.quorum:
            return Refused(f"{len(reports)} fresh sources < quorum {self.config.quorum}")
        return Aggregate(
            median_floor(sorted([r.price for r in reports])), _oldest(reports), None, len(reports)
        )


class WeightedMedian(Aggregator):
    """Weighted median (see :func:`~clearhouse.oracle.intmath.weighted_median`).

    Hyperliquid weights venues 3,2,2,1,1,1,1,1. A group of sources moves the result only if its
    weight reaches half of the fresh sources' total weight.
    """

    name = "weighted_median"

    def __init__(self, config: WeightedMedianConfig) -> None:
        self.config = config
        self._weights = dict(config.weights)

    def aggregate(self, now: int, reports: Sequence[SourceReport]) -> Aggregate | Refused:
        if len(reports) < self.config.min_sources:
            return Refused(f"{len(reports)} fresh sources < min_sources {self.config.min_sources}")
        w = self._weights
        price = weighted_median([(r.price, w[r.source]) for r in reports])
        return Aggregate(price, _oldest(reports), None, len(reports))


class PythAggregate(Aggregator):
    """Pyth-style aggregate price and confidence.

    Each publisher ``i`` with price ``p_i`` and confidence ``c_i`` (``None`` → 0) casts three votes
    ``p_i - c_i, p_i, p_i + c_i``. The aggregate price ``R`` is the median of the ``3n`` votes;
    with ``Q25 = v[(m-1)//4]`` and ``Q75 = v[m-1-(m-1)//4]`` (``m = 3n`` sorted votes, nearest
    rank toward the middle) the confidence is ``max(R - Q25, Q75 - R)``. One publisher yields its own
    price and confidence; a tight majority gives a tight interval; disagreement widens it.
    """

    name = "pyth"

    def __init__(self, config: PythConfig | None = None) -> None:
        self.config = config or PythConfig()

    def aggregate(self, now: int, reports: Sequence[SourceReport]) -> Aggregate | Refused:
        if len(reports) < self.config.min_publishers:
            return Refused(f"{len(reports)} fresh publishers < min_publishers {self.config.min_publishers}")
        votes: list[int] = []
        for r in reports:
            c = r.confidence or 0
            votes += (r.price - c, r.price, r.price + c)
        votes.sort()
        m = len(votes)
        agg = median_floor(votes)
        if agg <= 0:
            return Refused(f"aggregate price {agg} is not positive (confidences too wide)")
        k = (m - 1) // 4
        conf = max(agg - votes[k], votes[m - 1 - k] - agg)
        return Aggregate(agg, _oldest(reports), conf, len(reports))


_CROSS_SECTION: dict[type, type[Aggregator]] = {
    MedianConfig: Median,
    QuorumMedianConfig: QuorumMedian,
    WeightedMedianConfig: WeightedMedian,
    PythConfig: PythAggregate,
}


def build_cross_section(config: CrossSectionConfig) -> Aggregator:
    """The stateless aggregator a time aggregator's ``inner`` config names."""
    cls: Any = _CROSS_SECTION[type(config)]
    agg: Aggregator = cls(config)
    return agg


class _Smoothed(Aggregator):
    """An average over time of an ``inner`` cross-section aggregator's price (TWAP, EMA).

    Refuses whenever the inner aggregator refuses: a smoothed price never carries a stale price
    forward. Subclasses say how a price is recorded and read back (:meth:`_smooth`).
    """

    _avg: TimeWeightedAverage | ExponentialAverage

    def __init__(self, config: TwapConfig | GeometricTwapConfig | EmaConfig) -> None:
        self.config = config
        self.inner = build_cross_section(config.inner)

    def _smooth(self, now: int, price: int) -> int | Refused:
        raise NotImplementedError

    def aggregate(self, now: int, reports: Sequence[SourceReport]) -> Aggregate | Refused:
        res = self.inner.aggregate(now, reports)
        if isinstance(res, Refused):
            return res
        price = self._smooth(now, res.price)
        if isinstance(price, Refused):
            return price
        return Aggregate(price, res.time, None, res.sources)

    def state(self) -> list[Any]:
        return self._avg.state()

    def copy(self) -> Self:
        new = type(self).__new__(type(self))
        new.config, new.inner, new._avg = self.config, self.inner, self._avg.copy()
        return new


class Twap(_Smoothed):
    """Time-weighted arithmetic mean of ``inner``'s price over ``window`` s (zero-order hold).

    ``TWAP(now) = (∫ p dt over [now - window, now]) // window`` with ``p`` piecewise constant from
    each update; the price recorded at ``now`` has zero weight until time passes.
    """

    name = "twap"

    def __init__(self, config: TwapConfig) -> None:
        super().__init__(config)
        self._avg = TimeWeightedAverage(config.window)

    def _smooth(self, now: int, price: int) -> int | Refused:
        assert isinstance(self._avg, TimeWeightedAverage)
        self._avg.record(now, price)
        avg = self._avg.average(now)
        assert avg is not None
        return avg


class GeometricTwap(_Smoothed):
    """Time-weighted *geometric* mean (Uniswap v3 tick TWAP without the 1 bp tick grid).

    Records ``ln(p)`` at scale 1e36 (integer ``atanh`` series), averages it like :class:`Twap`
    (floor), and returns ``exp`` of the mean rounded to the nearest WAD unit. The log/exp error is
    below 1e-33 relative, so a constant price comes back exactly and the result is within one WAD
    unit of the exact geometric mean of the recorded prices. Uniswap's ticks instead quantise each
    price to 1.0001^tick (up to 1 bp off); this keeps full WAD precision.
    """

    name = "geometric_twap"

    def __init__(self, config: GeometricTwapConfig) -> None:
        super().__init__(config)
        self._avg = TimeWeightedAverage(config.window)

    def _smooth(self, now: int, price: int) -> int | Refused:
        assert isinstance(self._avg, TimeWeightedAverage)
        self._avg.record(now, ln_one(price * _WAD_TO_ONE))
        mean_ln = self._avg.average(now)
        assert mean_ln is not None
        geometric = (exp_one(mean_ln) + _WAD_TO_ONE // 2) // _WAD_TO_ONE
        if geometric <= 0:
            return Refused("geometric mean underflows one WAD unit")
        return geometric


class Ema(_Smoothed):
    """Continuous-time EMA of ``inner``'s price with half-life ``half_life`` s (zero-order hold).

    ``ema += (p_held - ema) * (1 - 2^(-dt / half_life))`` where ``p_held`` is the previous update's
    price and ``dt`` the time since; the first price initialises the EMA.
    """

    name = "ema"

    def __init__(self, config: EmaConfig) -> None:
        super().__init__(config)
        self._avg = ExponentialAverage(config.half_life)

    def _smooth(self, now: int, price: int) -> int | Refused:
        assert isinstance(self._avg, ExponentialAverage)
        self._avg.record(now, price)
        value = self._avg.value()
        assert value is not None
        return value
