"""Built-in controllers by name (for ``clearhouse simulate --controller NAME``)."""

from __future__ import annotations

from collections.abc import Callable

from clearhouse.controller.base import Controller
from clearhouse.controller.congestion import CongestionAware
from clearhouse.controller.open_interest import OpenInterestLiquidity
from clearhouse.controller.oracle_bounds import OracleBounds
from clearhouse.controller.volatility import VolatilityTargeting

#: name -> factory(market id, price key)
CONTROLLERS: dict[str, Callable[[str, str], Controller]] = {
    "volatility": lambda market, key: VolatilityTargeting(market, key),
    "congestion": lambda market, key: CongestionAware(market),
    "open_interest": lambda market, key: OpenInterestLiquidity(market, key),
    "oracle": lambda market, key: OracleBounds(market, key),
}


def build(name: str, market: str, price_key: str) -> Controller:
    try:
        factory = CONTROLLERS[name]
    except KeyError:
        known = ", ".join(sorted(CONTROLLERS))
        raise ValueError(f"unknown controller {name!r}; built-ins: {known}") from None
    return factory(market, price_key)


__all__ = ["CONTROLLERS", "build"]
