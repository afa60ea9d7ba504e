"""Worked examples for every policy, the delay property, and the bZx / Compound DAI incidents."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clearhouse.oracle import (
    AnchorBandConfig,
    BoundsConfig,
    CircuitBreakerConfig,
    ConfidenceConfig,
    DelayConfig,
    DeviationHeartbeatConfig,
    MaxAgeConfig,
    OracleReading,
    OracleState,
    PythConfig,
)
from clearhouse.oracle.policies import Candidate, Delay

from .conftest import W, feed, rep

FRESH, STALE, HALTED, GUARDED = OracleState.FRESH, OracleState.STALE, OracleState.HALTED, OracleState.GUARDED


def pt(r: OracleReading) -> tuple[OracleState, int | None, int | None]:
    return r.state, r.price, r.price_time


def test_deviation_heartbeat_chainlink_eth_usd() -> None:
    f = feed(policies=[DeviationHeartbeatConfig(deviation=5 * W // 1000, heartbeat=3600)])
    assert pt(f.update(0, [rep("a", 2000 * W, 0)])) == (FRESH, 2000 * W, 0)
    # +0.45 %: below the 0.5 % threshold → the published 2000 (from t=0) is held, still FRESH
    r = f.update(60, [rep("a", 2009 * W, 60)])
    assert pt(r) == (FRESH, 2000 * W, 0) and r.raw == 2009 * W
    # +0.5 % exactly → published
    assert pt(f.update(120, [rep("a", 2010 * W, 120)])) == (FRESH, 2010 * W, 120)
    assert pt(f.update(3000, [rep("a", 2011 * W, 3000)])) == (FRESH, 2010 * W, 120)
    # heartbeat: 3600 s after the last publication (t=120) any price is published
    assert pt(f.update(3720, [rep("a", 2012 * W, 3720)])) == (FRESH, 2012 * W, 3720)


def test_delay_maker_osm_one_hour() -> None:
    f = feed(policies=[DelayConfig(delay=3600)])
    r = f.update(0, [rep("a", 100 * W, 0)])
    assert (r.state, r.price, r.reason) == (STALE, None, "delay warm-up: no reading 3600s old yet")
    assert pt(f.update(1800, [rep("a", 110 * W, 1800)]))[0] == STALE
    r = f.update(3600, [rep("a", 120 * W, 3600)])
    assert pt(r) == (FRESH, 100 * W, 0) and r.raw == 120 * W
    assert [(e.old, e.new) for e in r.events] == [(STALE, FRESH)]
    assert pt(f.update(5400, [rep("a", 130 * W, 5400)])) == (FRESH, 110 * W, 1800)
    assert pt(f.update(5500, [])) == (FRESH, 110 * W, 1800)  # 1900 s ago: the t=1800 reading


@given(
    st.lists(st.tuples(st.integers(0, 900), st.integers(1, 10**24)), min_size=1, max_size=40),
    st.integers(1, 3000),
)
def test_delayed_price_is_the_input_shifted_by_the_delay(steps: list[tuple[int, int]], delay: int) -> None:
    f = feed(policies=[DelayConfig(delay=delay)])
    history: list[tuple[int, int]] = []
    t = 0
    for dt, p in steps:
        t += dt
        if history and history[-1][0] == t:
            continue  # one report per source per second
        history.append((t, p))
        r = f.update(t, [rep("a", p, t)])
        due = [(ti, pi) for ti, pi in history if ti <= t - delay]
        if due:
            assert pt(r) == (FRESH, due[-1][1], due[-1][0])
        else:
            assert (r.state, r.price) == (STALE, None)


def test_delay_shifts_whole_candidates_including_stale_ones() -> None:
    d = Delay(DelayConfig(delay=10))
    stale = Candidate(STALE, None, None, "no fresh source")
    assert d.apply(0, Candidate(FRESH, 5, 0, "fresh"), []).state is STALE  # warm-up
    d.apply(5, stale, [])
    assert d.apply(10, Candidate(FRESH, 7, 10, "fresh"), []) == Candidate(FRESH, 5, 0, "fresh")
    assert d.apply(15, Candidate(FRESH, 8, 15, "fresh"), []) == stale


def test_max_age() -> None:
    f = feed(policies=[MaxAgeConfig(max_age=60)])
    assert pt(f.update(30, [rep("a", 100 * W, 0)])) == (FRESH, 100 * W, 0)
    r = f.update(90, [])  # the report is still within report_max_age, but 90 s old > 60
    assert pt(r) == (STALE, 100 * W, 0) and r.reason == "price is 90s old > max_age 60s"
    assert r.events[0].old is FRESH and r.events[0].new is STALE


def test_circuit_breaker_trips_holds_and_confirms() -> None:
    f = feed(policies=[CircuitBreakerConfig(max_move=W // 10, interval=300)])
    assert pt(f.update(0, [rep("a", 100 * W, 0)])) == (FRESH, 100 * W, 0)
    assert pt(f.update(60, [rep("a", 105 * W, 60)])) == (FRESH, 105 * W, 60)
    # 116 is 16 % above the 100 seen 120 s ago (within the 300 s interval) → HALTED on the last price
    r = f.update(120, [rep("a", 116 * W, 120)])
    assert pt(r) == (HALTED, 105 * W, 60)
    assert r.reason == "move 100.0000 -> 116.0000 beyond ±10.00% within 300s"
    assert pt(f.update(600, [rep("a", 117 * W, 600)])) == (HALTED, 105 * W, 60)  # until confirmed
    f.confirm(650)
    r = f.update(660, [rep("a", 117 * W, 660)])
    assert pt(r) == (FRESH, 117 * W, 660) and (r.events[0].old, r.events[0].new) == (HALTED, FRESH)


def test_circuit_breaker_ignores_slow_moves_and_auto_confirms() -> None:
    slow = feed(policies=[CircuitBreakerConfig(max_move=W // 10, interval=300)])
    p = 100 * W
    for i in range(10):  # +9 % every 400 s: never more than 10 % within one interval
        assert slow.update(400 * i, [rep("a", p, 400 * i)]).state is FRESH
        p = p * 109 // 100
    auto = feed(policies=[CircuitBreakerConfig(max_move=W // 10, interval=300, confirm_after=600)])
    auto.update(0, [rep("a", 100 * W, 0)])
    assert auto.update(10, [rep("a", 50 * W, 10)]).state is HALTED
    assert auto.update(609, [rep("a", 50 * W, 609)]).state is HALTED
    assert pt(auto.update(610, [rep("a", 51 * W, 610)])) == (FRESH, 51 * W, 610)


def test_bounds_clamp_like_chainlink_min_answer() -> None:
    """LUNA May 2022: Chainlink's minAnswer (0.10) kept reporting 0.10 while LUNA traded lower."""
    f = feed(policies=[BoundsConfig(min_price=W // 10, max_price=1000 * W)])
    assert pt(f.update(0, [rep("a", W, 0)])) == (FRESH, W, 0)
    r = f.update(60, [rep("a", W // 100, 60)])
    assert pt(r) == (OracleState.CLAMPED, W // 10, 60) and r.raw == W // 100
    assert r.reason == "price 0.0100 below min 0.1000"
    assert pt(f.update(120, [rep("a", 2000 * W, 120)])) == (OracleState.CLAMPED, 1000 * W, 120)


def test_confidence_bound_marks_uncertain() -> None:
    f = feed(("a", "b", "c"), PythConfig(), [ConfidenceConfig(max_ratio=W // 100)])
    tight = [rep("a", 100 * W, 0, W // 10), rep("b", 101 * W, 0, W // 10), rep("c", 100 * W, 0, W // 10)]
    assert f.update(0, tight).state is FRESH
    # publishers disagree: votes 89,90,91,99,100,101,108,110,112 → price v[4] = 100,
    # Q25 = v[2] = 91, Q75 = v[6] = 108 → confidence 9 (9 % of the price > 1 %)
    wide = [rep("a", 90 * W, 1, W), rep("b", 100 * W, 1, W), rep("c", 110 * W, 1, 2 * W)]
    r = f.update(1, wide)
    assert (r.state, r.price, r.confidence) == (OracleState.UNCERTAIN, 100 * W, 9 * W)
    assert r.reason == "confidence 9.00% of price > 1.00%"


def test_non_fresh_candidates_pass_through_policies() -> None:
    f = feed(
        ("a", "b"),
        policies=[DeviationHeartbeatConfig(deviation=W // 100, heartbeat=60), MaxAgeConfig(max_age=5)],
    )
    f.update(0, [rep("a", 10 * W, 0)])
    r = f.update(4000, [])  # report older than report_max_age → aggregator refuses
    assert (r.state, r.reason) == (STALE, "no fresh source")
    assert (r.price, r.price_time) == (10 * W, 0)  # the last FRESH price, labelled STALE


# ------------------------------------------------------------------ bZx (Feb 2020): flash spike


def test_bzx_flash_spike_is_guarded_by_the_anchor_band() -> None:
    f = feed(policies=[AnchorBandConfig(band=W // 5, window=1800)])
    for t in range(0, 3600, 12):
        assert f.update(t, [rep("a", 100 * W, t)]).state is FRESH
    r = f.update(3600, [rep("a", 300 * W, 3600)])  # x3 inside one block
    assert pt(r) == (GUARDED, 100 * W, 3588) and r.raw == 300 * W
    assert r.reason == "price 300.0000 outside ±20.00% of anchor 100.0000"
    r = f.update(3612, [rep("a", 100 * W, 3612)])  # next block: back to normal, accepted
    assert pt(r) == (FRESH, 100 * W, 3612)


# ------------------------------------------------------------------ Compound DAI (Nov 2020)


def _dai_run(
    policies: list[AnchorBandConfig], sources: tuple[str, ...], price_sources: tuple[str, ...]
) -> list[OracleReading]:
    """2 h at $1.00, then 1 h with Coinbase at $1.30 (other venues at $1.00), then back; 60 s steps."""
    f = feed(sources, policies=policies, price_sources=price_sources)
    out = []
    for minute in range(4 * 60):
        t = 60 * minute
        pumped = 120 <= minute < 180
        out.append(
            f.update(t, [rep(s, (13 * W // 10) if (s == "coinbase" and pumped) else W, t) for s in sources])
        )
    return out


def test_compound_dai_single_reporter_without_anchor_takes_the_pump() -> None:
    readings = _dai_run([], ("coinbase",), ())
    assert all(r.state is FRESH and r.price == 13 * W // 10 for r in readings[120:180])  # liquidations follow


def test_compound_dai_independent_anchor_guards_the_whole_hour() -> None:
    band = AnchorBandConfig(band=W // 5, window=1800, anchor_sources=("uniswap",))
    readings = _dai_run([band], ("coinbase", "uniswap"), ("coinbase",))
    assert all(pt(r)[:2] == (GUARDED, W) for r in readings[120:180])
    assert all(r.state is FRESH and r.price == W for r in readings[180:])
    events = [(e.old, e.new, e.time) for r in readings for e in r.events]
    assert events == [(STALE, FRESH, 0), (FRESH, GUARDED, 7200), (GUARDED, FRESH, 10800)]


def test_compound_dai_self_anchor_only_delays_a_sustained_pump() -> None:
    """The limit: a TWAP of the feed's own price follows a sustained move after ~window·band/move."""
    band = AnchorBandConfig(band=W // 5, window=1800)
    readings = _dai_run([band], ("coinbase",), ())
    guarded = [i - 120 for i, r in enumerate(readings) if r.state is GUARDED]
    # anchor = 1 + 0.3·k/30 after k minutes; 1.30 fits within +20 % once the anchor ≥ 1.0833: k = 9.
    # Mirror image when the pump ends: $1.00 is guarded until the anchor falls to 1.25 (5 minutes).
    assert guarded == list(range(9)) + list(range(60, 65))
    assert readings[129].state is FRESH and readings[129].price == 13 * W // 10


def test_compound_dai_median_of_five_venues_ignores_one_venue() -> None:
    venues = ("binance", "coinbase", "kraken", "uniswap", "curve")
    readings = _dai_run([], venues, ())
    assert all(r.state is FRESH and r.price == W for r in readings)
