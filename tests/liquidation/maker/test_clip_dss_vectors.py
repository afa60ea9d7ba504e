"""dss ``src/test/clip.t.sol`` reproduced: each test names the dss test function it mirrors."""

from __future__ import annotations

import pytest

from clearhouse.liquidation.maker import RAD, RAY, WAD, Clipper, Dog, SaleState, StairstepExponentialDecrease
from clearhouse.liquidation.maker.errors import (
    ClipperCannotReset,
    ClipperNeedsReset,
    ClipperNoPartialPurchase,
    ClipperNotRunningAuction,
    ClipperStopped,
    ClipperSystemLocked,
    ClipperTooExpensive,
    ClipperZeroLot,
    ClipperZeroTab,
    ClipperZeroTopPrice,
    ClipperZeroUsr,
    VatInsufficientBalance,
)
from clearhouse.liquidation.maker.events import Kick, Take
from clearhouse.liquidation.maker.uint import rmul, rpow

from .dss_setup import (
    ALI,
    BOB,
    CHE,
    ILK,
    ME,
    START,
    World,
    auction_reset_setup,
    dss_clip_world,
    ether,
    rad,
    take_setup,
)
from .dss_setup import ray as ray_


def assert_sale_gone(w: World, sale_id: int = 1) -> None:
    assert w.clip.sale(sale_id) is None
    assert w.clip.get_status(sale_id, START).needs_redo is False
    assert w.dog.Dirt == 0
    assert w.dog.ilk(ILK).dirt == 0


def test_take_setup_matches_dss() -> None:
    """takeSetup: bark gives tab = 110 DAI, lot = 40, top = 5 (4 plus 25 %), vault emptied."""
    w = take_setup()
    sale = w.clip.sale(1)
    assert sale is not None
    assert (sale.pos, sale.tab, sale.lot, sale.usr, sale.tic, sale.top) == (
        0,
        rad(110 * WAD),
        40 * WAD,
        ME,
        START,
        ray_(5 * WAD),
    )
    assert w.vat.urn(ILK, ME).ink == 0 and w.vat.urn(ILK, ME).art == 0
    assert w.clip.chost == 22 * RAD
    assert w.dog.Dirt == rad(110 * WAD)


def test_kick() -> None:
    """clip.t.sol test_kick: tip paid on bark; top = feed * buf; second sale at pos 1 pays tip + chip*tab."""
    w = dss_clip_world()
    w.clip.file("tip", rad(100 * WAD))
    w.clip.file("chip", 0)
    w.dog.bark(ILK, ME, ALI, START, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None
    assert (sale.pos, sale.tab, sale.lot, sale.top) == (0, rad(110 * WAD), 40 * WAD, ray_(4 * WAD))
    assert w.vat.gem_of(ILK, ME) == 960 * WAD
    assert w.vat.dai_of(ALI) == rad(1100 * WAD)

    # second vault at startTime + 100, buf 1.25, tip 100 + chip 2 %
    w.vat.slip(ILK, ME, -40 * WAD)
    w.vat.set_urn(ILK, ME, 40 * WAD, 100 * WAD)
    w.clip.file("buf", ray_(ether("1.25")))
    w.clip.file("tip", rad(100 * WAD))
    w.clip.file("chip", ether("0.02"))
    w.dog.bark(ILK, ME, BOB, START + 100, w.feed)
    assert w.clip.kicks == 2
    sale2 = w.clip.sale(2)
    assert sale2 is not None
    assert (sale2.pos, sale2.tab, sale2.lot, sale2.tic, sale2.top) == (
        1,
        rad(110 * WAD),
        40 * WAD,
        START + 100,
        ray_(5 * WAD),
    )
    assert w.vat.gem_of(ILK, ME) == 920 * WAD
    assert w.vat.dai_of(BOB) == rad(1000 * WAD) + rad(100 * WAD) + sale2.tab * ether("0.02") // WAD
    kicks = [e for e in w.vat.events if isinstance(e, Kick)]
    assert [k.coin for k in kicks] == [rad(100 * WAD), rad(100 * WAD) + rad(ether("2.2"))]


def test_kick_zero_price() -> None:
    """clip.t.sol testFail_kick_zero_price: pip 0 -> top 0 -> the whole bark reverts."""
    w = dss_clip_world()
    before = (dict(w.vat.urns), w.dog.Dirt, len(w.vat.events))
    with pytest.raises(ClipperZeroTopPrice):
        w.dog.bark(ILK, ME, "this", START, 0)
    assert (dict(w.vat.urns), w.dog.Dirt, len(w.vat.events)) == before
    assert w.clip.kicks == 0


@pytest.mark.parametrize(
    ("tab", "lot", "usr", "err"),
    [
        (ether("1"), ether("2"), "0x1", None),  # test_kick_basic
        (0, ether("2"), "0x1", ClipperZeroTab),  # test_kick_zero_tab
        (ether("1"), 0, "0x1", ClipperZeroLot),  # test_kick_zero_lot
        (ether("1"), ether("2"), "0x0000000000000000000000000000000000000000", ClipperZeroUsr),  # zero_usr
    ],
)
def test_kick_validation(tab: int, lot: int, usr: str, err: type[Exception] | None) -> None:
    """clip.t.sol test_kick_basic / test_kick_zero_tab / test_kick_zero_lot / test_kick_zero_usr."""
    w = dss_clip_world()
    if err is None:
        assert w.clip.kick(tab, lot, usr, "this", w.feed, START) == 1
    else:
        with pytest.raises(err):
            w.clip.kick(tab, lot, usr, "this", w.feed, START)
        assert w.clip.kicks == 0 and w.clip.count() == 0


def test_take_zero_usr() -> None:
    """clip.t.sol test_take_zero_usr: sale 2 was never kicked."""
    w = take_setup()
    with pytest.raises(ClipperNotRunningAuction):
        w.clip.take(2, 25 * WAD, ray_(5 * WAD), ALI, START)


@pytest.mark.parametrize("amt", [25 * WAD, 22 * WAD])
def test_take_over_and_at_tab(amt: int) -> None:
    """clip.t.sol test_take_over_tab (amt 25) and test_take_at_tab (amt 22): pay 110, get 22, 18 back."""
    w = take_setup()
    res = w.clip.take(1, amt, ray_(5 * WAD), ALI, START)
    assert w.vat.gem_of(ILK, ALI) == 22 * WAD
    assert w.vat.dai_of(ALI) == rad(890 * WAD)
    assert w.vat.gem_of(ILK, ME) == 978 * WAD
    assert res.refund == 18 * WAD and res.state is SaleState.DONE
    assert_sale_gone(w)
    assert w.clip.state(1, START) is SaleState.DONE


def test_take_under_tab() -> None:
    """clip.t.sol test_take_under_tab (and test_gas_partial_take): half the tab."""
    w = take_setup()
    w.clip.take(1, 11 * WAD, ray_(5 * WAD), ALI, START)
    assert w.vat.gem_of(ILK, ALI) == 11 * WAD
    assert w.vat.dai_of(ALI) == rad(945 * WAD)
    assert w.vat.gem_of(ILK, ME) == 960 * WAD
    sale = w.clip.sale(1)
    assert sale is not None
    assert (sale.pos, sale.tab, sale.lot, sale.usr, sale.tic, sale.top) == (
        0,
        rad(55 * WAD),
        29 * WAD,
        ME,
        START,
        ray_(5 * WAD),
    )
    assert w.dog.Dirt == sale.tab == w.dog.ilk(ILK).dirt


def test_take_full_lot_partial_tab() -> None:
    """clip.t.sol test_take_full_lot_partial_tab: after 69 s buy all 40 for ~100 < 110; all dirt cleared."""
    w = take_setup()
    res = w.clip.take(1, 40 * WAD, ray_(ether("2.5")), ALI, START + 69)
    assert w.vat.gem_of(ILK, ALI) == 40 * WAD
    assert w.vat.dai_of(ALI) - rad(900 * WAD) < rad(ether("0.1"))  # dss: paid about 100
    assert res.price == rmul(ray_(5 * WAD), rpow(RAY - ray_(ether("0.01")), 69))
    assert res.owe == 40 * WAD * res.price
    assert w.vat.gem_of(ILK, ME) == 960 * WAD
    assert_sale_gone(w)


def test_take_bid_too_low() -> None:
    """clip.t.sol testFail_take_bid_too_low: max 4 < price 5."""
    w = take_setup()
    with pytest.raises(ClipperTooExpensive):
        w.clip.take(1, 22 * WAD, ray_(4 * WAD), ALI, START)


def test_take_bid_recalculates_due_to_chost_check() -> None:
    """clip.t.sol test_take_bid_recalculates_due_to_chost_check: 18 would leave 20 < chost 22."""
    w = take_setup()
    st = w.clip.get_status(1, START)
    assert (st.price, st.lot, st.tab) == (ray_(5 * WAD), 40 * WAD, rad(110 * WAD))
    w.clip.take(1, 18 * WAD, ray_(5 * WAD), ALI, START)
    sale = w.clip.sale(1)
    assert sale is not None
    assert sale.tab == w.clip.chost == 22 * RAD
    assert sale.lot == 40 * WAD - (110 * RAD - w.clip.chost) // st.price == ether("22.4")


def test_take_bid_avoids_recalculate_due_no_more_lot() -> None:
    """clip.t.sol test_take_bid_avoids_recalculate_due_no_more_lot: exact price after 60 s."""
    w = take_setup()
    st = w.clip.get_status(1, START + 60)
    assert st.price == 2735783211953807380973706855  # dss: 2.73 RAY
    w.clip.take(1, 40 * WAD, ray_(ether("2.8")), ALI, START + 60)
    assert w.clip.sale(1) is None  # tab and lot both 0 in dss's zeroed storage


def test_take_bid_fails_no_partial_allowed() -> None:
    """clip.t.sol test_take_bid_fails_no_partial_allowed."""
    w = take_setup()
    price = w.clip.get_status(1, START).price
    assert price == ray_(5 * WAD)
    w.clip.take(1, ether("17.6"), ray_(5 * WAD), ME, START)
    sale = w.clip.sale(1)
    assert sale is not None
    assert (sale.tab, sale.lot) == (rad(22 * WAD), ether("22.4"))
    assert not sale.tab > w.clip.chost
    events_before = len(w.vat.events)
    with pytest.raises(ClipperNoPartialPurchase):
        w.clip.take(1, 1 * WAD, ray_(5 * WAD), ME, START)
    assert w.clip.sale(1) == sale and len(w.vat.events) == events_before
    w.clip.take(1, sale.tab // price, ray_(5 * WAD), ME, START)
    assert w.clip.sale(1) is None


def test_take_multiple_bids_different_prices() -> None:
    """clip.t.sol test_take_multiple_bids_different_prices."""
    w = take_setup()
    w.clip.take(1, 10 * WAD, ray_(5 * WAD), ALI, START)
    assert w.vat.gem_of(ILK, ALI) == 10 * WAD
    assert w.vat.dai_of(ALI) == rad(950 * WAD)
    sale = w.clip.sale(1)
    assert sale is not None and (sale.tab, sale.lot) == (rad(60 * WAD), 30 * WAD)

    st = w.clip.get_status(1, START + 30)
    w.clip.take(1, st.lot, ray_(st.price), BOB, START + 30)  # dss passes ray(_price) as max
    assert w.clip.sale(1) is None
    expected_gem = (RAY * 60 * WAD) // st.price
    assert w.vat.gem_of(ILK, BOB) == expected_gem
    assert w.vat.dai_of(BOB) == rad(940 * WAD)
    assert w.vat.gem_of(ILK, ME) == 960 * WAD + (30 * WAD - expected_gem)


def test_auction_reset_tail() -> None:
    """clip.t.sol test_auction_reset_tail: redo only after tail; new top from the latest feed (3 * 1.25)."""
    w = auction_reset_setup(10 * 3600)
    w.pip = 3 * WAD
    sale = w.clip.sale(1)
    assert sale is not None and (sale.tic, sale.top) == (START, ray_(5 * WAD))
    assert not w.clip.get_status(1, START + 3600).needs_redo
    with pytest.raises(ClipperCannotReset):
        w.clip.redo(1, "this", START + 3600, w.feed)
    assert w.clip.get_status(1, START + 3601).needs_redo
    w.clip.redo(1, "this", START + 3601, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None and (sale.tic, sale.top) == (START + 3601, ray_(ether("3.75")))


def test_auction_reset_cusp() -> None:
    """clip.t.sol test_auction_reset_cusp: linear 1 h curve falls below cusp 50 % after 1801 s."""
    w = auction_reset_setup(3600)
    w.pip = 3 * WAD
    assert not w.clip.get_status(1, START + 1800).needs_redo
    with pytest.raises(ClipperCannotReset):
        w.clip.redo(1, "this", START + 1800, w.feed)
    assert w.clip.get_status(1, START + 1801).needs_redo
    w.clip.redo(1, "this", START + 1801, w.feed)
    sale = w.clip.sale(1)
    assert sale is not None and (sale.tic, sale.top) == (START + 1801, ray_(ether("3.75")))


@pytest.mark.parametrize(("tau", "at"), [(10 * 3600, 3601), (3600, 1801)])
def test_auction_reset_twice(tau: int, at: int) -> None:
    """clip.t.sol test_auction_reset_tail_twice / test_auction_reset_cusp_twice."""
    w = auction_reset_setup(tau)
    w.clip.redo(1, "this", START + at, w.feed)
    with pytest.raises(ClipperCannotReset):
        w.clip.redo(1, "this", START + at, w.feed)


def test_redo_zero_usr() -> None:
    """clip.t.sol test_redo_zero_usr."""
    w = dss_clip_world()
    with pytest.raises(ClipperNotRunningAuction):
        w.clip.redo(1, "this", START, w.feed)


def test_redo_zero_price() -> None:
    """clip.t.sol testFail_redo_zero_price."""
    w = auction_reset_setup(3600)
    assert w.clip.get_status(1, START + 1801).needs_redo
    with pytest.raises(ClipperZeroTopPrice):
        w.clip.redo(1, "this", START + 1801, 0)
    sale = w.clip.sale(1)
    assert sale is not None and sale.tic == START


def test_set_breaker_and_stopped_kick() -> None:
    """clip.t.sol test_setBreaker and test_stopped_kick: any stopped level blocks bark/kick."""
    w = dss_clip_world()
    for level in (1, 2, 3):
        w.clip.file("stopped", level)
        assert w.clip.stopped == level
        with pytest.raises(ClipperStopped):
            w.dog.bark(ILK, ME, "this", START, w.feed)
        assert w.vat.urn(ILK, ME).art == 100 * WAD and w.dog.Dirt == 0
    w.clip.file("stopped", 0)
    assert w.dog.bark(ILK, ME, "this", START, w.feed) == 1


@pytest.mark.parametrize(("level", "ok"), [(1, True), (2, True), (3, False)])
def test_stopped_take(level: int, ok: bool) -> None:
    """clip.t.sol test_stopped_1_take / test_stopped_2_take / testFail_stopped_3_take."""
    w = take_setup()
    w.clip.file("stopped", level)
    if ok:
        w.clip.take(1, 25 * WAD, ray_(5 * WAD), ALI, START)
        assert w.clip.sale(1) is None
    else:
        with pytest.raises(ClipperStopped):
            w.clip.take(1, 25 * WAD, ray_(5 * WAD), ALI, START)


@pytest.mark.parametrize(("level", "ok"), [(1, True), (2, False), (3, False)])
def test_stopped_auction_reset_tail(level: int, ok: bool) -> None:
    """clip.t.sol test_stopped_1/2/3_auction_reset_tail."""
    w = auction_reset_setup(10 * 3600)
    w.clip.file("stopped", level)
    w.pip = 3 * WAD
    assert w.clip.get_status(1, START + 3601).needs_redo
    if ok:
        with pytest.raises(ClipperCannotReset):
            w.clip.redo(1, "this", START + 3600, w.feed)
        w.clip.redo(1, "this", START + 3601, w.feed)
        sale = w.clip.sale(1)
        assert sale is not None and (sale.tic, sale.top) == (START + 3601, ray_(ether("3.75")))
    else:
        with pytest.raises(ClipperStopped):
            w.clip.redo(1, "this", START + 3601, w.feed)


def test_redo_incentive() -> None:
    """clip.t.sol test_redo_incentive, including the exact price 1830161706366147524653080130."""
    w = take_setup()
    w.clip.file("tip", rad(100 * WAD))
    w.clip.file("chip", 0)
    tab = rad(110 * WAD)
    now = START + 300
    w.clip.redo(1, "0x123", now, w.feed)
    assert w.vat.dai_of("0x123") == w.clip.tip

    w.clip.file("chip", ether("0.02"))
    now += 300
    w.clip.redo(1, "0x234", now, w.feed)
    assert w.vat.dai_of("0x234") == w.clip.tip + w.clip.chip * tab // WAD

    w.clip.file("tip", 0)
    now += 300
    w.clip.redo(1, "0x345", now, w.feed)
    assert w.vat.dai_of("0x345") == w.clip.chip * tab // WAD

    w.vat.file_ilk(ILK, "dust", rad(100 * WAD) + 1)
    assert w.clip.upchost() == 110 * RAD + 1
    now += 300
    w.clip.redo(1, "0x456", now, w.feed)
    assert w.vat.dai_of("0x456") == 0

    w.vat.file_ilk(ILK, "dust", rad(20 * WAD))
    assert w.clip.upchost() == 22 * RAD
    now += 100
    price = w.clip.get_status(1, now).price
    assert price == 1830161706366147524653080130  # dss: 1.83 RAY
    w.clip.take(1, 38 * WAD, ray_(5 * WAD), "this", now, sender=ME)
    sale = w.clip.sale(1)
    assert sale is not None
    assert sale.tab == rad(110 * WAD) - 38 * WAD * price
    assert sale.lot == 2 * WAD  # 2 * $4 < $22 chost: dusty collateral
    now += 300
    w.clip.redo(1, "0x567", now, w.feed)
    assert w.vat.dai_of("0x567") == 0


def test_incentive_max_values() -> None:
    """clip.t.sol test_incentive_max_values: chip is a uint64 and tip a uint192 (file truncates)."""
    w = dss_clip_world()
    w.clip.file("chip", 2**64 - 1)
    w.clip.file("tip", 2**192 - 1)
    assert w.clip.chip == 18446744073709551615
    assert w.clip.tip == 6277101735386680763835789423207666416102355444464034512895
    w.clip.file("chip", 2**64)
    w.clip.file("tip", 2**192)
    assert (w.clip.chip, w.clip.tip) == (0, 0)


def test_clipper_yank() -> None:
    """clip.t.sol test_Clipper_yank: sale deleted, dirt cleared, lot to the caller."""
    w = take_setup()
    pre = w.vat.gem_of(ILK, "this")
    sale = w.clip.sale(1)
    assert sale is not None
    w.clip.yank(1, "this")
    assert_sale_gone(w)
    assert w.vat.gem_of(ILK, "this") == pre + sale.lot
    assert w.clip.state(1, START) is SaleState.YANKED
    with pytest.raises(ClipperNotRunningAuction):
        w.clip.yank(1, "this")


def test_remove_id() -> None:
    """clip.t.sol test_remove_id: swap-and-pop of the active list (via yank instead of PublicClip.remove)."""
    w = dss_clip_world()
    w.clip.set_dog(None)  # direct kicks never added Dirt; with the Dog linked, digs would underflow
    w.vat.slip(ILK, w.clip.address, 5 * WAD)
    for _ in range(5):
        w.clip.kick(WAD * RAY, WAD, "0x1", "this", w.feed, START)
    assert w.clip.list() == [1, 2, 3, 4, 5]
    w.clip.yank(3, "this")
    assert w.clip.list() == [1, 2, 5, 4]
    sale5 = w.clip.sale(5)
    assert sale5 is not None and sale5.pos == 2
    w.clip.yank(4, "this")
    assert w.clip.list() == [1, 2, 5]
    assert [w.clip.sales[i].pos for i in (1, 2, 5)] == [0, 1, 2]
    assert w.clip.count() == 3


def test_not_enough_dai() -> None:
    """clip.t.sol testFail_not_enough_dai: che has no DAI -> vat.move underflows, nothing changes."""
    w = take_setup()
    sale = w.clip.sale(1)
    n = len(w.vat.events)
    with pytest.raises(VatInsufficientBalance):
        w.clip.take(1, 25 * WAD, ray_(5 * WAD), CHE, START)
    assert w.clip.sale(1) == sale and w.vat.gem_of(ILK, CHE) == 0 and len(w.vat.events) == n


def test_flashsale() -> None:
    """clip.t.sol test_flashsale: che sells the slice inside clipperCall at 5.5 and keeps a profit."""
    w = take_setup()
    exchange = "exchange"
    w.vat.suck("", exchange, rad(1000 * WAD))

    def clipper_call(sender: str, owe: int, slice_: int) -> None:
        w.vat.flux(ILK, CHE, exchange, slice_)  # sell the gold ...
        w.vat.move(exchange, sender, slice_ * ray_(ether("5.5")))  # ... at goldPrice * 11 / 10

    assert w.vat.dai_of(CHE) == 0
    w.clip.take(1, 25 * WAD, ray_(5 * WAD), CHE, START, callback=clipper_call)
    assert w.vat.dai_of(CHE) > 0  # 22 * 5.5 - 110 = 11 DAI profit
    assert w.vat.dai_of(CHE) == rad(11 * WAD)


@pytest.mark.parametrize("attack", ["take", "redo", "kick", "file_uint", "file_addr", "yank"])
def test_reentrancy(attack: str) -> None:
    """clip.t.sol testFail_reentrancy_take/_redo/_kick/_file_uint/_file_addr/_yank."""
    w = take_setup()
    clip = w.clip
    sale = clip.sale(1)

    def bad(sender: str, owe: int, slice_: int) -> None:
        if attack == "take":
            clip.take(1, 25 * WAD, 5 * WAD * 10 * RAY, "dan", START)
        elif attack == "redo":
            clip.redo(1, sender, START, w.feed)
        elif attack == "kick":
            clip.kick(1, 1, "0x1", "0x1", w.feed, START)
        elif attack == "file_uint":
            clip.file("stopped", 1)
        elif attack == "file_addr":
            clip.set_vow("0x123")
        else:
            clip.yank(1, "dan")

    with pytest.raises(ClipperSystemLocked):
        clip.take(1, 25 * WAD, ray_(5 * WAD), ALI, START, callback=bad)
    assert clip.sale(1) == sale and clip.stopped == 0 and clip.vow == "vow"
    assert w.vat.gem_of(ILK, ALI) == 0 and w.vat.dai_of(ALI) == rad(1000 * WAD)
    # and the lock was released
    clip.take(1, 25 * WAD, ray_(5 * WAD), ALI, START)


def test_needs_reset_take_rejected() -> None:
    """A take on a sale past tail raises Clipper/needs-reset (clip.sol take's require(!done))."""
    w = take_setup()
    with pytest.raises(ClipperNeedsReset):
        w.clip.take(1, WAD, ray_(5 * WAD), ALI, START + 3601)


def test_take_events() -> None:
    w = take_setup()
    w.clip.take(1, 11 * WAD, ray_(5 * WAD), ALI, START)
    take = [e for e in w.vat.events if isinstance(e, Take)][-1]
    assert (take.price, take.owe, take.tab, take.lot, take.usr) == (
        ray_(5 * WAD),
        rad(55 * WAD),
        rad(55 * WAD),
        29 * WAD,
        ME,
    )


def test_clipper_standalone_needs_collateral() -> None:
    """Without a Dog the clip still logs Digs; it must hold the lot (kick trusts the caller)."""
    from clearhouse.liquidation.maker import VatLite

    vat = VatLite()
    clip = Clipper("x", vat, StairstepExponentialDecrease(1, RAY), buf=RAY, tail=100, cusp=0)
    clip.kick(10 * RAD, 10 * WAD, "u", "k", RAY, 0)
    vat.suck("", "b", 100 * RAD)
    with pytest.raises(VatInsufficientBalance):
        clip.take(1, WAD, RAY, "b", 0)
    vat.slip("x", clip.address, 10 * WAD)
    clip.take(1, WAD, RAY, "b", 0)
    assert vat.gem_of("x", "b") == WAD
    assert isinstance(Dog(vat), Dog)
