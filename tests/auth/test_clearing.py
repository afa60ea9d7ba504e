"""Clearing a matched fill end to end: signatures, ownership, limits, remaining size, replay."""

from __future__ import annotations

from typing import Any

import pytest

from clearhouse.auth.authorization import AuthorizeKey, registry
from clearhouse.auth.clearing import FillBook, clear_fill
from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.errors import BadSignature, Expired, Overfill, PriceOutsideBand, Unauthorized
from clearhouse.auth.orders import Fill, Order, SignedOrder, order_id, sign_order
from clearhouse.ledger import commands as c
from clearhouse.ledger.commands import Trade
from clearhouse.ledger.fixedpoint import WAD

from .helpers import ADMIN, ALICE, BOB, CHAIN, HEIGHT, MALLORY, NOW_MS, key

A, B = ALICE.public_hex, BOB.public_hex
SUB = key(20)
REG = (
    registry([ADMIN.public_hex])
    .apply(A, c.OpenAccount("alice", A))
    .apply(B, c.OpenAccount("bob", B))
    .apply(A, AuthorizeKey("alice", SUB.public_hex))
)
BUY = Order(CHAIN, "alice", "ETH-PERP", "buy", 2 * WAD, 2000 * WAD, 1, good_til_block=HEIGHT + 10)
SELL = Order(CHAIN, "bob", "ETH-PERP", "sell", 3 * WAD, 1990 * WAD, 7, good_til_block=HEIGHT + 5)


def clear(book: FillBook, cmd: MatchedFill, **kw: Any) -> tuple[FillBook, Trade]:
    opts: dict[str, Any] = {
        "chain_id": CHAIN,
        "index_price": 2000 * WAD,
        "band": WAD // 20,
        "tick_size": WAD // 100,
        "step_size": WAD // 1000,
        "height": HEIGHT,
        "now_ms": NOW_MS,
    }
    opts.update(kw)
    return clear_fill(book, REG, cmd, **opts)


def matched(
    size: int, price: int, buy: SignedOrder | None = None, sell: SignedOrder | None = None
) -> MatchedFill:
    return MatchedFill(
        buy or sign_order(BUY, ALICE), sell or sign_order(SELL, BOB), Fill("ETH-PERP", size, price, "buyer")
    )


def test_two_fills_then_the_buy_order_is_exhausted_and_a_replay_overfills() -> None:
    first = matched(WAD, 1995 * WAD)
    book, trade = clear(FillBook(), first)
    assert trade == Trade("ETH-PERP", "alice", "bob", WAD, 1995 * WAD, "buyer")
    assert book.filled(order_id(BUY)) == WAD and book.filled(order_id(SELL)) == WAD
    book, _ = clear(book, matched(WAD, 1998 * WAD))
    assert book.filled(order_id(BUY)) == 2 * WAD
    with pytest.raises(Overfill, match="alice"):
        clear(book, first)  # the same signed fill again: alice's order has nothing left


def test_a_sub_key_may_sign_the_owners_order_a_stranger_may_not() -> None:
    book, _ = clear(FillBook(), matched(WAD, 1995 * WAD, buy=sign_order(BUY, SUB)))
    assert book.filled(order_id(BUY)) == WAD
    with pytest.raises(Unauthorized, match="alice"):
        clear(FillBook(), matched(WAD, 1995 * WAD, buy=sign_order(BUY, MALLORY)))


def test_a_forged_order_signature_is_refused() -> None:
    good = sign_order(BUY, ALICE)
    forged = SignedOrder(SELL, B, good.signature)
    with pytest.raises(BadSignature):
        clear(FillBook(), matched(WAD, 1995 * WAD, sell=forged))


def test_refusals_leave_the_book_byte_identical() -> None:
    book, _ = clear(FillBook(), matched(WAD, 1995 * WAD))
    before = book.encode()
    with pytest.raises(PriceOutsideBand):
        clear(book, matched(WAD, 1995 * WAD), index_price=2200 * WAD)
    with pytest.raises(Expired):
        clear(book, matched(WAD, 1995 * WAD), height=HEIGHT + 6)
    with pytest.raises(Unauthorized):
        clear(book, matched(WAD, 1995 * WAD, sell=sign_order(SELL, MALLORY)))
    assert book.encode() == before


def test_pruning_forgets_only_dead_orders_and_they_still_cannot_fill() -> None:
    book, _ = clear(FillBook(), matched(WAD, 1995 * WAD))
    later = book.prune(HEIGHT + 6, NOW_MS)
    assert set(later.orders) == {order_id(BUY).hex()}  # bob's order (good til HEIGHT+5) is gone
    with pytest.raises(Expired):
        clear(later, matched(WAD, 1995 * WAD), height=HEIGHT + 6)


def test_encoding_is_sorted_and_fixed_width() -> None:
    book, _ = clear(FillBook(), matched(WAD, 1995 * WAD))
    data = book.encode()
    assert len(data) == 4 + 2 * (32 + 32 + 16)
    ids = sorted([order_id(BUY), order_id(SELL)])
    assert data[4:36] == ids[0] and data[84:116] == ids[1]
    swapped = FillBook(dict(reversed(list(book.orders.items()))))
    assert swapped.encode() == data and swapped.root() == book.root()
