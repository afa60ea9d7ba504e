"""Update policies: ordered checks and transformations of the aggregator's candidate.

A policy receives a :class:`Candidate` (state, price, price time, reason, confidence) and returns
one. Rules every policy follows:

* it acts only on a FRESH candidate and passes any other state through unchanged, so the first
  policy that downgrades a candidate decides its state — except :class:`Delay`, which shifts
  whatever it receives by ``delay`` seconds, and :class:`CircuitBreaker`, which keeps the feed
  HALTED until confirmed whatever arrives;
* it never invents a price: a downgraded candidate carries the last price the policy accepted (or
  the bound, for CLAMPED), and the reason says why.

Order matters and is the configuration's: e.g. ``[circuit_breaker, anchor_band, delay, max_age]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from clearhouse.core.fixedpoint import WAD, fmt
from clearhouse.oracle.averages import TimeWeightedAverage
from clearhouse.oracle.config import (
    AnchorBandConfig,
    BoundsConfig,
    CircuitBreakerConfig,
    ConfidenceConfig,
    DelayConfig,
    DeviationHeartbeatConfig,
    MaxAgeConfig,
)
from clearhouse.oracle.intmath import median_floor
from clearhouse.oracle.reports import SourceReport
from clearhouse.oracle.states import OracleState

FRESH = OracleState.FRESH


class Candidate(NamedTuple):
    """A price on its way through the policies."""

    state: OracleState
    price: int | None
    time: int | None
    reason: str
    confidence: int | None = None


def _pct(fraction_wad: int) -> str:
    return f"{fmt(fraction_wad * 100, WAD, 2)}%"


class Policy(ABC):
    """Interface of every update-policy plug-in."""

    name: ClassVar[str]
    #: True if :meth:`apply` reads the fresh reports of all sources.
    needs_reports: ClassVar[bool] = False

    @abstractmethod
    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        """Check or transform ``candidate`` at ``now``; ``fresh`` are all sources' fresh reports."""

    def confirm(self, now: int) -> bool:
        """Lift a halt (circuit breaker); other policies have nothing to confirm."""
        return False

    def state(self) -> list[Any]:
        return []

    def copy(self) -> Policy:
        return self


class DeviationHeartbeat(Policy):
    """Chainlink push rule: publish on a move of at least ``deviation`` or after ``heartbeat`` s.

    Otherwise the previously published price (still FRESH) is returned. Chainlink ETH/USD on
    mainnet: 0.5 % or 3600 s.
    """

    name = "deviation_heartbeat"

    def __init__(self, config: DeviationHeartbeatConfig) -> None:
        self.config = config
        self._published: tuple[int, int | None, int] | None = None  # price, price time, update time

    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        if candidate.state is not FRESH or candidate.price is None:
            return candidate
        pub = self._published
        p = candidate.price
        if pub is None or now - pub[2] >= self.config.heartbeat:
            self._published = (p, candidate.time, now)
            return candidate
        if abs(p - pub[0]) * WAD >= self.config.deviation * pub[0]:
            self._published = (p, candidate.time, now)
            return candidate
        return candidate._replace(price=pub[0], time=pub[1], reason="fresh (held: move below deviation)")

    def state(self) -> list[Any]:
        return [list(self._published) if self._published else None]

    def copy(self) -> DeviationHeartbeat:
        new = DeviationHeartbeat(self.config)
        new._published = self._published
        return new


class Delay(Policy):
    """Maker OSM-style delay: the candidate acted on at ``now`` is the one received at ``now - delay``.

    Exactly: the output is the candidate of the latest update at or before ``now - delay`` (state,
    price and price time unchanged); before any such update the feed is STALE (warm-up). Maker's OSM
    pokes once per ``hop`` (one hour), so its lag is between one and two hours; this is the exact
    shift, the lower end of that range.
    """

    name = "delay"

    def __init__(self, config: DelayConfig) -> None:
        self.config = config
        self._queue: deque[tuple[int, Candidate]] = deque()

    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        q = self._queue
        if q and q[-1][0] == now:
            q[-1] = (now, candidate)
        else:
            q.append((now, candidate))
        cutoff = now - self.config.delay
        while len(q) >= 2 and q[1][0] <= cutoff:
            q.popleft()
        if q[0][0] <= cutoff:
            return q[0][1]
        return Candidate(
            OracleState.STALE, None, None, f"delay warm-up: no reading {self.config.delay}s old yet"
        )

    def state(self) -> list[Any]:
        return [[t, c.state.value, c.price, c.time, c.reason, c.confidence] for t, c in self._queue]

    def copy(self) -> Delay:
        new = Delay(self.config)
        new._queue = self._queue.copy()
        return new


class AnchorBand(Policy):
    """Compound UAV-style anchor: GUARD a candidate more than ``band`` away from a TWAP anchor.

    The anchor is a ``window``-second TWAP (zero-order hold) of the FRESH candidates reaching this
    policy or, with ``anchor_sources``, of the median of those sources' fresh reports. A GUARDED
    reading carries the last accepted price; the rejected candidate is in the reading's ``raw``.
    A self-anchor follows a sustained move, so it blocks spikes shorter than about
    ``window * band / move``; an independent anchor blocks as long as the anchor holds.
    """

    name = "anchor_band"
    needs_reports = True

    def __init__(self, config: AnchorBandConfig) -> None:
        self.config = config
        self._anchor = TimeWeightedAverage(config.window)
        self._sources = frozenset(config.anchor_sources)
        self._accepted: tuple[int, int | None] | None = None

    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        fresh_anchor = True
        if self._sources:
            prices = sorted(r.price for r in fresh if r.source in self._sources)
            if prices:
                self._anchor.record(now, median_floor(prices))
            fresh_anchor = bool(prices)
        elif candidate.state is FRESH and candidate.price is not None:
            self._anchor.record(now, candidate.price)
        if candidate.state is not FRESH or candidate.price is None:
            return candidate
        anchor = self._anchor.average(now) if fresh_anchor else None
        if anchor is None:
            return self._guard(candidate, "no fresh anchor price")
        p = candidate.price
        if abs(p - anchor) * WAD > self.config.band * anchor:
            return self._guard(
                candidate, f"price {fmt(p)} outside ±{_pct(self.config.band)} of anchor {fmt(anchor)}"
            )
        self._accepted = (p, candidate.time)
        return candidate

    def _guard(self, candidate: Candidate, reason: str) -> Candidate:
        price, time = self._accepted if self._accepted else (None, None)
        return Candidate(OracleState.GUARDED, price, time, reason, candidate.confidence)

    def state(self) -> list[Any]:
        return [self._anchor.state(), list(self._accepted) if self._accepted else None]

    def copy(self) -> AnchorBand:
        new = AnchorBand.__new__(AnchorBand)
        new.config, new._sources, new._accepted = self.config, self._sources, self._accepted
        new._anchor = self._anchor.copy()
        return new


class MaxAge(Policy):
    """STALE when a FRESH candidate's price is more than ``max_age`` seconds old."""

    name = "max_age"

    def __init__(self, config: MaxAgeConfig) -> None:
        self.config = config

    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        if candidate.state is not FRESH or candidate.time is None:
            return candidate
        age = now - candidate.time
        if age > self.config.max_age:
            return candidate._replace(
                state=OracleState.STALE, reason=f"price is {age}s old > max_age {self.config.max_age}s"
            )
        return candidate


class CircuitBreaker(Policy):
    """HALT on a move larger than ``max_move`` within ``interval`` seconds, until confirmed.

    A FRESH candidate is compared with every price this policy accepted in the last ``interval``
    seconds and with the last accepted price (so a gap in updates does not hide a jump). If it is
    above ``lowest * (1 + max_move)`` or below ``highest * (1 - max_move)`` the feed halts, holding
    the last accepted price. The halt lasts until :meth:`confirm` (a governance action) or, if
    ``confirm_after`` is set, until it has lasted that long; then the next candidate is accepted as
    the new reference.
    """

    name = "circuit_breaker"

    def __init__(self, config: CircuitBreakerConfig) -> None:
        self.config = config
        self._recent: deque[tuple[int, int]] = deque()  # (update time, accepted price)
        self._accepted: tuple[int, int | None] | None = None  # (price, price time)
        self._halted_since: int | None = None
        self._halt_reason = ""

    @property
    def halted(self) -> bool:
        return self._halted_since is not None

    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        cfg = self.config
        if self._halted_since is not None:
            if cfg.confirm_after is not None and now - self._halted_since >= cfg.confirm_after:
                self.confirm(now)
            else:
                return self._held(self._halt_reason)
        if candidate.state is not FRESH or candidate.price is None:
            return candidate
        p = candidate.price
        recent = self._recent
        while recent and recent[0][0] < now - cfg.interval:
            recent.popleft()
        refs = [price for _, price in recent]
        if self._accepted is not None:
            refs.append(self._accepted[0])
        if refs:
            lo, hi = min(refs), max(refs)
            if (p - lo) * WAD > cfg.max_move * lo or (hi - p) * WAD > cfg.max_move * hi:
                ref = lo if p > lo else hi
                self._halted_since = now
                self._halt_reason = (
                    f"move {fmt(ref)} -> {fmt(p)} beyond ±{_pct(cfg.max_move)} within {cfg.interval}s"
                )
                return self._held(self._halt_reason)
        recent.append((now, p))
        self._accepted = (p, candidate.time)
        return candidate

    def _held(self, reason: str) -> Candidate:
        price, time = self._accepted if self._accepted else (None, None)
        return Candidate(OracleState.HALTED, price, time, reason)

    def confirm(self, now: int) -> bool:
        if self._halted_since is None:
            return False
        self._halted_since = None
        self._halt_reason = ""
        self._recent.clear()
        self._accepted = None
        return True

    def state(self) -> list[Any]:
        acc = list(self._accepted) if self._accepted else None
        return [[list(r) for r in self._recent], acc, self._halted_since, self._halt_reason]

    def copy(self) -> CircuitBreaker:
        new = CircuitBreaker(self.config)
        new._recent = self._recent.copy()
        new._accepted, new._halted_since, new._halt_reason = (
            self._accepted,
            self._halted_since,
            self._halt_reason,
        )
        return new


class Bounds(Policy):
    """CLAMPED to ``min_price`` / ``max_price`` when a FRESH candidate crosses one (Chainlink bounds)."""

    name = "bounds"

    def __init__(self, config: BoundsConfig) -> None:
        self.config = config

    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        if candidate.state is not FRESH or candidate.price is None:
            return candidate
        lo, hi = self.config.min_price, self.config.max_price
        if candidate.price < lo:
            return candidate._replace(
                state=OracleState.CLAMPED,
                price=lo,
                reason=f"price {fmt(candidate.price)} below min {fmt(lo)}",
            )
        if candidate.price > hi:
            return candidate._replace(
                state=OracleState.CLAMPED,
                price=hi,
                reason=f"price {fmt(candidate.price)} above max {fmt(hi)}",
            )
        return candidate


class ConfidenceBound(Policy):
    """UNCERTAIN when ``confidence > max_ratio * price`` (no-op for aggregates without confidence)."""

    name = "confidence"

    def __init__(self, config: ConfidenceConfig) -> None:
        self.config = config

    def apply(self, now: int, candidate: Candidate, fresh: Sequence[SourceReport]) -> Candidate:
        if candidate.state is not FRESH or candidate.price is None or candidate.confidence is None:
            return candidate
        if candidate.confidence * WAD > self.config.max_ratio * candidate.price:
            ratio = candidate.confidence * WAD // candidate.price
            return candidate._replace(
                state=OracleState.UNCERTAIN,
                reason=f"confidence {_pct(ratio)} of price > {_pct(self.config.max_ratio)}",
            )
        return candidate
