"""Volatility targeting: margin fractions that follow realised (and implied) volatility."""

from __future__ import annotations

from clearhouse.controller.base import Change, EwmaVolatility, Observation, clamp, wsqrt
from clearhouse.core.fixedpoint import WAD, wmul_up

SECONDS_PER_YEAR = 365 * 86_400


class VolatilityTargeting:
    """Objective: the maintenance fraction covers the ``z``-quantile of the index move over the liquidation
    horizon, ``maintenance = z x sigma(horizon)``, so an account sitting at maintenance is liquidated before
    its equity turns negative with (Gaussian) probability ``Phi(z)`` (z = 2.326 -> 99 %); the initial
    fraction keeps a fixed buffer, ``initial = k x maintenance``.

    ``sigma`` is the larger of the EWMA of oracle returns (RiskMetrics, decay ``lam``) and, when an options
    market quotes one, the implied volatility scaled to the horizon (``iv x sqrt(h / year)``). Both fractions
    are clamped to ``[floor, cap]``; nothing is proposed before ``min_samples`` returns were seen."""

    name = "volatility"

    def __init__(
        self,
        market: str,
        price_key: str,
        *,
        horizon: int = 3600,
        z: int = 2_326 * WAD // 1000,
        k: int = 2 * WAD,
        lam: int = 94 * WAD // 100,
        floor: int = WAD // 100,
        cap: int = WAD // 2,
        min_samples: int = 10,
    ) -> None:
        self.market, self.price_key = market, price_key
        self.horizon, self.z, self.k = horizon, z, k
        self.floor, self.cap, self.min_samples = floor, cap, min_samples
        self.ewma = EwmaVolatility(lam)

    def sigma(self, obs: Observation) -> int:
        realised = self.ewma.sigma(self.horizon)
        iv = obs.implied_vol.get(self.price_key, 0)
        implied = wsqrt(iv * iv // WAD * self.horizon // SECONDS_PER_YEAR) if iv > 0 else 0
        return max(realised, implied)

    def update(self, obs: Observation) -> list[Change]:
        if not self.ewma.observe_key(obs, self.price_key, self.min_samples):
            return []
        maintenance = clamp(wmul_up(self.z, self.sigma(obs)), self.floor, self.cap)
        initial = clamp(wmul_up(self.k, maintenance), self.floor, WAD)
        return [
            Change("market", self.market, "initial_margin", initial),
            Change("market", self.market, "maintenance_margin", maintenance),
        ]


__all__ = ["SECONDS_PER_YEAR", "VolatilityTargeting"]
