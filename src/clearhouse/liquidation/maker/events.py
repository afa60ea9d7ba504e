"""Events written by the Liquidations 2.0 model, one per contract event or ledger movement.

The contract events (:class:`Kick`, :class:`Take`, :class:`Redo`, :class:`Yank`, :class:`Bark`,
:class:`Digs`) carry the same fields as the dss ``emit``; the ledger movements (:class:`Move`,
:class:`Flux`, :class:`Suck`, :class:`Grab`, :class:`Fess`) are the Vat/Vow calls the contracts make;
:class:`SaleTransition` records every lifecycle step of a sale.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Bark",
    "Digs",
    "Fess",
    "Flux",
    "Grab",
    "Kick",
    "MakerEvent",
    "Move",
    "Redo",
    "SaleTransition",
    "Suck",
    "Take",
    "Yank",
]


@dataclass(frozen=True, slots=True)
class Kick:
    ilk: str
    id: int
    top: int  # [ray]
    tab: int  # [rad]
    lot: int  # [wad]
    usr: str
    kpr: str
    coin: int  # keeper incentive paid [rad]


@dataclass(frozen=True, slots=True)
class Take:
    ilk: str
    id: int
    max: int  # [ray]
    price: int  # [ray]
    owe: int  # DAI paid [rad]
    tab: int  # tab left [rad] (before removal; 0 when fully covered)
    lot: int  # lot left [wad] (before refund/removal)
    usr: str


@dataclass(frozen=True, slots=True)
class Redo:
    ilk: str
    id: int
    top: int
    tab: int
    lot: int
    usr: str
    kpr: str
    coin: int


@dataclass(frozen=True, slots=True)
class Yank:
    ilk: str
    id: int


@dataclass(frozen=True, slots=True)
class Bark:
    ilk: str
    urn: str
    ink: int  # collateral seized [wad]
    art: int  # normalised debt seized [wad]
    due: int  # debt seized, art * rate [rad]
    clip: str
    id: int


@dataclass(frozen=True, slots=True)
class Digs:
    ilk: str
    rad: int  # DAI target removed from Dirt/dirt


@dataclass(frozen=True, slots=True)
class Move:
    """``vat.move``: internal DAI [rad] from ``src`` to ``dst``."""

    src: str
    dst: str
    rad: int


@dataclass(frozen=True, slots=True)
class Flux:
    """``vat.flux``: collateral [wad] of ``ilk`` from ``src`` to ``dst``."""

    ilk: str
    src: str
    dst: str
    wad: int


@dataclass(frozen=True, slots=True)
class Suck:
    """``vat.suck``: new DAI [rad] to ``v`` backed by bad debt ``sin`` of ``u`` (keeper incentives)."""

    u: str
    v: str
    rad: int


@dataclass(frozen=True, slots=True)
class Grab:
    """``vat.grab``: vault ``urn`` loses ``dink``/``dart`` (negative), collateral to ``v``, sin to ``w``."""

    ilk: str
    urn: str
    v: str
    w: str
    dink: int
    dart: int


@dataclass(frozen=True, slots=True)
class Fess:
    """``vow.fess``: debt [rad] queued at the Vow."""

    due: int


@dataclass(frozen=True, slots=True)
class SaleTransition:
    ilk: str
    id: int
    action: str
    before: str
    after: str


MakerEvent = Kick | Take | Redo | Yank | Bark | Digs | Move | Flux | Suck | Grab | Fess | SaleTransition
