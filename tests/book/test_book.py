"""Order book worked examples: priority, every order type, self-trade prevention, cancels, band, depth."""

from __future__ import annotations

import pytest

from clearhouse.auth.errors import BadSignature, Expired, OffGrid, PriceOutsideBand
from clearhouse.auth.orders import order_id
from clearhouse.book.book import BookContext, LevelDelta
from clearhouse.book.cancels import CancelAll, CancelOrder, sign_cancel, sign_cancel_all
from clearhouse.book.errors import (
    DuplicateOrder,
    ReduceOnlyRefused,
    StaleCancelAll,
    UnknownOrder,
    WouldCross,
    WrongSigner,
)

from .helpers import CHAIN, CONTEXT, HEIGHT, INDEX, KEYS, MARKET, NOW_MS, book, order, w


def fills_of(outcome):  # type: ignore[no-untyped-def]
    return [
        (f.buy.order.account, f.sell.order.account, f.fill.size, f.fill.price, f.fill.taker)
        for f in outcome.fills
    ]


def test_price_then_time_priority() -> None:
    b = book()
    b.place(order("bob", "sell", 1, 2001))
    b.place(order("carol", "sell", 1, 2000))
    b.place(order("dave", "sell", 2, 2000))
    out = b.place(order("alice", "buy", 3.5, 2001))
    # best price first (2000), at 2000 the earlier order (carol) first, then bob's 2001 for the last 0.5
    assert fills_of(out) == [
        ("alice", "carol", w(1), w(2000), "buyer"),
        ("alice", "dave", w(2), w(2000), "buyer"),
        ("alice", "bob", w(0.5), w(2001), "buyer"),
    ]
    assert out.rested == 0
    assert b.depth().asks == [(w(2001), w(0.5))]
    assert b.depth().bids == []


def test_gtc_rests_remainder_and_depth_matches_deltas() -> None:
    b = book()
    b.place(order("bob", "sell", 1, 2000))
    out = b.place(order("alice", "buy", 3, 1999.5))  # does not cross
    assert out.fills == () and out.rested == w(3)
    out = b.place(order("carol", "buy", 2, 2000))  # takes bob's 1, rests 1 at 2000
    assert fills_of(out) == [("carol", "bob", w(1), w(2000), "buyer")]
    assert out.rested == w(1)
    depth = b.depth()
    assert depth.bids == [(w(2000), w(1)), (w(1999.5), w(3))]
    assert depth.asks == []
    # rebuilding L2 from the deltas gives the snapshot
    levels: dict[tuple[str, int], int] = {}
    for d in b.deltas_since(0):
        levels[(d.side, d.price)] = d.size
    assert sorted((p, s) for (side, p), s in levels.items() if side == "bid" and s) == sorted(depth.bids)
    assert [d.seq for d in b.deltas_since(0)] == list(range(1, depth.seq + 1))
    assert out.deltas == (LevelDelta(3, "ask", w(2000), 0), LevelDelta(4, "bid", w(2000), w(1)))


def test_ioc_cancels_remainder_and_may_be_priced_beyond_the_band() -> None:
    b = book()
    b.place(order("bob", "sell", 1, 2000))
    b.place(order("bob", "sell", 1, 2150))  # beyond the band: a taker stops before it
    out = b.place(order("alice", "buy", 5, 2500, time_in_force="ioc"))
    assert fills_of(out) == [("alice", "bob", w(1), w(2000), "buyer")]
    assert out.rested == 0
    assert out.removed[-1].reason == "ioc_remainder"
    assert b.depth().asks == [(w(2150), w(1))]


def test_gtc_beyond_the_band_is_refused() -> None:
    b = book()
    with pytest.raises(PriceOutsideBand):
        b.place(order("alice", "buy", 1, 2100.01))
    with pytest.raises(PriceOutsideBand):
        b.place(order("alice", "sell", 1, 1899.99))
    b.place(order("alice", "buy", 1, 2100))  # the edge is inside: |2100 - 2000| = 5 %
    b.place(order("alice", "buy", 1, 1000))  # far on the passive side is fine


def test_post_only_refused_when_crossing_and_refusal_changes_nothing() -> None:
    b = book()
    b.place(order("bob", "sell", 1, 2000))
    root = b.root()
    with pytest.raises(WouldCross):
        b.place(order("alice", "buy", 1, 2000, time_in_force="post_only"))
    assert b.root() == root
    out = b.place(order("alice", "buy", 1, 1999.99, time_in_force="post_only"))
    assert out.rested == w(1)
    # a post-only maker can be taken
    out = b.place(order("carol", "sell", 1, 1999))
    assert fills_of(out) == [("alice", "carol", w(1), w(1999.99), "seller")]


def test_reduce_only() -> None:
    b = book()
    with pytest.raises(ReduceOnlyRefused):
        b.place(order("alice", "sell", 1, 2000, reduce_only=True))  # no position
    b.set_position("alice", w(0.4))  # long 0.4: a sell reduces
    with pytest.raises(ReduceOnlyRefused):
        b.place(order("alice", "buy", 1, 2000, reduce_only=True))  # a buy would add
    b.place(order("bob", "buy", 1, 2000))
    out = b.place(order("alice", "sell", 1, 2000, reduce_only=True))
    assert fills_of(out) == [("bob", "alice", w(0.4), w(2000), "seller")]  # capped to the position
    assert out.removed[-1].reason == "reduce_only" and out.rested == 0
    assert b.positions == {"bob": w(0.4)}  # alice is flat
    # a resting reduce-only maker whose position is gone is removed when met
    b.set_position("carol", -w(1))
    b.place(order("carol", "buy", 1, 1999, reduce_only=True))
    b.set_position("carol", 0)
    out = b.place(order("dave", "sell", 1, 1999))  # takes bob's remaining 0.6 first, then meets carol
    assert fills_of(out) == [("bob", "dave", w(0.6), w(2000), "seller")]
    assert [r.reason for r in out.removed] == ["filled", "reduce_only"]
    assert out.rested == w(0.4)


def test_good_til_block_and_time() -> None:
    b = book()
    b.place(order("bob", "sell", 1, 2000, good_til_block=HEIGHT + 1))
    b.place(order("bob", "sell", 1, 2001, good_til_block=None, good_til_time=NOW_MS + 5_000))
    with pytest.raises(Expired):
        b.place(order("alice", "buy", 1, 2000, good_til_block=HEIGHT - 1))
    out = b.set_context(BookContext(HEIGHT + 2, NOW_MS + 1_000, INDEX))
    assert [r.reason for r in out.removed] == ["expired"]
    assert b.depth().asks == [(w(2001), w(1))]
    out = b.set_context(BookContext(HEIGHT + 3, NOW_MS + 6_000, INDEX))
    assert [r.reason for r in out.removed] == ["expired"]
    assert b.depth().asks == []


def test_duplicate_order_refused() -> None:
    b = book()
    o = order("bob", "sell", 1, 2000)
    b.place(o)
    with pytest.raises(DuplicateOrder):
        b.place(o)
    b.place(order("alice", "buy", 1, 2000))  # fills it completely
    with pytest.raises(DuplicateOrder):
        b.place(o)  # a filled order cannot come back


def test_cancel_and_cancel_all_need_the_orders_signer() -> None:
    b = book()
    o1 = order("bob", "sell", 1, 2000)
    b.place(o1)
    b.place(order("bob", "sell", 1, 2001))
    b.place(order("bob", "buy", 1, 1990))
    b.place(order("carol", "sell", 1, 2002))
    oid = order_id(o1.order).hex()
    with pytest.raises(WrongSigner):
        b.cancel(sign_cancel(CancelOrder(CHAIN, MARKET, oid), KEYS["carol"]))
    out = b.cancel(sign_cancel(CancelOrder(CHAIN, MARKET, oid), KEYS["bob"]))
    assert [r.reason for r in out.removed] == ["cancelled"]
    with pytest.raises(UnknownOrder):
        b.cancel(sign_cancel(CancelOrder(CHAIN, MARKET, oid), KEYS["bob"]))
    signed = sign_cancel_all(CancelAll(CHAIN, MARKET, "bob", 7), KEYS["bob"])
    forged = type(signed)(CancelAll(CHAIN, MARKET, "bob", 8), signed.signer, signed.signature)
    with pytest.raises(BadSignature):
        b.cancel_all(forged)
    out = b.cancel_all(signed)
    assert [r.reason for r in out.removed] == ["cancel_all", "cancel_all"]
    assert b.depth().asks == [(w(2002), w(1))] and b.depth().bids == []
    with pytest.raises(StaleCancelAll):
        b.cancel_all(signed)  # replayed


@pytest.mark.parametrize(
    ("policy", "fills", "resting_asks", "rested"),
    [
        ("cancel_maker", [("alice", "bob", 1, 2001)], [], 0),
        ("expire_taker", [], [(2000, 1), (2001, 1)], 0),
        ("expire_both", [], [(2001, 1)], 0),
    ],
)
def test_self_trade_prevention(policy: str, fills: list, resting_asks: list, rested: int) -> None:  # type: ignore[type-arg]
    b = book(stp=policy)
    b.place(order("alice", "sell", 1, 2000))  # alice's own resting ask is first in priority
    b.place(order("bob", "sell", 1, 2001))
    out = b.place(order("alice", "buy", 1, 2001))
    assert [(x[0], x[1], x[2], x[3]) for x in fills_of(out)] == [(a, s, w(z), w(p)) for a, s, z, p in fills]
    assert b.depth().asks == [(w(p), w(z)) for p, z in resting_asks]
    assert out.rested == rested
    assert "self_trade" in [r.reason for r in out.removed]


def test_grid_is_enforced() -> None:
    b = book()
    with pytest.raises(OffGrid):
        b.place(order("alice", "buy", 1, 2000, limit_price=w(2000) + 1))
    with pytest.raises(OffGrid):
        b.place(order("alice", "buy", 1, 2000, size=w(1) + 1))


def test_index_move_removes_makers_left_beyond_the_band() -> None:
    b = book()
    b.place(order("bob", "sell", 1, 1950))
    b.set_context(BookContext(HEIGHT + 1, NOW_MS + 1, 2100 * 10**18))  # band now [1995, 2205]
    out = b.place(order("alice", "buy", 1, 2000))
    assert [r.reason for r in out.removed] == ["outside_band"]
    assert out.fills == () and out.rested == w(1)


def test_wrong_signature_is_refused() -> None:
    b = book()
    good = order("alice", "buy", 1, 2000)
    forged = type(good)(good.order, KEYS["bob"].public_hex, good.signature)
    with pytest.raises(BadSignature):
        b.place(forged)
    assert CONTEXT.height == HEIGHT
