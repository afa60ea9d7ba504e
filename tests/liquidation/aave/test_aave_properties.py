"""Property tests of the Aave v3 liquidation reproduction (hypothesis).

Random reserves (decimals 0..24, prices, thresholds and bonuses PoolConfigurator accepts, protocol fee,
indices in [1, 3] RAY) and a random underwater user with one collateral and one debt (optionally another
collateral that is not liquidated). The stated bounds are derived from the rounding in the code:

* liquidator value: with ``C = collateralAmount`` (to liquidator + fee), ``D`` the debt repaid, prices
  ``Pc``/``Pd`` and units ``Uc``/``Ud``::

      2e4 * C * Pc * Ud <= (2 D + 1) * bonus * Pd * Uc + 2e4 * Pd * Uc + 1e4 * Pc * Ud

  i.e. the collateral is worth at most ``D * bonus`` plus half a unit of collateral (percentMul half-up,
  normal branch) or plus one unit and half a bonus-unit of debt (truncation + percentDiv half-up, the
  insufficient-collateral branch);
* scaled balances: an amount credited through ``rayDiv`` then read through ``rayMul`` moves by at most
  ``floor(index / 2 RAY) + 1`` wei from the nominal amount; with indices exactly 1 RAY it is exact.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from clearhouse.liquidation.aave import AavePool, LiquidationResult, ReserveConfig, liquidation_call
from clearhouse.liquidation.aave.errors import InvalidBurnAmount
from clearhouse.liquidation.aave.math import PERCENTAGE_FACTOR, RAY, UINT256_MAX, WAD, percent_mul

from .aave_builders import positions

#: ``CLEARHOUSE_AAVE_EXAMPLES=5000`` for a longer soak.
SETTINGS = settings(
    max_examples=int(os.environ.get("CLEARHOUSE_AAVE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)


@dataclass
class Case:
    pool: AavePool
    debt_to_cover: int
    receive_atoken: bool


@st.composite
def reserve_params(draw: st.DrawFn, asset: str, ray_indices: bool) -> ReserveConfig:
    lt = draw(st.integers(min_value=1000, max_value=9500))
    # bonus > 100 % and lt.percentMul(bonus) <= 100 %
    max_bonus = min(15000, PERCENTAGE_FACTOR * PERCENTAGE_FACTOR // lt)
    while percent_mul(lt, max_bonus) > PERCENTAGE_FACTOR:
        max_bonus -= 1
    assume(max_bonus > PERCENTAGE_FACTOR)
    bonus = draw(st.integers(min_value=PERCENTAGE_FACTOR + 1, max_value=max_bonus))
    ltv = draw(st.integers(min_value=0, max_value=lt))
    index = st.just(RAY) if ray_indices else st.integers(min_value=RAY, max_value=3 * RAY)
    return ReserveConfig(
        asset=asset,
        decimals=draw(st.integers(min_value=0, max_value=24)),
        price=draw(st.integers(min_value=10**4, max_value=10**14)),
        ltv=ltv,
        liquidation_threshold=lt,
        liquidation_bonus=bonus,
        liquidation_protocol_fee=draw(st.sampled_from([0, 0, 500, 1000, 5000, 10000])),
        liquidity_index=draw(index),
        variable_borrow_index=draw(index),
    )


@st.composite
def cases(draw: st.DrawFn, ray_indices: bool = False, self_liquidation: bool = False) -> Case:
    coll = draw(reserve_params("COLL", ray_indices))
    debt = draw(reserve_params("DEBT", ray_indices))
    pool = AavePool()
    pool.add_reserve(coll)
    pool.add_reserve(debt)
    scaled_coll = draw(
        st.integers(min_value=10**coll.decimals // 100 + 1, max_value=10 ** (coll.decimals + 7))
    )
    pool.set_position("u", "COLL", scaled_atoken=scaled_coll)
    if draw(st.booleans()):
        other = ReserveConfig("OTHER", 18, 10**8, 5000, 6000, 11000)
        pool.add_reserve(other)
        pool.set_position("u", "OTHER", scaled_atoken=draw(st.integers(min_value=0, max_value=10**24)))
    ad0 = pool.account_data("u")
    assume(ad0.total_collateral_base > 0)
    # debt sized so that debt / weighted collateral is in [0.9, 1.6]: mostly underwater
    ratio_bps = draw(st.integers(min_value=9000, max_value=16000))
    debt_base = percent_mul(percent_mul(ad0.total_collateral_base, ad0.avg_liquidation_threshold), ratio_bps)
    debt_amount = debt_base * debt.unit // debt.price
    scaled_debt = debt_amount * RAY // debt.variable_borrow_index
    assume(0 < scaled_debt < 2**128)
    pool.set_position("u", "DEBT", scaled_variable_debt=scaled_debt)
    assume(pool.account_data("u").health_factor < WAD)
    if not self_liquidation and draw(st.booleans()):  # a liquidator that already holds aTokens
        pool.set_position("liq", "COLL", scaled_atoken=draw(st.integers(min_value=1, max_value=10**20)))
    total = pool.variable_debt("u", "DEBT")
    debt_to_cover = draw(
        st.one_of(
            st.just(UINT256_MAX),
            st.integers(min_value=1, max_value=max(1, total)),
            st.integers(min_value=1, max_value=max(1, total // 1000)),
        )
    )
    return Case(pool, debt_to_cover, draw(st.booleans()))


def _run(case: Case, liquidator: str = "liq") -> LiquidationResult | None:
    try:
        return liquidation_call(
            case.pool, "COLL", "DEBT", "u", case.debt_to_cover, case.receive_atoken, liquidator
        )
    except InvalidBurnAmount:
        return None


@SETTINGS
@given(cases())
def test_liquidation_invariants(case: Case) -> None:
    pool = case.pool
    coll, debt = pool.reserve("COLL"), pool.reserve("DEBT")
    before = positions(pool)
    debt_before = pool.variable_debt("u", "DEBT")
    scaled_debt_before = pool.position("u", "DEBT").scaled_variable_debt
    bal_before = pool.atoken_balance("u", "COLL")
    liq_bal_before = pool.atoken_balance("liq", "COLL")
    hf_before = pool.account_data("u").health_factor

    r = _run(case)
    if r is None:  # a refused burn (amount rounds to 0 scaled): nothing changed
        event("refused: INVALID_BURN_AMOUNT")
        assert pool.users == before
        return
    event(f"insufficient collateral: {r.quote.insufficient_collateral}")
    event(f"close factor {r.close_factor}; protocol fee > 0: {r.protocol_fee > 0}")
    event(f"fee capped to the balance: {r.protocol_fee != r.quote.protocol_fee}")
    assert r.health_factor_before == hf_before

    # debt never increases; something is repaid
    assert 0 < r.debt_repaid <= debt_before
    assert pool.position("u", "DEBT").scaled_variable_debt < scaled_debt_before
    assert pool.variable_debt("u", "DEBT") <= debt_before
    # close factor respected
    assert r.debt_repaid <= percent_mul(debt_before, r.close_factor)

    # seized collateral <= balance; the balance only goes down
    seized = r.collateral_to_liquidator + r.protocol_fee
    assert seized <= bal_before
    assert pool.atoken_balance("u", "COLL") <= bal_before

    # protocol fee only on the bonus part
    bonus = coll.liquidation_bonus
    assert r.protocol_fee <= seized - seized * PERCENTAGE_FACTOR // bonus + 1

    # liquidator value bound (see module docstring)
    pc, pd, uc, ud = coll.price, debt.price, coll.unit, debt.unit
    q = r.quote
    c_amount = q.collateral_to_liquidator + q.protocol_fee
    d = r.debt_repaid
    assert (
        2 * 10**4 * c_amount * pc * ud
        <= (2 * d + 1) * bonus * pd * uc + 2 * 10**4 * pd * uc + 10**4 * pc * ud
    )

    # what the liquidator actually holds moves from the nominal amount by rayDiv/rayMul dust only
    if case.receive_atoken:
        gained = pool.atoken_balance("liq", "COLL") - liq_bal_before
        assert gained <= r.collateral_to_liquidator + coll.liquidity_index // (2 * RAY) + 1

    # emitted event matches
    assert r.event.debt_to_cover == d
    assert r.event.liquidated_collateral_amount == r.collateral_to_liquidator


@SETTINGS
@given(cases(ray_indices=True))
def test_liquidation_is_exact_with_unit_indices(case: Case) -> None:
    pool = case.pool
    debt_before = pool.variable_debt("u", "DEBT")
    bal_before = pool.atoken_balance("u", "COLL")
    r = _run(case)
    if r is None:
        return
    assert pool.variable_debt("u", "DEBT") == debt_before - r.debt_repaid
    assert pool.atoken_balance("u", "COLL") == bal_before - r.collateral_to_liquidator - r.protocol_fee
    assert pool.atoken_balance("treasury", "COLL") == r.protocol_fee


@SETTINGS
@given(cases(self_liquidation=True), st.booleans())
def test_self_liquidation_is_not_profitable(case: Case, unit_indices: bool) -> None:
    pool = case.pool
    if unit_indices:
        for a in ("COLL", "DEBT"):
            pool.set_indices(a, liquidity_index=RAY, variable_borrow_index=RAY)
        assume(pool.account_data("u").health_factor < WAD)
    coll, debt = pool.reserve("COLL"), pool.reserve("DEBT")
    debt_before = pool.variable_debt("u", "DEBT")
    bal_before = pool.atoken_balance("u", "COLL")
    r = _run(case, liquidator="u")
    if r is None:
        return
    # wealth in each asset: wallet + aTokens - debt
    gain_debt_asset = -r.debt_repaid + (debt_before - pool.variable_debt("u", "DEBT"))
    received_underlying = 0 if case.receive_atoken else r.collateral_to_liquidator
    gain_coll_asset = received_underlying - (bal_before - pool.atoken_balance("u", "COLL"))
    if unit_indices:
        assert gain_debt_asset == 0
        assert gain_coll_asset == -r.protocol_fee <= 0
    else:
        assert gain_debt_asset <= debt.variable_borrow_index // (2 * RAY) + 1
        assert gain_coll_asset <= coll.liquidity_index // (2 * RAY) + 1


@st.composite
def single_pair(draw: st.DrawFn) -> Case:
    """One collateral, one debt, no fee, unit indices, amounts large enough that rounding is negligible;
    debt between ``threshold x collateral`` (HF < 1) and ``1.9 / bonus x collateral``."""
    coll = draw(reserve_params("COLL", True))
    debt = draw(reserve_params("DEBT", True))
    coll = ReserveConfig(
        "COLL",
        draw(st.integers(6, 18)),
        draw(st.integers(10**6, 10**12)),
        coll.ltv,
        coll.liquidation_threshold,
        coll.liquidation_bonus,
    )
    debt = ReserveConfig("DEBT", draw(st.integers(6, 18)), draw(st.integers(10**6, 10**12)), 0, 0, 0)
    pool = AavePool()
    pool.add_reserve(coll)
    pool.add_reserve(debt)
    coll_amount = draw(st.integers(10, 10**6)) * coll.unit
    pool.set_position("u", "COLL", scaled_atoken=coll_amount)
    lt, bonus = coll.liquidation_threshold, coll.liquidation_bonus
    k_bps = draw(st.integers(lt + 50, 19_000 * PERCENTAGE_FACTOR // bonus))
    debt_amount = coll_amount * coll.price * debt.unit * k_bps // (coll.unit * debt.price * PERCENTAGE_FACTOR)
    assume(0 < debt_amount < 2**128)
    pool.set_position("u", "DEBT", scaled_variable_debt=debt_amount)
    assume(pool.account_data("u").health_factor < WAD)
    fraction_bps = draw(st.integers(100, 10_000))
    return Case(pool, max(1, debt_amount * fraction_bps // PERCENTAGE_FACTOR), draw(st.booleans()))


@SETTINGS
@given(single_pair())
def test_health_factor_direction(case: Case) -> None:
    """One collateral, one debt, no fee: liquidating raises the HF iff collateral value > bonus x debt
    value (equivalently HF > threshold x bonus). Checked where the margin dwarfs the rounding."""
    pool = case.pool
    coll, debt = pool.reserve("COLL"), pool.reserve("DEBT")
    hf_before = pool.account_data("u").health_factor
    c_val = Fraction(pool.atoken_balance("u", "COLL") * coll.price, coll.unit)
    d_val = Fraction(pool.variable_debt("u", "DEBT") * debt.price, debt.unit)
    margin = c_val - Fraction(coll.liquidation_bonus, PERCENTAGE_FACTOR) * d_val
    assume(abs(margin) > c_val / 10**4)
    r = _run(case)
    assert r is not None
    assume(not r.quote.insufficient_collateral)
    assume(Fraction(r.debt_repaid * debt.price, debt.unit) >= d_val / 100)
    hf_after = pool.account_data("u").health_factor
    event(f"HF rises: {margin > 0}")
    if margin > 0:
        assert hf_after > hf_before
    else:
        assert hf_after < hf_before
