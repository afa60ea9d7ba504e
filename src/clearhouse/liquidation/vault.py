"""Disposal of debt positions (Maker vaults): configuration, pure arithmetic and auction lifecycles.

The engine (:mod:`clearhouse.mechanisms.vaults`) applies what these functions compute. Five disposal paths,
chosen per vault type (``VaultTypeSpec.disposal``):

* :class:`DutchAuction` -- Maker Liquidations 2.0 (dog.sol / clip.sol / abaci.sol). The sizing, the
  take arithmetic, the status and the keeper incentives are the pure functions of
  :mod:`clearhouse.liquidation.maker` (``bark_amounts``, ``take_amounts``, ``sale_status``,
  ``kick_incentive``, ``redo_incentive``) and the curves are its abaci classes, so the ledger's auctions
  match dss bit for bit in dss units (``tab``/``owe`` rad, ``lot`` wad, ``top``/``price`` ray);
* :class:`EnglishAuction` -- Maker's 2020 ``flip.sol``: ``tend`` (DAI bids rising toward ``tab`` by at
  least ``beg``), ``dent`` (collateral falling for the full ``tab``), ``ttl`` per bid, ``tau`` per auction,
  ``deal`` to settle, ``tick`` to restart an auction that ended without a bid;
* :class:`FixedDiscount` -- an Aave-style keeper takeover at ``oracle x (1 - bonus)`` up to a close factor;
* :class:`StabilityPool` -- Liquity's stability pool absorbs the debt and receives the collateral, pro
  rata to deposits (:mod:`clearhouse.liquidation.stability_pool`), with an optional fallback path;
* :class:`AaveLiquidation` -- Aave v3.0.2's ``liquidationCall`` arithmetic (close factor, bonus,
  protocol fee, insufficient collateral) by the exact functions of :mod:`clearhouse.liquidation.aave`.

Lifecycles are explicit transition tables (:data:`DUTCH_TRANSITIONS` reuses the Clipper's table;
:data:`ENGLISH_TRANSITIONS`); any other pair raises the typed error of its rejection table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from clearhouse.core.errors import ClearhouseError, InvalidParameters
from clearhouse.core.fixedpoint import BLN, RAY, WAD, ceil_div, check_non_negative, check_positive, rpow
from clearhouse.liquidation.maker.abaci import (
    Abacus,
    ExponentialDecrease,
    LinearDecrease,
    StairstepExponentialDecrease,
)
from clearhouse.liquidation.maker.lifecycle import REJECTIONS as DUTCH_REJECTIONS
from clearhouse.liquidation.maker.lifecycle import TRANSITIONS as DUTCH_TRANSITIONS
from clearhouse.liquidation.maker.lifecycle import SaleAction, SaleState

if TYPE_CHECKING:
    from clearhouse.liquidation.aave.account import ReserveConfig as AaveReserveConfig

__all__ = [
    "DUTCH_REJECTIONS",
    "DUTCH_TRANSITIONS",
    "ENGLISH_REJECTIONS",
    "ENGLISH_TRANSITIONS",
    "AaveLiquidation",
    "AnyDisposal",
    "DutchAuction",
    "EnglishAction",
    "EnglishAuction",
    "EnglishState",
    "FallbackDisposal",
    "FixedDiscount",
    "SaleAction",
    "SaleState",
    "StabilityPool",
    "auction_config",
    "check_dent",
    "check_english",
    "check_tend",
    "fixed_discount_amounts",
]

UINT64_MAX: Final = 2**64 - 1


#: ``Auction.kind`` of a running auction: the one spelling of each (state, events, lab metrics).
DUTCH: Final = "dutch"
ENGLISH: Final = "english"


class DutchAuction(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="dutch_auction", tag_field="kind"
):
    """Clipper parameters in dss units, plus the curve. ``tip``/``hole`` are settlement amounts (WAD),
    converted to rad (x RAY) where dss keeps them in rad. ``hole == 0`` means no per-type limit."""

    buf: int = RAY  # top = feed price x buf [ray]
    tail: int = 0  # seconds before a sale needs redo
    cusp: int = 0  # price / top below which a sale needs redo [ray]
    chip: int = 0  # keeper reward as a fraction of tab [wad]
    tip: int = 0  # flat keeper reward [settlement WAD]
    hole: int = 0  # most debt+penalty of this type under auction at once [settlement WAD]; 0 = no limit
    curve: Literal["linear", "stairstep", "exponential"] = "linear"
    tau: int = 0  # linear: seconds to zero
    step: int = 0  # stairstep: seconds per step
    cut: int = 0  # stairstep: factor per step; exponential: factor per second [ray]

    def calc(self) -> Abacus:
        if self.curve == "linear":
            return LinearDecrease(self.tau)
        if self.curve == "stairstep":
            return StairstepExponentialDecrease(self.step, self.cut)
        return ExponentialDecrease(self.cut)

    def validate(self, name: str) -> None:
        for field in ("buf", "tail"):
            check_positive(getattr(self, field), f"{name}.{field}")
        for field in ("cusp", "chip", "tip", "hole", "tau", "step", "cut"):
            check_non_negative(getattr(self, field), f"{name}.{field}")
        if self.chip > UINT64_MAX:
            raise InvalidParameters(f"{name}.chip {self.chip} does not fit clip.sol's uint64")
        if self.curve == "linear" and self.tau <= 0:
            raise InvalidParameters(f"{name}: a linear curve needs tau > 0")
        if self.curve == "stairstep" and self.step <= 0:
            raise InvalidParameters(f"{name}: a stairstep curve needs step > 0")
        if self.curve != "linear" and not 0 < self.cut <= RAY:
            raise InvalidParameters(f"{name}: cut {self.cut} must be in (0, RAY]")


class EnglishAuction(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="english_auction", tag_field="kind"
):
    """flip.sol parameters: ``beg`` minimum bid increase [wad, > 1], ``ttl`` bid lifetime and ``tau``
    auction length [s]. The whole vault goes to one auction (Cat with unlimited ``dunk``/``box``)."""

    beg: int = 105 * WAD // 100
    ttl: int = 3 * 3600
    tau: int = 2 * 24 * 3600

    def validate(self, name: str) -> None:
        if self.beg < WAD:
            raise InvalidParameters(f"{name}.beg {self.beg} must be >= 1.0 (WAD)")
        check_positive(self.ttl, f"{name}.ttl")
        check_positive(self.tau, f"{name}.tau")


class FixedDiscount(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="fixed_discount", tag_field="kind"
):
    """Keeper takeover (Aave v3 style): repay up to ``close_factor`` of the debt (all of it when health
    < ``full_below_health``) and receive collateral at ``oracle x (1 - bonus)``."""

    bonus: int = 5 * WAD // 100
    close_factor: int = WAD // 2
    full_below_health: int = 95 * WAD // 100

    def validate(self, name: str) -> None:
        check_non_negative(self.bonus, f"{name}.bonus")
        if self.bonus >= WAD:
            raise InvalidParameters(f"{name}.bonus must be below 1.0 (WAD)")
        check_positive(self.close_factor, f"{name}.close_factor")
        if self.close_factor > WAD:
            raise InvalidParameters(f"{name}.close_factor must be <= 1.0 (WAD)")
        check_non_negative(self.full_below_health, f"{name}.full_below_health")


class AaveLiquidation(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="aave", tag_field="kind"):
    """Aave v3 (3.0.2) liquidation of a vault by a keeper, by the exact math of
    :mod:`clearhouse.liquidation.aave`. Percentages in basis points (1e4 = 100 %).

    Trigger: the vault's Aave health factor ``ink x price x liquidation_threshold / debt`` (WAD, computed
    as ``GenericLogic`` does in base-currency units) is below 1. The keeper repays at most 50 % of the debt
    (100 % below a health factor of 0.95), receives collateral worth ``repaid x liquidation_bonus``; the
    ``protocol_fee`` share of the bonus part goes to the insurance fund. The reserve parameters are
    checked as ``PoolConfigurator`` 3.0.2 does (``threshold x bonus <= 100 %``, bonus > 100 %)."""

    liquidation_threshold: int = 8250
    liquidation_bonus: int = 10500
    protocol_fee: int = 1000
    #: ``AaveOracle`` base-currency decimals (8 on the v3 markets: ``1e8`` = 1 unit of settlement).
    base_decimals: int = 8

    def validate(self, name: str) -> None:
        from clearhouse.liquidation.aave.errors import InvalidReserveParams

        if not 0 <= self.base_decimals <= 18:
            raise InvalidParameters(f"{name}.base_decimals {self.base_decimals} must be in [0, 18]")
        if self.liquidation_threshold == 0:
            raise InvalidParameters(f"{name}.liquidation_threshold must be > 0 (the vault is collateral)")
        try:
            self.reserve("collateral", 10**self.base_decimals, 0)
        except InvalidReserveParams as err:
            raise InvalidParameters(f"{name}: {err}") from err

    def reserve(self, asset: str, price: int, ltv: int) -> AaveReserveConfig:
        """The collateral reserve as :class:`clearhouse.liquidation.aave.ReserveConfig` (18 decimals:
        ledger amounts are WAD; indices 1 RAY: no Aave interest, the vault's ``rate`` is applied first)."""
        from clearhouse.liquidation.aave.account import ReserveConfig

        return ReserveConfig(
            asset,
            18,
            price,
            min(ltv, self.liquidation_threshold),
            self.liquidation_threshold,
            self.liquidation_bonus,
            self.protocol_fee,
        )


#: Paths a :class:`StabilityPool` can fall back to when the pool is short.
FallbackDisposal = DutchAuction | EnglishAuction | FixedDiscount | AaveLiquidation


class StabilityPool(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="stability_pool", tag_field="kind"
):
    """Liquity's stability pool (:mod:`clearhouse.liquidation.stability_pool`): the vault's whole debt is
    cancelled against the pool's deposits and its whole collateral goes to the pool, shared pro rata.

    When the pool holds less than the vault's debt (or the offset would lose ``P``'s precision), ``Bark``
    uses ``fallback`` if set, else it is refused with ``stability_pool_insufficient``. ``keeper_share``
    (WAD) of the collateral goes to the keeper instead of the pool (Liquity: 0.5 % gas compensation;
    default 0, the pool gets everything)."""

    fallback: FallbackDisposal | None = None
    keeper_share: int = 0

    def validate(self, name: str) -> None:
        check_non_negative(self.keeper_share, f"{name}.keeper_share")
        if self.keeper_share >= WAD:
            raise InvalidParameters(f"{name}.keeper_share must be below 1.0 (WAD)")
        if self.fallback is not None:
            self.fallback.validate(f"{name}.fallback")


AnyDisposal = DutchAuction | EnglishAuction | FixedDiscount | StabilityPool | AaveLiquidation


def auction_config(disposal: AnyDisposal) -> AnyDisposal:
    """The path that runs auctions for a type: the stability pool's fallback, else the disposal itself."""
    if isinstance(disposal, StabilityPool) and disposal.fallback is not None:
        return disposal.fallback
    return disposal


# -- English auction (flip.sol) ----------------------------------------------------------------------


class EnglishState(StrEnum):
    ABSENT = "absent"
    #: running, no bid yet, ``end`` not passed
    OPEN = "open"
    #: highest bid < tab (bids raise DAI)
    TEND = "tend"
    #: bid == tab (bids lower the collateral)
    DENT = "dent"
    #: ``end`` passed without any bid: only ``tick`` restarts it
    EXPIRED = "expired"
    #: the last bid's ``ttl`` or the auction's ``end`` passed: only ``deal``
    FINISHED = "finished"
    #: settled (deleted)
    DEALT = "dealt"


class EnglishAction(StrEnum):
    KICK = "kick"
    TEND = "tend"
    DENT = "dent"
    DEAL = "deal"
    TICK = "tick"


_E = EnglishState
_EA = EnglishAction

ENGLISH_TRANSITIONS: Mapping[tuple[EnglishState, EnglishAction], frozenset[EnglishState]] = MappingProxyType(
    {
        (_E.ABSENT, _EA.KICK): frozenset({_E.OPEN}),
        (_E.OPEN, _EA.TEND): frozenset({_E.TEND, _E.DENT}),
        (_E.TEND, _EA.TEND): frozenset({_E.TEND, _E.DENT}),
        (_E.DENT, _EA.DENT): frozenset({_E.DENT}),
        (_E.EXPIRED, _EA.TICK): frozenset({_E.OPEN}),
        (_E.FINISHED, _EA.DEAL): frozenset({_E.DEALT}),
    }
)


class AuctionError(ClearhouseError):
    """An auction command that the auction's rules refuse (nothing changes)."""

    code = "auction_error"


class UnknownAuction(AuctionError):
    code = "unknown_auction"


class WrongAuctionKind(AuctionError):
    """A Dutch command on an English auction or the reverse."""

    code = "wrong_auction_kind"


class IllegalAuctionTransition(AuctionError):
    code = "illegal_auction_transition"


class FlipperNotRunning(IllegalAuctionTransition):
    code = "flipper_not_running"


class FlipperFinished(IllegalAuctionTransition):
    """``Flipper/finished-tic`` or ``Flipper/finished-end``: the auction can only be dealt."""

    code = "flipper_finished"


class FlipperNotFinished(IllegalAuctionTransition):
    code = "flipper_not_finished"


class FlipperHasBid(IllegalAuctionTransition):
    """``Flipper/bid-already-placed``: tick needs an auction without bids past its end."""

    code = "flipper_bid_already_placed"


class FlipperTendPhaseOver(IllegalAuctionTransition):
    """``Flipper/tend-not-dent``... the bid already reached tab: only ``dent`` may follow."""

    code = "flipper_tend_over"


class FlipperNotDentPhase(IllegalAuctionTransition):
    """``Flipper/tend-not-finished``: ``dent`` needs the bid to equal tab first."""

    code = "flipper_not_dent_phase"


class FlipperBidRejected(AuctionError):
    """A bid that breaks flip.sol's rules (``lot-not-matching``, ``bid-not-higher``,
    ``insufficient-increase``, ``high-bid``, ``lot-not-lower``, ``bid-not-matching``)."""

    code = "flipper_bid_rejected"


_ANY = tuple(EnglishState)
ENGLISH_REJECTIONS: Mapping[tuple[EnglishState, EnglishAction], type[IllegalAuctionTransition]] = (
    MappingProxyType(
        {
            **{(s, a): FlipperNotRunning for s in (_E.ABSENT, _E.DEALT) for a in _EA if a is not _EA.KICK},
            **{(s, _EA.KICK): IllegalAuctionTransition for s in _ANY if s is not _E.ABSENT},
            **{(s, a): FlipperFinished for s in (_E.FINISHED, _E.EXPIRED) for a in (_EA.TEND, _EA.DENT)},
            **{(s, _EA.DEAL): FlipperNotFinished for s in (_E.OPEN, _E.TEND, _E.DENT, _E.EXPIRED)},
            (_E.OPEN, _EA.TICK): FlipperNotFinished,  # flip.sol tick checks ``end < now`` first
            **{(s, _EA.TICK): FlipperHasBid for s in (_E.TEND, _E.DENT, _E.FINISHED)},
            (_E.DENT, _EA.TEND): FlipperTendPhaseOver,
            (_E.OPEN, _EA.DENT): FlipperNotDentPhase,
            (_E.TEND, _EA.DENT): FlipperNotDentPhase,
        }
    )
)


def english_state(
    exists: bool, bid: int, tab: int, has_bidder: bool, tic: int, end: int, now: int
) -> EnglishState:
    """The state of an English auction at ``now`` for bidding (flip.sol's ``tic``/``end`` tests).

    Bids need ``tic > now || tic == 0`` and ``end > now``; ``deal`` and ``tick`` additionally need the
    strict ``tic < now || end < now`` (resp. ``end < now``), checked by the engine: at the exact instant
    ``tic == now`` flip.sol allows neither a bid nor a deal, and so does the ledger."""
    if not exists:
        return EnglishState.ABSENT
    if has_bidder:
        if (tic != 0 and tic <= now) or end <= now:  # not (tic > now || tic == 0) or not end > now
            return EnglishState.FINISHED
        return EnglishState.DENT if bid == tab else EnglishState.TEND
    return EnglishState.EXPIRED if end <= now else EnglishState.OPEN


def check_english(state: EnglishState, action: EnglishAction, auction_id: int) -> frozenset[EnglishState]:
    nxt = ENGLISH_TRANSITIONS.get((state, action))
    if nxt is None:
        err = ENGLISH_REJECTIONS.get((state, action), IllegalAuctionTransition)
        raise err(f"auction {auction_id} is {state.value}; cannot {action.value}")
    return nxt


def check_tend(
    cfg: EnglishAuction, lot: int, tab: int, bid: int, has_bidder: bool, new_lot: int, new_bid: int
) -> None:
    """flip.sol ``tend``: same lot, ``bid <= tab``, higher than the last bid by ``beg`` (or exactly tab).

    Deviation: the first bid of an auction may be 0 (Black Thursday's zero-DAI bids; flip.sol needs
    ``bid > 0`` there, which 1 wei satisfies)."""
    if new_lot != lot:
        raise FlipperBidRejected(f"Flipper/lot-not-matching: lot {new_lot} != {lot}")
    if new_bid > tab:
        raise FlipperBidRejected(f"Flipper/high-bid: bid {new_bid} > tab {tab}")
    if has_bidder:
        if not new_bid > bid:
            raise FlipperBidRejected(f"Flipper/bid-not-higher: bid {new_bid} <= {bid}")
        if not (new_bid * WAD >= cfg.beg * bid or new_bid == tab):
            raise FlipperBidRejected(f"Flipper/insufficient-increase: bid {new_bid} < {cfg.beg} x {bid}")


def check_dent(cfg: EnglishAuction, lot: int, tab: int, bid: int, new_lot: int, new_bid: int) -> None:
    """flip.sol ``dent``: the bid stays at ``tab``; the lot falls by at least ``beg``."""
    if new_bid != bid or new_bid != tab:
        raise FlipperBidRejected(f"Flipper/bid-not-matching: bid {new_bid} != tab {tab}")
    if not new_lot < lot:
        raise FlipperBidRejected(f"Flipper/lot-not-lower: lot {new_lot} >= {lot}")
    if not cfg.beg * new_lot <= lot * WAD:
        raise FlipperBidRejected(f"Flipper/insufficient-decrease: {cfg.beg} x {new_lot} > {lot}")


# -- fixed discount ----------------------------------------------------------------------------------


def fixed_discount_amounts(
    cfg: FixedDiscount, ink: int, debt: int, price: int, health: tuple[int, int], amount: int
) -> tuple[int, int]:
    """``(repay, seize)`` for a keeper takeover of a vault holding ``ink`` with ``debt`` (settlement WAD,
    rounded up) at oracle ``price`` (WAD). ``health = (num, den)`` as an exact fraction.

    The keeper may repay at most ``close_factor x debt`` (rounded up; all of it when health is below
    ``full_below_health``), capped by ``amount`` (0 = as much as allowed). It receives
    ``repay / (price x (1 - bonus))`` collateral, rounded down; if that exceeds ``ink`` it receives all
    of ``ink`` and repays only ``ceil(ink x price x (1 - bonus))`` (Aave's insufficient-collateral branch).
    """
    num, den = health
    factor = WAD if num * WAD < cfg.full_below_health * den else cfg.close_factor
    cap = -(-debt * factor // WAD)
    repay = cap if amount == 0 else min(amount, cap)
    discounted = price * (WAD - cfg.bonus)  # WAD^2 per unit of collateral
    seize = repay * WAD * WAD // discounted if discounted else ink
    if seize > ink:
        seize = ink
        repay = -(-ink * discounted // (WAD * WAD))
    return repay, seize


def spot(price: int, mat: int) -> int:
    """dss spotter ``poke`` with ``par = 1``: ``rdiv(rdiv(val x BLN, par), mat)`` [ray], rounded down."""
    return price * BLN * RAY // mat


def vault_debt(art: int, rate: int) -> int:
    """A vault's debt in settlement WAD from its normalised debt ``art`` and the type's ``rate`` (ray),
    rounded up."""
    return ceil_div(art * rate, RAY)


def projected_rate(duty: int, rho: int, rate: int, now: int) -> int:
    """jug.drip's compounded ``rate`` (ray) at ``now`` from ``rate`` at ``rho``: ``duty^(now - rho) x rate``,
    rounded down (the same integer ``drip`` will store, so the screen sees what a bark will see)."""
    if now <= rho:
        return rate
    return rpow(duty, now - rho, RAY) * rate // RAY
