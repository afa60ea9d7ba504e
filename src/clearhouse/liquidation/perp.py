"""Perpetual liquidation: configuration, sizing, bankruptcy and fillable prices, and the lifecycle.

Pure integer functions; the engine applies their results
(``clearhouse.mechanisms.perp_liquidation.liquidate``).

Prices follow dYdX v4 (``x/clob/keeper/liquidations.go``), in quote amounts for a fill that closes ``c``
of a position of signed size ``s`` at index ``P`` in a bucket with equity ``TNC`` and maintenance
requirement ``TMMR``:

* bankruptcy quote (what the account must receive for the closed part so that the bucket keeps its
  proportional share of equity): ``-DNNV - floor(TNC x |DMMR| / TMMR)`` with ``DNNV`` the change in net
  notional and ``DMMR`` the change in maintenance requirement. Flooring the only division rounds the
  result up, so the insurance fund never pays for rounding;
* fillable price ``(PNNV - ABR x SMMR x PMMR) / PS`` with ``ABR = clamp(BA x (1 - TNC / TMMR), 0, 1)``:
  the oracle price at health 1, worsening linearly as health falls, never worse than
  ``P x (1 -/+ SMMR x mmf)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

import msgspec

from clearhouse.core.errors import ClearhouseError, InvalidParameters
from clearhouse.core.fixedpoint import WAD, WAD2, check_non_negative, check_positive, mul_div_up


class LiquidationConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-market liquidation mechanism (``MarketSpec.liquidation``). Fractions are WAD."""

    #: ``keeper_takeover``: the caller takes the closed size at the fillable price.
    #: ``backstop_vault``: below ``vault_health`` the vault account takes the whole bucket over at the
    #: bankruptcy price (Hyperliquid's liquidator vault); above it, keeper takeover.
    #: ``amm``: the closed size is sold into the market's constant-product pool (``ConfigureAmm``)
    #: at the pool's price with its price impact; the caller is only the trigger.
    disposal: Literal["keeper_takeover", "backstop_vault", "amm"] = "keeper_takeover"
    #: dYdX's bankruptcy adjustment (BA) and spread-to-maintenance-margin ratio (SMMR).
    bankruptcy_adjustment: int = WAD
    spread_to_mmr: int = WAD
    #: Most the insurance fund takes from a fill better than bankruptcy, x notional (dYdX: 1.5%).
    max_fee: int = 15 * WAD // 1000
    #: Close only enough to restore ``initial x (1 + buffer)``; else close the whole position.
    partial: bool = True
    buffer: int = WAD // 10
    #: A remainder below this notional is closed too (no dust positions).
    dust_notional: int = 10 * WAD
    #: Below this health the whole position is closed at once (deeply underwater).
    full_below_health: int = WAD // 2
    #: Positions above ``step_notional`` are closed at most ``step_fraction`` at a time, ``cooldown``
    #: seconds apart (Hyperliquid: 20% above 100k, 30 s).
    step_notional: int = 100_000 * WAD
    step_fraction: int = WAD // 5
    cooldown: int = 30
    vault_account: str = ""
    vault_health: int = 2 * WAD // 3
    #: Waterfall: insurance fund caps (0 = no cap), backstop pool, ADL ranking, socialised loss, gate.
    insurance_cap_per_block: int = 0
    insurance_cap_per_account: int = 0
    use_backstop_pool: bool = True
    adl: Literal["off", "profit_leverage", "pro_rata"] = "profit_leverage"
    socialise: bool = True
    withdrawal_gate_blocks: int = 0

    def validate(self, market: str) -> None:
        name = f"market {market}: liquidation"
        for field in ("bankruptcy_adjustment", "spread_to_mmr", "step_notional", "step_fraction"):
            check_positive(getattr(self, field), f"{name}.{field}")
        for field in (
            "max_fee",
            "buffer",
            "dust_notional",
            "full_below_health",
            "cooldown",
            "insurance_cap_per_block",
            "insurance_cap_per_account",
            "withdrawal_gate_blocks",
        ):
            check_non_negative(getattr(self, field), f"{name}.{field}")
        for field in ("max_fee", "step_fraction"):
            if getattr(self, field) > WAD:
                raise InvalidParameters(f"{name}.{field} must be <= 1.0 (WAD)")
        if self.disposal == "backstop_vault":
            if not self.vault_account:
                raise InvalidParameters(f"{name}.vault_account is required for disposal 'backstop_vault'")
            check_positive(self.vault_health, f"{name}.vault_health")
            if self.vault_health > WAD:
                raise InvalidParameters(f"{name}.vault_health must be <= 1.0 (WAD)")


# -- prices ------------------------------------------------------------------------------------------


def bankruptcy_quote(size: int, closed: int, price: int, mm_closed: int, tnc: int, tmmr: int) -> int:
    """Signed quote the account must *receive* for closing ``closed`` (> 0) of ``size`` at index ``price``.

    ``mm_closed`` is the maintenance requirement of the closed part. Positive for a long (it sells),
    negative for a short (it pays). Rounded up: the account never gets a unit more than its share.
    """
    sign = 1 if size > 0 else -1
    dnnv = -sign * closed * price // WAD  # change in net notional (rounded down)
    if tmmr <= 0:
        return -dnnv
    return -dnnv - (tnc * mm_closed) // tmmr


def fillable_price(size: int, price: int, mmf: int, tnc: int, tmmr: int, ba: int, smmr: int) -> int:
    """dYdX's fillable price (WAD): oracle at health >= 1, down to ``P(1 - SMMR x mmf)`` for a long
    (up to ``P(1 + SMMR x mmf)`` for a short) as health falls to 0. Rounded against the account."""
    if tmmr <= 0:
        return price
    # ABR = clamp(BA x (1 - TNC/TMMR), 0, 1) as a WAD, computed exactly then floored/ceiled.
    num = ba * (tmmr - tnc)  # ABR x WAD x TMMR
    if num <= 0:
        return price
    abr_num, abr_den = min(num, WAD * tmmr), tmmr  # ABR (WAD) = abr_num / abr_den
    spread_num = price * abr_num * smmr * mmf  # price x ABR x SMMR x mmf, scaled by WAD^3 x abr_den
    scale = WAD * WAD2 * abr_den
    if size > 0:
        return price - (-(-spread_num // scale))  # the long sells lower: round the discount up
    return price + (-(-spread_num // scale))


def amm_quote(base: int, quote: int, size: int) -> int:
    """Quote for trading ``size`` base with a constant-product pool (``base x quote = k``).

    ``size > 0`` buys from the pool: pays ``ceil(quote x size / (base - size))``; ``size < 0`` sells
    into it: receives ``floor(quote x |size| / (base + |size|))``. Rounding always favours the pool.
    """
    if size > 0:
        if size >= base:
            raise InvalidParameters(f"the pool holds {base} base, cannot buy {size}")
        return mul_div_up(quote, size, base - size)
    return quote * -size // (base - size)


# -- sizing ------------------------------------------------------------------------------------------


def size_to_close(
    cfg: LiquidationConfig,
    size: int,
    price: int,
    fill_price: int,
    imf: int,
    equity: int,
    initial: int,
    maintenance: int,
    step: int,
) -> int:
    """How much of ``size`` to close now (> 0, a multiple of ``step`` unless it is the whole position).

    Partial: the least ``c`` with ``E - c x (spread + P x max_fee) >= (IM - c x P x imf)(1 + buffer)``;
    the whole position when partial sizing is off, the bucket is deeply underwater
    (health < ``full_below_health``), no ``c`` restores the target, or the remainder would be dust.
    Positions above ``step_notional`` close at most ``step_fraction`` at a time.
    """
    whole = abs(size)
    notional = whole * price // WAD
    target = whole
    deep = maintenance > 0 and equity * WAD < cfg.full_below_health * maintenance
    if cfg.partial and not deep:
        one_plus_b = WAD + cfg.buffer
        need = initial * one_plus_b - equity * WAD  # quote x WAD
        spread = abs(price - fill_price)
        gain_per_unit = price * imf * one_plus_b // WAD - spread * WAD - price * cfg.max_fee  # x WAD
        if need <= 0:
            target = step
        elif gain_per_unit > 0:
            c = -(-need * WAD // gain_per_unit)  # base WAD, rounded up
            c = -(-c // step) * step
            target = min(max(c, step), whole)
    if notional > cfg.step_notional:
        cap = -(-whole * cfg.step_fraction // WAD)
        cap = -(-cap // step) * step
        target = min(target, cap)
    if (whole - target) * price // WAD < cfg.dust_notional:
        target = whole
    return target


# -- lifecycle ---------------------------------------------------------------------------------------


class Stage(enum.StrEnum):
    CHECKED = "checked"
    SIZED = "sized"
    FILLED = "filled"
    INSURANCE = "insurance"
    BACKSTOP = "backstop"
    ADL = "adl"
    SOCIALISED = "socialised"
    BAD_DEBT = "bad_debt"
    SETTLED = "settled"


#: Allowed transitions of one liquidation: the loss waterfall is walked in order, stages may be skipped
#: forward, never revisited. Anything else raises :class:`IllegalLiquidationTransition`.
TRANSITIONS: Final[dict[Stage, frozenset[Stage]]] = {
    Stage.CHECKED: frozenset({Stage.SIZED}),
    Stage.SIZED: frozenset({Stage.FILLED, Stage.ADL}),
    Stage.FILLED: frozenset(
        {Stage.SETTLED, Stage.INSURANCE, Stage.BACKSTOP, Stage.SOCIALISED, Stage.BAD_DEBT}
    ),
    Stage.INSURANCE: frozenset({Stage.SETTLED, Stage.BACKSTOP, Stage.SOCIALISED, Stage.BAD_DEBT}),
    Stage.BACKSTOP: frozenset({Stage.SETTLED, Stage.SOCIALISED, Stage.BAD_DEBT}),
    Stage.ADL: frozenset({Stage.SETTLED}),
    Stage.SOCIALISED: frozenset({Stage.SETTLED}),
    Stage.BAD_DEBT: frozenset({Stage.SETTLED}),
    Stage.SETTLED: frozenset(),
}


class IllegalLiquidationTransition(ClearhouseError):
    code = "illegal_liquidation_transition"


@dataclass
class Lifecycle:
    """The stages one liquidation went through (kept on the ``PositionLiquidated`` event)."""

    stage: Stage = Stage.CHECKED

    def __post_init__(self) -> None:
        self.path: list[Stage] = [self.stage]

    def advance(self, to: Stage) -> None:
        if to not in TRANSITIONS[self.stage]:
            raise IllegalLiquidationTransition(f"liquidation cannot go from {self.stage} to {to}")
        self.stage = to
        self.path.append(to)
