"""Deterministic keys, orders and a book for the order-book tests."""

from __future__ import annotations

from typing import Any

from clearhouse.auth.keys import KeyPair
from clearhouse.auth.orders import Order, SignedOrder, sign_order
from clearhouse.book.book import BookConfig, BookContext, OrderBook
from clearhouse.ledger.fixedpoint import WAD

CHAIN = "clearhouse-test"
MARKET = "ETH-PERP"
TICK = WAD // 100  # 0.01
STEP = WAD // 1000  # 0.001
INDEX = 2000 * WAD
BAND = WAD // 20  # +-5 %: fills within [1900, 2100]
HEIGHT = 1_000
NOW_MS = 1_700_000_000_000
CONFIG = BookConfig(CHAIN, MARKET, TICK, STEP, BAND)
CONTEXT = BookContext(HEIGHT, NOW_MS, INDEX)

KEYS = {
    name: KeyPair.from_seed(bytes([i + 1]) * 32) for i, name in enumerate(["alice", "bob", "carol", "dave"])
}

_client_ids: dict[str, int] = {}


def order(account: str, side: str, qty: float, px: float, **kw: Any) -> SignedOrder:
    """``account`` signs ``side`` ``size`` at ``price`` (human units), good for 10 blocks by default."""
    _client_ids[account] = _client_ids.get(account, 0) + 1
    fields: dict[str, Any] = {
        "chain_id": CHAIN,
        "account": account,
        "market": MARKET,
        "side": side,
        "size": round(qty * 1000) * STEP,
        "limit_price": round(px * 100) * TICK,
        "client_id": _client_ids[account],
        "good_til_block": HEIGHT + 10,
    }
    fields.update(kw)
    key = kw.pop("key", None) or KEYS[account]
    fields.pop("key", None)
    return sign_order(Order(**fields), key)


def book(**kw: Any) -> OrderBook:
    cfg = BookConfig(**{**{f: getattr(CONFIG, f) for f in CONFIG.__struct_fields__}, **kw})
    return OrderBook(cfg, CONTEXT)


def w(x: float) -> int:
    """Human price/size -> WAD (on the grid used here)."""
    return round(x * 1000) * STEP
