"""The population is defined without the margin rules; the rules act only when positions open."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from clearhouse.lab.population import build_population
from clearhouse.lab.runner import run_path
from clearhouse.lab.scenario import load_scenario

SMALL = {"population.accounts": 300}


def _population(overrides: dict[str, object]):  # type: ignore[no-untyped-def]
    sc = load_scenario("cascade_2025_10_10", {**SMALL, **overrides})
    p0 = {"BTC": 121000.0, "ETH": 4300.0, "THIN": 0.8}
    return build_population(sc, 7, p0)


def test_same_seed_two_margin_settings_same_traders() -> None:
    """A sweep that raises initial margin compares the same traders (before: the raised margin was
    refused, or capped every trader's leverage at the smallest 1 / initial margin)."""
    loose = _population({})
    tight = _population(
        {"markets.BTC-PERP.initial_margin": 0.25, "markets.BTC-PERP.maintenance_margin": 0.125}
    )
    assert [t.profile() for t in loose.traders] == [t.profile() for t in tight.traders]
    assert loose.market_maker_capital == tight.market_maker_capital
    btc_loose = [t for t in loose.traders if t.market == "BTC-PERP"]
    btc_tight = [t for t in tight.traders if t.market == "BTC-PERP"]
    # the rules act at the opening: under 4x max, wanted leverage above it opens capped
    assert sum(t.capped for t in btc_tight) > sum(t.capped for t in btc_loose)
    for a, b in zip(btc_loose, btc_tight, strict=True):
        assert abs(b.size) <= abs(a.size)
        if b.capped:
            assert b.notional / b.collateral_value <= 4.0 + 1e-9
        else:
            assert b.size == a.size


def test_leverage_is_per_market() -> None:
    pop = _population({})
    by_market = collections.defaultdict(list)
    for t in pop.traders:
        by_market[t.market].append(t.leverage)
    assert max(by_market["THIN-PERP"]) <= 5.0
    assert max(by_market["BTC-PERP"]) > 10.0 and max(by_market["ETH-PERP"]) > 10.0


def test_per_market_override_leaves_other_draws_alone() -> None:
    """The per-market distributions come from their own random stream."""
    a = _population({})
    b = _population({"population.leverage_by_market": {}})
    keep = [t.profile() for t in a.traders if t.market != "THIN-PERP"]
    assert keep == [t.profile() for t in b.traders if t.market != "THIN-PERP"]
    assert [t.leverage for t in a.traders if t.market == "THIN-PERP"] != [
        t.leverage for t in b.traders if t.market == "THIN-PERP"
    ]


@pytest.mark.slow
def test_cascade_liquidates_every_market_and_deleverages(tmp_path: Path) -> None:
    """On the hand-drawn path (the fallback, pinned by an empty data folder): the real 2025-10-10
    data are milder on ETH (one venue) and do not reach ADL at this size (docs/scenarios.md)."""
    sc = load_scenario("cascade_2025_10_10", {"population.accounts": 800, "data_dir": str(tmp_path)})
    events = run_path(sc).events.to_pylist()
    count = collections.Counter((e["type"], e["market"]) for e in events)
    for market in ("BTC-PERP", "ETH-PERP", "THIN-PERP"):
        assert count["PositionLiquidated", market] > 0, market
    assert sum(n for (kind, _), n in count.items() if kind == "PositionDeleveraged") > 0
