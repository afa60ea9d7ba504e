"""Aave v3 liquidation (aave-v3-core 3.0.2) reproduced exactly in integers.

See ``docs/liquidation-aave.md`` for the formulas, parameters and what is (not) reproduced.
"""

from clearhouse.liquidation.aave.account import (
    HEALTH_FACTOR_NO_DEBT,
    AavePool,
    AccountData,
    ReserveConfig,
    UserReserve,
    calculate_user_account_data,
)
from clearhouse.liquidation.aave.liquidation import (
    CLOSE_FACTOR_HF_THRESHOLD,
    DEFAULT_LIQUIDATION_CLOSE_FACTOR,
    HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    MAX_LIQUIDATION_CLOSE_FACTOR,
    MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    CollateralQuote,
    LiquidationCallEvent,
    LiquidationResult,
    PriceOracleSentinel,
    ReserveUsedAsCollateralDisabled,
    ReserveUsedAsCollateralEnabled,
    calculate_available_collateral_to_liquidate,
    calculate_debt,
    liquidation_call,
)

__all__ = [
    "CLOSE_FACTOR_HF_THRESHOLD",
    "DEFAULT_LIQUIDATION_CLOSE_FACTOR",
    "HEALTH_FACTOR_LIQUIDATION_THRESHOLD",
    "HEALTH_FACTOR_NO_DEBT",
    "MAX_LIQUIDATION_CLOSE_FACTOR",
    "MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD",
    "AavePool",
    "AccountData",
    "CollateralQuote",
    "LiquidationCallEvent",
    "LiquidationResult",
    "PriceOracleSentinel",
    "ReserveConfig",
    "ReserveUsedAsCollateralDisabled",
    "ReserveUsedAsCollateralEnabled",
    "UserReserve",
    "calculate_available_collateral_to_liquidate",
    "calculate_debt",
    "calculate_user_account_data",
    "liquidation_call",
]
