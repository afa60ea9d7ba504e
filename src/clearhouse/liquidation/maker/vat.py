"""A minimal Vat: just the balances and vault fields the Dog and the Clipper read and move.

This is *not* dss ``vat.sol``: there is no ``frob``, no debt ceilings, no ``fold``/``Art``/``debt``/``vice``
bookkeeping and no authorisation (``wish``/``hope``). It holds

* ``ilks[ilk]`` -- ``rate`` [ray], ``spot`` [ray], ``dust`` [rad] (filed directly);
* ``urns[ilk, urn]`` -- ``ink`` [wad], ``art`` [wad] (set directly with :meth:`VatLite.set_urn`);
* ``gem[ilk, addr]`` [wad], ``dai[addr]`` [rad], ``sin[addr]`` [rad] balances;

and performs ``move``, ``flux``, ``suck`` and ``grab`` with dss's underflow reverts, writing one event per
movement into :attr:`VatLite.events`, the shared log of the whole model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from clearhouse.liquidation.maker.errors import ArithmeticRevert, UnrecognizedParam, VatInsufficientBalance
from clearhouse.liquidation.maker.events import Flux, Grab, MakerEvent, Move, Suck
from clearhouse.liquidation.maker.uint import RAY, UINT256_MAX, add, uint

__all__ = ["Urn", "VatIlk", "VatLite"]


@dataclass(frozen=True, slots=True)
class VatIlk:
    rate: int = RAY  # accumulated stability-fee rate [ray]
    spot: int = 0  # price with safety margin [ray]
    dust: int = 0  # minimum vault debt [rad]


@dataclass(frozen=True, slots=True)
class Urn:
    ink: int = 0  # locked collateral [wad]
    art: int = 0  # normalised debt [wad]


@dataclass(frozen=True, slots=True)
class _VatState:
    ilks: dict[str, VatIlk]
    urns: dict[tuple[str, str], Urn]
    gem: dict[tuple[str, str], int]
    dai: dict[str, int]
    sin: dict[str, int]
    n_events: int


def _signed_add(x: int, y: int, what: str) -> int:
    """dss ``_add(uint, int)``: revert if the result leaves ``[0, 2**256)``."""
    z = x + y
    if z < 0:
        raise VatInsufficientBalance(f"{what}: {x} + ({y}) < 0")
    if z > UINT256_MAX:
        raise ArithmeticRevert(f"{what}: {x} + {y} overflows uint256")
    return z


class VatLite:
    """Balances and vaults; every mutation is checked first and logged in :attr:`events`."""

    def __init__(self) -> None:
        self.ilks: dict[str, VatIlk] = {}
        self.urns: dict[tuple[str, str], Urn] = {}
        self.gem: dict[tuple[str, str], int] = {}
        self.dai: dict[str, int] = {}
        self.sin: dict[str, int] = {}
        self.events: list[MakerEvent] = []

    # --- snapshot / restore (see _atomic) ---
    def _save(self) -> object:
        return _VatState(
            dict(self.ilks), dict(self.urns), dict(self.gem), dict(self.dai), dict(self.sin), len(self.events)
        )

    def _load(self, state: object) -> None:
        assert isinstance(state, _VatState)
        self.ilks, self.urns, self.gem = state.ilks, state.urns, state.gem
        self.dai, self.sin = state.dai, state.sin
        del self.events[state.n_events :]

    def emit(self, event: MakerEvent) -> None:
        self.events.append(event)

    # --- configuration ---
    def init_ilk(self, ilk: str, *, rate: int = RAY, spot: int = 0, dust: int = 0) -> None:
        """Create (or reset) a collateral type; dss ``vat.init`` starts ``rate`` at ``RAY``."""
        self.ilks[ilk] = VatIlk(uint(rate, "rate"), uint(spot, "spot"), uint(dust, "dust"))

    def file_ilk(self, ilk: str, what: str, data: int) -> None:
        uint(data, what)
        cur = self.ilk(ilk)
        if what == "rate":
            self.ilks[ilk] = replace(cur, rate=data)
        elif what == "spot":
            self.ilks[ilk] = replace(cur, spot=data)
        elif what == "dust":
            self.ilks[ilk] = replace(cur, dust=data)
        else:
            raise UnrecognizedParam(f"Vat/file-unrecognized-param: {what!r}")

    def set_urn(self, ilk: str, urn: str, ink: int, art: int) -> None:
        """Put a vault in a given state (test/scenario set-up; stands in for ``frob``)."""
        self.urns[(ilk, urn)] = Urn(uint(ink, "ink"), uint(art, "art"))

    # --- reads ---
    def ilk(self, ilk: str) -> VatIlk:
        return self.ilks.get(ilk, VatIlk(rate=0))

    def urn(self, ilk: str, urn: str) -> Urn:
        return self.urns.get((ilk, urn), Urn())

    def gem_of(self, ilk: str, addr: str) -> int:
        return self.gem.get((ilk, addr), 0)

    def dai_of(self, addr: str) -> int:
        return self.dai.get(addr, 0)

    def sin_of(self, addr: str) -> int:
        return self.sin.get(addr, 0)

    def total_gem(self, ilk: str) -> int:
        """Free collateral of ``ilk`` in every account plus the collateral locked in vaults."""
        free = sum(v for (i, _), v in self.gem.items() if i == ilk)
        locked = sum(u.ink for (i, _), u in self.urns.items() if i == ilk)
        return free + locked

    # --- movements ---
    def slip(self, ilk: str, usr: str, wad: int) -> None:
        """Credit (or debit, if negative) free collateral; stands in for a GemJoin deposit."""
        self.gem[(ilk, usr)] = _signed_add(self.gem_of(ilk, usr), wad, f"slip gem[{ilk}][{usr}]")

    def suck(self, u: str, v: str, rad: int) -> None:
        uint(rad, "rad")
        new_sin = add(self.sin_of(u), rad)
        new_dai = add(self.dai_of(v), rad)
        self.sin[u] = new_sin
        self.dai[v] = new_dai
        self.emit(Suck(u, v, rad))

    def move(self, src: str, dst: str, rad: int) -> None:
        uint(rad, "rad")
        have = self.dai_of(src)
        if have < rad:
            raise VatInsufficientBalance(f"move: dai[{src}]={have} < {rad}")
        self.dai[src] = have - rad
        self.dai[dst] = add(self.dai_of(dst), rad)
        self.emit(Move(src, dst, rad))

    def flux(self, ilk: str, src: str, dst: str, wad: int) -> None:
        uint(wad, "wad")
        have = self.gem_of(ilk, src)
        if have < wad:
            raise VatInsufficientBalance(f"flux: gem[{ilk}][{src}]={have} < {wad}")
        self.gem[(ilk, src)] = have - wad
        self.gem[(ilk, dst)] = add(self.gem_of(ilk, dst), wad)
        self.emit(Flux(ilk, src, dst, wad))

    def grab(self, ilk: str, u: str, v: str, w: str, dink: int, dart: int) -> None:
        """dss ``grab``: ``urn += (dink, dart)``, ``gem[v] -= dink``, ``sin[w] -= rate * dart``."""
        cur = self.urn(ilk, u)
        ink = _signed_add(cur.ink, dink, f"grab urn.ink[{ilk}][{u}]")
        art = _signed_add(cur.art, dart, f"grab urn.art[{ilk}][{u}]")
        rate = self.ilk(ilk).rate
        dtab = rate * dart
        if not -(2**255) <= dtab < 2**255:
            raise ArithmeticRevert(f"grab: rate*dart={dtab} overflows int256")
        gem_v = _signed_add(self.gem_of(ilk, v), -dink, f"grab gem[{ilk}][{v}]")
        sin_w = _signed_add(self.sin_of(w), -dtab, f"grab sin[{w}]")
        self.urns[(ilk, u)] = Urn(ink, art)
        self.gem[(ilk, v)] = gem_v
        self.sin[w] = sin_w
        self.emit(Grab(ilk, u, v, w, dink, dart))
