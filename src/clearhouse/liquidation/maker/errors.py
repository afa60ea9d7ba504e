"""Typed errors for the MakerDAO Liquidations 2.0 model.

Every ``require``/``revert`` of dss ``dog.sol``, ``clip.sol`` and ``abaci.sol`` maps to one class here. The
class attribute ``reason`` is the exact dss revert string (empty for the bare ``require`` of the SafeMath
helpers and for EVM panics such as division by zero); ``code`` is a stable machine-readable code.

An operation that raises one of these changes nothing (see :mod:`clearhouse.liquidation.maker._atomic`).
"""

from __future__ import annotations

from typing import ClassVar

from clearhouse.core.errors import ClearhouseError


class MakerRevert(ClearhouseError):
    """Base class: the dss contract would have reverted."""

    code = "maker_revert"
    #: The dss revert string, e.g. ``"Clipper/needs-reset"``.
    reason: ClassVar[str] = ""

    def __init__(self, detail: str = "") -> None:
        label = self.reason or self.code
        super().__init__(f"{label}: {detail}" if detail else label)
        self.detail = detail


class ArithmeticRevert(MakerRevert):
    """uint256 overflow/underflow in a SafeMath helper, or division by zero (EVM panic)."""

    code = "maker_arithmetic"


class UnrecognizedParam(MakerRevert):
    """``file`` with a parameter name the contract does not know."""

    code = "maker_unrecognized_param"


# --- Sale lifecycle --------------------------------------------------------------------------------


class InvalidSaleTransition(MakerRevert):
    """An operation that the sale lifecycle table does not allow from the sale's current state."""

    code = "invalid_sale_transition"


class ClipperNotRunningAuction(InvalidSaleTransition):
    """``take``/``redo``/``yank`` of an id that was never kicked or has already ended."""

    code = "clipper_not_running_auction"
    reason = "Clipper/not-running-auction"


class ClipperNeedsReset(InvalidSaleTransition):
    """``take`` of a sale that is past ``tail`` or below ``cusp``: it must be ``redo``-ne first."""

    code = "clipper_needs_reset"
    reason = "Clipper/needs-reset"


class ClipperCannotReset(InvalidSaleTransition):
    """``redo`` of a sale that is still live (not past ``tail``, not below ``cusp``)."""

    code = "clipper_cannot_reset"
    reason = "Clipper/cannot-reset"


# --- Clipper ---------------------------------------------------------------------------------------


class ClipperStopped(MakerRevert):
    code = "clipper_stopped"
    reason = "Clipper/stopped-incorrect"


class ClipperSystemLocked(MakerRevert):
    """Re-entrant call from inside a ``take`` callback (dss ``lock`` modifier)."""

    code = "clipper_system_locked"
    reason = "Clipper/system-locked"


class ClipperZeroTab(MakerRevert):
    code = "clipper_zero_tab"
    reason = "Clipper/zero-tab"


class ClipperZeroLot(MakerRevert):
    code = "clipper_zero_lot"
    reason = "Clipper/zero-lot"


class ClipperZeroUsr(MakerRevert):
    code = "clipper_zero_usr"
    reason = "Clipper/zero-usr"


class ClipperZeroTopPrice(MakerRevert):
    code = "clipper_zero_top_price"
    reason = "Clipper/zero-top-price"


class ClipperTooExpensive(MakerRevert):
    """The current auction price is above the buyer's ``max``."""

    code = "clipper_too_expensive"
    reason = "Clipper/too-expensive"


class ClipperNoPartialPurchase(MakerRevert):
    """``tab <= chost``: only the whole remaining lot may be bought."""

    code = "clipper_no_partial_purchase"
    reason = "Clipper/no-partial-purchase"


class ClipperUnrecognizedParam(UnrecognizedParam):
    reason = "Clipper/file-unrecognized-param"


# --- Dog -------------------------------------------------------------------------------------------


class DogNotLive(MakerRevert):
    code = "dog_not_live"
    reason = "Dog/not-live"


class DogNotUnsafe(MakerRevert):
    """The vault is safe: ``ink * spot >= art * rate`` (or ``spot == 0``)."""

    code = "dog_not_unsafe"
    reason = "Dog/not-unsafe"


class DogLiquidationLimitHit(MakerRevert):
    """``Hole <= Dirt`` or ``hole <= dirt``: no room for more debt under auction."""

    code = "dog_liquidation_limit_hit"
    reason = "Dog/liquidation-limit-hit"


class DogDustyAuctionFromPartialLiquidation(MakerRevert):
    code = "dog_dusty_auction_from_partial_liquidation"
    reason = "Dog/dusty-auction-from-partial-liquidation"


class DogNullAuction(MakerRevert):
    code = "dog_null_auction"
    reason = "Dog/null-auction"


class DogOverflow(MakerRevert):
    code = "dog_overflow"
    reason = "Dog/overflow"


class DogChopLtWad(MakerRevert):
    code = "dog_chop_lt_wad"
    reason = "Dog/file-chop-lt-WAD"


class DogIlkNeqClipIlk(MakerRevert):
    code = "dog_ilk_neq_clip_ilk"
    reason = "Dog/file-ilk-neq-clip.ilk"


class DogNoClip(MakerRevert):
    """No Clipper filed for the ilk (on chain: a call to address(0) that reverts)."""

    code = "dog_no_clip"


class DogUnrecognizedParam(UnrecognizedParam):
    reason = "Dog/file-unrecognized-param"


# --- Abaci -----------------------------------------------------------------------------------------


class AbacusCutGtRay(MakerRevert):
    """``cut > RAY`` filed into an exponential curve (the price would grow)."""

    code = "abacus_cut_gt_ray"
    reason = "ExponentialDecrease/cut-gt-RAY"


class StairstepCutGtRay(AbacusCutGtRay):
    reason = "StairstepExponentialDecrease/cut-gt-RAY"


class AbacusUnrecognizedParam(UnrecognizedParam):
    reason = "Abacus/file-unrecognized-param"


# --- Mini-Vat ledger -------------------------------------------------------------------------------


class VatInsufficientBalance(ArithmeticRevert):
    """A ``move``/``flux``/``grab`` that would take a balance below zero (dss: ``sub`` underflow)."""

    code = "vat_insufficient_balance"
