"""A Clipper: the Dutch auction of one collateral type (dss ``clip.sol``), as a pure integer state machine.

Units as in dss: ``tab``/``owe``/``tip``/``chost`` [rad = 1e45], ``lot``/``slice``/``chip`` [wad = 1e18],
``top``/``price``/``buf``/``cusp``/feed price [ray = 1e27], times in seconds.

What clip.sol does with the Vat and the Dog is done on a :class:`~clearhouse.liquidation.maker.vat.VatLite`
(``flux`` collateral to the taker and the refund to the vault owner, ``move`` DAI from the payer to the vow,
``suck`` keeper incentives) and on the Dog (``digs``), each movement logged as an event in ``vat.events``.

Differences from the contract (see docs/liquidation-maker.md): no ``auth``/``wards`` (any caller may
``kick``/``yank``); the OSM/Spotter read is replaced by a ``feed_price`` argument [ray] (use
:func:`~clearhouse.liquidation.maker.uint.feed_price` to derive it from ``val`` and ``par``);
``block.timestamp`` is the ``now`` argument; the flash-loan ``clipperCall`` is an optional Python callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Protocol

from clearhouse.core.errors import ValueOutOfRange
from clearhouse.liquidation.maker._atomic import atomic
from clearhouse.liquidation.maker.abaci import Abacus
from clearhouse.liquidation.maker.errors import (
    ClipperNoPartialPurchase,
    ClipperStopped,
    ClipperSystemLocked,
    ClipperTooExpensive,
    ClipperUnrecognizedParam,
    ClipperZeroLot,
    ClipperZeroTab,
    ClipperZeroTopPrice,
    ClipperZeroUsr,
    MakerRevert,
)
from clearhouse.liquidation.maker.events import Digs, Kick, Redo, SaleTransition, Take, Yank
from clearhouse.liquidation.maker.lifecycle import SaleAction, SaleState, check_allowed, check_result
from clearhouse.liquidation.maker.uint import (
    RAY,
    UINT64_MAX,
    UINT96_MAX,
    UINT192_MAX,
    add,
    div,
    mul,
    rdiv,
    rmul,
    sub,
    uint,
    umin,
    wmul,
)
from clearhouse.liquidation.maker.vat import VatLite

__all__ = [
    "ADDRESS_ZERO",
    "Clipper",
    "DogLike",
    "Sale",
    "SaleStatus",
    "TakeCallback",
    "TakeResult",
    "kick_incentive",
    "redo_incentive",
    "sale_status",
    "take_amounts",
]

ADDRESS_ZERO = "0x0000000000000000000000000000000000000000"

#: ``callback(sender, owe, slice)`` -- clip.sol's ``clipperCall``: runs after the collateral reached ``who``
#: and before the DAI is pulled from ``sender`` (flash sale). Raising inside it undoes the whole take.
TakeCallback = Callable[[str, int, int], None]


class DogLike(Protocol):
    """What a Clipper needs from its Dog."""

    def digs(self, ilk: str, rad: int) -> None: ...

    def chop(self, ilk: str) -> int: ...

    def _save(self) -> object: ...

    def _load(self, state: object) -> None: ...


@dataclass(frozen=True, slots=True)
class Sale:
    pos: int  # index in the active list
    tab: int  # DAI to raise [rad]
    lot: int  # collateral to sell [wad]
    usr: str  # liquidated vault; receives leftover collateral
    tic: int  # auction (re)start time [uint96 seconds]
    top: int  # starting price [ray]


@dataclass(frozen=True, slots=True)
class SaleStatus:
    """clip.sol ``getStatus``: ``(needsRedo, price, lot, tab)``."""

    needs_redo: bool
    price: int
    lot: int
    tab: int


@dataclass(frozen=True, slots=True)
class TakeResult:
    id: int
    price: int  # [ray]
    owe: int  # DAI paid [rad]
    slice: int  # collateral bought [wad]
    tab: int  # tab left [rad] (0 when covered)
    lot: int  # lot left [wad] before any refund
    refund: int  # collateral returned to usr [wad]
    state: SaleState  # ACTIVE or DONE


def _is_zero_address(addr: str) -> bool:
    return addr in ("", ADDRESS_ZERO)


class Clipper:
    """Dutch auctions for one ``ilk``; see the module docstring for units and modelled side effects."""

    def __init__(
        self,
        ilk: str,
        vat: VatLite,
        calc: Abacus,
        dog: DogLike | None = None,
        *,
        address: str | None = None,
        vow: str = "vow",
        buf: int = RAY,
        tail: int = 0,
        cusp: int = 0,
        chip: int = 0,
        tip: int = 0,
        stopped: int = 0,
    ) -> None:
        self.ilk = ilk
        self.vat = vat
        self.calc: Abacus = calc
        self.dog: DogLike | None = dog
        self.address = address if address is not None else f"clip:{ilk}"
        self.vow = vow
        self.buf = uint(buf, "buf")  # multiplicative factor on the feed price for top [ray]
        self.tail = uint(tail, "tail")  # seconds before a reset is needed
        self.cusp = uint(cusp, "cusp")  # price/top ratio below which a reset is needed [ray]
        if uint(chip, "chip") > UINT64_MAX:
            raise ValueOutOfRange(f"chip={chip} does not fit clip.sol's uint64")
        if uint(tip, "tip") > UINT192_MAX:
            raise ValueOutOfRange(f"tip={tip} does not fit clip.sol's uint192")
        self.chip = chip  # keeper reward as a fraction of tab [wad]
        self.tip = tip  # flat keeper reward [rad]
        self.stopped = uint(stopped, "stopped")  # breaker: 1 no kick, 2 + no redo, 3 + no take
        self.chost = 0  # cached wmul(dust, chop) [rad]; set by upchost()
        self.kicks = 0
        self.active: list[int] = []
        self.sales: dict[int, Sale] = {}
        #: terminal state of every sale that has ended (DONE or YANKED)
        self.ended: dict[int, SaleState] = {}
        self._locked = False

    # --- snapshot / restore ---
    def _save(self) -> object:
        return {k: (v.copy() if isinstance(v, dict | list) else v) for k, v in vars(self).items()}

    def _load(self, state: object) -> None:
        assert isinstance(state, dict)
        self.__dict__.clear()
        self.__dict__.update(state)

    @contextmanager
    def _lock(self, level: int | None) -> Iterator[None]:
        """dss ``lock`` then ``isStopped(level)``."""
        if self._locked:
            raise ClipperSystemLocked()
        if level is not None and not self.stopped < level:
            raise ClipperStopped(f"stopped={self.stopped}, operation needs < {level}")
        self._locked = True
        try:
            yield
        finally:
            self._locked = False

    # --- administration ---
    def file(self, what: str, data: int) -> None:
        """clip.sol ``file(bytes32, uint256)``; ``chip``/``tip`` truncate to uint64/uint192 as on chain."""
        uint(data, what)
        with self._lock(None):
            if what == "buf":
                self.buf = data
            elif what == "tail":
                self.tail = data
            elif what == "cusp":
                self.cusp = data
            elif what == "chip":
                self.chip = data & UINT64_MAX
            elif what == "tip":
                self.tip = data & UINT192_MAX
            elif what == "stopped":
                self.stopped = data
            else:
                raise ClipperUnrecognizedParam(repr(what))

    def set_calc(self, calc: Abacus) -> None:
        with self._lock(None):
            self.calc = calc

    def set_dog(self, dog: DogLike | None) -> None:
        with self._lock(None):
            self.dog = dog

    def set_vow(self, vow: str) -> None:
        with self._lock(None):
            self.vow = vow

    def upchost(self, dust: int | None = None, chop: int | None = None) -> int:
        """``chost = wmul(dust, chop)``; defaults read ``vat.ilks(ilk).dust`` and ``dog.chop(ilk)``."""
        if dust is None:
            dust = self.vat.ilk(self.ilk).dust
        if chop is None:
            if self.dog is None:
                raise MakerRevert("upchost needs a chop: pass one or link a Dog")
            chop = self.dog.chop(self.ilk)
        self.chost = wmul(uint(dust, "dust"), uint(chop, "chop"))
        return self.chost

    # --- views ---
    def count(self) -> int:
        return len(self.active)

    def list(self) -> list[int]:
        return list(self.active)

    def sale(self, sale_id: int) -> Sale | None:
        return self.sales.get(sale_id)

    def sales_view(self) -> Mapping[int, Sale]:
        return MappingProxyType(self.sales)

    def _status(self, tic: int, top: int, now: int) -> tuple[bool, int]:
        """clip.sol ``status``: ``(done, price)``."""
        return sale_status(self.calc, tic, top, now, self.tail, self.cusp)

    def get_status(self, sale_id: int, now: int) -> SaleStatus:
        """clip.sol ``getStatus(id)`` at time ``now``.

        For an id with no running sale dss evaluates ``status(0, 0)``, which yields ``(false, 0, 0, 0)`` or
        -- when ``now <= tail`` -- reverts dividing by ``top == 0``; here it is always ``(False, 0, 0, 0)``.
        """
        uint(now, "now")
        sale = self.sales.get(sale_id)
        if sale is None:
            return SaleStatus(False, 0, 0, 0)
        done, price = self._status(sale.tic, sale.top, now)
        return SaleStatus(done, price, sale.lot, sale.tab)

    getStatus = get_status  # dss spelling

    def state(self, sale_id: int, now: int) -> SaleState:
        """Lifecycle state of ``sale_id`` at ``now`` (see :mod:`clearhouse.liquidation.maker.lifecycle`)."""
        sale = self.sales.get(sale_id)
        if sale is None:
            return self.ended.get(sale_id, SaleState.ABSENT)
        done, _ = self._status(sale.tic, sale.top, uint(now, "now"))
        return SaleState.NEEDS_REDO if done else SaleState.ACTIVE

    def _transition(self, sale_id: int, action: SaleAction, before: SaleState, after: SaleState) -> None:
        check_result(before, action, after, sale_id)
        self.vat.emit(SaleTransition(self.ilk, sale_id, action.value, before.value, after.value))

    def _incentive(self, tab: int) -> tuple[bool, int]:
        """``(pay, coin)``: dss sucks ``add(tip, wmul(tab, chip))`` iff ``tip > 0 || chip > 0``."""
        return kick_incentive(self.tip, self.chip, tab)

    # --- auction ---
    def kick(self, tab: int, lot: int, usr: str, kpr: str, feed_price: int, now: int) -> int:
        """Auction ``lot`` [wad] for ``tab`` [rad] from ``top = rmul(feed_price, buf)``; return the sale id.

        Pays the keeper ``kpr`` ``tip + wmul(tab, chip)`` (sucked from the vow) when either is set. Like
        clip.sol, it trusts the caller to have moved ``lot`` into ``vat.gem[ilk, clip.address]``.
        """
        uint(tab, "tab")
        uint(lot, "lot")
        uint(feed_price, "feed_price")
        uint(now, "now")
        with self._lock(1):
            if tab == 0:
                raise ClipperZeroTab()
            if lot == 0:
                raise ClipperZeroLot()
            if _is_zero_address(usr):
                raise ClipperZeroUsr()
            sale_id = add(self.kicks, 1)
            before = self.state(sale_id, now)
            check_allowed(before, SaleAction.KICK, sale_id)
            top = rmul(feed_price, self.buf)
            if top == 0:
                raise ClipperZeroTopPrice(f"feed_price={feed_price} buf={self.buf}")
            pay, coin = self._incentive(tab)
            with atomic(self, self.vat):
                self.kicks = sale_id
                self.active.append(sale_id)
                self.sales[sale_id] = Sale(len(self.active) - 1, tab, lot, usr, now & UINT96_MAX, top)
                if pay:
                    self.vat.suck(self.vow, kpr, coin)
                self.vat.emit(Kick(self.ilk, sale_id, top, tab, lot, usr, kpr, coin))
                self._transition(sale_id, SaleAction.KICK, before, self.state(sale_id, now))
            return sale_id

    def redo(self, sale_id: int, kpr: str, now: int, feed_price: int) -> int:
        """Restart a sale that needs it (``now - tic > tail`` or ``price / top < cusp``); return the coin.

        Resets ``tic = now`` and ``top = rmul(feed_price, buf)``. The keeper incentive is paid only if
        ``tab >= chost`` and ``lot * feed_price >= chost`` (the sale is not dusty).
        """
        uint(now, "now")
        uint(feed_price, "feed_price")
        with self._lock(2):
            before = self.state(sale_id, now)
            check_allowed(before, SaleAction.REDO, sale_id)
            sale = self.sales[sale_id]
            top = rmul(feed_price, self.buf)
            if top == 0:
                raise ClipperZeroTopPrice(f"feed_price={feed_price} buf={self.buf}")
            pay, coin = redo_incentive(self.tip, self.chip, self.chost, sale.tab, sale.lot, feed_price)
            with atomic(self, self.vat):
                self.sales[sale_id] = replace(sale, tic=now & UINT96_MAX, top=top)
                if pay:
                    self.vat.suck(self.vow, kpr, coin)
                self.vat.emit(Redo(self.ilk, sale_id, top, sale.tab, sale.lot, sale.usr, kpr, coin))
                self._transition(sale_id, SaleAction.REDO, before, self.state(sale_id, now))
            return coin

    def take(
        self,
        sale_id: int,
        amt: int,
        max_price: int,
        who: str,
        now: int,
        *,
        sender: str | None = None,
        callback: TakeCallback | None = None,
    ) -> TakeResult:
        """Buy up to ``amt`` [wad] of collateral at the current price if it is ``<= max_price`` [ray].

        ``who`` receives the collateral; ``sender`` (default ``who``) pays ``owe`` DAI to the vow.
        Exactly clip.sol: ``slice = min(lot, amt)``, ``owe = slice * price``; if ``owe > tab`` the buyer
        pays just ``tab`` and gets ``tab / price``; otherwise a partial purchase may not leave
        ``0 < tab < chost``: it is cut down to leave exactly ``chost``, or rejected
        (``Clipper/no-partial-purchase``) if ``tab <= chost``. When the lot is gone or the tab covered
        the sale ends and leftover collateral goes back to ``usr``.
        """
        uint(amt, "amt")
        uint(max_price, "max_price")
        uint(now, "now")
        payer = who if sender is None else sender
        with self._lock(3):
            before = self.state(sale_id, now)
            check_allowed(before, SaleAction.TAKE, sale_id)
            sale = self.sales[sale_id]
            _, price = self._status(sale.tic, sale.top, now)
            if max_price < price:
                raise ClipperTooExpensive(f"price={price} > max={max_price}")

            lot, tab = sale.lot, sale.tab
            owe, slice_ = take_amounts(lot, tab, amt, price, self.chost)
            tab = tab - owe
            lot = lot - slice_

            with atomic(self, self.vat, self.dog):
                self.vat.flux(self.ilk, self.address, who, slice_)
                if callback is not None:
                    callback(payer, owe, slice_)
                self.vat.move(payer, self.vow, owe)
                dug = tab + owe if lot == 0 else owe
                if self.dog is not None:
                    self.dog.digs(self.ilk, dug)
                else:
                    self.vat.emit(Digs(self.ilk, dug))
                refund = 0
                if lot == 0:
                    self._remove(sale_id)
                elif tab == 0:
                    self.vat.flux(self.ilk, self.address, sale.usr, lot)
                    refund = lot
                    self._remove(sale_id)
                else:
                    self.sales[sale_id] = replace(self.sales[sale_id], tab=tab, lot=lot)
                self.vat.emit(Take(self.ilk, sale_id, max_price, price, owe, tab, lot, sale.usr))
                after = SaleState.DONE if sale_id not in self.sales else self.state(sale_id, now)
                if after is SaleState.DONE:
                    self.ended[sale_id] = SaleState.DONE
                self._transition(sale_id, SaleAction.TAKE, before, after)
            return TakeResult(sale_id, price, owe, slice_, tab, lot, refund, after)

    def yank(self, sale_id: int, to: str, now: int | None = None) -> int:
        """Cancel a running sale (governance / End): ``digs`` its tab, send its lot to ``to``; return the lot.

        ``now`` is only used to name the state left in the transition event (``yank`` ignores time).
        """
        with self._lock(None):
            sale = self.sales.get(sale_id)
            if sale is None:
                before = self.ended.get(sale_id, SaleState.ABSENT)
            elif now is None:
                before = SaleState.ACTIVE  # time unknown: reported as running
            else:
                before = self.state(sale_id, now)
            check_allowed(before, SaleAction.YANK, sale_id)
            assert sale is not None
            with atomic(self, self.vat, self.dog):
                if self.dog is not None:
                    self.dog.digs(self.ilk, sale.tab)
                else:
                    self.vat.emit(Digs(self.ilk, sale.tab))
                self.vat.flux(self.ilk, self.address, to, sale.lot)
                self._remove(sale_id)
                self.ended[sale_id] = SaleState.YANKED
                self.vat.emit(Yank(self.ilk, sale_id))
                self._transition(sale_id, SaleAction.YANK, before, SaleState.YANKED)
            return sale.lot

    def _remove(self, sale_id: int) -> None:
        """Swap-and-pop removal from ``active`` exactly as clip.sol ``_remove``."""
        last = self.active[-1]
        if sale_id != last:
            index = self.sales[sale_id].pos
            self.active[index] = last
            self.sales[last] = replace(self.sales[last], pos=index)
        self.active.pop()
        del self.sales[sale_id]


# --- pure arithmetic of clip.sol, shared with the Dutch auctions (clearhouse.mechanisms.vaults.dutch) ---


def sale_status(calc: Abacus, tic: int, top: int, now: int, tail: int, cusp: int) -> tuple[bool, int]:
    """clip.sol ``status``: ``(done, price)`` with ``dur = now - tic``, ``price = calc.price(top, dur)`` and
    ``done = dur > tail || rdiv(price, top) < cusp``."""
    dur = sub(now, tic)
    price = calc.price(top, dur)
    done = dur > tail or rdiv(price, top) < cusp
    return done, price


def take_amounts(lot: int, tab: int, amt: int, price: int, chost: int) -> tuple[int, int]:
    """clip.sol ``take`` sizing: ``(owe [rad], slice [wad])`` for buying up to ``amt`` at ``price`` [ray].

    ``slice = min(lot, amt)``, ``owe = slice * price``; if ``owe > tab`` the buyer pays just ``tab`` and
    gets ``tab / price``; otherwise a partial purchase may not leave ``0 < tab - owe < chost``: it is cut
    down to leave exactly ``chost``, or refused (``Clipper/no-partial-purchase``) when ``tab <= chost``.
    """
    slice_ = umin(lot, amt)
    owe = mul(slice_, price)
    if owe > tab:
        owe = tab
        slice_ = div(owe, price)
    elif owe < tab and slice_ < lot and tab - owe < chost:
        if not tab > chost:
            raise ClipperNoPartialPurchase(f"tab={tab} <= chost={chost}")
        owe = tab - chost
        slice_ = div(owe, price)
    return owe, slice_


def kick_incentive(tip: int, chip: int, tab: int) -> tuple[bool, int]:
    """``(pay, coin)``: clip.sol sucks ``coin = add(tip, wmul(tab, chip))`` iff ``tip > 0 || chip > 0``."""
    if tip > 0 or chip > 0:
        return True, add(tip, wmul(tab, chip))
    return False, 0


def redo_incentive(tip: int, chip: int, chost: int, tab: int, lot: int, feed_price: int) -> tuple[bool, int]:
    """clip.sol ``redo`` incentive: paid only if ``tab >= chost`` and ``lot * feed_price >= chost``."""
    if (tip > 0 or chip > 0) and tab >= chost and mul(lot, feed_price) >= chost:
        return kick_incentive(tip, chip, tab)
    return False, 0
