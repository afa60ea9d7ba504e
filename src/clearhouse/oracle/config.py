"""Per-asset oracle configuration: plain, validated, frozen ``msgspec.Struct`` values.

Two ways to build one:

* in Python, with integers in ledger units: ``FeedConfig(asset="ETH", sources=("a", "b", "c"),
  aggregator=MedianConfig(), policies=(DeviationHeartbeatConfig(deviation=5 * WAD // 1000,
  heartbeat=3600),))``. Fractions and prices are WAD ints, durations are int seconds;
* from a dict (what the TOML scenario loader produces) with :func:`feed_config_from_dict`. In a
  dict, fractions and prices are *human numbers* (``deviation = "0.005"`` or ``0.005``,
  ``min_price = 1``): they are converted once with ``to_fixed`` (half-even). Plug-ins are named by
  their ``name`` key, e.g. ``{"name": "twap", "window": 1800, "inner": {"name": "median"}}``.

Every bad value raises :class:`~clearhouse.oracle.errors.InvalidOracleConfig` whose message names
the field (and, from a dict, its path such as ``$.policies[1]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, TypeAlias

import msgspec

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import WAD, to_decimal, to_fixed
from clearhouse.oracle.errors import InvalidOracleConfig, UnknownPlugin

#: Hyperliquid's venue weights for its oracle's weighted median (Binance, OKX, Bybit, Kraken,
#: Kucoin, Gate IO, MEXC, Hyperliquid), in that order.
HYPERLIQUID_WEIGHTS: Final = (3, 2, 2, 1, 1, 1, 1, 1)


def _int(value: object, name: str, minimum: int) -> None:
    if type(value) is not int or value < minimum:
        raise InvalidOracleConfig(f"{name} must be an integer >= {minimum}, got {value!r}")


def _wad(value: object, name: str, *, below_one: bool = False) -> None:
    if type(value) is not int or value <= 0:
        raise InvalidOracleConfig(f"{name} must be a WAD integer > 0, got {value!r}")
    if below_one and value >= WAD:
        raise InvalidOracleConfig(f"{name} must be a WAD fraction below 1 (< {WAD}), got {value}")


class PluginConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="name"):
    """Base of every plug-in configuration; the ``name`` tag selects the plug-in."""

    #: Fields holding WAD integers (given as human numbers in dicts).
    wad_fields: ClassVar[frozenset[str]] = frozenset()

    @property
    def name(self) -> str:
        return str(type(self).__struct_config__.tag)


# ----------------------------------------------------------------------------- aggregators


class MedianConfig(PluginConfig, frozen=True, tag="median"):
    """Median of the fresh sources' prices (needs at least one)."""


class WeightedMedianConfig(PluginConfig, frozen=True, tag="weighted_median"):
    """Weighted median; ``weights`` maps every price source to a positive integer weight."""

    weights: dict[str, int]
    min_sources: int = 1

    def __post_init__(self) -> None:
        if not self.weights:
            raise InvalidOracleConfig("weights must name at least one source")
        for source, w in self.weights.items():
            _int(w, f"weights[{source!r}]", 1)
        _int(self.min_sources, "min_sources", 1)


class QuorumMedianConfig(PluginConfig, frozen=True, tag="quorum_median"):
    """Median that refuses (feed goes STALE) with fewer than ``quorum`` fresh sources (Maker ``bar``)."""

    quorum: int

    def __post_init__(self) -> None:
        _int(self.quorum, "quorum", 1)


class PythConfig(PluginConfig, frozen=True, tag="pyth"):
    """Pyth-style aggregate with a confidence interval; refuses below ``min_publishers``."""

    min_publishers: int = 1

    def __post_init__(self) -> None:
        _int(self.min_publishers, "min_publishers", 1)


CrossSectionConfig: TypeAlias = MedianConfig | WeightedMedianConfig | QuorumMedianConfig | PythConfig


def _median() -> CrossSectionConfig:
    return MedianConfig()


class TwapConfig(PluginConfig, frozen=True, tag="twap"):
    """Time-weighted arithmetic mean of ``inner``'s price over the last ``window`` seconds."""

    window: int
    inner: CrossSectionConfig = msgspec.field(default_factory=_median)

    def __post_init__(self) -> None:
        _int(self.window, "window", 1)


class GeometricTwapConfig(PluginConfig, frozen=True, tag="geometric_twap"):
    """Time-weighted geometric mean (Uniswap v3 style, integer ln/exp) over ``window`` seconds."""

    window: int
    inner: CrossSectionConfig = msgspec.field(default_factory=_median)

    def __post_init__(self) -> None:
        _int(self.window, "window", 1)


class EmaConfig(PluginConfig, frozen=True, tag="ema"):
    """Continuous-time EMA of ``inner``'s price with a ``half_life`` in seconds."""

    half_life: int
    inner: CrossSectionConfig = msgspec.field(default_factory=_median)

    def __post_init__(self) -> None:
        _int(self.half_life, "half_life", 1)


AggregatorConfig: TypeAlias = CrossSectionConfig | TwapConfig | GeometricTwapConfig | EmaConfig

# ----------------------------------------------------------------------------- policies


class DeviationHeartbeatConfig(PluginConfig, frozen=True, tag="deviation_heartbeat"):
    """Publish only on a move of at least ``deviation`` (WAD fraction) or after ``heartbeat`` s."""

    deviation: int
    heartbeat: int
    wad_fields: ClassVar[frozenset[str]] = frozenset({"deviation"})

    def __post_init__(self) -> None:
        _wad(self.deviation, "deviation", below_one=True)
        _int(self.heartbeat, "heartbeat", 1)


class DelayConfig(PluginConfig, frozen=True, tag="delay"):
    """Act on the reading from ``delay`` seconds ago (Maker OSM: 3600)."""

    delay: int

    def __post_init__(self) -> None:
        _int(self.delay, "delay", 1)


class AnchorBandConfig(PluginConfig, frozen=True, tag="anchor_band"):
    """Reject a candidate more than ``band`` (WAD fraction) away from a ``window``-second TWAP anchor.

    The anchor is the TWAP of the feed's own candidate, or, if ``anchor_sources`` is given, of the
    median of those sources (Compound's Uniswap anchor for its Coinbase reporter).
    """

    band: int
    window: int
    anchor_sources: tuple[str, ...] = ()
    wad_fields: ClassVar[frozenset[str]] = frozenset({"band"})

    def __post_init__(self) -> None:
        _wad(self.band, "band", below_one=True)
        _int(self.window, "window", 1)
        if len(set(self.anchor_sources)) != len(self.anchor_sources):
            raise InvalidOracleConfig(f"anchor_sources has duplicates: {self.anchor_sources}")


class MaxAgeConfig(PluginConfig, frozen=True, tag="max_age"):
    """STALE when the price is more than ``max_age`` seconds old."""

    max_age: int

    def __post_init__(self) -> None:
        _int(self.max_age, "max_age", 0)


class CircuitBreakerConfig(PluginConfig, frozen=True, tag="circuit_breaker"):
    """HALT on a move beyond ``max_move`` (WAD fraction) within ``interval`` s until confirmed.

    Confirmation is explicit (:meth:`OracleFeed.confirm`) or, if ``confirm_after`` is set, automatic
    once the feed has been halted that many seconds.
    """

    max_move: int
    interval: int
    confirm_after: int | None = None
    wad_fields: ClassVar[frozenset[str]] = frozenset({"max_move"})

    def __post_init__(self) -> None:
        _wad(self.max_move, "max_move")
        _int(self.interval, "interval", 1)
        if self.confirm_after is not None:
            _int(self.confirm_after, "confirm_after", 1)


class BoundsConfig(PluginConfig, frozen=True, tag="bounds"):
    """CLAMPED at ``min_price`` / ``max_price`` (Chainlink ``minAnswer`` / ``maxAnswer``)."""

    min_price: int
    max_price: int
    wad_fields: ClassVar[frozenset[str]] = frozenset({"min_price", "max_price"})

    def __post_init__(self) -> None:
        _wad(self.min_price, "min_price")
        _wad(self.max_price, "max_price")
        if self.max_price <= self.min_price:
            raise InvalidOracleConfig(
                f"max_price must be > min_price, got {self.max_price} <= {self.min_price}"
            )


class ConfidenceConfig(PluginConfig, frozen=True, tag="confidence"):
    """UNCERTAIN when ``confidence / price`` exceeds ``max_ratio`` (WAD fraction)."""

    max_ratio: int
    wad_fields: ClassVar[frozenset[str]] = frozenset({"max_ratio"})

    def __post_init__(self) -> None:
        _wad(self.max_ratio, "max_ratio")


PolicyConfig: TypeAlias = (
    DeviationHeartbeatConfig
    | DelayConfig
    | AnchorBandConfig
    | MaxAgeConfig
    | CircuitBreakerConfig
    | BoundsConfig
    | ConfidenceConfig
)


def _tags(union: Any) -> dict[str, type[PluginConfig]]:
    return {str(cls.__struct_config__.tag): cls for cls in union.__args__}


AGGREGATOR_CONFIGS: Final[Mapping[str, type[PluginConfig]]] = _tags(AggregatorConfig)
POLICY_CONFIGS: Final[Mapping[str, type[PluginConfig]]] = _tags(PolicyConfig)

# ----------------------------------------------------------------------------- the feed


class FeedConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything one asset's :class:`~clearhouse.oracle.feed.OracleFeed` needs.

    ``sources`` lists every source allowed to report (others raise ``UnknownSource``);
    ``price_sources`` (default: all) are those the aggregator uses, so anchor-only sources can be
    kept apart. A report older than ``report_max_age`` seconds no longer counts as fresh.
    ``policies`` run in order on the aggregator's output.
    """

    asset: str
    sources: tuple[str, ...]
    aggregator: AggregatorConfig
    policies: tuple[PolicyConfig, ...] = ()
    report_max_age: int = 3600
    price_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.asset:
            raise InvalidOracleConfig("asset must be a non-empty string")
        if not self.sources or any(not s for s in self.sources):
            raise InvalidOracleConfig(f"sources must be non-empty names, got {self.sources!r}")
        if len(set(self.sources)) != len(self.sources):
            raise InvalidOracleConfig(f"sources has duplicates: {self.sources}")
        _int(self.report_max_age, "report_max_age", 0)
        known = set(self.sources)
        if len(set(self.price_sources)) != len(self.price_sources):
            raise InvalidOracleConfig(f"price_sources has duplicates: {self.price_sources}")
        if unknown := set(self.price_sources) - known:
            raise InvalidOracleConfig(f"price_sources not in sources: {sorted(unknown)}")
        priced = self.aggregated_sources
        _check_aggregator(self.aggregator, priced, "aggregator")
        for i, policy in enumerate(self.policies):
            if isinstance(policy, AnchorBandConfig) and (unknown := set(policy.anchor_sources) - known):
                raise InvalidOracleConfig(f"policies[{i}].anchor_sources not in sources: {sorted(unknown)}")

    @property
    def aggregated_sources(self) -> tuple[str, ...]:
        """The sources the aggregator reads, sorted."""
        return tuple(sorted(self.price_sources or self.sources))


def _check_aggregator(cfg: AggregatorConfig, priced: tuple[str, ...], path: str) -> None:
    if isinstance(cfg, TwapConfig | GeometricTwapConfig | EmaConfig):
        _check_aggregator(cfg.inner, priced, f"{path}.inner")
    elif isinstance(cfg, WeightedMedianConfig):
        if missing := set(priced) - set(cfg.weights):
            raise InvalidOracleConfig(f"{path}.weights has no weight for sources {sorted(missing)}")
        if extra := set(cfg.weights) - set(priced):
            raise InvalidOracleConfig(f"{path}.weights names sources that are not priced: {sorted(extra)}")
        if cfg.min_sources > len(priced):
            raise InvalidOracleConfig(f"{path}.min_sources={cfg.min_sources} > {len(priced)} price sources")
    elif isinstance(cfg, QuorumMedianConfig) and cfg.quorum > len(priced):
        raise InvalidOracleConfig(f"{path}.quorum={cfg.quorum} > {len(priced)} price sources")
    elif isinstance(cfg, PythConfig) and cfg.min_publishers > len(priced):
        raise InvalidOracleConfig(f"{path}.min_publishers={cfg.min_publishers} > {len(priced)} price sources")


# ----------------------------------------------------------------------------- dict loading


def _prepare_plugin(raw: object, table: Mapping[str, type[PluginConfig]], path: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidOracleConfig(f"{path} must be a table with a 'name', got {raw!r}")
    name = raw.get("name")
    cls = table.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UnknownPlugin(f"{path}.name={name!r} is not one of {sorted(table)}")
    out = dict(raw)
    for field in cls.wad_fields:
        if field in out:
            try:
                out[field] = to_fixed(out[field], WAD, f"{path}.{field}")
            except ClearhouseError as exc:
                raise InvalidOracleConfig(str(exc)) from None
    if "inner" in out:
        out["inner"] = _prepare_plugin(out["inner"], AGGREGATOR_CONFIGS, f"{path}.inner")
    return out


def feed_config_from_dict(data: Mapping[str, Any], asset: str | None = None) -> FeedConfig:
    """Build and validate a :class:`FeedConfig` from plain data (human numbers; see module doc).

    ``asset`` fills in a missing ``asset`` key (e.g. from a TOML table name) and must match it if
    both are given.
    """
    if not isinstance(data, Mapping):
        raise InvalidOracleConfig(f"oracle config must be a table, got {type(data).__name__}")
    prepared = dict(data)
    if asset is not None and prepared.setdefault("asset", asset) != asset:
        raise InvalidOracleConfig(f"asset={prepared['asset']!r} does not match its table {asset!r}")
    where = prepared.get("asset", "?")
    prepared["aggregator"] = _prepare_plugin(prepared.get("aggregator"), AGGREGATOR_CONFIGS, "aggregator")
    policies = prepared.get("policies", ())
    if not isinstance(policies, list | tuple):
        raise InvalidOracleConfig(f"policies must be a list, got {policies!r}")
    prepared["policies"] = [
        _prepare_plugin(p, POLICY_CONFIGS, f"policies[{i}]") for i, p in enumerate(policies)
    ]
    try:
        return msgspec.convert(prepared, FeedConfig)
    except msgspec.ValidationError as exc:
        raise InvalidOracleConfig(f"oracle config for {where}: {exc}") from None


def feed_configs_from_dict(table: Mapping[str, Mapping[str, Any]]) -> dict[str, FeedConfig]:
    """``{asset: feed dict}`` → ``{asset: FeedConfig}``, sorted by asset."""
    return {asset: feed_config_from_dict(table[asset], asset) for asset in sorted(table)}


def _humanise(value: Any) -> Any:
    if isinstance(value, dict) and "name" in value:
        cls = {**AGGREGATOR_CONFIGS, **POLICY_CONFIGS}[value["name"]]
        return {
            k: (format(to_decimal(v), "f") if k in cls.wad_fields else _humanise(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_humanise(v) for v in value]
    return value


def feed_config_to_dict(cfg: FeedConfig) -> dict[str, Any]:
    """Inverse of :func:`feed_config_from_dict`: WAD fields become exact decimal strings."""
    raw = msgspec.to_builtins(cfg)
    out: dict[str, Any] = {k: _humanise(v) for k, v in raw.items()}
    return out
