"""Open interest and liquidity: OI caps and initial margin from the depth liquidations sell into."""

from __future__ import annotations

import math

from clearhouse.controller.base import Change, Observation, clamp
from clearhouse.core.fixedpoint import WAD


def cp_impact(size: int, reserve: int) -> int:
    """Price impact (WAD fraction, rounded up) of selling ``size`` base into a constant-product pool with base
    reserve ``reserve``: ``1 - (B / (B + size))^2``."""
    if size <= 0:
        return 0
    b, t = reserve, reserve + size
    return WAD - (b * b * WAD // (t * t))


def cp_capacity(reserve: int, max_impact: int) -> int:
    """Largest size (base, rounded down) whose constant-product impact is at most ``max_impact``:
    ``B x (1 / sqrt(1 - m) - 1)``."""
    root = math.isqrt((WAD - max_impact) * WAD)  # sqrt(1 - m) in WAD
    return reserve * WAD // root - reserve if root > 0 else 0


class OpenInterestLiquidity:
    """Objective: a forced sale of ``share`` of the open interest into the observed depth moves the price by
    at most ``max_impact``, and the initial margin of new risk pays for the impact of liquidating the
    largest position.

    Law (depth ``D`` = base reserve of the pool or book liquidations sell into, index ``p``):
    ``upper_cap = p x cp_capacity(D, max_impact) / share`` and ``lower_cap = upper_cap / 2`` (notional; the
    dYdX open-interest margin model raises IM linearly to 100 % between them);
    ``initial_margin = clamp(base_initial + cp_impact(largest, D), floor, cap)``."""

    name = "open_interest"

    def __init__(
        self,
        market: str,
        price_key: str,
        *,
        max_impact: int = 5 * WAD // 100,
        share: int = WAD // 10,
        base_initial: int = WAD // 10,
        floor: int = WAD // 20,
        cap: int = WAD // 2,
    ) -> None:
        self.market, self.price_key = market, price_key
        self.max_impact, self.share = max_impact, share
        self.base_initial, self.floor, self.cap = base_initial, floor, cap

    def update(self, obs: Observation) -> list[Change]:
        depth = obs.depth.get(self.market)
        price = obs.prices.get(self.price_key)
        if not depth or not price:
            return []
        upper = price * cp_capacity(depth, self.max_impact) // WAD * WAD // self.share
        out = [
            Change("market", self.market, "margin_model.lower_cap", upper // 2),
            Change("market", self.market, "margin_model.upper_cap", upper),
        ]
        largest = obs.largest_position.get(self.market)
        if largest is not None:
            initial = clamp(self.base_initial + cp_impact(largest, depth), self.floor, self.cap)
            out.append(Change("market", self.market, "initial_margin", initial))
        return out


__all__ = ["OpenInterestLiquidity", "cp_capacity", "cp_impact"]
