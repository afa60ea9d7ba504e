from __future__ import annotations

from typing import Any

import pytest

from clearhouse.oracle import (
    AGGREGATORS,
    HYPERLIQUID_WEIGHTS,
    POLICIES,
    AnchorBandConfig,
    DeviationHeartbeatConfig,
    FeedConfig,
    InvalidOracleConfig,
    MedianConfig,
    OracleFeed,
    TwapConfig,
    UnknownPlugin,
    WeightedMedianConfig,
    build_aggregator,
    build_policy,
    feed_config_from_dict,
    feed_config_to_dict,
    feed_configs_from_dict,
)
from clearhouse.oracle.config import AGGREGATOR_CONFIGS, POLICY_CONFIGS

from .conftest import W

VENUES = ["binance", "okx", "bybit", "kraken", "kucoin", "gate", "mexc", "hyperliquid"]


def eth(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"asset": "ETH", "sources": ["a", "b", "c"], "aggregator": {"name": "median"}}
    return {**base, **over}


def test_registry_names() -> None:
    assert sorted(AGGREGATORS) == sorted(
        ["median", "weighted_median", "quorum_median", "pyth", "twap", "geometric_twap", "ema"]
    )
    assert {"deviation_heartbeat", "delay", "anchor_band", "max_age", "circuit_breaker"} <= set(POLICIES)
    assert set(POLICIES) == set(POLICY_CONFIGS) and set(AGGREGATORS) == set(AGGREGATOR_CONFIGS)
    assert type(build_aggregator(TwapConfig(window=60))).__name__ == "Twap"
    assert (
        build_policy(DeviationHeartbeatConfig(deviation=W // 200, heartbeat=3600)).name
        == "deviation_heartbeat"
    )


def test_from_dict_human_numbers_become_wad() -> None:
    cfg = feed_config_from_dict(
        {
            "sources": VENUES,
            "aggregator": {
                "name": "twap",
                "window": 1800,
                "inner": {
                    "name": "weighted_median",
                    "weights": dict(zip(VENUES, HYPERLIQUID_WEIGHTS, strict=True)),
                },
            },
            "policies": [
                {"name": "deviation_heartbeat", "deviation": "0.005", "heartbeat": 3600},
                {"name": "anchor_band", "band": 0.2, "window": 1800},
                {"name": "bounds", "min_price": 1, "max_price": "1e6"},
                {"name": "circuit_breaker", "max_move": "0.5", "interval": 60, "confirm_after": 600},
                {"name": "delay", "delay": 3600},
                {"name": "max_age", "max_age": 7200},
                {"name": "confidence", "max_ratio": "0.02"},
            ],
            "report_max_age": 60,
        },
        asset="ETH",
    )
    assert cfg.asset == "ETH" and cfg.report_max_age == 60
    assert isinstance(cfg.aggregator, TwapConfig) and isinstance(cfg.aggregator.inner, WeightedMedianConfig)
    assert cfg.policies[0] == DeviationHeartbeatConfig(deviation=5 * 10**15, heartbeat=3600)
    assert cfg.policies[1] == AnchorBandConfig(band=2 * 10**17, window=1800)
    assert [p.name for p in cfg.policies][2:] == [
        "bounds",
        "circuit_breaker",
        "delay",
        "max_age",
        "confidence",
    ]
    assert feed_config_from_dict(feed_config_to_dict(cfg)) == cfg  # round trip through human numbers
    OracleFeed(cfg)  # builds


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (
            eth(aggregator={"name": "twap", "window": 0}),
            InvalidOracleConfig,
            r"window must be an integer >= 1, got 0 - at `\$.aggregator`",
        ),
        (eth(aggregator={"name": "nope"}), UnknownPlugin, "aggregator.name='nope'"),
        (
            eth(policies=[{"name": "delay", "delay": 1}, {"name": "sleep"}]),
            UnknownPlugin,
            r"policies\[1\].name='sleep'",
        ),
        (
            eth(policies=[{"name": "bounds", "min_price": "nan", "max_price": 1}]),
            InvalidOracleConfig,
            r"policies\[0\].min_price must be finite",
        ),
        (
            eth(policies=[{"name": "bounds", "min_price": 5, "max_price": 1}]),
            InvalidOracleConfig,
            "max_price must be > min_price",
        ),
        (
            eth(policies=[{"name": "delay", "delay": "1h"}]),
            InvalidOracleConfig,
            r"Expected `int`, got `str` - at `\$.policies\[0\].delay`",
        ),
        (
            eth(policies=[{"name": "deviation_heartbeat", "deviation": 1.5, "heartbeat": 1}]),
            InvalidOracleConfig,
            "deviation must be a WAD fraction below 1",
        ),
        (eth(aggregator={"name": "median", "extra": 1}), InvalidOracleConfig, "unknown field `extra`"),
        (
            eth(aggregator={"name": "quorum_median", "quorum": 4}),
            InvalidOracleConfig,
            "aggregator.quorum=4 > 3 price sources",
        ),
        (
            eth(aggregator={"name": "weighted_median", "weights": {"a": 1, "b": 1}}),
            InvalidOracleConfig,
            r"no weight for sources \['c'\]",
        ),
        (
            eth(aggregator={"name": "weighted_median", "weights": {"a": 1, "b": 0, "c": 1}}),
            InvalidOracleConfig,
            r"weights\['b'\] must be an integer >= 1",
        ),
        (eth(sources=["a", "a"]), InvalidOracleConfig, "sources has duplicates"),
        (eth(price_sources=["z"]), InvalidOracleConfig, r"price_sources not in sources: \['z'\]"),
        (
            eth(policies=[{"name": "anchor_band", "band": "0.2", "window": 60, "anchor_sources": ["q"]}]),
            InvalidOracleConfig,
            "anchor_sources not in sources",
        ),
        (eth(asset=""), InvalidOracleConfig, "asset must be a non-empty string"),
        (eth(policies={"name": "delay"}), InvalidOracleConfig, "policies must be a list"),
    ],
)
def test_bad_config_names_the_field(data: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        feed_config_from_dict(data)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(InvalidOracleConfig, match="window"):
        TwapConfig(window=-5)
    with pytest.raises(
        InvalidOracleConfig, match=r"aggregator.inner.weights has no weight for sources \['a'\]"
    ):
        FeedConfig(
            asset="ETH",
            sources=("a",),
            aggregator=TwapConfig(window=5, inner=WeightedMedianConfig(weights={"b": 1})),
        )
    assert FeedConfig(asset="ETH", sources=("b", "a"), aggregator=MedianConfig()).aggregated_sources == (
        "a",
        "b",
    )


def test_table_of_assets() -> None:
    table = {"BTC": {"sources": ["a"], "aggregator": {"name": "median"}}, "ETH": eth()}
    configs = feed_configs_from_dict(table)
    assert list(configs) == ["BTC", "ETH"] and configs["BTC"].asset == "BTC"
    with pytest.raises(InvalidOracleConfig, match="does not match"):
        feed_configs_from_dict({"BTC": eth()})
