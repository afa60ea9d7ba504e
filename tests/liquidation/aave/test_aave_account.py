"""``calculate_user_account_data`` (GenericLogic.calculateUserAccountData of 3.0.2), hand-computed."""

from __future__ import annotations

from clearhouse.liquidation.aave import HEALTH_FACTOR_NO_DEBT, AavePool, ReserveConfig
from clearhouse.liquidation.aave.math import RAY

from .aave_builders import USD, dai, make_market, usdc, weth

E18 = 10**18


def test_empty_user() -> None:
    pool = make_market()
    ad = pool.account_data("nobody")
    assert (ad.total_collateral_base, ad.total_debt_base, ad.avg_ltv, ad.avg_liquidation_threshold) == (
        0,
        0,
        0,
        0,
    )
    assert ad.health_factor == HEALTH_FACTOR_NO_DEBT == 2**256 - 1
    assert not ad.has_zero_ltv_collateral


def test_two_collaterals_truncated_average_threshold() -> None:
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=15 * E18 // 10)  # 6000e8
    pool.set_position("u", "USDC", scaled_atoken=1000 * 10**6)  # 1000e8
    pool.set_position("u", "DAI", scaled_variable_debt=5000 * E18)  # 5000e8
    ad = pool.account_data("u")
    assert ad.total_collateral_base == 7000 * USD
    assert ad.total_debt_base == 5000 * USD
    assert ad.avg_ltv == 8000
    # (6000e8 * 8250 + 1000e8 * 8500) / 7000e8 = 8285.71 -> 8285 (plain division truncates)
    assert ad.avg_liquidation_threshold == 8285
    # 7000e8.percentMul(8285) = 5799.5e8; wadDiv by 5000e8 = 1.1599 (not 1.16: the average was truncated)
    assert ad.health_factor == 1_159_900_000_000_000_000
    assert ad.available_borrows_base == 600 * USD  # 7000 * 0.8 - 5000


def test_health_factor_wad_div_rounds_half_up() -> None:
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=E18)  # 3300e8 of threshold
    pool.set_position("u", "DAI", scaled_variable_debt=3 * E18)  # 3e8
    # 3300e8 * 1e18 / 3e8 = 1100e18 exactly
    assert pool.account_data("u").health_factor == 1100 * E18
    pool.set_position("u", "DAI", scaled_variable_debt=7 * E18)
    # 3300 / 7 = 471.428571428571428571|43 -> the 19th decimal is < 5: down
    assert pool.account_data("u").health_factor == 471_428_571_428_571_428_571
    pool.set_position("u", "DAI", scaled_variable_debt=9 * E18)
    # 3300 / 9 = 366.666666666666666666|67 -> up
    assert pool.account_data("u").health_factor == 366_666_666_666_666_666_667


def test_excluded_collateral_and_zero_ltv() -> None:
    pool = AavePool()
    pool.add_reserve(weth())
    pool.add_reserve(dai())
    pool.add_reserve(ReserveConfig("GOV", 18, 100 * USD, 0, 5000, 11000))  # LTV 0, threshold 50 %
    pool.add_reserve(ReserveConfig("NOCOLL", 18, 100 * USD, 0, 0, 0))  # threshold 0: never collateral
    pool.set_position("u", "WETH", scaled_atoken=E18, using_as_collateral=False)  # bit off: ignored
    pool.set_position("u", "GOV", scaled_atoken=10 * E18)  # 1000e8, LTV 0
    pool.set_position("u", "NOCOLL", scaled_atoken=10 * E18, using_as_collateral=True)
    pool.set_position("u", "DAI", scaled_variable_debt=400 * E18)
    ad = pool.account_data("u")
    assert ad.total_collateral_base == 1000 * USD
    assert ad.has_zero_ltv_collateral
    assert ad.avg_ltv == 0
    assert ad.avg_liquidation_threshold == 5000
    assert ad.health_factor == 1_250_000_000_000_000_000


def test_indices_and_six_decimals() -> None:
    pool = AavePool()
    pool.add_reserve(usdc())
    pool.add_reserve(
        ReserveConfig("DAI", 18, USD, 7500, 8000, 10500, 0, variable_borrow_index=RAY + RAY // 3)
    )
    pool.set_position("u", "USDC", scaled_atoken=1_000_000_001)  # 1000.000001 USDC
    pool.set_position("u", "DAI", scaled_variable_debt=600 * E18)  # 800 DAI (x 4/3, rounded)
    ad = pool.account_data("u")
    assert ad.total_collateral_base == 100_000_000_100  # 1000000001 * 1e8 / 1e6
    # 600e18 * 1.333...e27 / 1e27 = 799999999999999999999.9999998 -> 800e18 (half up)
    assert pool.variable_debt("u", "DAI") == 800 * E18
    assert ad.total_debt_base == 800 * USD
    # 100000000100.percentMul(8500) = 85000000085; wadDiv 800e8 = 1.06250000106250000 -> ...0
    assert ad.health_factor == 1_062_500_001_062_500_000


def test_borrowing_bit_without_scaled_debt_counts_zero() -> None:
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=0, borrowing=True)
    assert pool.account_data("u").health_factor == HEALTH_FACTOR_NO_DEBT
