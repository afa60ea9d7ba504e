"""Signed orders and the check that a fill is what both parties consented to.

A clearinghouse clears trades matched elsewhere (or by the next issue's in-node book). A fill is valid
only with both parties' signed :class:`Order` s; :func:`check_fill` judges it against both, purely:

1. the orders fit the fill: one buy and one sell, same market as the fill, two different orders of two
   different accounts;
2. prices on the market's tick, sizes on its step;
3. neither order expired (good-til-block height / good-til time in milliseconds);
4. time in force: a post-only order must be the maker, an immediate-or-cancel order the taker;
5. the price is within both limits: ``price <= buy.limit_price`` and ``price >= sell.limit_price``;
6. the size fits what remains of both orders (``filled_so_far`` is the caller's record, keyed by
   :func:`order_id`);
7. the price is inside the band around the index: ``|price - index| * WAD <= band * index`` (exact);
8. a reduce-only order only reduces: the caller passes both accounts' positions; without them a
   reduce-only order is refused rather than trusted.

The order is signed like an envelope but under its own domain (``clearhouse/order/v1``), so an order
signature can never be replayed as a transaction or the reverse. Its digest is its id: a client that
wants two identical orders gives them different ``client_id`` s. Orders expire (one of the two expiries
is required) so a ledger can forget the filled amount of an order once it is dead.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from clearhouse.auth.errors import (
    Expired,
    MalformedEnvelope,
    OffGrid,
    OrderMismatch,
    Overfill,
    PriceLimitExceeded,
    PriceOutsideBand,
    ReduceOnlyViolation,
    SelfTrade,
    TimeInForceViolation,
    WrongChain,
)
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.signing import (
    U64_MAX,
    check_chain_id,
    check_public_key,
    domain_digest,
    verify_signature,
)
from clearhouse.ledger.commands import Trade
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import WAD, check_non_negative, check_positive

ORDER_DOMAIN = b"clearhouse/order/v1\x00"

Side = Literal["buy", "sell"]
#: ``gtc`` rests until filled or expired; ``ioc`` only takes; ``post_only`` only makes (Hyperliquid ALO).
TimeInForce = Literal["gtc", "ioc", "post_only"]


class Order(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What an account's owner signs to trade: at most ``size`` (WAD) at ``limit_price`` (WAD) or better."""

    chain_id: str
    account: str
    market: str
    side: Side
    size: int
    limit_price: int
    #: Chosen by the client (u64); distinguishes otherwise identical orders.
    client_id: int
    time_in_force: TimeInForce = "gtc"
    reduce_only: bool = False
    good_til_block: int | None = None
    #: Last block time (milliseconds) at which the order may fill.
    good_til_time: int | None = None

    def check(self) -> None:
        """Stateless validation (the market's grid is checked by :func:`check_grid`)."""
        check_chain_id(self.chain_id)
        if not self.account or not self.market:
            raise InvalidValue("order needs an account and a market")
        if self.side not in ("buy", "sell"):
            raise InvalidValue(f"order side must be 'buy' or 'sell', got {self.side!r}")
        if self.time_in_force not in ("gtc", "ioc", "post_only"):
            raise InvalidValue(f"time in force must be gtc, ioc or post_only, got {self.time_in_force!r}")
        if type(self.reduce_only) is not bool:
            raise InvalidValue(f"reduce_only must be a bool, got {self.reduce_only!r}")
        check_positive(self.size, f"order size of {self.account} in {self.market}")
        check_positive(self.limit_price, f"order limit price of {self.account} in {self.market}")
        for name in ("client_id", "good_til_block", "good_til_time"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 0 <= value <= U64_MAX):
                raise InvalidValue(f"order {name} must be a u64, got {value!r}")
        if self.good_til_block is None and self.good_til_time is None:
            raise InvalidValue(
                f"order of {self.account} in {self.market} needs good_til_block or good_til_time"
            )


class SignedOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    order: Order
    #: Lower-case hex public key of the signer (the account's owner or one of its live sub-keys).
    signer: str
    signature: str


class Fill(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A proposed match of ``size`` at ``price`` between a buy and a sell order; ``taker`` is the side
    that crossed (the other rested)."""

    market: str
    size: int
    price: int
    taker: Literal["buyer", "seller"]


_encoder = msgspec.json.Encoder(order="deterministic")
_signed_order_decoder = msgspec.json.Decoder(SignedOrder)


def encode_signed_order(signed: SignedOrder) -> bytes:
    """Canonical wire / journal bytes of a signed order."""
    return _encoder.encode(signed)


def decode_signed_order(data: bytes) -> SignedOrder:
    """Decode wire bytes; refuse anything but the canonical encoding (:class:`MalformedEnvelope`)."""
    try:
        signed = _signed_order_decoder.decode(data)
    except msgspec.DecodeError as err:
        raise MalformedEnvelope(f"not a signed order: {err}") from None
    if encode_signed_order(signed) != bytes(data):
        raise MalformedEnvelope("signed order is not in canonical encoding")
    return signed


def order_id(order: Order) -> bytes:
    """The order's 32-byte digest: what is signed, and the key of its filled amount."""
    return domain_digest(ORDER_DOMAIN, order.chain_id, _encoder.encode(order))


def sign_order(order: Order, key: KeyPair) -> SignedOrder:
    order.check()
    return SignedOrder(order, key.public_hex, key.sign(order_id(order)).hex())


def verify_order(signed: SignedOrder, chain_id: str) -> bytes:
    """Chain, fields, signature; the order id. Whether the signer may trade for ``order.account`` is
    :func:`clearhouse.auth.authorization.AuthRegistry.authorize_order`'s question."""
    order = signed.order
    if order.chain_id != chain_id:
        raise WrongChain(f"order of {order.account} is for chain {order.chain_id!r}, not {chain_id!r}")
    order.check()
    check_public_key(signed.signer)
    oid = order_id(order)
    verify_signature(signed.signer, oid, signed.signature, what=f"order of {order.account}")
    return oid


def check_grid(order: Order, *, tick_size: int, step_size: int) -> None:
    """The limit price must be a multiple of ``tick_size`` and the size of ``step_size``."""
    check_positive(tick_size, f"tick size of {order.market}")
    check_positive(step_size, f"step size of {order.market}")
    if order.limit_price % tick_size:
        raise OffGrid(
            f"limit price {order.limit_price} of {order.account} is not a multiple of tick {tick_size}"
        )
    if order.size % step_size:
        raise OffGrid(f"size {order.size} of {order.account} is not a multiple of step {step_size}")


def check_not_expired(order: Order, *, height: int, now_ms: int) -> None:
    if order.good_til_block is not None and order.good_til_block < height:
        raise Expired(f"order of {order.account} was good til block {order.good_til_block}, now {height}")
    if order.good_til_time is not None and order.good_til_time < now_ms:
        raise Expired(f"order of {order.account} was good til {order.good_til_time} ms, now {now_ms}")


def _check_reduce_only(order: Order, size: int, position: int | None) -> None:
    if not order.reduce_only:
        return
    if position is None:
        raise ReduceOnlyViolation(f"reduce-only order of {order.account}: position not given")
    reducing = position < 0 if order.side == "buy" else position > 0
    if not reducing or size > abs(position):
        raise ReduceOnlyViolation(
            f"reduce-only {order.side} of {size} by {order.account} would not only reduce position {position}"
        )


def check_fill(
    fill: Fill,
    buy_order: Order,
    sell_order: Order,
    filled_so_far: tuple[int, int],
    index_price: int,
    band: int,
    *,
    tick_size: int,
    step_size: int,
    height: int,
    now_ms: int,
    positions: tuple[int | None, int | None] = (None, None),
) -> tuple[int, int]:
    """Validate ``fill`` against both orders; return the orders' filled amounts after it.

    ``filled_so_far`` and ``positions`` are ``(buyer's, seller's)``; ``band`` is a WAD fraction of the
    index price (0.05 WAD = ±5 %). Raises a typed :class:`~clearhouse.auth.errors.InvalidOrder`,
    :class:`Expired` or :class:`SelfTrade`; pure, so a refusal changes nothing.
    """
    buy, sell = buy_order, sell_order
    buy.check()
    sell.check()
    check_positive(fill.size, f"fill size in {fill.market}")
    check_positive(fill.price, f"fill price in {fill.market}")
    check_positive(index_price, f"index price of {fill.market}")
    check_non_negative(band, f"price band of {fill.market}")
    if fill.taker not in ("buyer", "seller"):
        raise InvalidValue(f"fill taker must be 'buyer' or 'seller', got {fill.taker!r}")
    # 1. the orders fit the fill
    if buy.side != "buy" or sell.side != "sell":
        raise OrderMismatch(f"fill in {fill.market} needs a buy and a sell, got {buy.side} and {sell.side}")
    if buy.market != fill.market or sell.market != fill.market:
        raise OrderMismatch(f"fill in {fill.market} with orders in {buy.market} and {sell.market}")
    if buy.chain_id != sell.chain_id:
        raise OrderMismatch(f"orders of chains {buy.chain_id!r} and {sell.chain_id!r}")
    if buy.account == sell.account:
        raise SelfTrade(f"account {buy.account} cannot trade with itself in {fill.market}")
    # 2. grid
    check_grid(buy, tick_size=tick_size, step_size=step_size)
    check_grid(sell, tick_size=tick_size, step_size=step_size)
    if fill.price % tick_size:
        raise OffGrid(f"fill price {fill.price} in {fill.market} is not a multiple of tick {tick_size}")
    if fill.size % step_size:
        raise OffGrid(f"fill size {fill.size} in {fill.market} is not a multiple of step {step_size}")
    # 3. expiry
    check_not_expired(buy, height=height, now_ms=now_ms)
    check_not_expired(sell, height=height, now_ms=now_ms)
    # 4. time in force
    maker, taker = (sell, buy) if fill.taker == "buyer" else (buy, sell)
    if maker.time_in_force == "ioc":
        raise TimeInForceViolation(f"immediate-or-cancel order of {maker.account} cannot be the maker")
    if taker.time_in_force == "post_only":
        raise TimeInForceViolation(f"post-only order of {taker.account} cannot take")
    # 5. limits
    if fill.price > buy.limit_price:
        raise PriceLimitExceeded(f"fill price {fill.price} is above {buy.account}'s limit {buy.limit_price}")
    if fill.price < sell.limit_price:
        raise PriceLimitExceeded(
            f"fill price {fill.price} is below {sell.account}'s limit {sell.limit_price}"
        )
    # 6. remaining size
    buy_filled, sell_filled = filled_so_far
    check_non_negative(buy_filled, f"filled amount of {buy.account}'s order")
    check_non_negative(sell_filled, f"filled amount of {sell.account}'s order")
    for order, filled in ((buy, buy_filled), (sell, sell_filled)):
        if filled + fill.size > order.size:
            raise Overfill(
                f"fill of {fill.size} exceeds the {max(order.size - filled, 0)} remaining of "
                f"{order.account}'s order of {order.size} in {fill.market}"
            )
    # 7. band around the index
    if abs(fill.price - index_price) * WAD > band * index_price:
        raise PriceOutsideBand(
            f"fill price {fill.price} in {fill.market} is more than {band} (WAD) from index {index_price}"
        )
    # 8. reduce-only
    _check_reduce_only(buy, fill.size, positions[0])
    _check_reduce_only(sell, fill.size, positions[1])
    return buy_filled + fill.size, sell_filled + fill.size


def to_trade(fill: Fill, buy_order: Order, sell_order: Order) -> Trade:
    """The engine's existing ``Trade`` command for a checked fill."""
    return Trade(fill.market, buy_order.account, sell_order.account, fill.size, fill.price, fill.taker)


__all__ = [
    "ORDER_DOMAIN",
    "Fill",
    "Order",
    "Side",
    "SignedOrder",
    "TimeInForce",
    "check_fill",
    "check_grid",
    "check_not_expired",
    "decode_signed_order",
    "encode_signed_order",
    "order_id",
    "sign_order",
    "to_trade",
    "verify_order",
]
