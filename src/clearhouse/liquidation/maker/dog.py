"""The Dog: starts Clipper auctions for unsafe vaults (dss ``dog.sol``), bit for bit.

``bark(ilk, urn, kpr)`` in dss order:

1. ``live == 1`` else ``Dog/not-live``;
2. ``spot > 0 && ink * spot < art * rate`` else ``Dog/not-unsafe``;
3. ``Hole > Dirt && hole > dirt`` else ``Dog/liquidation-limit-hit``;
   ``room = min(Hole - Dirt, hole - dirt)`` [rad];
4. ``dart = min(art, room * WAD / rate / chop)`` (two truncating divisions, in that order);
5. if ``art > dart``: when ``(art - dart) * rate < dust`` the remnant would be dusty, so ``dart = art``
   (the whole vault; Dirt may then exceed Hole by less than ``dust * chop``); otherwise require
   ``dart * rate >= dust`` else ``Dog/dusty-auction-from-partial-liquidation``;
6. ``dink = ink * dart / art``; ``dink > 0`` else ``Dog/null-auction``; ``dart, dink <= 2**255``;
7. ``vat.grab`` (vault loses ``dink``/``dart``, clip gets ``dink`` collateral, vow gets ``due`` sin),
   ``due = dart * rate``, ``vow.fess(due)``;
8. ``tab = due * chop / WAD``; ``Dirt += tab``, ``dirt += tab``; ``clip.kick(tab, dink, urn, kpr)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from clearhouse.liquidation.maker._atomic import atomic
from clearhouse.liquidation.maker.clipper import Clipper
from clearhouse.liquidation.maker.errors import (
    DogChopLtWad,
    DogDustyAuctionFromPartialLiquidation,
    DogIlkNeqClipIlk,
    DogLiquidationLimitHit,
    DogNoClip,
    DogNotLive,
    DogNotUnsafe,
    DogNullAuction,
    DogOverflow,
    DogUnrecognizedParam,
)
from clearhouse.liquidation.maker.events import Bark, Digs, Fess
from clearhouse.liquidation.maker.uint import WAD, add, div, mul, sub, uint, umin
from clearhouse.liquidation.maker.vat import VatLite

__all__ = ["Dog", "DogIlk", "bark_amounts"]


@dataclass(frozen=True, slots=True)
class DogIlk:
    clip: Clipper | None = None  # the liquidator of this ilk
    chop: int = 0  # liquidation penalty [wad], >= WAD once filed
    hole: int = 0  # max DAI target of active auctions of this ilk [rad]
    dirt: int = 0  # DAI target of active auctions of this ilk [rad]


class Dog:
    def __init__(self, vat: VatLite, *, vow: str = "vow", address: str = "dog", Hole: int = 0) -> None:
        self.vat = vat
        self.vow = vow
        self.address = address
        self.live = 1
        self.Hole = uint(Hole, "Hole")  # max DAI target of all active auctions [rad]
        self.Dirt = 0  # DAI target of all active auctions [rad]
        self.ilks: dict[str, DogIlk] = {}

    # --- snapshot / restore ---
    def _save(self) -> object:
        return {k: (v.copy() if isinstance(v, dict) else v) for k, v in vars(self).items()}

    def _load(self, state: object) -> None:
        assert isinstance(state, dict)
        self.__dict__.clear()
        self.__dict__.update(state)

    # --- administration ---
    def file(self, what: str, data: int) -> None:
        uint(data, what)
        if what == "Hole":
            self.Hole = data
        else:
            raise DogUnrecognizedParam(repr(what))

    def file_ilk(self, ilk: str, what: str, data: int) -> None:
        uint(data, what)
        cur = self.ilk(ilk)
        if what == "chop":
            if data < WAD:
                raise DogChopLtWad(f"chop={data}")
            self.ilks[ilk] = replace(cur, chop=data)
        elif what == "hole":
            self.ilks[ilk] = replace(cur, hole=data)
        else:
            raise DogUnrecognizedParam(repr(what))

    def set_clip(self, ilk: str, clip: Clipper) -> None:
        """dss ``file(ilk, "clip", clip)``: the Clipper must be for the same ilk."""
        if clip.ilk != ilk:
            raise DogIlkNeqClipIlk(f"{ilk!r} != clip.ilk {clip.ilk!r}")
        self.ilks[ilk] = replace(self.ilk(ilk), clip=clip)

    def cage(self) -> None:
        self.live = 0

    # --- views ---
    def ilk(self, ilk: str) -> DogIlk:
        return self.ilks.get(ilk, DogIlk())

    def chop(self, ilk: str) -> int:
        return self.ilk(ilk).chop

    # --- liquidation ---
    def bark(self, ilk: str, urn: str, kpr: str, now: int, feed_price: int) -> int:
        """Liquidate (part of) vault ``urn`` of ``ilk``; start a Clipper auction; return the sale id.

        ``now`` and ``feed_price`` [ray] are what the Clipper's ``kick`` reads from the chain.
        """
        uint(now, "now")
        uint(feed_price, "feed_price")
        if self.live != 1:
            raise DogNotLive()
        vault = self.vat.urn(ilk, urn)
        ink, art = vault.ink, vault.art
        milk = self.ilk(ilk)
        vilk = self.vat.ilk(ilk)
        rate, spot, dust = vilk.rate, vilk.spot, vilk.dust
        if not (spot > 0 and mul(ink, spot) < mul(art, rate)):
            raise DogNotUnsafe(f"ink*spot={ink * spot} art*rate={art * rate}")
        if not (self.Hole > self.Dirt and milk.hole > milk.dirt):
            raise DogLiquidationLimitHit(
                f"Hole={self.Hole} Dirt={self.Dirt} hole={milk.hole} dirt={milk.dirt}"
            )
        room = umin(self.Hole - self.Dirt, milk.hole - milk.dirt)
        dart, dink = bark_amounts(ink, art, rate, dust, milk.chop, room)
        clip = milk.clip
        if clip is None:
            raise DogNoClip(f"no clip filed for {ilk!r}")

        with atomic(self, self.vat, clip):
            self.vat.grab(ilk, urn, clip.address, self.vow, -dink, -dart)
            due = mul(dart, rate)
            self.vat.emit(Fess(due))
            tab = mul(due, milk.chop) // WAD
            self.Dirt = add(self.Dirt, tab)
            self.ilks[ilk] = replace(milk, dirt=add(milk.dirt, tab))
            sale_id = clip.kick(tab, dink, urn, kpr, feed_price, now)
            self.vat.emit(Bark(ilk, urn, dink, dart, due, clip.address, sale_id))
        return sale_id

    def digs(self, ilk: str, rad: int) -> None:
        """Remove ``rad`` of DAI target from ``Dirt`` and ``dirt`` (called by the Clipper)."""
        uint(rad, "rad")
        milk = self.ilk(ilk)
        new_dirt_total = sub(self.Dirt, rad)
        new_dirt = sub(milk.dirt, rad)
        self.Dirt = new_dirt_total
        self.ilks[ilk] = replace(milk, dirt=new_dirt)
        self.vat.emit(Digs(ilk, rad))


def bark_amounts(ink: int, art: int, rate: int, dust: int, chop: int, room: int) -> tuple[int, int]:
    """dog.sol ``bark`` sizing: ``(dart, dink)`` to liquidate given the ``room`` [rad] under Hole/hole.

    ``dart = min(art, room * WAD / rate / chop)``; a remnant with ``(art - dart) * rate < dust`` takes the
    whole vault, otherwise ``dart * rate >= dust`` is required; ``dink = ink * dart / art > 0``.
    """
    dart = umin(art, div(div(mul(room, WAD), rate), chop))
    if art > dart:
        if mul(art - dart, rate) < dust:
            dart = art  # leftover would be dusty: take the whole vault
        elif not mul(dart, rate) >= dust:
            raise DogDustyAuctionFromPartialLiquidation(f"dart*rate={dart * rate} < dust={dust}")
    dink = mul(ink, dart) // art
    if not dink > 0:
        raise DogNullAuction(f"ink={ink} dart={dart} art={art}")
    if not (dart <= 2**255 and dink <= 2**255):
        raise DogOverflow()
    return dart, dink
