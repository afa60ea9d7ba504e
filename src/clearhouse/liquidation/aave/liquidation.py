"""``Pool.liquidationCall`` of aave-v3-core 3.0.2 (``LiquidationLogic.executeLiquidationCall``), in integers.

The call runs the same steps, in the same order, with the same rounding as the Solidity code:

1. health factor of the user (``GenericLogic.calculateUserAccountData``);
2. ``_calculateDebt``: close factor 50 % (``DEFAULT_LIQUIDATION_CLOSE_FACTOR``), or 100 %
   (``MAX_LIQUIDATION_CLOSE_FACTOR``) when ``healthFactor <= CLOSE_FACTOR_HF_THRESHOLD`` (0.95e18);
   ``actualDebtToLiquidate = min(debtToCover, userTotalDebt.percentMul(closeFactor))``;
3. ``ValidationLogic.validateLiquidationCall``: reserves active and not paused; price oracle sentinel
   (only consulted when ``HF >= MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD`` = 0.95e18); ``HF < 1e18``;
   collateral enabled (threshold != 0 and collateral bit set); total debt != 0;
4. ``_calculateAvailableCollateralToLiquidate`` (bonus, insufficient-collateral branch, protocol fee);
5. user configuration bits, burn of the variable debt (``amount.rayDiv(variableBorrowIndex)``), transfer
   or burn of the collateral aTokens, protocol fee transferred to the treasury in aTokens;
6. the ``LiquidationCall`` event.

Every refusal raises a typed :class:`~clearhouse.liquidation.aave.errors.AaveError` and leaves the pool
unchanged: the steps run on a scratch copy of the touched positions that replaces the pool's only when
the whole call succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clearhouse.core.errors import InvalidValue
from clearhouse.liquidation.aave.account import (
    AavePool,
    ReserveConfig,
    UserReserve,
    calculate_user_account_data,
)
from clearhouse.liquidation.aave.errors import (
    CollateralCannotBeLiquidated,
    HealthFactorNotBelowThreshold,
    InvalidBurnAmount,
    PriceOracleSentinelCheckFailed,
    ReserveInactive,
    ReservePaused,
    SpecifiedCurrencyNotBorrowedByUser,
)
from clearhouse.liquidation.aave.math import (
    WAD,
    add,
    div,
    mul,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    sub,
    to_uint128,
    uint256,
)

#: ``LiquidationLogic.DEFAULT_LIQUIDATION_CLOSE_FACTOR`` (50.00 %).
DEFAULT_LIQUIDATION_CLOSE_FACTOR: Final = 5_000
#: ``LiquidationLogic.MAX_LIQUIDATION_CLOSE_FACTOR`` (100.00 %).
MAX_LIQUIDATION_CLOSE_FACTOR: Final = 10_000
#: ``LiquidationLogic.CLOSE_FACTOR_HF_THRESHOLD``: at or below it the close factor is 100 %.
CLOSE_FACTOR_HF_THRESHOLD: Final = 95 * WAD // 100
#: ``ValidationLogic.MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD``: below it the sentinel is bypassed.
MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD: Final = 95 * WAD // 100
#: ``ValidationLogic.HEALTH_FACTOR_LIQUIDATION_THRESHOLD``.
HEALTH_FACTOR_LIQUIDATION_THRESHOLD: Final = WAD


@dataclass(frozen=True, slots=True)
class PriceOracleSentinel:
    """``PriceOracleSentinel`` with its ``ISequencerOracle`` answer.

    ``sequencer_up`` is ``answer == 0``; ``last_update_timestamp`` is the ``latestRoundData`` timestamp
    (when the sequencer status last changed). ``isLiquidationAllowed()`` is
    ``answer == 0 && block.timestamp - lastUpdateTimestamp > gracePeriod`` (strictly greater; the
    subtraction is checked, so a timestamp in the future reverts).
    """

    sequencer_up: bool
    last_update_timestamp: int
    grace_period: int

    def is_liquidation_allowed(self, now: int) -> bool:
        uint256(now, "now")
        uint256(self.last_update_timestamp, "last_update_timestamp")
        uint256(self.grace_period, "grace_period")
        # Solidity evaluates `answer == 0 && ...` lazily: the subtraction only runs when the sequencer is up.
        return self.sequencer_up and sub(now, self.last_update_timestamp) > self.grace_period


@dataclass(frozen=True, slots=True)
class LiquidationCallEvent:
    """``event LiquidationCall`` (``debt_to_cover`` is the actual debt repaid, as emitted)."""

    collateral_asset: str
    debt_asset: str
    user: str
    debt_to_cover: int
    liquidated_collateral_amount: int
    liquidator: str
    receive_atoken: bool


@dataclass(frozen=True, slots=True)
class ReserveUsedAsCollateralDisabled:
    reserve: str
    user: str


@dataclass(frozen=True, slots=True)
class ReserveUsedAsCollateralEnabled:
    reserve: str
    user: str


Event = LiquidationCallEvent | ReserveUsedAsCollateralDisabled | ReserveUsedAsCollateralEnabled


@dataclass(frozen=True, slots=True)
class CollateralQuote:
    """Result of ``_calculateAvailableCollateralToLiquidate``."""

    #: Collateral (underlying units) that goes to the liquidator, fee excluded.
    collateral_to_liquidator: int
    #: Debt (underlying units) the liquidator repays.
    debt_amount: int
    #: Collateral (underlying units) that goes to the treasury.
    protocol_fee: int
    #: ``baseCollateral``: collateral worth ``debtToCover`` at oracle prices, no bonus.
    base_collateral: int
    #: ``maxCollateralToLiquidate = baseCollateral.percentMul(bonus)``.
    max_collateral: int
    #: True when ``maxCollateralToLiquidate > userCollateralBalance`` (the whole balance is taken).
    insufficient_collateral: bool


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    """Everything a successful ``liquidation_call`` did, in underlying and scaled units."""

    event: LiquidationCallEvent
    #: All events, in emission order.
    events: tuple[Event, ...]
    health_factor_before: int
    close_factor: int
    user_total_debt_before: int
    user_collateral_balance_before: int
    #: Debt asset the liquidator pays in (= ``event.debt_to_cover``).
    debt_repaid: int
    #: Collateral the liquidator receives, fee excluded (= ``event.liquidated_collateral_amount``).
    collateral_to_liquidator: int
    #: Collateral (aTokens) transferred to the treasury, after the 1-wei cap on the user's balance.
    protocol_fee: int
    debt_scaled_burned: int
    collateral_scaled_moved: int
    fee_scaled_moved: int
    quote: CollateralQuote


def calculate_debt(user_variable_debt: int, health_factor: int, debt_to_cover: int) -> tuple[int, int, int]:
    """``LiquidationLogic._calculateDebt`` (stable debt 0): ``(userTotalDebt, closeFactor, actualDebt)``."""
    user_total_debt = add(0, user_variable_debt)  # + userStableDebt (0)
    close_factor = (
        DEFAULT_LIQUIDATION_CLOSE_FACTOR
        if health_factor > CLOSE_FACTOR_HF_THRESHOLD
        else MAX_LIQUIDATION_CLOSE_FACTOR
    )
    max_liquidatable_debt = percent_mul(user_total_debt, close_factor)
    actual = max_liquidatable_debt if debt_to_cover > max_liquidatable_debt else debt_to_cover
    return user_total_debt, close_factor, actual


def calculate_available_collateral_to_liquidate(
    collateral: ReserveConfig,
    debt: ReserveConfig,
    debt_to_cover: int,
    user_collateral_balance: int,
    liquidation_bonus: int | None = None,
) -> CollateralQuote:
    """``LiquidationLogic._calculateAvailableCollateralToLiquidate`` of 3.0.2, operation for operation::

        baseCollateral = debtPrice * debtToCover * collateralUnit / (collateralPrice * debtUnit)
        maxCollateral  = baseCollateral.percentMul(bonus)
        if maxCollateral > userCollateralBalance:
            collateralAmount = userCollateralBalance
            debtAmountNeeded = (collateralPrice * collateralAmount * debtUnit
                                / (debtPrice * collateralUnit)).percentDiv(bonus)
        else:
            collateralAmount = maxCollateral
            debtAmountNeeded = debtToCover
        if protocolFeePct != 0:
            bonusCollateral = collateralAmount - collateralAmount.percentDiv(bonus)
            protocolFee     = bonusCollateral.percentMul(protocolFeePct)
            return (collateralAmount - protocolFee, debtAmountNeeded, protocolFee)
        return (collateralAmount, debtAmountNeeded, 0)

    Products are checked (Panic on overflow), divisions truncate.
    """
    bonus = collateral.liquidation_bonus if liquidation_bonus is None else liquidation_bonus
    collateral_price = collateral.price
    debt_price = debt.price
    collateral_unit = collateral.unit
    debt_unit = debt.unit
    fee_pct = collateral.liquidation_protocol_fee

    base_collateral = div(mul(debt_price, debt_to_cover, collateral_unit), mul(collateral_price, debt_unit))
    max_collateral = percent_mul(base_collateral, bonus)

    if max_collateral > user_collateral_balance:
        insufficient = True
        collateral_amount = user_collateral_balance
        debt_amount_needed = percent_div(
            div(mul(collateral_price, collateral_amount, debt_unit), mul(debt_price, collateral_unit)),
            bonus,
        )
    else:
        insufficient = False
        collateral_amount = max_collateral
        debt_amount_needed = debt_to_cover

    if fee_pct != 0:
        bonus_collateral = sub(collateral_amount, percent_div(collateral_amount, bonus))
        protocol_fee = percent_mul(bonus_collateral, fee_pct)
        to_liquidator = sub(collateral_amount, protocol_fee)
    else:
        protocol_fee = 0
        to_liquidator = collateral_amount
    return CollateralQuote(
        collateral_to_liquidator=to_liquidator,
        debt_amount=debt_amount_needed,
        protocol_fee=protocol_fee,
        base_collateral=base_collateral,
        max_collateral=max_collateral,
        insufficient_collateral=insufficient,
    )


def _scaled_sub(balance: int, scaled: int) -> int:
    """``uint128`` balance slot minus a ``toUint128``-cast amount (checked)."""
    return sub(balance, to_uint128(scaled))


def liquidation_call(
    pool: AavePool,
    collateral_asset: str,
    debt_asset: str,
    user: str,
    debt_to_cover: int,
    receive_atoken: bool,
    liquidator: str,
    now: int = 0,
    sentinel: PriceOracleSentinel | None = None,
) -> LiquidationResult:
    """``Pool.liquidationCall(collateralAsset, debtAsset, user, debtToCover, receiveAToken)`` sent by
    ``liquidator`` at block time ``now``, with an optional ``PriceOracleSentinel`` (``None`` is the zero
    address: no sentinel).

    ``debt_to_cover`` may be ``2**256 - 1`` ("as much as allowed"). On success the pool is updated and a
    :class:`LiquidationResult` returned; on any revert a typed error is raised and the pool is unchanged.
    """
    uint256(debt_to_cover, "debt_to_cover")
    uint256(now, "now")
    if type(receive_atoken) is not bool:
        raise InvalidValue(f"receive_atoken must be a bool, got {receive_atoken!r}")
    for name, who in (("user", user), ("liquidator", liquidator)):
        if not isinstance(who, str) or not who:
            raise InvalidValue(f"{name} must be a non-empty string, got {who!r}")
    collateral_cfg = pool.reserve(collateral_asset)
    debt_cfg = pool.reserve(debt_asset)

    # Scratch copies of every position the call may touch; committed only at the end.
    scratch: dict[tuple[str, str], UserReserve] = {}

    def pos(who: str, asset: str) -> UserReserve:
        key = (who, asset)
        if key not in scratch:
            p = pool.position(who, asset)
            scratch[key] = UserReserve(
                p.scaled_atoken, p.scaled_variable_debt, p.using_as_collateral, p.borrowing
            )
        return scratch[key]

    # debtReserve.updateState(): indices are given already accrued; nothing to do.
    health_factor = calculate_user_account_data(pool, user).health_factor

    # _calculateDebt (Helpers.getUserCurrentDebt: variable debt balanceOf; stable debt 0)
    user_variable_debt = pool.variable_debt(user, debt_asset)
    user_total_debt, close_factor, actual_debt = calculate_debt(
        user_variable_debt, health_factor, debt_to_cover
    )

    # ValidationLogic.validateLiquidationCall
    if not (collateral_cfg.active and debt_cfg.active):
        raise ReserveInactive(f"collateral {collateral_asset} or debt {debt_asset} reserve is inactive")
    if collateral_cfg.paused or debt_cfg.paused:
        raise ReservePaused(f"collateral {collateral_asset} or debt {debt_asset} reserve is paused")
    if not (
        sentinel is None
        or health_factor < MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD
        or sentinel.is_liquidation_allowed(now)
    ):
        raise PriceOracleSentinelCheckFailed(
            f"sequencer {'up' if sentinel.sequencer_up else 'down'} since {sentinel.last_update_timestamp}, "
            f"grace period {sentinel.grace_period}, now {now}; health factor {health_factor} >= 0.95e18"
        )
    if health_factor >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        raise HealthFactorNotBelowThreshold(f"user {user} health factor {health_factor} >= 1e18")
    user_collateral_pos = pos(user, collateral_asset)
    if not (collateral_cfg.liquidation_threshold != 0 and user_collateral_pos.using_as_collateral):
        raise CollateralCannotBeLiquidated(
            f"{collateral_asset} has liquidation threshold {collateral_cfg.liquidation_threshold} "
            f"and is {'' if user_collateral_pos.using_as_collateral else 'not '}enabled as collateral "
            f"by {user}"
        )
    if user_total_debt == 0:
        raise SpecifiedCurrencyNotBorrowedByUser(f"user {user} has no {debt_asset} debt")

    # _getConfigurationData (no eMode): bonus of the collateral reserve, prices of the assets themselves.
    liquidity_index = collateral_cfg.liquidity_index
    borrow_index = debt_cfg.variable_borrow_index
    user_collateral_balance = ray_mul(user_collateral_pos.scaled_atoken, liquidity_index)

    quote = calculate_available_collateral_to_liquidate(
        collateral_cfg, debt_cfg, actual_debt, user_collateral_balance
    )
    actual_collateral = quote.collateral_to_liquidator
    actual_debt = quote.debt_amount
    protocol_fee = quote.protocol_fee

    events: list[Event] = []
    if user_total_debt == actual_debt:
        pos(user, debt_asset).borrowing = False
    if add(actual_collateral, protocol_fee) == user_collateral_balance:
        user_collateral_pos.using_as_collateral = False
        events.append(ReserveUsedAsCollateralDisabled(collateral_asset, user))

    # _burnDebtTokens: userVariableDebt >= actualDebtToLiquidate always holds without stable debt.
    debt_pos = pos(user, debt_asset)
    debt_scaled = ray_div(actual_debt, borrow_index)
    if debt_scaled == 0:
        raise InvalidBurnAmount(
            f"debt burn of {actual_debt} {debt_asset} is 0 scaled at index {borrow_index}"
        )
    debt_pos.scaled_variable_debt = _scaled_sub(debt_pos.scaled_variable_debt, debt_scaled)
    # debtReserve.updateInterestRates / IsolationModeLogic: not modelled.

    collateral_scaled = ray_div(actual_collateral, liquidity_index)
    if receive_atoken:
        # _liquidateATokens: AToken.transferOnLiquidation(user, liquidator, actualCollateral)
        liquidator_previous_balance = ray_mul(
            pos(liquidator, collateral_asset).scaled_atoken, liquidity_index
        )
        src = pos(user, collateral_asset)
        src.scaled_atoken = _scaled_sub(src.scaled_atoken, collateral_scaled)
        dst = pos(liquidator, collateral_asset)
        dst.scaled_atoken = to_uint128(add(dst.scaled_atoken, collateral_scaled))
        # If the liquidator held none: ValidationLogic.validateUseAsCollateral without isolation mode /
        # debt ceilings reduces to ltv != 0.
        if liquidator_previous_balance == 0 and collateral_cfg.ltv != 0:
            dst.using_as_collateral = True
            events.append(ReserveUsedAsCollateralEnabled(collateral_asset, liquidator))
    else:
        # _burnCollateralATokens: AToken.burn(user, liquidator, actualCollateral, nextLiquidityIndex)
        if collateral_scaled == 0:
            raise InvalidBurnAmount(
                f"collateral burn of {actual_collateral} {collateral_asset} is 0 scaled "
                f"at index {liquidity_index}"
            )
        src = pos(user, collateral_asset)
        src.scaled_atoken = _scaled_sub(src.scaled_atoken, collateral_scaled)

    fee_scaled = 0
    if protocol_fee != 0:
        scaled_fee = ray_div(protocol_fee, liquidity_index)
        scaled_user_balance = pos(user, collateral_asset).scaled_atoken
        # "To avoid trying to send more aTokens than available on balance, due to 1 wei imprecision"
        if scaled_fee > scaled_user_balance:
            protocol_fee = ray_mul(scaled_user_balance, liquidity_index)
        fee_scaled = ray_div(protocol_fee, liquidity_index)
        src = pos(user, collateral_asset)
        src.scaled_atoken = _scaled_sub(src.scaled_atoken, fee_scaled)
        dst = pos(pool.treasury, collateral_asset)
        dst.scaled_atoken = to_uint128(add(dst.scaled_atoken, fee_scaled))

    # IERC20(debtAsset).safeTransferFrom(liquidator, aToken, actualDebt); AToken.handleRepayment: no-op.
    event = LiquidationCallEvent(
        collateral_asset=collateral_asset,
        debt_asset=debt_asset,
        user=user,
        debt_to_cover=actual_debt,
        liquidated_collateral_amount=actual_collateral,
        liquidator=liquidator,
        receive_atoken=receive_atoken,
    )
    events.append(event)

    # Commit.
    for (who, asset), p in scratch.items():
        pool.users.setdefault(who, {})[asset] = p

    return LiquidationResult(
        event=event,
        events=tuple(events),
        health_factor_before=health_factor,
        close_factor=close_factor,
        user_total_debt_before=user_total_debt,
        user_collateral_balance_before=user_collateral_balance,
        debt_repaid=actual_debt,
        collateral_to_liquidator=actual_collateral,
        protocol_fee=protocol_fee,
        debt_scaled_burned=debt_scaled,
        collateral_scaled_moved=collateral_scaled,
        fee_scaled_moved=fee_scaled,
        quote=quote,
    )
