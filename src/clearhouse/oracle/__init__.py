"""Oracles: aggregate many price sources into a price the engine may act on, or refuse to.

Modules, one concept each:

* :mod:`~clearhouse.oracle.reports` — :class:`SourceReport` and the boundary :func:`make_report`;
* :mod:`~clearhouse.oracle.aggregators` — median, weighted median, quorum median, Pyth, TWAP,
  geometric TWAP, EMA behind :class:`Aggregator`;
* :mod:`~clearhouse.oracle.policies` — deviation/heartbeat, delay (OSM), anchor band, max age,
  circuit breaker, bounds, confidence behind :class:`Policy`;
* :mod:`~clearhouse.oracle.states` — :class:`OracleState`, :class:`OracleReading`,
  :class:`OracleStateChanged`;
* :mod:`~clearhouse.oracle.rules` — the engine's allowed actions per state, Drift's TWAP
  divergence rule, Aave's sequencer grace period;
* :mod:`~clearhouse.oracle.feed` — :class:`OracleFeed`, the stateful per-asset feed;
* :mod:`~clearhouse.oracle.mark` — perp mark price as a median of three estimates;
* :mod:`~clearhouse.oracle.config` / :mod:`~clearhouse.oracle.registry` — validated config
  structs, dict loading, plug-in names;
* :mod:`~clearhouse.oracle.sources` — CSV replay and synthetic sources (the float boundary);
* :mod:`~clearhouse.oracle.intmath`, :mod:`~clearhouse.oracle.averages` — integer helpers.
"""

from clearhouse.oracle.aggregators import Aggregate, Aggregator, Refused
from clearhouse.oracle.config import (
    HYPERLIQUID_WEIGHTS,
    AggregatorConfig,
    AnchorBandConfig,
    BoundsConfig,
    CircuitBreakerConfig,
    ConfidenceConfig,
    DelayConfig,
    DeviationHeartbeatConfig,
    EmaConfig,
    FeedConfig,
    GeometricTwapConfig,
    MaxAgeConfig,
    MedianConfig,
    PolicyConfig,
    PythConfig,
    QuorumMedianConfig,
    TwapConfig,
    WeightedMedianConfig,
    feed_config_from_dict,
    feed_config_to_dict,
    feed_configs_from_dict,
)
from clearhouse.oracle.errors import (
    DuplicateReport,
    FutureReport,
    InvalidOracleConfig,
    NotHalted,
    OracleActionRefused,
    OutOfOrderReport,
    ReportAssetMismatch,
    UnknownPlugin,
    UnknownSource,
    UpdateOutOfOrder,
)
from clearhouse.oracle.feed import OracleFeed
from clearhouse.oracle.mark import MarkEstimate, MarkPrice, venue_price
from clearhouse.oracle.policies import Candidate, Policy
from clearhouse.oracle.registry import AGGREGATORS, POLICIES, build_aggregator, build_policy
from clearhouse.oracle.reports import SourceReport, make_report
from clearhouse.oracle.rules import (
    ALLOWED_ACTIONS,
    Action,
    SequencerGrace,
    can_liquidate,
    is_allowed,
    require_allowed,
    twap_divergence,
    twap_divergence_ok,
)
from clearhouse.oracle.states import OracleReading, OracleState, OracleStateChanged

__all__ = [
    "AGGREGATORS",
    "ALLOWED_ACTIONS",
    "HYPERLIQUID_WEIGHTS",
    "POLICIES",
    "Action",
    "Aggregate",
    "Aggregator",
    "AggregatorConfig",
    "AnchorBandConfig",
    "BoundsConfig",
    "Candidate",
    "CircuitBreakerConfig",
    "ConfidenceConfig",
    "DelayConfig",
    "DeviationHeartbeatConfig",
    "DuplicateReport",
    "EmaConfig",
    "FeedConfig",
    "FutureReport",
    "GeometricTwapConfig",
    "InvalidOracleConfig",
    "MarkEstimate",
    "MarkPrice",
    "MaxAgeConfig",
    "MedianConfig",
    "NotHalted",
    "OracleActionRefused",
    "OracleFeed",
    "OracleReading",
    "OracleState",
    "OracleStateChanged",
    "OutOfOrderReport",
    "Policy",
    "PolicyConfig",
    "PythConfig",
    "QuorumMedianConfig",
    "Refused",
    "ReportAssetMismatch",
    "SequencerGrace",
    "SourceReport",
    "TwapConfig",
    "UnknownPlugin",
    "UnknownSource",
    "UpdateOutOfOrder",
    "WeightedMedianConfig",
    "build_aggregator",
    "build_policy",
    "can_liquidate",
    "feed_config_from_dict",
    "feed_config_to_dict",
    "feed_configs_from_dict",
    "is_allowed",
    "make_report",
    "require_allowed",
    "twap_divergence",
    "twap_divergence_ok",
    "venue_price",
]
