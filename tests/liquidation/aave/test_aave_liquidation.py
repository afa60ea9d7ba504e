"""Worked examples of ``liquidation_call`` with hand-computed integers, and scenarios of aave-v3-core's
test suite replayed without interest accrual (indices stay at 1 RAY, no time passes, stable-rate borrows
are replaced by variable ones: our model has no rate strategy and no stable debt).

Where a spec asserts ``closeTo(expected, 2)`` with its own formula, we assert our exact integer AND that
the spec's formula is within 2 of it.
"""

from __future__ import annotations

import pytest

from clearhouse.liquidation.aave import (
    CLOSE_FACTOR_HF_THRESHOLD,
    HEALTH_FACTOR_NO_DEBT,
    AavePool,
    PriceOracleSentinel,
    ReserveConfig,
    ReserveUsedAsCollateralDisabled,
    ReserveUsedAsCollateralEnabled,
    calculate_available_collateral_to_liquidate,
    calculate_debt,
    liquidation_call,
)
from clearhouse.liquidation.aave.errors import PriceOracleSentinelCheckFailed
from clearhouse.liquidation.aave.math import UINT256_MAX, percent_mul

from .aave_builders import USD, WETH_PRICE, dai, make_market, weth

E18 = 10**18


def _borrow_95pct_of_available(pool: AavePool, user: str, debt_asset: str, pct: int = 9500) -> int:
    """The specs' ``availableBorrowsBase.div(price).percentMul(9500)`` whole tokens, borrowed variable."""
    ad = pool.account_data(user)
    cfg = pool.reserve(debt_asset)
    whole = percent_mul(ad.available_borrows_base // cfg.price, pct)
    pool.mint_variable_debt(user, debt_asset, whole * cfg.unit)
    return whole * cfg.unit


# --- liquidation-with-fee.spec.ts -------------------------------------------------------------------------


def test_liquidation_with_fee_spec_weth_dai() -> None:
    """'Liquidates the borrow' (liquidation-with-fee.spec.ts): 1 WETH collateral with a 10 % protocol fee,
    borrow 95 % of the available DAI, DAI price x1.18, liquidate half the debt, receiveAToken=false."""
    pool = make_market(weth_fee=1000)
    pool.mint_atoken("borrower", "WETH", E18)
    ad = pool.account_data("borrower")
    assert ad.total_collateral_base == 4000 * USD
    assert ad.available_borrows_base == 3200 * USD
    assert _borrow_95pct_of_available(pool, "borrower", "DAI") == 3040 * E18
    # spec: currentLiquidationThreshold == 8250
    assert pool.account_data("borrower").avg_liquidation_threshold == 8250
    pool.set_price("DAI", percent_mul(USD, 11800))

    ad = pool.account_data("borrower")
    assert ad.total_debt_base == 358_720_000_000  # 3040 * 1.18e8
    # 3300e8 * 1e18 / 3587.2e8 = 919937555753791258.7...  -> half up
    assert ad.health_factor == 919_937_555_753_791_258
    assert ad.health_factor < CLOSE_FACTOR_HF_THRESHOLD

    amount = pool.variable_debt("borrower", "DAI") // 2
    r = liquidation_call(pool, "WETH", "DAI", "borrower", amount, False, "liquidator")

    # hand computation: base = 1.18e8 * 1520e18 * 1e18 / (4000e8 * 1e18) = 0.4484 WETH
    assert r.quote.base_collateral == 448_400_000_000_000_000
    assert r.quote.max_collateral == 470_820_000_000_000_000  # x 1.05
    # fee on the bonus part: 470.82e15 - 470.82e15.percentDiv(10500) = 22.42e15; 10 % of it
    assert r.protocol_fee == 2_242_000_000_000_000
    assert r.collateral_to_liquidator == 468_578_000_000_000_000
    assert r.debt_repaid == 1520 * E18
    assert r.close_factor == 10_000
    # the spec's own formula, within its tolerance of 2
    base = r.quote.base_collateral
    spec_bonus = percent_mul(base, 10500) - base
    spec_fee = percent_mul(spec_bonus, 1000)
    assert abs(pool.atoken_balance("treasury", "WETH") - spec_fee) <= 2
    assert abs(r.collateral_to_liquidator - (base + spec_bonus - spec_fee)) <= 2
    # user after: debt halved, collateral minus bonus-inclusive seizure (fee included)
    assert pool.variable_debt("borrower", "DAI") == 1520 * E18
    assert pool.atoken_balance("borrower", "WETH") == E18 - 470_820_000_000_000_000
    assert r.event.debt_to_cover == 1520 * E18
    assert r.event.liquidated_collateral_amount == 468_578_000_000_000_000
    assert r.events == (r.event,)


def test_liquidation_with_fee_spec_weth_usdc_six_decimals() -> None:
    """'User 3 deposits 1000 USDC, user 4 1 WETH, user 4 borrows - drops HF, liquidates the borrow'
    (liquidation-with-fee.spec.ts): a 6-decimals debt, 95.02 % of available borrows, USDC price x1.12."""
    pool = make_market(weth_fee=1000)
    pool.mint_atoken("borrower", "WETH", E18)
    assert _borrow_95pct_of_available(pool, "borrower", "USDC", 9502) == 3041 * 10**6  # 3040.64 -> 3041
    pool.set_price("USDC", percent_mul(USD, 11200))
    ad = pool.account_data("borrower")
    assert ad.total_debt_base == 340_592_000_000
    assert ad.health_factor == 968_901_207_309_625_593  # above 0.95: close factor stays 50 %

    amount = 3041 * 10**6 // 2
    r = liquidation_call(pool, "WETH", "USDC", "borrower", amount, False, "liquidator")
    assert r.close_factor == 5_000
    assert r.debt_repaid == 1_520_500_000
    assert r.quote.base_collateral == 425_740_000_000_000_000
    assert r.quote.max_collateral == 447_027_000_000_000_000
    assert r.protocol_fee == 2_128_700_000_000_000
    assert r.collateral_to_liquidator == 444_898_300_000_000_000
    after = pool.account_data("borrower")
    assert after.health_factor == 1_071_552_414_619_251_186
    assert after.health_factor > E18  # spec: 'Invalid health factor'


# --- price-oracle-sentinel.spec.ts -----------------------------------------------------------------------


def test_price_oracle_sentinel_spec_flow() -> None:
    """price-oracle-sentinel.spec.ts, GRACE_PERIOD = 3600: refused while the sequencer is down and
    0.95 <= HF < 1; allowed when HF < 0.95 even with the sequencer down; allowed for 0.95 <= HF < 1 once
    the sequencer is up and the grace period has passed."""
    grace = 60 * 60
    pool = make_market()
    pool.mint_atoken("borrower", "WETH", E18)
    pool.mint_atoken("deployer", "WETH", E18)  # the liquidator already supplies WETH
    _borrow_95pct_of_available(pool, "borrower", "DAI")  # 3040 DAI
    pool.set_price("DAI", percent_mul(USD, 11000))
    assert pool.account_data("borrower").health_factor == 986_842_105_263_157_895
    down = PriceOracleSentinel(sequencer_up=False, last_update_timestamp=0, grace_period=grace)
    half = pool.variable_debt("borrower", "DAI") // 2
    with pytest.raises(PriceOracleSentinelCheckFailed):
        liquidation_call(pool, "WETH", "DAI", "borrower", half, True, "deployer", now=1000, sentinel=down)

    pool.set_price("DAI", percent_mul(percent_mul(USD, 11000), 11000))  # 'Drop health factor lower'
    assert pool.account_data("borrower").health_factor == 897_129_186_602_870_813
    r = liquidation_call(pool, "WETH", "DAI", "borrower", half, True, "deployer", now=1000, sentinel=down)
    # spec: expectedCollateralLiquidated = price * amount .percentMul(10500) * 1e18 / (4000e8 * 1e18), +-2
    spec_expected = percent_mul(121_000_000 * half, 10500) * E18 // (WETH_PRICE * E18)
    assert r.collateral_to_liquidator == 482_790_000_000_000_000
    assert abs(r.collateral_to_liquidator - spec_expected) <= 2
    assert pool.atoken_balance("deployer", "WETH") == E18 + 482_790_000_000_000_000
    assert pool.position("deployer", "WETH").using_as_collateral  # spec: usageAsCollateralEnabled
    assert not any(isinstance(e, ReserveUsedAsCollateralEnabled) for e in r.events)

    # 'Increase health factor': DAI x0.95 -> borrower between 0.95 and 1
    pool.set_price("DAI", percent_mul(121_000_000, 9500))
    hf = pool.account_data("borrower").health_factor
    assert hf == 976_850_919_163_938_555
    up_at = 10_000
    up = PriceOracleSentinel(sequencer_up=True, last_update_timestamp=up_at, grace_period=grace)
    rest = pool.variable_debt("borrower", "DAI") // 2
    for now in (up_at, up_at + grace):  # still in grace (the rule is strictly "> gracePeriod")
        with pytest.raises(PriceOracleSentinelCheckFailed):
            liquidation_call(pool, "WETH", "DAI", "borrower", rest, True, "deployer", now=now, sentinel=up)
    r = liquidation_call(
        pool, "WETH", "DAI", "borrower", rest, True, "deployer", now=up_at + grace + 1, sentinel=up
    )
    assert r.debt_repaid == 760 * E18


# --- hand-computed examples ------------------------------------------------------------------------------


def test_insufficient_collateral_branch_with_fee() -> None:
    """Collateral worth exactly the debt (HF 0.825): the whole balance is seized, the debt repaid is
    recomputed with percentDiv, and the fee is taken from the bonus part of the balance."""
    pool = AavePool()
    pool.add_reserve(weth(fee=1000, price=2000 * USD))
    pool.add_reserve(dai())
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=2000 * E18)
    assert pool.account_data("u").health_factor == 825_000_000_000_000_000

    r = liquidation_call(pool, "WETH", "DAI", "u", UINT256_MAX, False, "liq")
    assert r.close_factor == 10_000
    q = r.quote
    assert q.base_collateral == E18
    assert q.max_collateral == 1_050_000_000_000_000_000
    assert q.insufficient_collateral
    # debtAmountNeeded = (2000e8 * 1e18 * 1e18 / (1e8 * 1e18)).percentDiv(10500)
    #                  = 2000e22 / 10500 = 1904761904761904761904.76 -> half up
    assert r.debt_repaid == 1_904_761_904_761_904_761_905
    # bonusCollateral = 1e18 - 1e18.percentDiv(10500) = 1e18 - 952380952380952381 (.95 rounds up)
    # protocolFee = 47619047619047619.percentMul(1000) = 4761904761904761.9 -> 4761904761904762
    assert r.protocol_fee == 4_761_904_761_904_762
    assert r.collateral_to_liquidator == 995_238_095_238_095_238
    assert r.collateral_to_liquidator + r.protocol_fee == E18
    assert r.events[0] == ReserveUsedAsCollateralDisabled("WETH", "u")
    assert pool.atoken_balance("u", "WETH") == 0
    assert not pool.position("u", "WETH").using_as_collateral
    # the rest of the debt stays (bad debt, no collateral left); the borrowing bit stays set
    assert pool.variable_debt("u", "DAI") == 95_238_095_238_095_238_095
    assert pool.position("u", "DAI").borrowing
    ad = pool.account_data("u")
    assert ad.total_collateral_base == 0 and ad.health_factor == 0


def test_scaled_balances_with_indices_above_ray() -> None:
    """Liquidity index 1.1, variable borrow index 1.25: the scaled burn / transfer amounts are
    ``amount.rayDiv(index)`` rounded half up."""
    pool = AavePool()
    pool.add_reserve(ReserveConfig("WETH", 18, WETH_PRICE, 8000, 8250, 10500, 0, liquidity_index=11 * 10**26))
    pool.add_reserve(ReserveConfig("DAI", 18, USD, 7500, 8000, 10500, 0, variable_borrow_index=125 * 10**25))
    pool.set_position("u", "WETH", scaled_atoken=E18)  # 1.1 WETH
    pool.set_position("u", "DAI", scaled_variable_debt=3000 * E18)  # 3750 DAI
    ad = pool.account_data("u")
    assert (ad.total_collateral_base, ad.total_debt_base) == (4400 * USD, 3750 * USD)
    assert ad.health_factor == 968 * 10**15  # 3630 / 3750

    r = liquidation_call(pool, "WETH", "DAI", "u", UINT256_MAX, True, "liq")
    assert r.close_factor == 5_000
    assert r.debt_repaid == 1875 * E18  # 3750e18.percentMul(5000)
    assert r.debt_scaled_burned == 1500 * E18  # 1875e18 / 1.25
    assert r.collateral_to_liquidator == 492_187_500_000_000_000  # 0.46875 WETH x 1.05
    # 492187500000000000 / 1.1 = 447443181818181818.18 -> 447443181818181818
    assert r.collateral_scaled_moved == 447_443_181_818_181_818
    assert pool.position("u", "WETH").scaled_atoken == E18 - 447_443_181_818_181_818
    assert pool.atoken_balance("u", "WETH") == 607_812_500_000_000_000  # ...0.2 rounds down
    assert pool.atoken_balance("liq", "WETH") == 492_187_500_000_000_000  # ...99.8 rounds up
    assert pool.variable_debt("u", "DAI") == 1875 * E18
    assert pool.position("liq", "WETH").using_as_collateral
    assert ReserveUsedAsCollateralEnabled("WETH", "liq") in r.events


def test_full_repayment_clears_borrowing_bit_and_sets_hf_max() -> None:
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=3400 * E18)  # HF = 3300/3400 = 0.97 -> 50 %
    r1 = liquidation_call(pool, "WETH", "DAI", "u", UINT256_MAX, False, "liq")
    assert r1.debt_repaid == 1700 * E18
    pool.set_price("DAI", 12 * USD // 10)  # HF 0.8958: close factor 100 %, collateral still sufficient
    r2 = liquidation_call(pool, "WETH", "DAI", "u", UINT256_MAX, False, "liq")
    assert r2.close_factor == 10_000
    assert r2.debt_repaid == 1700 * E18
    assert r2.collateral_to_liquidator == 535_500_000_000_000_000  # 1.2 * 1700 / 4000 * 1.05
    assert not pool.position("u", "DAI").borrowing
    assert pool.account_data("u").health_factor == HEALTH_FACTOR_NO_DEBT


def test_close_factor_threshold_is_inclusive() -> None:
    # healthFactor > CLOSE_FACTOR_HF_THRESHOLD ? DEFAULT : MAX
    assert calculate_debt(1000, CLOSE_FACTOR_HF_THRESHOLD, UINT256_MAX) == (1000, 10_000, 1000)
    assert calculate_debt(1000, CLOSE_FACTOR_HF_THRESHOLD + 1, UINT256_MAX) == (1000, 5_000, 500)
    assert calculate_debt(1001, E18 - 1, UINT256_MAX) == (1001, 5_000, 501)  # 500.5 -> 501 (half up)
    assert calculate_debt(1000, 0, 7) == (1000, 10_000, 7)


def test_collateral_quote_truncates_plain_division() -> None:
    # base collateral = 1e8 * 1 * 1e18 / (4000e8 * 1e18) = 0 (truncated): 1 wei of DAI buys nothing
    q = calculate_available_collateral_to_liquidate(weth(), dai(), 1, 10**18)
    assert (q.base_collateral, q.max_collateral, q.collateral_to_liquidator, q.debt_amount) == (0, 0, 0, 1)
    # 40001 wei of DAI: base = 40001e8*1e18/4000e26 = 10.00025 -> 10; x1.05 = 10.5 -> 11 (half up)
    q = calculate_available_collateral_to_liquidate(weth(), dai(), 40001, 10**18)
    assert (q.base_collateral, q.max_collateral) == (10, 11)


def test_tiny_liquidation_receiving_atokens_pays_for_nothing() -> None:
    """With receiveAToken the 0-collateral transfer is allowed (only burns refuse 0): the liquidator repays
    1 wei and gets nothing, exactly as on chain."""
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=3400 * E18)
    r = liquidation_call(pool, "WETH", "DAI", "u", 1, True, "liq")
    assert (r.debt_repaid, r.collateral_to_liquidator) == (1, 0)
    assert pool.variable_debt("u", "DAI") == 3400 * E18 - 1
    # the liquidator had no aWETH before, so the collateral bit is switched on even for 0 received
    assert pool.position("liq", "WETH").using_as_collateral


def test_self_liquidation_only_pays_the_fee() -> None:
    pool = make_market(weth_fee=1000)
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=3400 * E18)
    r = liquidation_call(pool, "WETH", "DAI", "u", UINT256_MAX, True, "u")
    assert r.debt_repaid == 1700 * E18
    # 0.425 WETH base, 0.44625 with bonus; bonus part 0.02125; fee 10 % of it
    assert r.protocol_fee == 2_125_000_000_000_000
    assert pool.atoken_balance("u", "WETH") == E18 - 2_125_000_000_000_000
    assert pool.variable_debt("u", "DAI") == 1700 * E18
    assert pool.position("u", "WETH").using_as_collateral


def test_protocol_fee_capped_to_remaining_scaled_balance() -> None:
    """The "1 wei imprecision" branch: after the collateral transfer the user's scaled balance is smaller
    than ``fee.rayDiv(index)``, so the fee becomes ``scaledBalance.rayMul(index)`` (here 0)."""
    pool = AavePool()
    pool.add_reserve(ReserveConfig("C", 0, 100, 8000, 8250, 10500, 10000, liquidity_index=11 * 10**26))
    pool.add_reserve(ReserveConfig("D", 0, 100, 0, 0, 0))
    pool.set_position("u", "C", scaled_atoken=15)  # 15 * 1.1 = 16.5 -> 17 (half up)
    pool.set_position("u", "D", scaled_variable_debt=30)
    # collateral 1700, 1700.percentMul(8250) = 1403 (1402.5 half up); HF = 1403 / 3000
    assert pool.account_data("u").health_factor == 467_666_666_666_666_667
    r = liquidation_call(pool, "C", "D", "u", UINT256_MAX, True, "liq")
    q = r.quote
    # base 30, max 31.5 -> 32 > 17: the whole balance; debt needed 17.percentDiv(10500) = 16.19 -> 16
    assert (q.base_collateral, q.max_collateral, q.insufficient_collateral) == (30, 32, True)
    assert r.debt_repaid == 16
    # bonus part 17 - 17.percentDiv(10500) = 1, fee 100 % of it = 1; 16 to the liquidator
    assert (q.protocol_fee, q.collateral_to_liquidator) == (1, 16)
    # transfer: 16.rayDiv(1.1) = 14.55 -> 15 scaled: the user has 0 left, 1.rayDiv(1.1) = 1 > 0: cap
    assert r.collateral_scaled_moved == 15
    assert (r.protocol_fee, r.fee_scaled_moved) == (0, 0)
    assert pool.atoken_balance("treasury", "C") == 0
    assert pool.atoken_balance("liq", "C") == 17  # 15 * 1.1 = 16.5 -> 17: one wei above the nominal 16
    assert ReserveUsedAsCollateralDisabled("C", "u") in r.events  # 16 + 1 == 17, checked before the cap
    assert pool.variable_debt("u", "D") == 14
