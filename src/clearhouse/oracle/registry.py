"""Plug-in registry: the names a configuration uses → the classes that implement them.

A config names a plug-in by its ``name`` tag (see :mod:`clearhouse.oracle.config`); the tables here
map the same names to implementation classes, each constructed from its config struct. Adding a
plug-in means a config struct in the config union and an entry here; :func:`_check` keeps the two in
step at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from clearhouse.oracle.aggregators import (
    Aggregator,
    Ema,
    GeometricTwap,
    Median,
    PythAggregate,
    QuorumMedian,
    Twap,
    WeightedMedian,
)
from clearhouse.oracle.config import AGGREGATOR_CONFIGS, POLICY_CONFIGS, AggregatorConfig, PolicyConfig
from clearhouse.oracle.errors import UnknownPlugin
from clearhouse.oracle.policies import (
    AnchorBand,
    Bounds,
    CircuitBreaker,
    ConfidenceBound,
    Delay,
    DeviationHeartbeat,
    MaxAge,
    Policy,
)

AGGREGATORS: Final[Mapping[str, type[Aggregator]]] = MappingProxyType(
    {cls.name: cls for cls in (Median, WeightedMedian, QuorumMedian, PythAggregate, Twap, GeometricTwap, Ema)}
)
POLICIES: Final[Mapping[str, type[Policy]]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (DeviationHeartbeat, Delay, AnchorBand, MaxAge, CircuitBreaker, Bounds, ConfidenceBound)
    }
)


def _check() -> None:
    if set(AGGREGATORS) != set(AGGREGATOR_CONFIGS) or set(POLICIES) != set(POLICY_CONFIGS):
        raise AssertionError("plug-in registry and config union disagree")  # pragma: no cover


_check()


def build_aggregator(config: AggregatorConfig) -> Aggregator:
    """A new aggregator for ``config`` (fresh state)."""
    cls: Any = AGGREGATORS.get(config.name)
    if cls is None:  # pragma: no cover - configs are a closed union
        raise UnknownPlugin(f"no aggregator named {config.name!r}")
    agg: Aggregator = cls(config)
    return agg


def build_policy(config: PolicyConfig) -> Policy:
    """A new policy for ``config`` (fresh state)."""
    cls: Any = POLICIES.get(config.name)
    if cls is None:  # pragma: no cover
        raise UnknownPlugin(f"no policy named {config.name!r}")
    policy: Policy = cls(config)
    return policy
