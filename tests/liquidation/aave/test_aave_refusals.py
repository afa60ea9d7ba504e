"""Every refusal of ``liquidation_call`` is a typed error with Aave's error name, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clearhouse.ledger.errors import (
    ClearhouseError,
    InvalidParameters,
    InvalidValue,
    NotLiquidatable,
    UnknownAsset,
)
from clearhouse.liquidation.aave import AavePool, PriceOracleSentinel, ReserveConfig, liquidation_call
from clearhouse.liquidation.aave.errors import (
    AaveArithmeticPanic,
    AaveError,
    CollateralCannotBeLiquidated,
    HealthFactorNotBelowThreshold,
    InvalidBurnAmount,
    InvalidReserveParams,
    PriceOracleSentinelCheckFailed,
    ReserveInactive,
    ReservePaused,
    SpecifiedCurrencyNotBorrowedByUser,
    UnknownReserve,
)
from clearhouse.liquidation.aave.math import UINT256_MAX

from .aave_builders import USD, make_market, positions

E18 = 10**18


def _underwater(hf_between_095_and_1: bool = True) -> AavePool:
    """u: 1 WETH (3300 base of threshold), 3400 DAI (HF 0.97) or 3600 DAI (HF 0.9167)."""
    pool = make_market(weth_fee=1000)
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=(3400 if hf_between_095_and_1 else 3600) * E18)
    pool.set_position("liq", "USDC", scaled_atoken=10**6)
    return pool


def _refused(pool: AavePool, call: Callable[[], object], error: type[Exception]) -> ClearhouseError:
    before_users = positions(pool)
    before_reserves = dict(pool.reserves)
    with pytest.raises(error) as info:
        call()
    assert pool.users == before_users, "a refused liquidation changed positions"
    assert pool.reserves == before_reserves
    assert isinstance(info.value, ClearhouseError)
    assert info.value.code and info.value.code != "error"
    return info.value


def test_healthy_user() -> None:
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=3000 * E18)  # HF 1.1
    err = _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "DAI", "u", 100 * E18, False, "liq"),
        HealthFactorNotBelowThreshold,
    )
    assert "HEALTH_FACTOR_NOT_BELOW_THRESHOLD (45)" in str(err)
    assert isinstance(err, NotLiquidatable)
    assert err.code == "aave_health_factor_not_below_threshold"


def test_health_factor_exactly_one_is_not_liquidatable() -> None:
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=3300 * E18)  # HF exactly 1e18
    assert pool.account_data("u").health_factor == E18
    _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "DAI", "u", E18, False, "liq"),
        HealthFactorNotBelowThreshold,
    )


def test_user_without_positions() -> None:
    pool = _underwater()
    _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "DAI", "nobody", E18, False, "liq"),
        HealthFactorNotBelowThreshold,
    )


def test_zero_debt_to_cover_is_invalid_burn_amount() -> None:
    # on chain: actualDebtToLiquidate = 0 -> VariableDebtToken.burn(0) -> require(amountScaled != 0)
    pool = _underwater()
    for receive in (False, True):
        err = _refused(
            pool,
            lambda receive=receive: liquidation_call(pool, "WETH", "DAI", "u", 0, receive, "liq"),  # type: ignore[misc]
            InvalidBurnAmount,
        )
        assert "INVALID_BURN_AMOUNT (25)" in str(err)


def test_zero_collateral_burn_is_refused_after_the_debt_burn() -> None:
    """1 wei of DAI buys 0 WETH: the debt burn succeeds in the scratch state, then the aToken burn refuses;
    nothing of the debt burn is kept."""
    pool = _underwater()
    _refused(pool, lambda: liquidation_call(pool, "WETH", "DAI", "u", 1, False, "liq"), InvalidBurnAmount)


@pytest.mark.parametrize(
    ("collateral", "debt"), [("XYZ", "DAI"), ("WETH", "XYZ"), ("", "DAI"), ("WETH", None)]
)
def test_unknown_asset(collateral: str, debt: str) -> None:
    pool = _underwater()
    err = _refused(
        pool,
        lambda: liquidation_call(pool, collateral, debt, "u", E18, False, "liq"),
        UnknownReserve,
    )
    assert isinstance(err, UnknownAsset)


def test_collateral_not_enabled_by_user() -> None:
    pool = _underwater(hf_between_095_and_1=False)
    pool.set_position("u", "USDC", scaled_atoken=10**6, using_as_collateral=False)
    _refused(
        pool,
        lambda: liquidation_call(pool, "USDC", "DAI", "u", E18, False, "liq"),
        CollateralCannotBeLiquidated,
    )
    # no balance at all in that reserve
    _refused(
        pool,
        lambda: liquidation_call(pool, "USDC", "DAI", "u2", E18, False, "liq"),
        HealthFactorNotBelowThreshold,  # u2 has no debt: the HF check comes first
    )


def test_collateral_with_zero_liquidation_threshold() -> None:
    pool = _underwater(hf_between_095_and_1=False)
    pool.add_reserve(ReserveConfig("GOV", 18, 10 * USD, 0, 0, 0))
    pool.set_position("u", "GOV", scaled_atoken=E18, using_as_collateral=True)
    err = _refused(
        pool,
        lambda: liquidation_call(pool, "GOV", "DAI", "u", E18, False, "liq"),
        CollateralCannotBeLiquidated,
    )
    assert "COLLATERAL_CANNOT_BE_LIQUIDATED (46)" in str(err)


def test_debt_asset_not_borrowed() -> None:
    pool = _underwater(hf_between_095_and_1=False)
    _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "USDC", "u", 10**6, False, "liq"),
        SpecifiedCurrencyNotBorrowedByUser,
    )


@pytest.mark.parametrize(
    ("sentinel", "now"),
    [
        (PriceOracleSentinel(False, 0, 3600), 10**6),  # sequencer down
        (PriceOracleSentinel(True, 1000, 3600), 1000),  # just came back
        (PriceOracleSentinel(True, 1000, 3600), 4600),  # exactly the grace period: not yet ("> grace")
    ],
)
def test_sentinel_in_grace_with_hf_at_least_095(sentinel: PriceOracleSentinel, now: int) -> None:
    pool = _underwater()  # HF 0.97
    err = _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "DAI", "u", E18, False, "liq", now=now, sentinel=sentinel),
        PriceOracleSentinelCheckFailed,
    )
    assert "PRICE_ORACLE_SENTINEL_CHECK_FAILED (59)" in str(err)


def test_sentinel_allows_after_grace_and_is_bypassed_below_095() -> None:
    up = PriceOracleSentinel(True, 1000, 3600)
    pool = _underwater()
    liquidation_call(pool, "WETH", "DAI", "u", E18, False, "liq", now=4601, sentinel=up)
    deep = _underwater(hf_between_095_and_1=False)  # HF 0.9167 < 0.95
    down = PriceOracleSentinel(False, 0, 3600)
    liquidation_call(deep, "WETH", "DAI", "u", E18, False, "liq", now=5, sentinel=down)


def test_sentinel_timestamp_in_the_future_panics() -> None:
    pool = _underwater()
    bad = PriceOracleSentinel(True, 10_000, 3600)
    _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "DAI", "u", E18, False, "liq", now=5, sentinel=bad),
        AaveArithmeticPanic,
    )


def test_sentinel_checked_before_health_factor() -> None:
    # ValidationLogic order: the sentinel require comes before HEALTH_FACTOR_NOT_BELOW_THRESHOLD
    pool = make_market()
    pool.set_position("u", "WETH", scaled_atoken=E18)
    pool.set_position("u", "DAI", scaled_variable_debt=1000 * E18)
    _refused(
        pool,
        lambda: liquidation_call(
            pool, "WETH", "DAI", "u", E18, False, "liq", now=1, sentinel=PriceOracleSentinel(False, 0, 1)
        ),
        PriceOracleSentinelCheckFailed,
    )


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [("active", False, ReserveInactive), ("paused", True, ReservePaused)],
)
@pytest.mark.parametrize("asset", ["WETH", "DAI"])
def test_inactive_or_paused_reserve(field: str, value: bool, error: type[AaveError], asset: str) -> None:
    pool = _underwater(hf_between_095_and_1=False)
    pool.update_reserve(asset, **{field: value})
    _refused(pool, lambda: liquidation_call(pool, "WETH", "DAI", "u", E18, False, "liq"), error)


@pytest.mark.parametrize("bad", [-1, UINT256_MAX + 1, 1.5, True, "1", None])
def test_bad_debt_to_cover(bad: object) -> None:
    pool = _underwater()
    _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "DAI", "u", bad, False, "liq"),  # type: ignore[arg-type]
        InvalidValue,
    )


def test_bad_flags_and_names() -> None:
    pool = _underwater()
    for call in (
        lambda: liquidation_call(pool, "WETH", "DAI", "u", E18, 1, "liq"),  # type: ignore[arg-type]
        lambda: liquidation_call(pool, "WETH", "DAI", "", E18, False, "liq"),
        lambda: liquidation_call(pool, "WETH", "DAI", "u", E18, False, ""),
        lambda: liquidation_call(pool, "WETH", "DAI", "u", E18, False, "liq", now=-1),
    ):
        _refused(pool, call, InvalidValue)


def test_overflowing_prices_panic_atomically() -> None:
    pool = _underwater(hf_between_095_and_1=False)
    # a price so large that debtPrice * debtToCover * collateralUnit overflows uint256 mid-liquidation
    # while the account data still fits: 2**200 * 3600e18 / 1e18 fits, * 1e18 more does not
    pool.set_price("DAI", 2**180)
    pool.set_price("WETH", 2**185)
    _refused(
        pool,
        lambda: liquidation_call(pool, "WETH", "DAI", "u", UINT256_MAX, False, "liq"),
        AaveArithmeticPanic,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ltv": 9000},  # ltv > threshold
        {"liquidation_bonus": 10000},  # bonus must exceed 100 %
        {"liquidation_bonus": 12500},  # 8250.percentMul(12500) = 10312 > 10000
        {"liquidation_protocol_fee": 10001},
        {"decimals": 78},
        {"price": 0},
        {"liquidity_index": 10**27 - 1},
        {"variable_borrow_index": 2**128},
        {"liquidation_threshold": 0, "ltv": 0},  # bonus must then be 0
    ],
)
def test_invalid_reserve_params(kwargs: dict[str, int]) -> None:
    pool = make_market()
    with pytest.raises(InvalidReserveParams) as info:
        pool.update_reserve("WETH", **kwargs)
    assert isinstance(info.value, InvalidParameters)
    assert pool.reserves["WETH"].ltv == 8000
