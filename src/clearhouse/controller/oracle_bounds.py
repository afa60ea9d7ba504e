"""Oracle guards from volatility: the fill price band and the index/TWAP circuit breaker."""

from __future__ import annotations

from clearhouse.controller.base import Change, EwmaVolatility, Observation, clamp
from clearhouse.core.fixedpoint import WAD, wmul_up


class OracleBounds:
    """Objective: honest moves almost never trip a guard, manipulated ones still do. A fill may deviate
    from the index by ``price_band = clamp(z x sigma(update_interval), floor, cap)`` (the index can be one
    update stale), and close-outs pause while the index and its TWAP diverge by more than
    ``max_twap_divergence = clamp(z x sigma(twap_window), floor, cap)``. With ``z`` = 4 an honest
    Gaussian move trips a guard about once in 16 000 intervals; the floor keeps the guard useful in calm
    markets, the cap keeps it from opening wide in a crash."""

    name = "oracle"

    def __init__(
        self,
        market: str,
        price_key: str,
        *,
        update_interval: int = 60,
        twap_window: int = 1800,
        z: int = 4 * WAD,
        lam: int = 94 * WAD // 100,
        floor: int = WAD // 100,
        cap: int = WAD // 4,
        min_samples: int = 10,
    ) -> None:
        self.market, self.price_key = market, price_key
        self.update_interval, self.twap_window, self.z = update_interval, twap_window, z
        self.floor, self.cap, self.min_samples = floor, cap, min_samples
        self.ewma = EwmaVolatility(lam)

    def update(self, obs: Observation) -> list[Change]:
        if not self.ewma.observe_key(obs, self.price_key, self.min_samples):
            return []
        band = clamp(wmul_up(self.z, self.ewma.sigma(self.update_interval)), self.floor, self.cap)
        divergence = clamp(wmul_up(self.z, self.ewma.sigma(self.twap_window)), self.floor, self.cap)
        return [
            Change("market", self.market, "price_band", band),
            Change("market", self.market, "max_twap_divergence", divergence),
        ]


__all__ = ["OracleBounds"]
