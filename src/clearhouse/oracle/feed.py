"""The stateful per-asset oracle feed: validation → freshness → aggregator → policies → reading.

:meth:`OracleFeed.update` is atomic: every report is validated before anything changes, and a bad
one raises a typed error leaving the feed exactly as it was. Then:

1. each report becomes its source's latest report;
2. the latest reports of the price sources no older than ``report_max_age`` are the fresh set,
   sorted by source id;
3. the aggregator turns them into a candidate, or refuses (→ STALE, never a made-up price);
4. the policies run in order (see :mod:`clearhouse.oracle.policies`);
5. a STALE result without a price carries the last price published FRESH, with its time;
6. a change of state yields one :class:`OracleStateChanged` event in the reading.

A new feed is STALE with no price. The whole state is canonical (:meth:`encode_state`), cheap to
copy (:meth:`copy`) and a pure function of the config and the sequence of updates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from clearhouse.core.errors import InvalidValue
from clearhouse.core.fixedpoint import check_non_negative
from clearhouse.oracle.aggregators import Aggregate, Aggregator
from clearhouse.oracle.config import FeedConfig
from clearhouse.oracle.errors import (
    DuplicateReport,
    FutureReport,
    NotHalted,
    OutOfOrderReport,
    ReportAssetMismatch,
    UnknownSource,
    UpdateOutOfOrder,
)
from clearhouse.oracle.policies import Candidate, Policy
from clearhouse.oracle.registry import build_aggregator, build_policy
from clearhouse.oracle.reports import SourceReport
from clearhouse.oracle.states import OracleReading, OracleState, OracleStateChanged

_ENCODING_VERSION = "clearhouse.oracle.feed/1"

#: Canonical bytes of the configs seen, by identity (the config is kept with them, so an id is never
#: reused while its entry lives; configs are frozen). A cache outside the feed: a feed's own attributes
#: travel in proofs' witnesses, which must not carry a derived value that could disagree with its config.
_CONFIG_BYTES: dict[int, tuple[FeedConfig, msgspec.Raw]] = {}


def _config_bytes(config: FeedConfig) -> msgspec.Raw:
    """``msgspec.to_builtins(config)`` encoded with sorted keys, once per config object."""
    hit = _CONFIG_BYTES.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    raw = msgspec.Raw(msgspec.json.encode(msgspec.to_builtins(config), order="sorted"))
    if len(_CONFIG_BYTES) >= 4096:
        _CONFIG_BYTES.clear()
    _CONFIG_BYTES[id(config)] = (config, raw)
    return raw


class OracleFeed:
    """One asset's oracle: an aggregator plus an ordered list of policies, and their state."""

    __slots__ = (
        "_aggregator",
        "_all_sources",
        "_config",
        "_last_time",
        "_latest",
        "_needs_reports",
        "_policies",
        "_price_sources",
        "_published",
        "_reason",
        "_state",
    )

    def __init__(self, config: FeedConfig) -> None:
        if not isinstance(config, FeedConfig):
            raise InvalidValue(f"OracleFeed needs a FeedConfig, got {type(config).__name__}")
        self._config = config
        self._all_sources = frozenset(config.sources)
        self._price_sources = config.aggregated_sources
        self._aggregator: Aggregator = build_aggregator(config.aggregator)
        self._policies: tuple[Policy, ...] = tuple(build_policy(p) for p in config.policies)
        self._needs_reports = any(p.needs_reports for p in self._policies)
        self._latest: dict[str, SourceReport] = {}
        self._last_time: int | None = None
        self._state = OracleState.STALE
        self._reason = "no update yet"
        self._published: tuple[int, int | None] | None = None

    # ------------------------------------------------------------------ read access

    @property
    def config(self) -> FeedConfig:
        return self._config

    @property
    def asset(self) -> str:
        return self._config.asset

    @property
    def state(self) -> OracleState:
        return self._state

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def last_update(self) -> int | None:
        return self._last_time

    @property
    def last_published(self) -> tuple[int, int | None] | None:
        """``(price, price_time)`` of the last FRESH reading, or ``None``."""
        return self._published

    def latest_reports(self) -> tuple[SourceReport, ...]:
        """The latest accepted report of each source, sorted by source."""
        return tuple(self._latest[s] for s in sorted(self._latest))

    # ------------------------------------------------------------------ update

    def _validate(self, now: int, reports: Sequence[SourceReport]) -> None:
        check_non_negative(now, f"update time of {self.asset}")
        if self._last_time is not None and now < self._last_time:
            raise UpdateOutOfOrder(
                f"{self.asset} feed update at {now} before last update at {self._last_time}"
            )
        asset = self._config.asset
        seen: set[str] = set()
        latest = self._latest
        for r in reports:
            if not isinstance(r, SourceReport):
                raise InvalidValue(f"{asset} feed expects SourceReport, got {type(r).__name__}")
            if r.asset != asset:
                raise ReportAssetMismatch(f"report from {r.source} for {r.asset} sent to the {asset} feed")
            src = r.source
            if src not in self._all_sources:
                raise UnknownSource(f"source {src!r} is not configured for {asset}")
            if src in seen:
                raise DuplicateReport(f"source {src!r} reported {asset} twice in the update at {now}")
            seen.add(src)
            if type(r.price) is not int or r.price <= 0:
                raise InvalidValue(f"price of {asset} from {src} must be a positive integer, got {r.price!r}")
            if r.observed_at > now:
                raise FutureReport(
                    f"report of {asset} from {src} observed at {r.observed_at} > update time {now}"
                )
            prev = latest.get(src)
            if prev is not None and r.observed_at <= prev.observed_at:
                raise OutOfOrderReport(
                    f"report of {asset} from {src} observed at {r.observed_at}, "
                    f"not after its last report at {prev.observed_at}"
                )

    def update(self, now: int, reports: Sequence[SourceReport] = ()) -> OracleReading:
        """Apply one update at time ``now`` (int seconds) and return the reading."""
        self._validate(now, reports)
        latest = self._latest
        for report in reports:
            latest[report.source] = report
        self._last_time = now
        horizon = now - self._config.report_max_age
        fresh = [
            r for s in self._price_sources if (r := latest.get(s)) is not None and r.observed_at >= horizon
        ]
        result = self._aggregator.aggregate(now, fresh)
        if isinstance(result, Aggregate):
            raw: int | None = result.price
            cand = Candidate(OracleState.FRESH, result.price, result.time, "fresh", result.confidence)
            n_sources = result.sources
        else:
            raw, n_sources = None, len(fresh)
            cand = Candidate(OracleState.STALE, None, None, result.reason)
        if self._policies:
            everyone: Sequence[SourceReport] = fresh
            if self._needs_reports:
                everyone = [latest[s] for s in sorted(latest) if latest[s].observed_at >= horizon]
            for policy in self._policies:
                cand = policy.apply(now, cand, everyone)
        return self._finish(now, cand, raw, n_sources)

    def _finish(self, now: int, cand: Candidate, raw: int | None, n_sources: int) -> OracleReading:
        state, price, price_time = cand.state, cand.price, cand.time
        if state is OracleState.FRESH and price is not None:
            self._published = (price, price_time)
        elif state is OracleState.STALE and price is None and self._published is not None:
            price, price_time = self._published
        events: tuple[OracleStateChanged, ...] = ()
        if state is not self._state:
            events = (OracleStateChanged(self._config.asset, self._state, state, now, cand.reason),)
        self._state, self._reason = state, cand.reason
        return OracleReading(
            self._config.asset,
            now,
            state,
            price,
            price_time,
            cand.reason,
            raw,
            cand.confidence,
            n_sources,
            events,
        )

    def confirm(self, now: int) -> None:
        """Lift a circuit-breaker halt (governance). The next update re-evaluates the state."""
        if self._last_time is not None and now < self._last_time:
            raise UpdateOutOfOrder(f"{self.asset} confirm at {now} before last update at {self._last_time}")
        if not any([p.confirm(now) for p in self._policies]):
            raise NotHalted(f"oracle for {self.asset} is not halted")

    # ------------------------------------------------------------------ state

    def encode_state(self) -> bytes:
        """Canonical bytes of the feed's whole state (config included), for the engine's state root.

        JSON with integers written exactly, lists in a defined order (sources sorted), and the
        config's maps sorted by key; equal states give equal bytes on every machine.
        """
        latest = [[r.source, r.price, r.observed_at, r.confidence] for r in self.latest_reports()]
        doc = [
            _ENCODING_VERSION,
            _config_bytes(self._config),  # == msgspec.to_builtins(self._config), encoded once
            self._last_time,
            self._state.value,
            self._reason,
            list(self._published) if self._published else None,
            latest,
            self._aggregator.state(),
            [p.state() for p in self._policies],
        ]
        return msgspec.json.encode(doc, order="sorted")

    def copy(self) -> OracleFeed:
        """An independent copy (reports and configs are immutable and shared)."""
        new = OracleFeed.__new__(OracleFeed)
        new._config = self._config
        new._all_sources = self._all_sources
        new._price_sources = self._price_sources
        new._aggregator = self._aggregator.copy()
        new._policies = tuple(p.copy() for p in self._policies)
        new._needs_reports = self._needs_reports
        new._latest = self._latest.copy()
        new._last_time = self._last_time
        new._state = self._state
        new._reason = self._reason
        new._published = self._published
        return new

    @classmethod
    def replay(
        cls, config: FeedConfig, updates: Iterable[tuple[int, Sequence[SourceReport]]]
    ) -> tuple[OracleFeed, list[OracleReading]]:
        """Build a feed and apply ``updates`` in order; returns the feed and every reading."""
        feed = cls(config)
        readings = [feed.update(now, reports) for now, reports in updates]
        return feed, readings
