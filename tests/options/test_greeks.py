"""Account Greeks and the delta-gamma distance to liquidation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq

from clearhouse.options.greeks import (
    LiquidationDistance,
    OptionHolding,
    account_greeks,
    distance_to_liquidation,
    position_greeks,
)
from clearhouse.options.instruments import OptionKind
from clearhouse.options.pricing import black76


def test_linear_account_distance() -> None:
    # long 10 perps, 500 of equity above maintenance: 50 down, never up
    assert distance_to_liquidation(10.0, 0.0, 1500.0, 1000.0) == LiquidationDistance(-50.0, None)
    assert distance_to_liquidation(-10.0, 0.0, 1500.0, 1000.0) == LiquidationDistance(None, 50.0)
    assert distance_to_liquidation(0.0, 0.0, 1500.0, 1000.0) == LiquidationDistance(None, None)


def test_short_gamma_is_hit_on_both_sides() -> None:
    d = distance_to_liquidation(0.0, -2.0, 1100.0, 1000.0)  # −dS² + 100 = 0
    assert d.down == pytest.approx(-10.0) and d.up == pytest.approx(10.0)
    assert d.nearest == pytest.approx(-10.0)
    # with a positive delta, the down side comes sooner
    d = distance_to_liquidation(5.0, -2.0, 1100.0, 1000.0)
    assert d.down is not None and d.up is not None and -d.down < d.up
    assert d.nearest == d.down


def test_long_gamma_without_delta_never_liquidates_and_underwater_is_zero() -> None:
    assert distance_to_liquidation(0.0, 3.0, 1100.0, 1000.0).nearest is None
    assert distance_to_liquidation(4.0, -1.0, 900.0, 1000.0) == LiquidationDistance(0.0, 0.0)
    with pytest.raises(ValueError):
        distance_to_liquidation(math.nan, 0.0, 1.0, 0.0)


finite = st.floats(-1e4, 1e4, allow_nan=False)


@given(delta=finite, gamma=finite, cushion=st.floats(1e-3, 1e6))
def test_roots_solve_the_quadratic(delta: float, gamma: float, cushion: float) -> None:
    d = distance_to_liquidation(delta, gamma, 1000.0 + cushion, 1000.0)
    # the cushion the function sees: 1000 + cushion rounds to a multiple of ulp(1000) ~ 1e-13
    cushion = (1000.0 + cushion) - 1000.0
    for x in (d.down, d.up):
        if x is not None:
            residual = 0.5 * gamma * x * x + delta * x + cushion
            scale = abs(0.5 * gamma * x * x) + abs(delta * x) + cushion
            assert abs(residual) <= 1e-9 * scale
    # no root lies between zero and the reported nearest one on either side: equity stays above there
    for x in (d.down, d.up):
        if x is not None:
            mid = x / 2
            assert 0.5 * gamma * mid * mid + delta * mid + cushion > -1e-9 * (abs(delta * mid) + cushion + 1)


def test_account_greeks_sum_positions_and_linear_delta() -> None:
    call = OptionHolding(OptionKind.CALL, -10.0, 3000.0, 3000.0, 7 / 365, 0.6)
    put = OptionHolding(OptionKind.PUT, -10.0, 3000.0, 3000.0, 7 / 365, 0.6)
    straddle = account_greeks([call, put])
    unit_c = black76("call", 3000.0, 3000.0, 7 / 365, 0.0, 0.6)
    unit_p = black76("put", 3000.0, 3000.0, 7 / 365, 0.0, 0.6)
    assert straddle.delta == pytest.approx(-10 * (unit_c.delta + unit_p.delta))
    assert straddle.gamma == pytest.approx(-20 * unit_c.gamma)
    assert straddle.vega == pytest.approx(-20 * unit_c.vega)
    assert position_greeks(call).price == pytest.approx(-10 * unit_c.price)
    hedged = account_greeks([call], [10 * float(unit_c.delta)])
    assert hedged.delta == pytest.approx(0.0, abs=1e-9) and hedged.gamma < 0


def test_delta_gamma_estimate_is_close_to_full_revaluation_for_small_moves() -> None:
    """A delta-hedged short-gamma book: the quadratic estimate within 5 % of the exact repricing root."""
    f, k, t, v, n = 3000.0, 3000.0, 30 / 365, 0.6, 10.0
    unit = black76("call", f, k, t, 0.0, v)
    hedge = n * float(unit.delta)
    g = account_greeks([OptionHolding(OptionKind.CALL, -n, f, k, t, v)], [hedge])
    cushion = 50.0

    def pnl(ds: float) -> float:
        return -n * (float(black76("call", f + ds, k, t, 0.0, v).price) - float(unit.price)) + hedge * ds

    d = distance_to_liquidation(g.delta, g.gamma, 1000.0 + cushion, 1000.0)
    assert d.down is not None and d.up is not None
    exact_up = brentq(lambda x: pnl(x) + cushion, 1e-9, 2000.0)
    exact_down = brentq(lambda x: pnl(x) + cushion, -2000.0, -1e-9)
    assert d.up == pytest.approx(exact_up, rel=0.05)
    assert d.down == pytest.approx(exact_down, rel=0.05)
