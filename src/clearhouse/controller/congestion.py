"""Congestion-aware liquidation incentives: keepers stay profitable when gas spikes."""

from __future__ import annotations

from clearhouse.controller.base import Change, Observation, clamp
from clearhouse.core.fixedpoint import RAY, WAD


def gas_cost(gas_limit: int, gwei: int, token_price: int) -> int:
    """Settlement cost (WAD) of ``gas_limit`` gas at ``gwei`` (WAD gwei) with the gas token at
    ``token_price``: ``gas_limit x gwei x 1e-9 x price``. 500k gas at 100 gwei with ETH at 2000 costs 100."""
    return gas_limit * gwei * token_price // 10**27


class CongestionAware:
    """Objective: a keeper bidding the ``percentile`` gas price still earns ``margin`` times its gas cost on a
    liquidation of ``typical_notional`` (Black Thursday, March 2020: gas spiked, keepers stopped bidding,
    auctions cleared at zero), and Dutch auctions last long enough for the observed keeper lag.

    Market (close-out penalty): ``liquidation_fee = clamp(max(base_fee, margin x cost / (typical_notional x
    liquidator_share)), base_fee, fee_cap)``.
    Vault type (Dutch auction, if ``vault_type`` is set): flat keeper reward ``tip = margin x cost``;
    ``tail = base_tail + lag_multiple x lag`` and linear ``tau = base_tau + lag_multiple x lag`` (the price
    decays no faster than keepers arrive); start buffer ``buf = base_buf + buf_per_hour x lag / 1 h``."""

    name = "congestion"

    def __init__(
        self,
        market: str | None,
        *,
        vault_type: str | None = None,
        percentile: str = "p90",
        gas_limit: int = 500_000,
        typical_notional: int = 10_000 * WAD,
        liquidator_share: int = WAD // 2,
        margin: int = 2 * WAD,
        base_fee: int = WAD // 100,
        fee_cap: int = 4 * WAD // 100,
        base_tail: int = 3600,
        base_tau: int = 3600,
        lag_multiple: int = 4 * WAD,
        base_buf: int = RAY * 12 // 10,
        buf_per_hour: int = RAY // 10,
    ) -> None:
        self.market, self.vault_type, self.percentile = market, vault_type, percentile
        self.gas_limit, self.typical_notional = gas_limit, typical_notional
        self.liquidator_share = liquidator_share
        self.margin, self.base_fee, self.fee_cap = margin, base_fee, fee_cap
        self.base_tail, self.base_tau, self.lag_multiple = base_tail, base_tau, lag_multiple
        self.base_buf, self.buf_per_hour = base_buf, buf_per_hour

    def update(self, obs: Observation) -> list[Change]:
        gwei = obs.gas_gwei.get(self.percentile)
        if gwei is None or obs.gas_token_price <= 0:
            return []
        cost = gas_cost(self.gas_limit, gwei, obs.gas_token_price)
        out: list[Change] = []
        if self.market is not None:
            paid = self.typical_notional * self.liquidator_share // WAD
            need = -(-self.margin * cost // paid) if paid > 0 else self.fee_cap
            fee = clamp(max(self.base_fee, need), self.base_fee, self.fee_cap)
            out.append(Change("market", self.market, "liquidation_fee", fee))
        if self.vault_type is not None:
            vt = self.vault_type
            lag = max(obs.keeper_lag, 0)
            stretch = self.lag_multiple * lag // WAD
            out += [
                Change("vault_type", self.vault_type, "disposal.tip", self.margin * cost // WAD),
                Change("vault_type", self.vault_type, "disposal.tail", self.base_tail + stretch),
                Change("vault_type", self.vault_type, "disposal.tau", self.base_tau + stretch),
                Change("vault_type", vt, "disposal.buf", self.base_buf + self.buf_per_hour * lag // 3600),
            ]
        return out


__all__ = ["CongestionAware", "gas_cost"]
