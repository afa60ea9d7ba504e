"""Shared fixtures for the Aave v3 liquidation tests.

Reserve parameters of the aave-v3-core 3.0.2 test market (``@aave/deploy-v3`` test config; prices from
its ``MOCK_CHAINLINK_AGGREGATORS_PRICES``, USD with 8 decimals): WETH 4000 (LTV 80 %, threshold 82.5 %,
bonus 5 %), DAI 1 (75 %, 80 %, 5 %), USDC 1 with 6 decimals (80 %, 85 %, 5 %).
"""

from __future__ import annotations

import copy

from clearhouse.liquidation.aave import AavePool, ReserveConfig, UserReserve

USD = 10**8
WETH_PRICE = 4000 * USD


def weth(fee: int = 0, price: int = WETH_PRICE) -> ReserveConfig:
    return ReserveConfig("WETH", 18, price, 8000, 8250, 10500, fee)


def dai(fee: int = 0, price: int = USD) -> ReserveConfig:
    return ReserveConfig("DAI", 18, price, 7500, 8000, 10500, fee)


def usdc(fee: int = 0, price: int = USD) -> ReserveConfig:
    return ReserveConfig("USDC", 6, price, 8000, 8500, 10500, fee)


def make_market(weth_fee: int = 0) -> AavePool:
    pool = AavePool()
    pool.add_reserve(weth(weth_fee))
    pool.add_reserve(dai())
    pool.add_reserve(usdc())
    return pool


def positions(pool: AavePool) -> dict[str, dict[str, UserReserve]]:
    """A deep copy of every position, to compare before/after a refused call."""
    return copy.deepcopy(pool.users)
