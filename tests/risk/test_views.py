"""Exact risk views: worked liquidation prices, leverage, open interest, health distribution."""

from __future__ import annotations

import pytest
from risk_helpers import RAY, E, add_account, empty_state

from clearhouse.ledger.errors import UnknownAccount, UnknownMarket
from clearhouse.ledger.margin import cross_summary, fresh_price_lookup, isolated_summary
from clearhouse.ledger.model import LedgerState, Position
from clearhouse.risk.views import (
    account_risk,
    health_distribution,
    isolated_risk,
    liquidation_price,
    market_risk,
)


def state() -> LedgerState:
    s = empty_state()
    s.markets["ETH-PERP"].funding_index = 5 * RAY
    # bob: 100 USDC, long 1 ETH from 2010, owes 5 funding: d = -1915, liquidatable iff
    # P - ceil(P / 20) < 1915 (WAD): P* = 1915 / 0.95 = 2015.789473684210526315...
    add_account(s, "bob", {"USDC": 100 * E}, [Position("ETH-PERP", E, 2010 * E)])
    # sam: 200 USDC, short 1 ETH from 2000, funding settled: liquidatable iff 2200 - P < ceil(P / 20):
    # P* = 2200 / 1.05 = 2095.238095238095238095...
    add_account(s, "sam", {"USDC": 200 * E}, [Position("ETH-PERP", -E, -2000 * E, 5 * RAY)])
    # carol: ETH collateral against a short (same oracle key) -> general case (bisection).
    add_account(s, "carol", {"ETH": E // 10, "USDC": 15 * E}, [Position("ETH-PERP", -E, -2000 * E, 5 * RAY)])
    # ivy: isolated long 0.5 BTC from 40000, margin 1500: liquidatable iff 1500 + P/2 - 20000 < P/80
    add_account(s, "ivy", {}, [Position("BTC-PERP", E // 2, 20_000 * E, 0, True, 1500 * E)])
    return s


def liq_at(s: LedgerState, aid: str, market: str, price: int) -> bool:
    base = fresh_price_lookup(s)
    key = s.markets[market].spec.oracle

    def at(k: str) -> int:
        return price if k == key else base(k)

    pos = s.accounts[aid].positions[market]
    if pos.isolated:
        return isolated_summary(s, pos, at).liquidatable
    return cross_summary(s, s.accounts[aid], at).liquidatable


def test_liquidation_price_long_exact_worked_example() -> None:
    s = state()
    lp = liquidation_price(s, "bob", "ETH-PERP")
    assert (lp.method, lp.lower, lp.upper) == ("exact", 2015_789473684210526315, None)
    assert liq_at(s, "bob", "ETH-PERP", lp.lower) and not liq_at(s, "bob", "ETH-PERP", lp.lower + 1)
    assert liquidation_price(s, "bob", "ETH-PERP", method="bisection").lower == lp.lower


def test_liquidation_price_short_exact_worked_example() -> None:
    s = state()
    lp = liquidation_price(s, "sam", "ETH-PERP")
    assert (lp.method, lp.lower, lp.upper) == ("exact", None, 2095_238095238095238096)
    assert liq_at(s, "sam", "ETH-PERP", lp.upper) and not liq_at(s, "sam", "ETH-PERP", lp.upper - 1)
    assert liquidation_price(s, "sam", "ETH-PERP", method="bisection").upper == lp.upper


def test_liquidation_price_isolated_and_general() -> None:
    s = state()
    lp = liquidation_price(s, "ivy", "BTC-PERP")
    # 1500 + P/2 - 20000 = P/80  ->  P = 18500 x 80 / 39 = 37948.717948717948717948...; with the
    # integer rounding (floor P/2, ceil P/80) the crossing is one unit up: at ...949 equity
    # 474358974358974358974 < MM ...975, at ...950 equity = MM = ...975.
    assert lp.lower == 37948_717948717948717949
    assert liq_at(s, "ivy", "BTC-PERP", lp.lower) and not liq_at(s, "ivy", "BTC-PERP", lp.lower + 1)
    g = liquidation_price(s, "carol", "ETH-PERP")
    assert g.method == "bisection" and g.lower is None and g.upper is not None
    # short 1 + 0.1 ETH collateral x 0.9: 15 + 0.09 P + 2000 - P = 0.05 P  ->  P = 2015 / 0.96
    # = 2098.958333...; the floors of the collateral value make ...333 already liquidatable.
    assert g.upper == 2098_958333333333333333
    assert liq_at(s, "carol", "ETH-PERP", g.upper) and not liq_at(s, "carol", "ETH-PERP", g.upper - 1)
    with pytest.raises(UnknownMarket):
        liquidation_price(s, "carol", "ETH-PERP", method="exact")
    with pytest.raises(UnknownMarket):
        liquidation_price(s, "bob", "BTC-PERP")


def test_account_views_leverage_oi_distribution() -> None:
    s = state()
    r = account_risk(s, "bob")
    assert (r.equity, r.maintenance, r.initial, r.notional) == (85 * E, 100 * E, 200 * E, 2000 * E)
    assert r.health == 85 * E // 100 and r.liquidatable
    assert r.leverage == 2000 * E * E // (85 * E)
    ri = isolated_risk(s, "ivy", "BTC-PERP")
    assert (ri.equity, ri.maintenance, ri.notional) == (1500 * E, 500 * E, 20_000 * E)
    with pytest.raises(UnknownAccount):
        account_risk(s, "nobody")
    with pytest.raises(UnknownMarket):
        isolated_risk(s, "bob", "ETH-PERP")
    eth = market_risk(s)["ETH-PERP"]
    assert (eth.long_size, eth.short_size, eth.long_accounts, eth.short_accounts) == (E, 2 * E, 1, 2)
    assert eth.account_skew == -E // 3  # (1 - 2) / 3 rounded down
    d = health_distribution(s)
    # bob liquidatable (2000); sam buffer 200 - 100 = 100 on 2000 = 5% (not < 5%) -> within 10%;
    # carol buffer 195 - 100 = 95 on 2000 -> within 5%; ivy 1000 on 20000 = 5% -> within 10%.
    assert (d.total_notional, d.buckets) == (26_000 * E, 4)
    assert d.liquidatable == 2000 * E
    assert d.within_5 == 4000 * E
    assert d.within_10 == 26_000 * E
    assert d.within_20 == 26_000 * E
