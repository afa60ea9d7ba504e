"""The Dutch-auction decisions shared by the lab's vault keepers and the node's keeper: worked numbers
and a property (a take never pays more than the valuation of what it buys)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.ledger.model import Auction, Vault, VaultType, VaultTypeSpec
from clearhouse.liquidation.vault import DutchAuction
from clearhouse.risk.vault_keeper_decision import (
    bark_profitable,
    dutch_bark_gain,
    dutch_price,
    dutch_take,
    valuation,
    vault_unsafe,
)

CFG = DutchAuction(buf=11 * RAY // 10, tail=600, tip=10 * WAD, chip=WAD // 1000, tau=100)
SPEC = VaultTypeSpec("ETH-A", "ETH", 3 * RAY // 2, 10**9 * WAD, chop=113 * WAD // 100, disposal=CFG)


def vt(rate: int = RAY) -> VaultType:
    return VaultType(SPEC, rate=rate)


def test_unsafe_and_bark_gain_worked_example() -> None:
    v = Vault(ink=WAD, art=1000 * WAD)
    # safe while 1 x price / 1.5 >= 1000, i.e. price >= 1500
    assert not vault_unsafe(v, vt(), 1500 * WAD)
    assert vault_unsafe(v, vt(), 1499 * WAD)
    assert not vault_unsafe(Vault(ink=WAD, art=0), vt(), 1 * WAD)
    # a rate of 1.1 makes the debt 1100: unsafe below 1650
    assert vault_unsafe(v, vt(11 * RAY // 10), 1600 * WAD)
    # the kick pays tip + chip x tab = 10 + 0.001 x 1130
    assert dutch_bark_gain(v, vt(), CFG) == 11.13
    assert bark_profitable(11.13, 1.13, 10.0) and not bark_profitable(11.13, 1.14, 10.0)


def test_dutch_take_worked_example() -> None:
    a = Auction(1, "dutch", "ETH-A", "alice", WAD, 1130 * WAD * RAY, 1000 * WAD * RAY, tic=0, top=1430 * RAY)
    assert dutch_price(a, CFG, 0) == (False, 1430 * RAY)
    done, price = dutch_price(a, CFG, 10)  # linear over 100 s: 1430 x 0.9
    assert (done, price) == (False, 1287 * RAY)
    assert valuation(1300 * WAD, WAD // 5) == 1040 * WAD
    assert dutch_take(a, price, 1300 * WAD, WAD // 5, 5000 * WAD, 0.0, 0.0).decision == "expensive"
    t = dutch_take(a, price, 1300 * WAD, 0, 5000 * WAD, 0.0, 0.0)
    # the whole lot; it pays the tab (1130 < 1287): worth 1300 at the oracle, a gain of 170
    assert (t.decision, t.amount, t.max_price, t.paid, t.gain) == ("send", WAD, 1300 * RAY, 1130 * WAD, 170.0)
    assert dutch_take(a, price, 1300 * WAD, 0, 5000 * WAD, 170.5, 0.0).decision == "unprofitable"
    assert dutch_take(a, price, 1300 * WAD, 0, 0, 0.0, 0.0).decision == "capital"
    part = dutch_take(a, price, 1300 * WAD, 0, 643 * WAD + WAD // 2, 0.0, 0.0)
    assert part.decision == "send" and part.amount == WAD // 2 and part.paid <= 643 * WAD + WAD // 2


@given(lot=st.integers(1, 10**22), tab_wad=st.integers(1, 10**24), price=st.integers(1, 10**31),
       external=st.integers(1, 10**22), free=st.integers(0, 10**24))
def test_take_never_pays_above_its_valuation(lot: int, tab_wad: int, price: int, external: int,
                                             free: int) -> None:
    a = Auction(1, "dutch", "ETH-A", "o", lot, tab_wad * RAY, tab_wad * RAY, tic=0, top=price)
    t = dutch_take(a, price, external, 0, free, 0.0, float("-inf"))
    if t.decision == "send":
        assert price <= t.max_price == external * 10**9
        assert 0 < t.amount <= lot
        assert t.paid <= free + 1  # ceil of owe (rad) to WAD
