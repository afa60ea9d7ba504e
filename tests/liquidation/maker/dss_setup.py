"""The ``setUp`` of dss ``src/test/clip.t.sol`` rebuilt on the Python model.

dss setUp: gold ilk, ``mat = 2``, OSM price 5 then 4 (spot 2 RAY), ``dust = 20 DAI``, ``chop = 1.1``,
``hole = Hole = 1000 DAI``, vault ``me`` with ``ink = 40``, ``art = 100`` (unsafe at spot 2), ali/bob/me
holding 1000 DAI each, clip ``upchost`` -> ``chost = 22 DAI``. ``takeSetup`` adds a stair-step curve
(1 % per second), ``buf = 1.25``, ``cusp = 0.3``, ``tail = 3600`` and barks the vault.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearhouse.liquidation.maker import (
    RAD,
    RAY,
    WAD,
    Abacus,
    Clipper,
    Dog,
    LinearDecrease,
    StairstepExponentialDecrease,
    VatLite,
    feed_price,
)

ILK = "gold"
ME = "me"
ALI = "ali"
BOB = "bob"
CHE = "che"
VOW = "vow"
START = 604411200  # dss startTime


def ray(wad: int) -> int:
    """dss test helper ``ray(wad) = wad * 1e9``."""
    return wad * 10**9


def rad(wad: int) -> int:
    """dss test helper ``rad(wad) = wad * 1e27``."""
    return wad * 10**27


def ether(x: str) -> int:
    """``x ether`` with an exact decimal literal."""
    whole, _, frac = x.partition(".")
    frac = (frac + "0" * 18)[:18]
    return int(whole) * WAD + int(frac or "0")


@dataclass
class World:
    vat: VatLite
    dog: Dog
    clip: Clipper
    pip: int  # OSM value [wad]

    @property
    def feed(self) -> int:
        return feed_price(self.pip, RAY)


def dss_clip_world(calc: Abacus | None = None) -> World:
    vat = VatLite()
    # spot = val / par / mat = 4 / 1 / 2 = 2 RAY
    vat.init_ilk(ILK, spot=2 * RAY, dust=rad(20 * WAD))
    vat.slip(ILK, ME, 1000 * WAD)
    dog = Dog(vat, vow=VOW)
    dog.file_ilk(ILK, "chop", ether("1.1"))
    dog.file_ilk(ILK, "hole", rad(1000 * WAD))
    dog.file("Hole", rad(1000 * WAD))
    clip = Clipper(ILK, vat, calc or StairstepExponentialDecrease(step=1, cut=RAY - ray(ether("0.01"))), dog)
    clip.set_vow(VOW)
    clip.upchost()
    dog.set_clip(ILK, clip)
    # vat.frob(ilk, me, me, me, 40 ether, 100 ether)
    vat.slip(ILK, ME, -40 * WAD)
    vat.set_urn(ILK, ME, 40 * WAD, 100 * WAD)
    for who in (ME, ALI, BOB):
        vat.suck("", who, rad(1000 * WAD))
    return World(vat, dog, clip, 4 * WAD)


def take_setup() -> World:
    """dss ``takeSetup`` modifier: curve, buf/cusp/tail, and ``dog.bark(ilk, me, address(this))``."""
    w = dss_clip_world()
    w.clip.file("buf", ray(ether("1.25")))
    w.clip.file("cusp", ray(ether("0.3")))
    w.clip.file("tail", 3600)
    sale_id = w.dog.bark(ILK, ME, "this", START, w.feed)
    assert sale_id == 1
    return w


def auction_reset_setup(tau: int) -> World:
    """dss ``auctionResetSetup(tau)``: linear curve, ``cusp = 0.5``, ``tail = 3600``, then bark."""
    w = dss_clip_world(LinearDecrease(tau))
    w.clip.file("buf", ray(ether("1.25")))
    w.clip.file("cusp", ray(ether("0.5")))
    w.clip.file("tail", 3600)
    assert w.dog.bark(ILK, ME, "this", START, w.feed) == 1
    return w


__all__ = ["ALI", "BOB", "CHE", "ILK", "ME", "RAD", "START", "VOW", "World", "ether", "rad", "ray"]
