"""Clearing a matched fill: both signatures, both authorizations, both limits, and the filled amounts.

:class:`FillBook` is the state behind "remaining size": order id -> amount filled so far, with the
order's expiry so that dead orders can be forgotten (:meth:`FillBook.prune`; an expired order is refused
by :func:`~clearhouse.auth.orders.check_fill` anyway, so forgetting it lets nothing fill twice).
:func:`clear_fill` runs the whole pipeline for one :class:`~clearhouse.auth.orders.MatchedFill` and
returns the new book and the engine's ``Trade``; it is pure, so a refusal changes nothing.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

import msgspec

from clearhouse.auth.authorization import AuthRegistry
from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.orders import Order, SignedOrder, check_fill, to_trade, verify_order
from clearhouse.ledger.commands import Trade

FILLS_DOMAIN = b"clearhouse/fills/v1\x00"
_NONE = 2**64 - 1  # encodes an absent expiry


class FilledOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    filled: int
    good_til_block: int | None
    good_til_time: int | None


class FillBook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Order id (hex) -> how much of it has filled. Treat as immutable."""

    orders: dict[str, FilledOrder] = {}

    def filled(self, oid: bytes) -> int:
        entry = self.orders.get(oid.hex())
        return 0 if entry is None else entry.filled

    def with_fill(self, oid: bytes, order: Order, filled: int) -> FillBook:
        entry = FilledOrder(filled, order.good_til_block, order.good_til_time)
        return FillBook({**self.orders, oid.hex(): entry})

    def prune(self, height: int, now_ms: int) -> FillBook:
        """Forget orders past their good-til-block or good-til time."""

        def live(e: FilledOrder) -> bool:
            return (e.good_til_block is None or e.good_til_block >= height) and (
                e.good_til_time is None or e.good_til_time >= now_ms
            )

        return FillBook({k: e for k, e in self.orders.items() if live(e)})

    def encode(self) -> bytes:
        """u32 count, then per order id (sorted): 32 id bytes, the filled amount as a 32-byte big-endian
        unsigned integer, good-til-block and good-til time as u64 (2^64-1 when absent)."""
        parts = [struct.pack(">I", len(self.orders))]
        for oid in sorted(self.orders):
            e = self.orders[oid]
            gtb = _NONE if e.good_til_block is None else e.good_til_block
            gtt = _NONE if e.good_til_time is None else e.good_til_time
            parts.append(bytes.fromhex(oid) + e.filled.to_bytes(32, "big") + struct.pack(">QQ", gtb, gtt))
        return b"".join(parts)

    def root(self) -> bytes:
        return hashlib.sha256(FILLS_DOMAIN + self.encode()).digest()


def judge_fill(
    cmd: MatchedFill,
    registry: AuthRegistry,
    filled: Callable[[bytes], int],
    *,
    chain_id: str,
    index_price: int,
    band: int,
    tick_size: int,
    step_size: int,
    height: int,
    now_ms: int,
    positions: tuple[int | None, int | None] = (None, None),
    verify: Callable[[SignedOrder, str], bytes] = verify_order,
) -> tuple[bytes, bytes, int, int]:
    """The clearing pipeline without the book: verify both signed orders (``verify``, which a caller
    may replace by a cached equivalent), check each signer controls its order's account, and check the
    fill against both orders (``filled`` gives an order id's amount filled so far) and the band.

    Returns ``(buy_id, sell_id, buy_filled, sell_filled)``. Raises as :func:`clear_fill`.
    """
    buy_id = verify(cmd.buy, chain_id)
    sell_id = verify(cmd.sell, chain_id)
    registry.authorize_order(cmd.buy.signer, cmd.buy.order.account)
    registry.authorize_order(cmd.sell.signer, cmd.sell.order.account)
    buy_filled, sell_filled = check_fill(
        cmd.fill,
        cmd.buy.order,
        cmd.sell.order,
        (filled(buy_id), filled(sell_id)),
        index_price,
        band,
        tick_size=tick_size,
        step_size=step_size,
        height=height,
        now_ms=now_ms,
        positions=positions,
    )
    return buy_id, sell_id, buy_filled, sell_filled


def clear_fill(
    book: FillBook,
    registry: AuthRegistry,
    cmd: MatchedFill,
    *,
    chain_id: str,
    index_price: int,
    band: int,
    tick_size: int,
    step_size: int,
    height: int,
    now_ms: int,
    positions: tuple[int | None, int | None] = (None, None),
) -> tuple[FillBook, Trade]:
    """Verify both signed orders, check each signer controls its order's account, check the fill
    against both orders and the band, and record the new filled amounts.

    Raises :class:`~clearhouse.auth.errors.BadSignature`, :class:`~clearhouse.auth.errors.WrongChain`,
    :class:`~clearhouse.auth.errors.Unauthorized`, or a fill refusal; ``book`` is unchanged then.
    """
    buy_id, sell_id, buy_filled, sell_filled = judge_fill(
        cmd,
        registry,
        book.filled,
        chain_id=chain_id,
        index_price=index_price,
        band=band,
        tick_size=tick_size,
        step_size=step_size,
        height=height,
        now_ms=now_ms,
        positions=positions,
    )
    new = book.with_fill(buy_id, cmd.buy.order, buy_filled).with_fill(sell_id, cmd.sell.order, sell_filled)
    return new, to_trade(cmd.fill, cmd.buy.order, cmd.sell.order)


__all__ = ["FILLS_DOMAIN", "FillBook", "FilledOrder", "clear_fill", "judge_fill"]
