"""dss ``src/test/dog.t.sol`` and the bark tests of ``src/test/clip.t.sol`` reproduced on the model."""

from __future__ import annotations

import pytest

from clearhouse.liquidation.maker import RAD, RAY, WAD, Clipper, Dog, LinearDecrease, VatLite
from clearhouse.liquidation.maker.errors import (
    DogChopLtWad,
    DogDustyAuctionFromPartialLiquidation,
    DogIlkNeqClipIlk,
    DogLiquidationLimitHit,
    DogNotLive,
    DogNotUnsafe,
    DogNullAuction,
    DogUnrecognizedParam,
)
from clearhouse.liquidation.maker.events import Bark, Fess, Grab

from .dss_setup import ILK, ME, START, dss_clip_world, ether, rad, ray

THOUSAND = 10**3
USR = "0x1337"


class DogWorld:
    """dog.t.sol setUp: spot 1000, dust 100, chop 1.1, Hole = hole = 10k DAI (clip is a real Clipper)."""

    def __init__(self) -> None:
        self.vat = VatLite()
        self.vat.init_ilk(ILK, spot=THOUSAND * RAY, dust=100 * RAD)
        self.dog = Dog(self.vat)
        self.dog.file_ilk(ILK, "chop", 11 * WAD // 10)
        self.clip = Clipper(ILK, self.vat, LinearDecrease(3600), self.dog)
        self.dog.set_clip(ILK, self.clip)
        self.dog.file("Hole", 10 * THOUSAND * RAD)
        self.dog.file_ilk(ILK, "hole", 10 * THOUSAND * RAD)

    def set_urn(self, ink: int, art: int) -> None:
        """dss setUrn: slip + grab *adds* ink/art to the vault."""
        cur = self.vat.urn(ILK, USR)
        self.vat.set_urn(ILK, USR, cur.ink + ink, cur.art + art)

    def is_dusty(self) -> bool:
        ilk = self.vat.ilk(ILK)
        due = self.vat.urn(ILK, USR).art * ilk.rate
        return 0 < due < ilk.dust

    def bark(self) -> int:
        return self.dog.bark(ILK, USR, "this", START, RAY)


def test_file_chop() -> None:
    """dog.t.sol test_file_chop / testFail_file_chop_lt_WAD / testFail_file_chop_eq_zero."""
    d = DogWorld()
    d.dog.file_ilk(ILK, "chop", WAD)
    d.dog.file_ilk(ILK, "chop", WAD * 113 // 100)
    for bad in (WAD - 1, 0):
        with pytest.raises(DogChopLtWad):
            d.dog.file_ilk(ILK, "chop", bad)
    assert d.dog.chop(ILK) == WAD * 113 // 100
    with pytest.raises(DogUnrecognizedParam):
        d.dog.file_ilk(ILK, "tip", 1)
    with pytest.raises(DogIlkNeqClipIlk):
        d.dog.set_clip("silver", d.clip)


def test_bark_basic() -> None:
    """dog.t.sol test_bark_basic."""
    d = DogWorld()
    d.set_urn(WAD, 2 * THOUSAND * WAD)
    d.bark()
    assert d.vat.urn(ILK, USR).ink == 0 and d.vat.urn(ILK, USR).art == 0
    kinds = [type(e) for e in d.vat.events]
    assert kinds.index(Grab) < kinds.index(Fess) < kinds.index(Bark)


def test_bark_not_unsafe() -> None:
    """dog.t.sol testFail_bark_not_unsafe."""
    d = DogWorld()
    d.set_urn(WAD, 500 * WAD)
    with pytest.raises(DogNotUnsafe):
        d.bark()


def test_bark_dusty_vault() -> None:
    """dog.t.sol test_bark_dusty_vault: dusty vaults are still liquidated."""
    d = DogWorld()
    dust = 200
    d.vat.file_ilk(ILK, "dust", dust * RAD)
    d.set_urn(1, (dust // 2) * WAD)
    assert d.is_dusty()
    d.bark()
    assert d.vat.urn(ILK, USR).art == 0


@pytest.mark.parametrize("which", ["hole", "Hole"])
def test_bark_partial_liquidation_exceeds_limit_to_avoid_dusty_remnant(which: str) -> None:
    """dog.t.sol test_bark_partial_liquidation_{dirt,Dirt}_exceeds_{hole,Hole}_to_avoid_dusty_remnant."""
    d = DogWorld()
    dust = 200
    d.vat.file_ilk(ILK, "dust", dust * RAD)
    hole = 5 * THOUSAND
    if which == "hole":
        d.dog.file_ilk(ILK, "hole", hole * RAD)
    else:
        d.dog.file("Hole", hole * RAD)
    chop = d.dog.chop(ILK)
    art_start = hole * WAD * WAD // chop + dust * WAD - 1
    d.set_urn(WAD, art_start)
    d.bark()
    assert not d.is_dusty()
    assert d.vat.urn(ILK, USR).art == 0
    dirt = d.dog.ilk(ILK).dirt if which == "hole" else d.dog.Dirt
    assert dirt > hole * RAD
    assert dirt == art_start * RAY * chop // WAD


@pytest.mark.parametrize("which", ["hole", "Hole"])
def test_bark_partial_liquidation_does_not_exceed_limit_if_remnant_is_nondusty(which: str) -> None:
    """dog.t.sol test_bark_partial_liquidation_{dirt,Dirt}_does_not_exceed_{hole,Hole}_if_remnant_is_nondusty

    (both variants)."""
    d = DogWorld()
    dust = 200
    d.vat.file_ilk(ILK, "dust", dust * RAD)
    hole = 5 * THOUSAND
    if which == "hole":
        d.dog.file_ilk(ILK, "hole", hole * RAD)
    else:
        d.dog.file("Hole", hole * RAD)
    chop = d.dog.chop(ILK)
    d.set_urn(WAD, hole * WAD * WAD // chop + dust * WAD)
    d.bark()
    assert not d.is_dusty()
    assert d.vat.urn(ILK, USR).art == dust * WAD
    dirt = d.dog.ilk(ILK).dirt if which == "hole" else d.dog.Dirt
    assert dirt <= hole * RAD
    assert dirt == hole * RAD * WAD // RAY // chop * RAY * chop // WAD


def test_bark_dusty_vault_dusty_room() -> None:
    """dog.t.sol test_bark_dusty_vault_dusty_room (rate 1.5): a dusty vault fits in a dusty room."""
    d = DogWorld()
    chop = 110 * WAD // 100
    d.dog.file_ilk(ILK, "chop", chop)
    room = 200
    hole = 33 * THOUSAND + room
    d.dog.file("Hole", hole * RAD)
    d.dog.file_ilk(ILK, "hole", hole * RAD)
    d.vat.file_ilk(ILK, "rate", 15 * RAY // 10)
    rate = d.vat.ilk(ILK).rate
    d.set_urn(WAD, (hole - room) * RAD // rate * WAD // chop)
    d.bark()
    assert hole * RAD - d.dog.Dirt == room * RAD
    assert hole * RAD - d.dog.ilk(ILK).dirt == room * RAD
    dust1 = 30
    d.vat.file_ilk(ILK, "dust", dust1 * RAD)
    d.set_urn(WAD // 10**4, dust1 * RAD // rate)
    dust2 = 1500
    d.vat.file_ilk(ILK, "dust", dust2 * RAD)
    assert d.is_dusty()
    assert d.dog.Hole - d.dog.Dirt < dust2 * RAD * chop // WAD
    assert dust1 * RAD * chop // WAD < room * RAD
    d.bark()
    assert d.vat.urn(ILK, USR).art == 0


@pytest.mark.parametrize("which", ["hole", "Hole"])
def test_bark_do_not_create_dusty_auction(which: str) -> None:
    """dog.t.sol test_bark_do_not_create_dusty_auction_hole / _Hole.

    Reverts Dog/dusty-auction-from-partial-liquidation and changes nothing."""
    d = DogWorld()
    dust = 300
    d.vat.file_ilk(ILK, "dust", dust * RAD)
    hole = 3 * THOUSAND
    if which == "hole":
        d.dog.file_ilk(ILK, "hole", hole * RAD)
    else:
        d.dog.file("Hole", hole * RAD)
    d.vat.file_ilk(ILK, "rate", 15 * RAY // 10)
    rate = d.vat.ilk(ILK).rate
    chop = d.dog.chop(ILK)
    d.set_urn(WAD, (hole - dust // 2) * RAD // rate * WAD // chop)
    d.bark()
    dirt = d.dog.ilk(ILK).dirt if which == "hole" else d.dog.Dirt
    left = hole * RAD - dirt
    assert left * WAD // rate // chop * rate < dust * RAD
    d.set_urn(WAD, hole * WAD * WAD // chop)
    state = (dict(d.vat.urns), d.dog.Dirt, d.clip.kicks, len(d.vat.events))
    with pytest.raises(DogDustyAuctionFromPartialLiquidation):
        d.bark()
    assert (dict(d.vat.urns), d.dog.Dirt, d.clip.kicks, len(d.vat.events)) == state


def test_bark_limits_and_live() -> None:
    d = DogWorld()
    d.set_urn(WAD, 2 * THOUSAND * WAD)
    d.dog.file("Hole", 0)
    with pytest.raises(DogLiquidationLimitHit):
        d.bark()
    d.dog.file("Hole", 10 * THOUSAND * RAD)
    d.dog.cage()
    with pytest.raises(DogNotLive):
        d.bark()


def test_bark_null_auction() -> None:
    """dink = ink * dart / art == 0 -> Dog/null-auction."""
    d = DogWorld()
    d.vat.file_ilk(ILK, "dust", 0)
    d.dog.file_ilk(ILK, "hole", 10 * RAD)  # room for ~9 DAI of a 2000 DAI vault with ink = 1 wei
    d.set_urn(1, 2 * THOUSAND * WAD)
    with pytest.raises(DogNullAuction):
        d.bark()


# --- bark tests from clip.t.sol -------------------------------------------------------------------


def test_bark_not_leaving_dust() -> None:
    """clip.t.sol test_bark_not_leaving_dust: room 80 -> art - dart = 20 = dust, partial."""
    w = dss_clip_world()
    w.dog.file_ilk(ILK, "hole", rad(80 * WAD))
    w.dog.file_ilk(ILK, "chop", WAD)
    w.dog.bark(ILK, ME, "this", START, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None
    assert (sale.tab, sale.lot, sale.top) == (rad(80 * WAD), 32 * WAD, ray(4 * WAD))
    assert w.vat.urn(ILK, ME).ink == 8 * WAD and w.vat.urn(ILK, ME).art == 20 * WAD


def test_bark_not_leaving_dust_over_hole() -> None:
    """clip.t.sol test_bark_not_leaving_dust_over_hole: room 80 DAI + 1 wei -> whole vault."""
    w = dss_clip_world()
    w.dog.file_ilk(ILK, "hole", rad(80 * WAD) + ray(WAD))
    w.dog.file_ilk(ILK, "chop", WAD)
    w.dog.bark(ILK, ME, "this", START, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None and (sale.tab, sale.lot) == (rad(100 * WAD), 40 * WAD)
    assert w.vat.urn(ILK, ME).ink == 0 and w.vat.urn(ILK, ME).art == 0


def test_bark_not_leaving_dust_rate() -> None:
    """clip.t.sol test_bark_not_leaving_dust_rate: rate 1.02, remnant ~2 < 20 dust -> full."""
    w = dss_clip_world()
    w.vat.file_ilk(ILK, "rate", ray(ether("1.02")))
    rate = w.vat.ilk(ILK).rate
    w.dog.file_ilk(ILK, "hole", 100 * RAD)
    w.dog.file_ilk(ILK, "chop", WAD)
    w.vat.file_ilk(ILK, "dust", 20 * RAD)
    w.clip.upchost()
    w.dog.bark(ILK, ME, "this", START, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None and (sale.tab, sale.lot) == (100 * WAD * rate, 40 * WAD)
    assert w.vat.urn(ILK, ME).art == 0


def test_bark_only_leaving_dust_over_hole_rate() -> None:
    """clip.t.sol test_bark_only_leaving_dust_over_hole_rate: remnant exactly = dust 20.4 is allowed."""
    w = dss_clip_world()
    w.vat.file_ilk(ILK, "rate", ray(ether("1.02")))
    rate = w.vat.ilk(ILK).rate
    w.dog.file_ilk(ILK, "hole", 816 * RAD // 10)
    w.dog.file_ilk(ILK, "chop", WAD)
    w.vat.file_ilk(ILK, "dust", 204 * RAD // 10)
    w.clip.upchost()
    w.dog.bark(ILK, ME, "this", START, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None and (sale.tab, sale.lot) == (816 * RAD // 10, 32 * WAD)
    urn = w.vat.urn(ILK, ME)
    assert (urn.ink, urn.art) == (8 * WAD, 20 * WAD)
    assert urn.art * rate == w.vat.ilk(ILK).dust


def test_hole_hole() -> None:
    """clip.t.sol test_Hole_hole: Dirt sums the tabs of two ilks, dirt is per ilk."""
    w = dss_clip_world()
    w.dog.bark(ILK, ME, "this", START, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None
    tab = sale.tab
    assert w.dog.Dirt == tab == w.dog.ilk(ILK).dirt

    ilk2 = "silver"
    clip2 = Clipper(ilk2, w.vat, LinearDecrease(3600), w.dog)
    w.dog.set_clip(ilk2, clip2)
    w.dog.file_ilk(ilk2, "chop", ether("1.1"))
    w.dog.file_ilk(ilk2, "hole", rad(1000 * WAD))
    w.vat.init_ilk(ilk2, spot=2 * RAY)
    w.vat.set_urn(ilk2, ME, 40 * WAD, 100 * WAD)
    clip2.upchost()
    w.dog.bark(ilk2, ME, "this", START, w.feed)
    sale2 = clip2.sale(1)
    assert sale2 is not None
    assert w.dog.Dirt == tab + sale2.tab
    assert w.dog.ilk(ILK).dirt == tab and w.dog.ilk(ilk2).dirt == sale2.tab


@pytest.mark.parametrize("which", ["Hole", "hole"])
def test_partial_liquidation_limit(which: str) -> None:
    """clip.t.sol test_partial_liquidation_Hole_limit / _hole_limit: tab = 75 DAI - 0.2 RAY rounding."""
    w = dss_clip_world()
    if which == "Hole":
        w.dog.file("Hole", rad(75 * WAD))
    else:
        w.dog.file_ilk(ILK, "hole", rad(75 * WAD))
    chop = w.dog.chop(ILK)
    w.dog.bark(ILK, ME, "this", START, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None
    rate = w.vat.ilk(ILK).rate
    tab, lot = sale.tab, sale.lot
    assert lot == 40 * WAD * (tab * WAD // rate // chop) // (100 * WAD)
    assert tab == rad(75 * WAD) - ray(ether("0.2"))
    assert w.vat.urn(ILK, ME).ink == 40 * WAD - lot
    assert w.vat.urn(ILK, ME).art == 100 * WAD - tab * WAD // rate // chop
    assert w.dog.Dirt == tab == w.dog.ilk(ILK).dirt
