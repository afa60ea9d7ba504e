"""``MatchedFill`` through the engine: both signed orders, their limits, their remaining size across blocks
(the fill book in the state root), the price band around the index, and the ledger's own trade checks."""

from __future__ import annotations

from clearhouse.auth.commands import AuthorizeKey, MatchedFill
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.orders import Fill, Order, order_id, sign_order
from clearhouse.ledger import events as ev
from clearhouse.ledger.fixedpoint import WAD

from .engine_world import ALICE, BOB, CHAIN, KEEPER, MALLORY, World
from .helpers import key

SIZE = WAD  # 1 ETH


def order(account: str, side: str, size: int = SIZE, limit: int = 2000, **kw: object) -> Order:
    return Order(CHAIN, account, "ETH-PERP", side, size, limit * WAD, client_id=1, good_til_block=50, **kw)  # type: ignore[arg-type]


def matched(
    buy: Order, sell: Order, size: int = SIZE, price: int = 2000, bk: KeyPair = ALICE, sk: KeyPair = BOB
) -> MatchedFill:
    fill = Fill("ETH-PERP", size, price * WAD, "buyer")
    return MatchedFill(sign_order(buy, bk), sign_order(sell, sk), fill)


def codes(events: tuple[ev.Event, ...]) -> list[str]:
    return [e.code for e in events if isinstance(e, ev.TransactionRejected)]


def test_a_matched_fill_trades_and_records_both_orders() -> None:
    w = World()
    buy, sell = order("alice", "buy", 2 * SIZE), order("bob", "sell", 3 * SIZE)
    result = w.apply(w.tx(KEEPER, matched(buy, sell)))  # any signer may submit: consent is in the orders
    assert codes(result.events) == []
    trades = [e for e in result.events if isinstance(e, ev.Traded)]
    assert [(t.buyer, t.seller, t.size, t.price) for t in trades] == [("alice", "bob", SIZE, 2000 * WAD)]
    cleared = [e for e in result.events if isinstance(e, ev.FillCleared)]
    assert [(c.buy_filled, c.sell_filled) for c in cleared] == [(SIZE, SIZE)]
    fills = w.engine.state.auth.state.fills  # type: ignore[union-attr]
    assert fills.filled(order_id(buy)) == SIZE and fills.filled(order_id(sell)) == SIZE
    assert w.engine.state.accounts["alice"].positions["ETH-PERP"].size == SIZE


def test_remaining_size_is_enforced_across_blocks() -> None:
    w = World()
    buy, sell = order("alice", "buy", 2 * SIZE), order("bob", "sell", 2 * SIZE)
    w.apply(w.tx(KEEPER, matched(buy, sell)))
    second = w.apply(w.tx(KEEPER, matched(buy, sell)))
    assert codes(second.events) == []
    third = w.apply(w.tx(KEEPER, matched(buy, sell)))  # nothing left of either order
    assert codes(third.events) == ["overfill"]
    assert w.engine.state.accounts["alice"].positions["ETH-PERP"].size == 2 * SIZE


def test_a_fill_beyond_a_limit_is_refused() -> None:
    w = World()
    fill = matched(order("alice", "buy", limit=1990), order("bob", "sell"), price=2000)
    result = w.apply(w.tx(KEEPER, fill))
    assert codes(result.events) == ["price_limit_exceeded"]
    assert "ETH-PERP" not in w.engine.state.accounts["alice"].positions


def test_a_fill_outside_the_price_band_is_refused() -> None:
    w = World()  # index 2000, band 5 %
    fill = matched(order("alice", "buy", limit=2200), order("bob", "sell", limit=2000), price=2150)
    assert codes(w.apply(w.tx(KEEPER, fill)).events) == ["price_outside_band"]


def test_an_order_signed_by_another_key_is_unauthorized() -> None:
    w = World()
    fill = matched(order("alice", "buy"), order("bob", "sell"), bk=MALLORY)
    result = w.apply(w.tx(KEEPER, fill))
    assert codes(result.events) == ["unauthorized"]
    assert w.engine.state.auth.state.fills.orders == {}  # type: ignore[union-attr]


def test_an_order_signed_by_a_live_sub_key_fills() -> None:
    w = World()
    sub = key(5)
    w.apply(w.tx(ALICE, AuthorizeKey("alice", sub.public_hex)))
    result = w.apply(w.tx(KEEPER, matched(order("alice", "buy"), order("bob", "sell"), bk=sub)))
    assert codes(result.events) == []


def test_an_expired_order_and_a_failed_trade_leave_the_fill_book_unchanged() -> None:
    w = World()
    stale = Order(CHAIN, "alice", "ETH-PERP", "buy", SIZE, 2000 * WAD, 1, good_til_block=1)
    assert codes(w.apply(w.tx(KEEPER, matched(stale, order("bob", "sell")))).events) == ["expired"]
    huge = 1_000 * SIZE  # far beyond either account's margin: the ledger's trade refuses it
    fill = matched(order("alice", "buy", huge), order("bob", "sell", huge), size=huge)
    result = w.apply(w.tx(KEEPER, fill))
    assert codes(result.events) == ["insufficient_margin"]
    assert w.engine.state.auth.state.fills.orders == {}  # type: ignore[union-attr]


def test_dead_orders_are_pruned_from_the_fill_book() -> None:
    w = World()
    buy = Order(CHAIN, "alice", "ETH-PERP", "buy", 2 * SIZE, 2000 * WAD, 1, good_til_block=w.height + 2)
    sell = order("bob", "sell", 2 * SIZE)
    w.apply(w.tx(KEEPER, matched(buy, sell)))
    assert len(w.engine.state.auth.state.fills.orders) == 2  # type: ignore[union-attr]
    w.apply()
    w.apply()
    assert list(w.engine.state.auth.state.fills.orders) == [order_id(sell).hex()]  # type: ignore[union-attr]
