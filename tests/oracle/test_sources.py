"""CSV and synthetic sources, and the Black Thursday replay through a one-hour OSM delay."""

from __future__ import annotations

from datetime import UTC, datetime

from clearhouse.oracle import DelayConfig, FeedConfig, MedianConfig, OracleFeed, OracleState
from clearhouse.oracle.sources import (
    COINAPI_OHLCV,
    MARK6_CLOSE,
    MDD_OHLCV,
    TARDIS_TRADES,
    Bar,
    bar_reports,
    gbm_path,
    last_per_interval,
    manipulate,
    noisy_sources,
    parse_time,
    read_bars,
)

from .conftest import W, data_file, rep

ETH_30M = "binance_ethusdt_30m_2020-03-01_2020-03-31.csv"


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_parse_time_units() -> None:
    assert parse_time("2020-03-13 02:00:00", "iso") == 1584064800
    assert parse_time("2020-03-12T00:00:00.0000000Z", "iso") == 1583971200
    assert parse_time("1760054400000", "ms") == 1760054400
    assert parse_time("1760122803123456", "us") == 1760122803


def test_path_mode_walks_the_bar_and_close_mode_reports_the_close() -> None:
    down = Bar(time=0, close=95 * W, open=100 * W, high=102 * W, low=90 * W)
    up = Bar(time=1800, close=99 * W, open=95 * W, high=101 * W, low=94 * W)
    path = [(r.observed_at, r.price // W) for r in bar_reports([down, up], "x", "ETH", 1800, "path")]
    assert path == [
        (0, 100),
        (600, 102),
        (1200, 90),
        (1799, 95),
        (1800, 95),
        (2400, 94),
        (3000, 101),
        (3599, 99),
    ]
    closes = [(r.observed_at, r.price // W) for r in bar_reports([down, up], "x", "ETH", 1800)]
    assert closes == [(1799, 95), (3599, 99)]


def test_read_mdd_columns_open_close_high_low() -> None:
    bars = read_bars(data_file(ETH_30M), MDD_OHLCV)
    assert len(bars) == 1484
    low = min(bars, key=lambda b: b.low or 0)
    # README: ETH low 86.00 at 2020-03-13 02:00 UTC; that bar's open/close/high are 96.51/95.97/98.00
    assert (low.time, low.low, low.open, low.close, low.high) == (
        ts("2020-03-13 02:00:00"),
        86 * W,
        96_510 * W // 1000,
        95_970 * W // 1000,
        98 * W,
    )
    assert all(
        b.low is not None and b.high is not None and b.low <= min(b.open or 0, b.close) <= b.high
        for b in bars
    )


def test_read_other_formats_and_skip_empty_rows() -> None:
    hourly = read_bars(data_file("binance_ethusdt_1h_2018-01-01_2021-05-16.csv"), MDD_OHLCV)
    assert len(hourly) == 29560 - 116  # rows with empty OHLCV (maintenance) are skipped
    dai = read_bars(data_file("coinapi_daiusd_10m_2020-03-12.csv"), COINAPI_OHLCV)
    assert max(b.high or 0 for b in dai) == 1_126_447_000_000_000_000  # README: DAI high 1.1264 (10:20)
    luna = read_bars(data_file("binance_lunausdt_1h_close_2022-04-15_2022-05-13.csv"), MARK6_CLOSE)
    assert luna[-1].close == 5 * 10**13  # 0.00005
    trades = read_bars(data_file("gemini_ethusd_trades_2025-10-10_1900-2400utc.csv"), TARDIS_TRADES)
    per_second = last_per_interval(trades, 1)
    assert len(per_second) < len(trades) and len({b.time for b in per_second}) == len(per_second)


def test_black_thursday_eth_through_a_one_hour_osm_delay() -> None:
    """Maker's OSM acted on an hour-old price: at the crash low it was still far above spot."""
    bars = read_bars(data_file(ETH_30M), MDD_OHLCV)
    cfg = FeedConfig(
        asset="ETH", sources=("binance",), aggregator=MedianConfig(), policies=(DelayConfig(delay=3600),)
    )
    feed = OracleFeed(cfg)
    readings = {}
    for report in bar_reports(bars, "binance", "ETH", 1800, "path"):
        readings[report.observed_at] = (report.price, feed.update(report.observed_at, [report]))
    low_time = ts("2020-03-13 02:20:00")  # the 86.00 low, second point of the falling 02:00 bar
    spot, osm = readings[low_time]
    assert spot == 86 * W and osm.state is OracleState.FRESH
    assert osm.price == 112 * W and osm.price_time == low_time - 3600  # the 01:20 price
    assert osm.price * 100 >= spot * 130  # the acted-on price is 30 % above the spot low
    # an hour after the low, spot has rebounded to 135.54 while the OSM acts on the 86.00 low
    assert (readings[low_time + 3600][0], readings[low_time + 3600][1].price) == (135_540 * W // 1000, 86 * W)
    # the widest gap of the day: 2020-03-12 11:10, spot 123.00 vs OSM 168.89 (+37 %)
    spot, osm = readings[ts("2020-03-12 11:10:00")]
    assert (spot, osm.price) == (123 * W, 168_890 * W // 1000)
    worst = max(readings.values(), key=lambda po: (po[1].price or 0) * W // po[0])
    assert worst[0] == 123 * W  # …which is also the largest ratio over the month


def test_synthetic_sources_are_seeded() -> None:
    path = gbm_path("2000", drift=0.0, vol=0.8, dt=60, steps=50, seed=7)
    assert path == gbm_path(2000.0, drift=0.0, vol=0.8, dt=60, steps=50, seed=7)
    assert path[0] == (0, 2000 * W) and len(path) == 51
    batches = list(noisy_sources(path, ["a", "b", "c"], "ETH", spread_bps=10, seed=1))
    assert batches == list(noisy_sources(path, ["a", "b", "c"], "ETH", spread_bps=10, seed=1))
    for (t, p), (bt, reports) in zip(path, batches, strict=True):
        assert bt == t and all(abs(r.price - p) * 10_000 <= 10 * p for r in reports)
    pumped = manipulate([rep("a", 10, 0), rep("b", 10, 0)], ["b"], 24)
    assert [r.price for r in pumped] == [10, 240]
