"""Margin models: how a market's initial and maintenance fractions are chosen for a position.

One interface, chosen per market by configuration (``MarketSpec.margin_model``):

* ``fixed`` — the market's ``initial_margin`` / ``maintenance_margin`` (the default);
* ``tiered`` — fractions rise with the position's notional; the whole position takes the fractions of
  the highest tier whose threshold its notional reaches (Binance/Bybit "risk limit" tiers), so large
  positions get less leverage;
* ``open_interest`` — dYdX v4 open-interest scaling: the initial fraction rises linearly from the
  base ``initial_margin`` at ``lower_cap`` of open-interest notional to 100% at ``upper_cap``;
  maintenance stays put;
* ``volatility`` — both fractions scaled by a volatility multiplier that the risk controller sets per
  market (``SetVolatility``), floored at the base and capped at 100%.

All fractions are WAD; every result is an exact integer and never below the market's base fractions.
"""

from __future__ import annotations

import msgspec

from clearhouse.core.errors import InvalidParameters
from clearhouse.core.fixedpoint import WAD, mul_div_up, wmul_up


class MarginModelConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="name"):
    """Base of the margin model configurations; ``name`` selects the model."""

    def validate(self, market: str, initial: int, maintenance: int) -> None:
        """Refuse parameters that make no sense, naming the field."""

    def fractions(
        self, initial: int, maintenance: int, notional: int, oi_notional: int, vol_multiplier: int
    ) -> tuple[int, int]:
        """(initial, maintenance) fractions for a position of ``notional`` (both WAD)."""
        return initial, maintenance

    def max_maintenance(self, maintenance: int, vol_multiplier: int) -> int:
        """The largest maintenance fraction any position can get now (for conservative screening)."""
        return maintenance


class FixedMargin(MarginModelConfig, frozen=True, tag="fixed"):
    """The market's base fractions for every position."""


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    #: Position notional (quote WAD) from which this tier applies.
    notional: int
    initial_margin: int
    maintenance_margin: int


class TieredMargin(MarginModelConfig, frozen=True, tag="tiered"):
    """Tiers above the base: ``[(notional, initial, maintenance), ...]``, strictly increasing."""

    tiers: tuple[Tier, ...]

    def validate(self, market: str, initial: int, maintenance: int) -> None:
        prev = Tier(0, initial, maintenance)
        if not self.tiers:
            raise InvalidParameters(f"market {market}: margin_model.tiers must not be empty")
        for i, tier in enumerate(self.tiers):
            field = f"market {market}: margin_model.tiers[{i}]"
            if tier.notional <= prev.notional:
                raise InvalidParameters(f"{field}.notional {tier.notional} must exceed {prev.notional}")
            if not prev.initial_margin <= tier.initial_margin <= WAD:
                raise InvalidParameters(
                    f"{field}.initial_margin {tier.initial_margin} must be in "
                    f"[{prev.initial_margin}, 1e18] (tiers may not lower margin)"
                )
            if not prev.maintenance_margin <= tier.maintenance_margin < tier.initial_margin:
                raise InvalidParameters(
                    f"{field}.maintenance_margin {tier.maintenance_margin} must be in "
                    f"[{prev.maintenance_margin}, initial_margin)"
                )
            prev = tier

    def max_maintenance(self, maintenance: int, vol_multiplier: int) -> int:
        return max(maintenance, self.tiers[-1].maintenance_margin)

    def fractions(
        self, initial: int, maintenance: int, notional: int, oi_notional: int, vol_multiplier: int
    ) -> tuple[int, int]:
        for tier in reversed(self.tiers):
            if notional >= tier.notional:
                return tier.initial_margin, tier.maintenance_margin
        return initial, maintenance


class OpenInterestMargin(MarginModelConfig, frozen=True, tag="open_interest"):
    """dYdX v4: ``imf = base + (1 - base) x clamp((OI - lower) / (upper - lower), 0, 1)``, rounded up."""

    lower_cap: int
    upper_cap: int

    def validate(self, market: str, initial: int, maintenance: int) -> None:
        if self.lower_cap < 0 or self.upper_cap <= self.lower_cap:
            raise InvalidParameters(
                f"market {market}: margin_model needs 0 <= lower_cap < upper_cap, "
                f"got lower_cap={self.lower_cap} upper_cap={self.upper_cap}"
            )

    def fractions(
        self, initial: int, maintenance: int, notional: int, oi_notional: int, vol_multiplier: int
    ) -> tuple[int, int]:
        if oi_notional <= self.lower_cap:
            return initial, maintenance
        if oi_notional >= self.upper_cap:
            return WAD, maintenance
        span = self.upper_cap - self.lower_cap
        extra = mul_div_up(WAD - initial, oi_notional - self.lower_cap, span)
        return initial + extra, maintenance


class VolatilityMargin(MarginModelConfig, frozen=True, tag="volatility"):
    """Both fractions x the market's volatility multiplier (WAD, >= 1), capped at ``max_initial``."""

    max_initial: int = WAD

    def validate(self, market: str, initial: int, maintenance: int) -> None:
        if not initial <= self.max_initial <= WAD:
            raise InvalidParameters(
                f"market {market}: margin_model.max_initial {self.max_initial} must be in "
                f"[initial_margin, 1e18]"
            )

    def max_maintenance(self, maintenance: int, vol_multiplier: int) -> int:
        return wmul_up(maintenance, max(vol_multiplier, WAD))

    def fractions(
        self, initial: int, maintenance: int, notional: int, oi_notional: int, vol_multiplier: int
    ) -> tuple[int, int]:
        scale = max(vol_multiplier, WAD)
        im = min(self.max_initial, wmul_up(initial, scale))
        mm = min(wmul_up(maintenance, scale), im * maintenance // initial)
        return im, mm


AnyMarginModel = FixedMargin | TieredMargin | OpenInterestMargin | VolatilityMargin
