"""Typed errors of the Aave v3 (aave-v3-core 3.0.2) liquidation reproduction.

Every place where the Solidity code reverts raises one of these instead. Each carries

* ``code`` -- the stable clearhouse code written into ``TransactionRejected`` events;
* ``aave_name`` / ``aave_code`` -- the name and numeric string of ``Errors.sol`` in 3.0.2 (e.g.
  ``HEALTH_FACTOR_NOT_BELOW_THRESHOLD`` / ``'45'``), or the Solidity panic / bare ``revert(0, 0)``
  that the EVM would produce where Aave has no named error.

They subclass the matching generic ledger error too (e.g. :class:`NotLiquidatable`), so callers
that only know the ledger's error taxonomy still catch them. A liquidation that raises changes
nothing.
"""

from __future__ import annotations

from typing import ClassVar

from clearhouse.core.errors import (
    ClearhouseError,
    InsufficientBalance,
    InvalidParameters,
    NotLiquidatable,
    StalePrice,
    UnknownAsset,
    ValueOutOfRange,
)


class AaveError(ClearhouseError):
    """Base class: a revert of the reproduced aave-v3-core 3.0.2 code path."""

    code = "aave_error"
    aave_name: ClassVar[str] = "REVERT"
    aave_code: ClassVar[str] = ""

    def __init__(self, detail: str = "") -> None:
        ref = f"{self.aave_name} ({self.aave_code})" if self.aave_code else self.aave_name
        super().__init__(f"{ref}: {detail}" if detail else ref)
        self.detail = detail


# --- arithmetic: WadRayMath / PercentageMath assembly reverts and Solidity 0.8 panics -------------


class AaveMathOverflow(AaveError, ValueOutOfRange):
    """``WadRayMath`` / ``PercentageMath`` guard failed: the assembly does ``revert(0, 0)``."""

    code = "aave_math_overflow"
    aave_name = "revert(0, 0)"


class AaveArithmeticPanic(AaveError, ValueOutOfRange):
    """Checked uint256 arithmetic failed: Solidity 0.8 ``Panic(0x11)`` (over/underflow) or
    ``Panic(0x12)`` (division by zero), or a ``SafeCast`` to uint128 failed."""

    code = "aave_arithmetic_panic"
    aave_name = "Panic"


# --- ValidationLogic.validateLiquidationCall ---------------------------------------------------------


class ReserveInactive(AaveError):
    code = "aave_reserve_inactive"
    aave_name = "RESERVE_INACTIVE"
    aave_code = "27"


class ReservePaused(AaveError):
    code = "aave_reserve_paused"
    aave_name = "RESERVE_PAUSED"
    aave_code = "29"


class PriceOracleSentinelCheckFailed(AaveError, StalePrice):
    """The L2 sequencer is down or still in its grace period, and HF >= 0.95."""

    code = "aave_price_oracle_sentinel_check_failed"
    aave_name = "PRICE_ORACLE_SENTINEL_CHECK_FAILED"
    aave_code = "59"


class HealthFactorNotBelowThreshold(AaveError, NotLiquidatable):
    code = "aave_health_factor_not_below_threshold"
    aave_name = "HEALTH_FACTOR_NOT_BELOW_THRESHOLD"
    aave_code = "45"


class CollateralCannotBeLiquidated(AaveError, NotLiquidatable):
    """The collateral reserve has liquidation threshold 0 or the user does not use it as collateral."""

    code = "aave_collateral_cannot_be_liquidated"
    aave_name = "COLLATERAL_CANNOT_BE_LIQUIDATED"
    aave_code = "46"


class SpecifiedCurrencyNotBorrowedByUser(AaveError, NotLiquidatable):
    code = "aave_specified_currency_not_borrowed_by_user"
    aave_name = "SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER"
    aave_code = "47"


# --- token bookkeeping --------------------------------------------------------------------------------


class InvalidBurnAmount(AaveError, InsufficientBalance):
    """``ScaledBalanceTokenBase._burnScaled``: ``amount.rayDiv(index) == 0``."""

    code = "aave_invalid_burn_amount"
    aave_name = "INVALID_BURN_AMOUNT"
    aave_code = "25"


class InvalidMintAmount(AaveError, InsufficientBalance):
    """``ScaledBalanceTokenBase._mintScaled``: ``amount.rayDiv(index) == 0``."""

    code = "aave_invalid_mint_amount"
    aave_name = "INVALID_MINT_AMOUNT"
    aave_code = "24"


# --- setup ---------------------------------------------------------------------------------------------


class UnknownReserve(AaveError, UnknownAsset):
    """An asset that is not listed in the pool. (On chain the call reverts on the zero reserve:
    ``RESERVE_INACTIVE`` or a call to the zero token address.)"""

    code = "aave_unknown_reserve"
    aave_name = "ASSET_NOT_LISTED"
    aave_code = "82"


class InvalidReserveParams(AaveError, InvalidParameters):
    """Reserve parameters that ``PoolConfigurator`` 3.0.2 would refuse (or that the model cannot hold)."""

    code = "aave_invalid_reserve_params"
    aave_name = "INVALID_RESERVE_PARAMS"
    aave_code = "20"
