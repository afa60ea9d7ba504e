"""Each controller's law on worked numbers (WAD integers, exact)."""

from __future__ import annotations

import pytest

from clearhouse.controller.base import Change, EwmaVolatility, Observation
from clearhouse.controller.congestion import CongestionAware, gas_cost
from clearhouse.controller.open_interest import OpenInterestLiquidity, cp_capacity, cp_impact
from clearhouse.controller.oracle_bounds import OracleBounds
from clearhouse.controller.registry import CONTROLLERS, build
from clearhouse.controller.volatility import SECONDS_PER_YEAR, VolatilityTargeting
from clearhouse.ledger.fixedpoint import RAY, WAD

W = WAD


def test_ewma_of_a_one_percent_move_per_second() -> None:
    ewma = EwmaVolatility(lam=0)
    ewma.observe(0, 100 * W)
    ewma.observe(1, 101 * W)  # r = 1 %, r^2 = 1e-4 per second
    assert ewma.var_per_s == 10**14
    assert ewma.sigma(100) == W // 10  # sqrt(1e-4 x 100) = 0.1
    ewma.observe(1, 90 * W)  # same time: ignored as a return, becomes the reference price
    assert ewma.samples == 1


def test_volatility_targeting_maintenance_is_z_sigma_and_initial_k_times_it() -> None:
    ctl = VolatilityTargeting("M", "K", horizon=100, z=2 * W, k=2 * W, lam=W // 2, min_samples=1)
    assert ctl.update(Observation(0, {"K": 100 * W})) == []
    assert ctl.update(Observation(1, {"K": 101 * W})) == [
        Change("market", "M", "initial_margin", 4 * W // 10),
        Change("market", "M", "maintenance_margin", 2 * W // 10),
    ]
    # a flat second halves the variance: sigma = sqrt(0.5e-4 x 100) = 0.0707..., mm = 2 x that (rounded up)
    out = ctl.update(Observation(2, {"K": 101 * W}))
    assert [ch.value for ch in out] == [282842712474619008, 141421356237309504]


def test_volatility_targeting_takes_implied_vol_when_higher_and_respects_floor_and_cap() -> None:
    horizon = SECONDS_PER_YEAR // 100  # sqrt(h / year) = 0.1
    ctl = VolatilityTargeting("M", "K", horizon=horizon, z=2 * W, k=2 * W, lam=0, min_samples=1)
    ctl.update(Observation(0, {"K": 100 * W}))
    out = ctl.update(Observation(60, {"K": 100 * W}, implied_vol={"K": 8 * W // 10}))
    assert out[1].value == 16 * W // 100  # 2 x 0.8 x 0.1
    capped = VolatilityTargeting("M", "K", horizon=100, z=2 * W, lam=0, min_samples=1, cap=W // 10)
    capped.update(Observation(0, {"K": 100 * W}))
    assert capped.update(Observation(1, {"K": 101 * W}))[1].value == W // 10
    calm = VolatilityTargeting("M", "K", lam=0, min_samples=1, floor=W // 50)
    calm.update(Observation(0, {"K": 100 * W}))
    assert calm.update(Observation(60, {"K": 100 * W}))[1].value == W // 50


def test_gas_cost_worked_example() -> None:
    assert gas_cost(500_000, 100 * W, 2000 * W) == 100 * W


@pytest.mark.parametrize(
    ("gwei", "fee"),
    [(20, W // 100), (50, 2 * W // 100), (100, 4 * W // 100), (400, 4 * W // 100)],
)
def test_congestion_fee_keeps_keepers_paid_twice_their_gas(gwei: int, fee: int) -> None:
    # 500k gas x gwei x ETH 2000 = gwei USD; reward = 10k x fee x 0.5 must be >= 2 x cost, in [1 %, 4 %]
    ctl = CongestionAware("M")
    out = ctl.update(Observation(0, gas_gwei={"p90": gwei * W}, gas_token_price=2000 * W))
    assert out == [Change("market", "M", "liquidation_fee", fee)]


def test_congestion_auction_parameters_stretch_with_keeper_lag() -> None:
    ctl = CongestionAware(None, vault_type="ETH-A")
    out = ctl.update(Observation(0, gas_gwei={"p90": 50 * W}, gas_token_price=2000 * W, keeper_lag=900))
    assert {ch.parameter: ch.value for ch in out} == {
        "disposal.tip": 100 * W,  # 2 x 50 USD of gas
        "disposal.tail": 3600 + 4 * 900,
        "disposal.tau": 3600 + 4 * 900,
        "disposal.buf": RAY * 12 // 10 + RAY // 10 // 4,  # 1.2 + 0.1 x 900 s / 1 h
    }
    assert ctl.update(Observation(1)) == []  # no gas data, no proposal


def test_constant_product_impact_and_capacity() -> None:
    assert cp_impact(10 * W, 100 * W) == 173553719008264463  # 1 - (100 / 110)^2, rounded up
    assert cp_capacity(100 * W, 19 * W // 100) == 11111111111111111111  # 100 x (1 / 0.9 - 1)
    assert cp_impact(cp_capacity(100 * W, 19 * W // 100), 100 * W) <= 19 * W // 100


def test_open_interest_caps_and_initial_margin_from_depth() -> None:
    ctl = OpenInterestLiquidity("M", "K", max_impact=19 * W // 100, share=W // 10, base_initial=W // 10)
    obs = Observation(0, {"K": 2000 * W}, depth={"M": 100 * W}, largest_position={"M": 10 * W})
    out = {ch.parameter: ch.value for ch in ctl.update(obs)}
    # upper = 2000 x 11.11 / 0.1 = 222 222.2 notional; lower = half; IM = 10 % + 17.36 % impact
    assert out == {
        "margin_model.upper_cap": 222222222222222222220000,
        "margin_model.lower_cap": 111111111111111111110000,
        "initial_margin": W // 10 + 173553719008264463,
    }
    assert ctl.update(Observation(0, {"K": 2000 * W})) == []


def test_oracle_bounds_scale_with_volatility() -> None:
    ctl = OracleBounds("M", "K", update_interval=1, twap_window=4, z=4 * W, lam=0, min_samples=1)
    ctl.update(Observation(0, {"K": 100 * W}))
    out = ctl.update(Observation(1, {"K": 101 * W}))  # sigma(1 s) = 1 %, sigma(4 s) = 2 %
    assert out == [
        Change("market", "M", "price_band", 4 * W // 100),
        Change("market", "M", "max_twap_divergence", 8 * W // 100),
    ]


def test_registry_builds_every_builtin_and_refuses_unknown_names() -> None:
    for name in CONTROLLERS:
        assert build(name, "ETH-PERP", "ETH").name == name
    with pytest.raises(ValueError, match="unknown controller"):
        build("nope", "ETH-PERP", "ETH")
