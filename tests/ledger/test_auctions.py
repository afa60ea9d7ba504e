"""Vault liquidation through blocks: Dutch (clip.sol), English (flip.sol) and fixed-discount disposal.

The same crash for every path (tests/ledger/vault_fixtures.py): dave's vault holds 5 ETH against 6000
USDC of debt; ETH falls from 2000 to 1500, so 5 x 1500 / 1.5 = 5000 < 6000 and the vault is unsafe.
ETH-A: chop 1.13 (tab = 6780), dust 100 (chost = 113). Conservation is checked after every block.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.fixedpoint import RAY
from clearhouse.ledger.model import Vault
from clearhouse.liquidation.maker.abaci import LinearDecrease

from .builders import W, balance
from .vault_fixtures import DUTCH, ENGLISH, ETH_A, FIXED, codes, crashed_vault, only, snapshot_all, step

TAB = 6780 * 10**45  # 6000 x 1.13 in rad
TOP = 1800 * RAY  # 1500 x buf 1.2


# -- Dutch auction -----------------------------------------------------------------------------------


def test_dutch_bark_kicks_and_pays_the_keeper() -> None:
    e = crashed_vault()
    insurance = e.state.pools.insurance["USDC"]
    keeper = balance(e, "keeper")
    events = step(e, [c.Bark("dave", ETH_A, "keeper")])
    assert codes(events) == []
    (kick,) = only(events, ev.AuctionKicked)
    assert (kick.lot, kick.tab, kick.top) == (W(5), TAB, TOP)
    assert e.state.accounts["dave"].vaults == {}
    assert e.state.debt.dirt == TAB == e.state.vault_types[ETH_A].dirt
    # tip 10 + chip 0.1% x 6780 = 16.78, paid by the insurance fund.
    assert balance(e, "keeper") - keeper == W("16.78") == insurance - e.state.pools.insurance["USDC"]
    assert [(t.before, t.after) for t in only(events, ev.AuctionTransition)] == [("absent", "active")]


def test_dutch_take_at_the_falling_price_covers_the_tab_and_refunds_the_owner() -> None:
    e = crashed_vault()
    step(e, [c.Bark("dave", ETH_A, "keeper")])
    insurance = e.state.pools.insurance["USDC"]
    events = step(e, [c.TakeAuction(1, W(5), 1500 * RAY, "alice")], dt=600)
    price = LinearDecrease(3600).price(TOP, 600)  # 1800 x 3000/3600 = 1500 (less a few 1e-27)
    assert price < 1500 * RAY
    (take,) = only(events, ev.AuctionTaken)
    # owe = 5 x price > tab: pay the tab exactly, get tab / price.
    assert (take.price, take.owe, take.slice, take.tab) == (price, TAB, TAB // price, 0)
    assert take.paid == W(6780)
    (end,) = only(events, ev.AuctionEnded)
    assert end.refund == W(5) - TAB // price and balance(e, "dave", "ETH") == end.refund
    assert (end.recovered, end.surplus, end.bad_debt) == (6000 * 10**45, W(780), 0)
    assert e.state.pools.insurance["USDC"] - insurance == W(780)  # the penalty
    assert e.state.debt.auctions == {} and e.state.debt.dirt == 0
    assert e.state.repaid == {"USDC": W(6000)}


def test_dutch_partial_take_keeps_chost_and_refusals_change_nothing() -> None:
    e = crashed_vault()
    step(e, [c.Bark("dave", ETH_A, "keeper")])
    # Above max: Clipper/too-expensive.
    assert codes(step(e, [c.TakeAuction(1, W(1), 1700 * RAY, "alice")], dt=60)) == ["clipper_too_expensive"]
    # A redo of a live auction: Clipper/cannot-reset.
    assert codes(step(e, [c.RedoAuction(1, "keeper")])) == ["clipper_cannot_reset"]
    before = snapshot_all(e)
    events = step(e, [c.TakeAuction(1, W("4.5"), 2000 * RAY, "alice")], dt=480)  # dur 600
    (take,) = only(events, ev.AuctionTaken)
    chost = 113 * 10**45
    assert take.tab == chost and take.owe == TAB - chost  # 4.5 x 1500 would leave 30 < chost
    assert take.slice == (TAB - chost) // take.price
    assert snapshot_all(e) != before
    # Wrong kind and unknown ids.
    assert codes(step(e, [c.Tend(1, "bob", W(1), 0), c.TakeAuction(9, W(1), RAY, "bob")])) == [
        "wrong_auction_kind",
        "unknown_auction",
    ]


def test_dutch_auction_without_takers_keeps_the_debt_until_redo() -> None:
    e = crashed_vault()
    step(e, [c.Bark("dave", ETH_A, "keeper")])
    # Past cusp (price/top < 0.6 after 1440 s): the auction needs redo; the debt stays under auction.
    events = step(e, [c.TakeAuction(1, W(5), 2000 * RAY, "alice")], dt=1500)
    assert codes(events) == ["clipper_needs_reset"]
    assert e.state.debt.auctions[1].tab == TAB and e.state.debt.dirt == TAB
    keeper = balance(e, "keeper")
    events = step(e, [c.RedoAuction(1, "keeper")], price=W(1400))
    (redo,) = only(events, ev.AuctionRedone)
    assert redo.top == 1680 * RAY and e.state.debt.auctions[1].tic == e.state.time
    assert balance(e, "keeper") - keeper == W("16.78")
    # Taken after the redo, the whole lot at 1680 x 5/6 = 1400 raises only 7000 ... still covers tab.
    events = step(e, [c.TakeAuction(1, W(5), 2000 * RAY, "bob")], dt=600)
    assert only(events, ev.AuctionEnded)[0].bad_debt == 0


def test_dutch_auction_that_sells_out_below_the_debt_records_bad_debt() -> None:
    # Without cusp, after 3000 s the price is 1800 / 6 = 300; the whole lot raises 1500 < 6000 of debt.
    e2 = crashed_vault(msgspec.structs.replace(DUTCH, cusp=0))
    step(e2, [c.Bark("dave", ETH_A, "keeper")])
    events = step(e2, [c.TakeAuction(1, W(5), 2000 * RAY, "alice")], dt=3000)
    (end,) = only(events, ev.AuctionEnded)
    price = LinearDecrease(3600).price(TOP, 3000)
    paid = -(-(W(5) * price) // RAY)
    assert end.refund == 0 and end.recovered == paid * RAY
    assert end.bad_debt == W(6000) - paid == e2.state.pools.bad_debt["USDC"]
    assert e2.state.debt.dirt == 0


# -- English auction ---------------------------------------------------------------------------------


def test_english_zero_bid_wins_when_no_one_else_bids() -> None:
    e = crashed_vault(ENGLISH)
    events = step(e, [c.Bark("dave", ETH_A, "keeper")])
    (kick,) = only(events, ev.AuctionKicked)
    assert (kick.lot, kick.tab) == (W(5), W(6780))
    assert codes(step(e, [c.Tend(1, "keeper", W(5), 0)])) == []
    assert codes(step(e, [c.Deal(1, "keeper")], dt=300)) == ["flipper_not_finished"]
    eth = balance(e, "keeper", "ETH")
    events = step(e, [c.Deal(1, "alice")], dt=400)  # ttl 600 passed
    (end,) = only(events, ev.AuctionEnded)
    assert (end.winner, end.lot, end.recovered, end.bad_debt) == ("keeper", W(5), 0, W(6000))
    assert balance(e, "keeper", "ETH") - eth == W(5) and e.state.pools.bad_debt["USDC"] == W(6000)


def test_english_tend_then_dent_with_refunds() -> None:
    e = crashed_vault(ENGLISH)
    step(e, [c.Bark("dave", ETH_A, "keeper")])
    alice, bob = balance(e, "alice"), balance(e, "bob")
    assert codes(step(e, [c.Tend(1, "alice", W(5), W(5000))])) == []
    assert codes(step(e, [c.Tend(1, "bob", W(5), W(5200))])) == ["flipper_bid_rejected"]  # < 5000 x 1.05
    assert codes(step(e, [c.Dent(1, "bob", W(4), W(5250))])) == ["flipper_not_dent_phase"]
    assert codes(step(e, [c.Tick(1, "bob")])) == ["flipper_bid_already_placed"]
    assert codes(step(e, [c.Tend(1, "bob", W(5), W(5250))])) == []
    assert balance(e, "alice") == alice  # refunded
    assert codes(step(e, [c.Tend(1, "alice", W(5), W(6780))])) == []  # = tab: dent phase
    assert codes(step(e, [c.Tend(1, "bob", W(5), W(6780))])) == ["flipper_tend_over"]
    assert codes(step(e, [c.Dent(1, "bob", W("4.8"), W(6780))])) == ["flipper_bid_rejected"]  # 1.05 x 4.8 > 5
    events = step(e, [c.Dent(1, "bob", W("4.7"), W(6780))])
    assert only(events, ev.AuctionBid)[0].returned == W("0.3") == balance(e, "dave", "ETH")
    events = step(e, [c.Deal(1, "keeper")], dt=700)
    (end,) = only(events, ev.AuctionEnded)
    assert (end.winner, end.lot, end.recovered, end.surplus, end.bad_debt) == (
        "bob", W("4.7"), 6000 * 10**45, W(780), 0,
    )  # fmt: skip
    assert balance(e, "alice") == alice and balance(e, "bob") == bob - W(6780)
    assert codes(step(e, [c.Deal(1, "keeper")])) == ["flipper_not_running"]


def test_english_auction_without_bids_waits_for_tick() -> None:
    e = crashed_vault(ENGLISH)
    step(e, [c.Bark("dave", ETH_A, "keeper")])
    assert codes(step(e, [c.Tick(1, "bob")])) == ["flipper_not_finished"]
    events = step(e, [c.Tend(1, "bob", W(5), W(1)), c.Deal(1, "bob")], dt=3600)
    assert codes(events) == ["flipper_finished", "flipper_not_finished"]
    assert e.state.debt.auctions[1].lot == W(5)  # the debt stays under auction
    events = step(e, [c.Tick(1, "bob")])
    assert only(events, ev.AuctionRestarted)[0].end == e.state.time + 3600
    assert codes(step(e, [c.Tend(1, "bob", W(5), W(6780))])) == []


# -- fixed discount and the three paths side by side -------------------------------------------------


def test_fixed_discount_takeover() -> None:
    e = crashed_vault(FIXED)
    # health = 5 x 1000 / 6000 = 0.83 < 0.95: the whole debt may be repaid.
    events = step(e, [c.Bark("dave", ETH_A, "keeper")])
    (take,) = only(events, ev.VaultTakenOver)
    seize = W(6000) * W(1) * W(1) // (W(1500) * W("0.95"))
    assert (take.repay, take.seize, take.price) == (W(6000), seize, W(1425))
    assert e.state.accounts["dave"].vaults[ETH_A] == Vault(W(5) - seize, 0)


def test_fixed_discount_close_factor_above_threshold() -> None:
    e = crashed_vault(FIXED, mat=RAY * 11 // 10)  # health 5 x 1500/1.1 / 6000 = 1.136 -> safe
    assert codes(step(e, [c.Bark("dave", ETH_A, "keeper")])) == ["not_liquidatable"]
    step(e, [], price=W(1300))  # 5 x 1300 / 1.1 = 5909 < 6000: health 0.985 > 0.95 -> 50%
    events = step(e, [c.Bark("dave", ETH_A, "keeper")])
    assert only(events, ev.VaultTakenOver)[0].repay == W(3000)


def test_same_crash_three_paths() -> None:
    """What dave keeps and what the system loses, for the same crash and a keeper arriving 600 s later."""
    outcomes = {}
    for name, disposal in (("dutch", None), ("english", ENGLISH), ("fixed", FIXED)):
        e = crashed_vault(disposal) if disposal else crashed_vault()
        step(e, [c.Bark("dave", ETH_A, "keeper")])
        if name == "dutch":
            step(e, [c.TakeAuction(1, W(5), 2000 * RAY, "alice")], dt=600)
        elif name == "english":
            step(e, [c.Tend(1, "alice", W(5), 0)], dt=600)
            step(e, [c.Deal(1, "alice")], dt=700)
        kept = balance(e, "dave", "ETH") + sum(v.ink for v in e.state.accounts["dave"].vaults.values())
        outcomes[name] = (kept, e.state.pools.bad_debt.get("USDC", 0))
    # Fixed 5% bonus leaves dave the most; the Dutch auction charges the 13% penalty; the unopposed
    # zero bid takes everything and leaves the whole debt as bad debt.
    assert outcomes["fixed"][0] > outcomes["dutch"][0] > outcomes["english"][0] == 0
    assert outcomes["fixed"][1] == outcomes["dutch"][1] == 0 and outcomes["english"][1] == W(6000)


# -- property: no sequence of takes creates value ----------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 900), st.integers(1, 6 * 10**6), st.sampled_from(["alice", "bob", "keeper"])
        ),
        min_size=1,
        max_size=8,
    )
)
def test_no_sequence_of_takes_creates_value(steps: list[tuple[int, int, str]]) -> None:
    e = crashed_vault()
    step(e, [c.Bark("dave", ETH_A, "keeper")])
    lot0 = W(5)
    taken = refunded = 0
    raised = 0
    for dt, micro_eth, who in steps:
        a = e.state.debt.auctions.get(1)
        tx: c.AnyCommand = c.TakeAuction(1, micro_eth * 10**12, 10**4 * RAY, who)
        if (
            a is not None
            and codes(step(e, [], dt=dt)) == []
            and (e.state.debt.auctions[1].tic + 1440) < e.state.time
        ):
            tx = c.RedoAuction(1, who)
        events = step(e, [tx], dt=1)  # step() checks conservation to the last unit
        for t in only(events, ev.AuctionTaken):
            assert t.paid * RAY >= t.slice * t.price  # never below the current price
            taken += t.slice
            raised += t.owe
        refunded += sum(x.refund for x in only(events, ev.AuctionEnded))
    a = e.state.debt.auctions.get(1)
    left_lot, left_tab = (a.lot, a.tab) if a else (0, 0)
    assert taken + refunded + left_lot == lot0
    assert raised <= TAB and (a is None or raised + left_tab == TAB)
    assert e.state.debt.dirt == left_tab
