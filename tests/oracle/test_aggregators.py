"""Worked examples for every aggregator, range properties, and manipulation limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clearhouse.oracle import HYPERLIQUID_WEIGHTS
from clearhouse.oracle.aggregators import (
    Aggregate,
    Ema,
    GeometricTwap,
    Median,
    PythAggregate,
    QuorumMedian,
    Refused,
    Twap,
    WeightedMedian,
)
from clearhouse.oracle.config import (
    EmaConfig,
    GeometricTwapConfig,
    PythConfig,
    QuorumMedianConfig,
    TwapConfig,
    WeightedMedianConfig,
)
from clearhouse.oracle.reports import SourceReport

from .conftest import W, rep

HL_VENUES = ("binance", "okx", "bybit", "kraken", "kucoin", "gate", "mexc", "hyperliquid")


def price_of(result: Aggregate | Refused) -> int:
    assert isinstance(result, Aggregate), result
    return result.price


# ------------------------------------------------------------------ worked examples


def test_median_worked_example() -> None:
    reports = [
        rep("a", 100 * W, 5),
        rep("b", 150 * W, 7),
        rep("c", 101 * W, 6),
        rep("d", 99 * W, 9),
        rep("e", 102 * W, 8),
    ]
    assert Median().aggregate(10, reports) == Aggregate(101 * W, 5, None, 5)
    # even count: floor of the mean of the two middles (100.5)
    assert price_of(Median().aggregate(10, reports[:4])) == 100_500_000_000_000_000_000
    assert Median().aggregate(10, []) == Refused("no fresh source")


def test_quorum_median_refuses_below_quorum() -> None:
    agg = QuorumMedian(QuorumMedianConfig(quorum=3))
    assert agg.aggregate(0, [rep("a", 10, 0), rep("b", 12, 0)]) == Refused("2 fresh sources < quorum 3")
    assert price_of(agg.aggregate(0, [rep("a", 10, 0), rep("b", 12, 0), rep("c", 11, 0)])) == 11


def test_weighted_median_hyperliquid_weights() -> None:
    weights = dict(zip(HL_VENUES, HYPERLIQUID_WEIGHTS, strict=True))
    agg = WeightedMedian(WeightedMedianConfig(weights=weights))
    prices = dict(zip(HL_VENUES, (100, 101, 99, 105, 98, 110, 97, 102), strict=True))
    reports = [rep(v, prices[v] * W, 0) for v in sorted(HL_VENUES)]
    # sorted: 97(1) 98(1) 99(2) 100(3) ... total 12; cumulative reaches 7 >= 6 at 100 (binance)
    assert price_of(agg.aggregate(0, reports)) == 100 * W
    # binance alone (3 of 12) cannot move it: pump binance x10
    pumped = [rep("binance", 1000 * W, 0) if r.source == "binance" else r for r in reports]
    # 97(1) 98(1) 99(2) 101(2): cumulative 6 = exactly half → mean(101, next 102) = 101.5
    assert price_of(agg.aggregate(0, pumped)) == 101_500_000_000_000_000_000


def test_pyth_worked_example() -> None:
    agg = PythAggregate()
    # votes: 99,100,101 | 99,101,103 | 102,103,104 → sorted 99,99,100,101,101,102,103,103,104
    # median v[4]=101; Q25=v[2]=100; Q75=v[6]=103 → conf = max(1, 2) = 2
    reports = [rep("a", 100, 0, 1), rep("b", 101, 0, 2), rep("c", 103, 0, 1)]
    assert agg.aggregate(0, reports) == Aggregate(101, 0, 2, 3)
    # one publisher: its own price and confidence
    assert agg.aggregate(0, [rep("a", 100 * W, 0, 5 * W)]) == Aggregate(100 * W, 0, 5 * W, 1)
    # no confidence given counts as 0
    assert agg.aggregate(0, [rep("a", 100, 0), rep("b", 100, 0)]) == Aggregate(100, 0, 0, 2)
    strict = PythAggregate(PythConfig(min_publishers=2))
    assert strict.aggregate(0, reports[:1]) == Refused("1 fresh publishers < min_publishers 2")


def test_twap_worked_example() -> None:
    agg = Twap(TwapConfig(window=100))
    assert price_of(agg.aggregate(0, [rep("a", 100 * W, 0)])) == 100 * W
    # the price recorded at 10 has zero weight at 10 (zero-order hold)
    assert price_of(agg.aggregate(10, [rep("a", 200 * W, 10)])) == 100 * W
    # [0,30]: 100 for 10 s, 200 for 20 s → 5000/30 = 166.66…
    assert price_of(agg.aggregate(30, [rep("a", 100 * W, 30)])) == 166_666_666_666_666_666_666
    # window slides: [5,105]: 100·5 + 200·20 + 100·75 = 12000 → 120
    assert price_of(agg.aggregate(105, [rep("a", 100 * W, 105)])) == 120 * W
    # inner refusal propagates (never a carried-forward price)
    assert agg.aggregate(106, []) == Refused("no fresh source")


def test_geometric_twap_worked_example() -> None:
    agg = GeometricTwap(GeometricTwapConfig(window=100))
    agg.aggregate(0, [rep("a", 100 * W, 0)])
    agg.aggregate(10, [rep("a", 400 * W, 10)])
    # exp((10 ln 100 + 20 ln 400) / 30) = 100 · 4^(2/3) = 251.98420997897463295344…
    assert price_of(agg.aggregate(30, [rep("a", 100 * W, 30)])) == 251_984_209_978_974_632_953
    # a constant price comes back exactly
    const = GeometricTwap(GeometricTwapConfig(window=60))
    for t in range(0, 300, 12):
        assert (
            price_of(const.aggregate(t, [rep("a", 1834_520_000_000_000_000_000, t)]))
            == 1834_520_000_000_000_000_000
        )


def test_ema_worked_example() -> None:
    agg = Ema(EmaConfig(half_life=60))
    assert price_of(agg.aggregate(0, [rep("a", 100 * W, 0)])) == 100 * W
    # the 100 held over [0, 60] keeps the EMA at 100; the new 200 has no weight yet
    assert price_of(agg.aggregate(60, [rep("a", 200 * W, 60)])) == 100 * W
    # one half-life of 200: 100 + (200 - 100)/2
    assert price_of(agg.aggregate(120, [rep("a", 200 * W, 120)])) == 150 * W
    assert price_of(agg.aggregate(180, [rep("a", 200 * W, 180)])) == 175 * W


def test_time_aggregators_copy_is_independent() -> None:
    agg = Twap(TwapConfig(window=100))
    agg.aggregate(0, [rep("a", 100 * W, 0)])
    twin = agg.copy()
    agg.aggregate(50, [rep("a", 300 * W, 50)])
    assert twin.state() != agg.state()
    assert price_of(twin.aggregate(50, [rep("a", 300 * W, 50)])) == 100 * W
    assert twin.state() == agg.state()


# ------------------------------------------------------------------ properties

prices = st.integers(1, 10**30)


@st.composite
def cross_section(draw: st.DrawFn) -> list[SourceReport]:
    values = draw(st.lists(prices, min_size=1, max_size=12))
    return [rep(f"s{i:02d}", v, 0) for i, v in enumerate(values)]


@given(cross_section(), st.data())
def test_cross_section_aggregates_stay_within_fresh_range(
    reports: list[SourceReport], data: st.DataObject
) -> None:
    lo, hi = min(r.price for r in reports), max(r.price for r in reports)
    weights = {r.source: data.draw(st.integers(1, 5)) for r in reports}
    for agg in (
        Median(),
        QuorumMedian(QuorumMedianConfig(quorum=1)),
        WeightedMedian(WeightedMedianConfig(weights=weights)),
        PythAggregate(),  # confidences are 0 here
    ):
        assert lo <= price_of(agg.aggregate(0, reports)) <= hi


@given(st.lists(st.tuples(st.integers(0, 600), prices), min_size=1, max_size=25), st.integers(1, 2000))
def test_time_aggregates_stay_within_range_and_gm_below_am(steps: list[tuple[int, int]], window: int) -> None:
    twap, gtwap = Twap(TwapConfig(window=window)), GeometricTwap(GeometricTwapConfig(window=window))
    ema = Ema(EmaConfig(half_life=window))
    t = 0
    seen: list[int] = []
    for dt, p in steps:
        t += dt
        seen.append(p)
        batch = [rep("a", p, t)]
        am, gm, e = (price_of(x.aggregate(t, batch)) for x in (twap, gtwap, ema))
        lo, hi = min(seen), max(seen)
        assert lo <= am <= hi
        assert lo <= e <= hi
        assert lo - 1 <= gm <= am + 1  # AM-GM, up to the final rounding


# ------------------------------------------------------------------ manipulation (MNGO, Oct 2022)

HONEST = {"a": 38_000, "b": 38_200, "c": 37_900, "d": 38_100, "e": 38_050}  # MNGO ≈ $0.038, in 1e-6 $
MNGO_WEIGHTS = {"a": 3, "b": 2, "c": 2, "d": 1, "e": 1}


def _mngo_reports(t: int, pumped: set[str], factor_num: int, factor_den: int) -> list[SourceReport]:
    return [
        rep(
            s, HONEST[s] * 10**12 * (factor_num if s in pumped else factor_den) // factor_den, t, asset="MNGO"
        )
        for s in sorted(HONEST)
    ]


def _honest_range(pumped: set[str]) -> tuple[int, int]:
    honest = [HONEST[s] * 10**12 for s in HONEST if s not in pumped]
    return min(honest), max(honest)


def test_mngo_pump_of_one_source_x24_in_20_minutes_does_not_move_medians() -> None:
    pumped = {"a"}  # the heaviest source (weight 3 of 9)
    lo, hi = _honest_range(pumped)
    spread = max(HONEST.values()) * 10**12 - min(HONEST.values()) * 10**12
    median, wmedian = Median(), WeightedMedian(WeightedMedianConfig(weights=MNGO_WEIGHTS))
    base_m = price_of(median.aggregate(0, _mngo_reports(0, set(), 1, 1)))
    base_w = price_of(wmedian.aggregate(0, _mngo_reports(0, set(), 1, 1)))
    for minute in range(21):  # x1 → x24 linearly over 20 minutes
        batch = _mngo_reports(60 * minute, pumped, 20 + 23 * minute, 20)
        m, w = price_of(median.aggregate(60 * minute, batch)), price_of(wmedian.aggregate(60 * minute, batch))
        assert lo <= m <= hi and lo <= w <= hi
        assert abs(m - base_m) < spread and abs(w - base_w) < spread
    assert batch[0].price == 24 * HONEST["a"] * 10**12  # the pumped source really is at x24


def test_two_of_five_manipulated_median_holds_three_captures() -> None:
    two, three = {"a", "b"}, {"a", "b", "c"}
    lo, hi = _honest_range(two)
    assert lo <= price_of(Median().aggregate(0, _mngo_reports(0, two, 24, 1))) <= hi
    captured = price_of(Median().aggregate(0, _mngo_reports(0, three, 24, 1)))
    assert captured >= 24 * min(HONEST[s] for s in three) * 10**12  # the limit: a majority sets the price
    # weighted median: manipulating weight >= half (a+b = 5 of 9) captures it even with 2 sources
    wm = WeightedMedian(WeightedMedianConfig(weights=MNGO_WEIGHTS))
    assert price_of(wm.aggregate(0, _mngo_reports(0, two, 24, 1))) >= 24 * 38_000 * 10**12
    assert (
        lo <= price_of(wm.aggregate(0, _mngo_reports(0, {"c", "d"}, 24, 1))) <= _honest_range({"c", "d"})[1]
    )


def test_bzx_flash_spike_x3_in_one_block_does_not_get_through_twap() -> None:
    """bZx Feb 2020: one DEX price tripled inside one transaction; a 30-min TWAP barely moves."""
    spot, twap = Median(), Twap(TwapConfig(window=1800))
    block = 12
    for t in range(0, 3600, block):
        twap.aggregate(t, [rep("uniswap", 100 * W, t)])
    t = 3600
    spiked = [rep("uniswap", 300 * W, t)]
    assert price_of(spot.aggregate(t, spiked)) == 300 * W  # a spot oracle takes the spike whole
    assert price_of(twap.aggregate(t, spiked)) == 100 * W  # zero weight inside its own block
    after = price_of(twap.aggregate(t + block, [rep("uniswap", 100 * W, t + block)]))
    assert after == 100 * W + 200 * W * block // 1800  # one block of 300: +1.33 %, not x3
