"""Aave v3 (aave-v3-core 3.0.2) reserves, user positions and ``GenericLogic.calculateUserAccountData``.

Units, as on chain:

* prices: the ``AaveOracle`` base currency (USD with 8 decimals on the v3 markets), uint256 > 0;
* amounts: the token's own decimals (``10 ** decimals`` is one unit);
* indices (``liquidityIndex`` = normalized income, ``variableBorrowIndex`` = normalized variable debt):
  RAY (1e27). They are taken as already accrued to the time of the call: the interest-rate strategy
  and ``ReserveLogic.updateState`` are not reproduced (see ``docs/liquidation-aave.md``);
* percentages (LTV, liquidation threshold, liquidation bonus, protocol fee): basis points, 1e4 = 100 %;
  a liquidation bonus of 10500 is a 5 % bonus;
* health factor: WAD (1e18), ``2**256 - 1`` when the user has no debt.

Balances are stored **scaled**, as the aToken and variable debt token store them: the underlying amount
is ``scaled.rayMul(index)``. Stable-rate debt is not modelled (it is 0 for every user).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Final

from clearhouse.liquidation.aave.errors import (
    InvalidMintAmount,
    InvalidReserveParams,
    UnknownReserve,
)
from clearhouse.liquidation.aave.math import (
    PERCENTAGE_FACTOR,
    RAY,
    UINT128_MAX,
    UINT256_MAX,
    add,
    div,
    mul,
    percent_mul,
    ray_div,
    ray_mul,
    to_uint128,
    uint256,
    wad_div,
)

#: ``GenericLogic`` returns this health factor when the user has no debt (``type(uint256).max``).
HEALTH_FACTOR_NO_DEBT: Final = UINT256_MAX
#: Largest ``decimals`` for which ``10 ** decimals`` (computed ``unchecked`` on chain) fits a uint256.
MAX_DECIMALS: Final = 77
_UINT16_MAX: Final = 2**16 - 1


@dataclass(frozen=True, slots=True)
class ReserveConfig:
    """One listed reserve: its configuration bitmap fields, oracle price and current indices."""

    asset: str
    decimals: int
    #: ``IPriceOracleGetter.getAssetPrice`` in base currency units.
    price: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    liquidation_protocol_fee: int = 0
    liquidity_index: int = RAY
    variable_borrow_index: int = RAY
    active: bool = True
    paused: bool = False

    def __post_init__(self) -> None:
        a = self.asset
        if not isinstance(a, str) or not a:
            raise InvalidReserveParams(f"reserve asset must be a non-empty string, got {a!r}")
        for name in ("ltv", "liquidation_threshold", "liquidation_bonus", "liquidation_protocol_fee"):
            v = getattr(self, name)
            if type(v) is not int or not 0 <= v <= _UINT16_MAX:
                raise InvalidReserveParams(f"{a}: {name}={v!r} must be a 16-bit integer (basis points)")
        if type(self.decimals) is not int or not 0 <= self.decimals <= MAX_DECIMALS:
            raise InvalidReserveParams(f"{a}: decimals={self.decimals!r} must be an integer in [0, 77]")
        if type(self.price) is not int or not 0 < self.price <= UINT256_MAX:
            raise InvalidReserveParams(f"{a}: price={self.price!r} must be a uint256 > 0")
        for name in ("liquidity_index", "variable_borrow_index"):
            v = getattr(self, name)
            if type(v) is not int or not RAY <= v <= UINT128_MAX:
                raise InvalidReserveParams(f"{a}: {name}={v!r} must be an integer in [1e27, 2^128 - 1]")
        # PoolConfigurator.configureReserveAsCollateral / setLiquidationProtocolFee (3.0.2)
        if self.ltv > self.liquidation_threshold:
            raise InvalidReserveParams(f"{a}: ltv {self.ltv} > liquidation threshold")
        if self.liquidation_threshold != 0:
            if self.liquidation_bonus <= PERCENTAGE_FACTOR:
                raise InvalidReserveParams(f"{a}: liquidation bonus {self.liquidation_bonus} must be > 10000")
            if percent_mul(self.liquidation_threshold, self.liquidation_bonus) > PERCENTAGE_FACTOR:
                raise InvalidReserveParams(f"{a}: liquidationThreshold.percentMul(bonus) > 10000")
        elif self.liquidation_bonus != 0:
            raise InvalidReserveParams(f"{a}: liquidation bonus must be 0 when the threshold is 0")
        if self.liquidation_protocol_fee > PERCENTAGE_FACTOR:
            fee = self.liquidation_protocol_fee
            raise InvalidReserveParams(f"{a}: liquidation protocol fee {fee} > 10000")
        if type(self.active) is not bool or type(self.paused) is not bool:
            raise InvalidReserveParams(f"{a}: active / paused must be booleans")

    @property
    def unit(self) -> int:
        """``10 ** decimals``: one whole token."""
        unit: int = 10**self.decimals
        return unit


@dataclass(slots=True)
class UserReserve:
    """A user's position in one reserve, as the tokens and ``UserConfigurationMap`` store it."""

    #: ``AToken.scaledBalanceOf(user)``.
    scaled_atoken: int = 0
    #: ``VariableDebtToken.scaledBalanceOf(user)``.
    scaled_variable_debt: int = 0
    #: ``UserConfigurationMap.isUsingAsCollateral(reserve.id)``.
    using_as_collateral: bool = False
    #: ``UserConfigurationMap.isBorrowing(reserve.id)``.
    borrowing: bool = False

    def is_empty(self) -> bool:
        return not (self.using_as_collateral or self.borrowing)


@dataclass(frozen=True, slots=True)
class AccountData:
    """``GenericLogic.calculateUserAccountData`` results (eMode and stable debt not modelled)."""

    total_collateral_base: int
    total_debt_base: int
    avg_ltv: int
    avg_liquidation_threshold: int
    health_factor: int
    has_zero_ltv_collateral: bool

    @property
    def available_borrows_base(self) -> int:
        """``GenericLogic.calculateAvailableBorrows`` (as ``Pool.getUserAccountData`` reports it)."""
        available = percent_mul(self.total_collateral_base, self.avg_ltv)
        return 0 if available < self.total_debt_base else available - self.total_debt_base


@dataclass(slots=True)
class AavePool:
    """The slice of ``Pool`` storage a liquidation reads and writes.

    ``reserves`` keeps listing order; the position in it is the reserve id. ``users`` maps a user to
    its positions by asset. ``treasury`` receives the liquidation protocol fee in aTokens
    (``AToken.RESERVE_TREASURY_ADDRESS``).
    """

    reserves: dict[str, ReserveConfig] = field(default_factory=dict)
    users: dict[str, dict[str, UserReserve]] = field(default_factory=dict)
    treasury: str = "treasury"

    # --- reserves -----------------------------------------------------------------------------------

    def add_reserve(self, config: ReserveConfig) -> None:
        if config.asset in self.reserves:
            raise InvalidReserveParams(f"reserve {config.asset} is already listed (RESERVE_ALREADY_ADDED)")
        self.reserves[config.asset] = config

    def reserve(self, asset: str) -> ReserveConfig:
        try:
            return self.reserves[asset]
        except (KeyError, TypeError):
            raise UnknownReserve(f"asset {asset!r} is not listed in the pool") from None

    def set_price(self, asset: str, price: int) -> None:
        """Set the oracle price (validated like a reserve field)."""
        self.reserves[asset] = replace(self.reserve(asset), price=price)

    def set_indices(self, asset: str, *, liquidity_index: int, variable_borrow_index: int) -> None:
        """Set the normalized income / variable debt of a reserve (indices never decrease on chain)."""
        self.reserves[asset] = replace(
            self.reserve(asset), liquidity_index=liquidity_index, variable_borrow_index=variable_borrow_index
        )

    def update_reserve(self, asset: str, **changes: object) -> None:
        """Replace configuration fields of a listed reserve (re-validated)."""
        self.reserves[asset] = replace(self.reserve(asset), **changes)  # type: ignore[arg-type]

    # --- positions ----------------------------------------------------------------------------------

    def position(self, user: str, asset: str) -> UserReserve:
        """The user's position in ``asset`` (an empty one if none is stored; not inserted)."""
        self.reserve(asset)
        return self.users.get(user, {}).get(asset, UserReserve())

    def _position_for_write(self, user: str, asset: str) -> UserReserve:
        self.reserve(asset)
        return self.users.setdefault(user, {}).setdefault(asset, UserReserve())

    def set_position(
        self,
        user: str,
        asset: str,
        *,
        scaled_atoken: int = 0,
        scaled_variable_debt: int = 0,
        using_as_collateral: bool | None = None,
        borrowing: bool | None = None,
    ) -> None:
        """Write a position directly in scaled units.

        ``using_as_collateral`` defaults to "has aTokens", ``borrowing`` to "has scaled debt".
        """
        for name, v in (("scaled_atoken", scaled_atoken), ("scaled_variable_debt", scaled_variable_debt)):
            uint256(v, name)
            if v > UINT128_MAX:
                raise InvalidReserveParams(f"{name}={v} does not fit the uint128 balance slot")
        self.reserve(asset)
        pos = UserReserve(
            scaled_atoken=scaled_atoken,
            scaled_variable_debt=scaled_variable_debt,
            using_as_collateral=scaled_atoken > 0 if using_as_collateral is None else using_as_collateral,
            borrowing=scaled_variable_debt > 0 if borrowing is None else borrowing,
        )
        self.users.setdefault(user, {})[asset] = pos

    def mint_atoken(self, user: str, asset: str, amount: int) -> int:
        """Credit ``amount`` of aTokens as ``AToken.mint`` does (``amount.rayDiv(liquidityIndex)``).

        Enables the reserve as collateral on the first supply when ``ltv != 0`` (``SupplyLogic`` +
        ``validateUseAsCollateral`` without isolation mode). Supply caps and validation are not run.
        Returns the scaled amount minted.
        """
        uint256(amount, "amount")
        cfg = self.reserve(asset)
        scaled = ray_div(amount, cfg.liquidity_index)
        if scaled == 0:
            raise InvalidMintAmount(f"{amount} of {asset} is 0 scaled at index {cfg.liquidity_index}")
        pos = self.position(user, asset)
        new_balance = to_uint128(add(pos.scaled_atoken, scaled))
        first = pos.scaled_atoken == 0
        pos = self._position_for_write(user, asset)
        pos.scaled_atoken = new_balance
        if first and cfg.ltv != 0:
            pos.using_as_collateral = True
        return scaled

    def mint_variable_debt(self, user: str, asset: str, amount: int) -> int:
        """Record a variable borrow as ``VariableDebtToken.mint`` does (``amount.rayDiv(index)``).

        Only the bookkeeping: borrow validation (LTV, caps, health factor) is not run. Returns the scaled
        amount minted.
        """
        uint256(amount, "amount")
        cfg = self.reserve(asset)
        scaled = ray_div(amount, cfg.variable_borrow_index)
        if scaled == 0:
            raise InvalidMintAmount(f"{amount} of {asset} is 0 scaled at index {cfg.variable_borrow_index}")
        pos = self.position(user, asset)
        new_balance = to_uint128(add(pos.scaled_variable_debt, scaled))
        pos = self._position_for_write(user, asset)
        pos.scaled_variable_debt = new_balance
        pos.borrowing = True
        return scaled

    # --- views ----------------------------------------------------------------------------------------

    def atoken_balance(self, user: str, asset: str) -> int:
        """``AToken.balanceOf``: ``scaledBalance.rayMul(normalizedIncome)``."""
        return ray_mul(self.position(user, asset).scaled_atoken, self.reserve(asset).liquidity_index)

    def variable_debt(self, user: str, asset: str) -> int:
        """``VariableDebtToken.balanceOf``: 0, or ``scaledBalance.rayMul(normalizedVariableDebt)``."""
        scaled = self.position(user, asset).scaled_variable_debt
        if scaled == 0:
            return 0
        return ray_mul(scaled, self.reserve(asset).variable_borrow_index)

    def account_data(self, user: str) -> AccountData:
        return calculate_user_account_data(self, user)

    def snapshot(self) -> AavePool:
        """A deep copy (reserves are immutable; positions are copied)."""
        return AavePool(reserves=dict(self.reserves), users=copy.deepcopy(self.users), treasury=self.treasury)


def calculate_user_account_data(pool: AavePool, user: str) -> AccountData:
    """``GenericLogic.calculateUserAccountData`` of 3.0.2 for a user outside eMode, without stable debt.

    For every reserve (in listing order) the user uses as collateral or borrows:

    * collateral (only if ``liquidationThreshold != 0`` and the collateral bit is set):
      ``value = scaledATokens.rayMul(liquidityIndex) * price / 10**decimals`` (checked ``*``, truncating
      ``/``); ``avgLtv += value * ltv`` (or ``hasZeroLtvCollateral`` if ltv is 0);
      ``avgLiquidationThreshold += value * liquidationThreshold``;
    * debt (if the borrowing bit is set): ``debt = scaledDebt.rayMul(variableBorrowIndex)`` (skipped if 0),
      ``value = price * debt / 10**decimals``.

    Then ``avgLtv /= totalCollateral`` and ``avgLiquidationThreshold /= totalCollateral`` (0 if no
    collateral), and ``healthFactor = totalCollateral.percentMul(avgLiquidationThreshold).wadDiv(totalDebt)``,
    or ``type(uint256).max`` when the debt is 0. A user with no position at all gets
    ``(0, 0, 0, 0, type(uint256).max, False)``.
    """
    positions = pool.users.get(user, {})
    if all(p.is_empty() for p in positions.values()):
        return AccountData(0, 0, 0, 0, HEALTH_FACTOR_NO_DEBT, False)

    total_collateral = 0
    total_debt = 0
    avg_ltv = 0
    avg_lt = 0
    has_zero_ltv = False
    for asset, cfg in pool.reserves.items():
        pos = positions.get(asset)
        if pos is None or pos.is_empty():
            continue
        unit = cfg.unit
        if cfg.liquidation_threshold != 0 and pos.using_as_collateral:
            balance = ray_mul(pos.scaled_atoken, cfg.liquidity_index)
            value = div(mul(balance, cfg.price), unit)
            total_collateral = add(total_collateral, value)
            if cfg.ltv != 0:
                avg_ltv = add(avg_ltv, mul(value, cfg.ltv))
            else:
                has_zero_ltv = True
            avg_lt = add(avg_lt, mul(value, cfg.liquidation_threshold))
        if pos.borrowing:
            debt = pos.scaled_variable_debt
            if debt != 0:
                debt = ray_mul(debt, cfg.variable_borrow_index)
            # + stable debt balance: always 0 in this model
            total_debt = add(total_debt, div(mul(cfg.price, debt), unit))

    if total_collateral != 0:
        avg_ltv //= total_collateral
        avg_lt //= total_collateral
    else:
        avg_ltv = 0
        avg_lt = 0

    if total_debt == 0:
        hf = HEALTH_FACTOR_NO_DEBT
    else:
        hf = wad_div(percent_mul(total_collateral, avg_lt), total_debt)
    return AccountData(total_collateral, total_debt, avg_ltv, avg_lt, hf, has_zero_ltv)
