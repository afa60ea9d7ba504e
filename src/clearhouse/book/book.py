"""One market's limit order book: price-time priority, deterministic, rebuilt by replaying its inputs.

The book is an optimisation in front of the engine: every fill it produces is a
:class:`~clearhouse.auth.commands.MatchedFill` carrying both signed orders, which the engine re-checks with
:func:`~clearhouse.auth.clearing.clear_fill`. The book therefore applies the same rules as
:func:`~clearhouse.auth.orders.check_fill` before it emits a fill, so a correct book never produces a fill
the engine refuses.

Rules (all integers, no clock: time comes from :class:`BookContext`, set by the sequencer each block):

- **priority**: best price first; at one price, the order that arrived first (a per-book sequence number);
  the fill price is the resting (maker) order's limit price;
- **time in force**: ``gtc`` rests what it cannot fill; ``ioc`` cancels its remainder; ``post_only`` is
  refused (:class:`WouldCross`) if it would take liquidity;
- **reduce-only**: refused when the account's position (known to the book through its fills and
  :meth:`OrderBook.set_position`) has nothing to reduce on its side; each fill is capped to what remains to
  reduce (rounded down to the step) and a resting reduce-only order with nothing left to reduce is removed;
- **expiry**: good-til-block and good-til-time; expired orders are refused on entry and removed when the
  context advances (and whenever the matcher meets one);
- **band**: fills only within ``|price - index| <= band x index``. An order that could rest beyond the band on
  its aggressive side (a buy above ``index x (1 + band)``, a sell below ``index x (1 - band)``) is refused
  unless it is IOC; a taker stops at the band; a resting order the index has left beyond the band on its
  aggressive side is removed when the matcher meets it (reason ``outside_band``), so the book never crosses;
- **self-trade prevention** (``BookConfig.stp``): ``cancel_maker`` (default, as dYdX and Binance's
  EXPIRE_MAKER: the resting order of the same account is removed and the taker goes on),
  ``expire_taker`` (the taker's remainder is cancelled) or ``expire_both``;
- **duplicates**: an order id the book has seen (resting, filled or cancelled) is refused until it expires,
  since the engine's fill book would refuse a second fill beyond the signed size anyway;
- **cancel** (one order, by id) and **cancel-all** (every order of an account in the market) must be
  signed by the key that signed the order(s); cancel-all nonces only increase per signer.

Every change of an L2 level (price -> total resting size) is recorded as a :class:`LevelDelta` with a
sequence number; :meth:`OrderBook.depth` is the matching snapshot.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.errors import OrderMismatch, PriceOutsideBand, WrongChain
from clearhouse.auth.orders import (
    Fill,
    Order,
    SignedOrder,
    check_grid,
    check_not_expired,
    order_id,
    verify_order,
)
from clearhouse.auth.signing import check_chain_id
from clearhouse.book.cancels import SignedCancel, SignedCancelAll, verify_cancel
from clearhouse.book.errors import (
    DuplicateOrder,
    ReduceOnlyRefused,
    StaleCancelAll,
    UnknownOrder,
    WouldCross,
    WrongSigner,
)
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import WAD, check_non_negative, check_positive

BOOK_DOMAIN = b"clearhouse/book/v1\x00"
_NONE = 2**64 - 1

SelfTradePolicy = Literal["cancel_maker", "expire_taker", "expire_both"]
RemoveReason = Literal[
    "filled",
    "cancelled",
    "cancel_all",
    "ioc_remainder",
    "self_trade",
    "expired",
    "outside_band",
    "reduce_only",
]


class BookConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One market's matching parameters (the engine's tick/step/band for that market)."""

    chain_id: str
    market: str
    tick_size: int
    step_size: int
    #: WAD fraction of the index price (0.05 WAD = +-5 %), as in ``check_fill``.
    band: int
    stp: SelfTradePolicy = "cancel_maker"
    #: Check each order's signature on entry. A node that verified it at admission may turn this off;
    #: the engine re-verifies every fill either way.
    verify_signatures: bool = True

    def check(self) -> None:
        check_chain_id(self.chain_id)
        check_positive(self.tick_size, f"tick size of {self.market}")
        check_positive(self.step_size, f"step size of {self.market}")
        check_non_negative(self.band, f"band of {self.market}")
        if self.stp not in ("cancel_maker", "expire_taker", "expire_both"):
            raise InvalidValue(f"unknown self-trade policy {self.stp!r}")


class BookContext(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the sequencer tells the book each block: height, block time (ms) and the index price (WAD)."""

    height: int
    now_ms: int
    index_price: int


class LevelDelta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """After change ``seq``, the ``side`` level at ``price`` holds ``size`` in total (0: level gone)."""

    seq: int
    side: Literal["bid", "ask"]
    price: int
    size: int


class Depth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """L2 snapshot as of delta ``seq``: ``[price, total size]`` levels, best first."""

    market: str
    seq: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


class Removed(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    order_id: str
    reason: RemoveReason


class Outcome(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one accepted input did: fills in order, orders removed, and the placed order's rest."""

    fills: tuple[MatchedFill, ...] = ()
    removed: tuple[Removed, ...] = ()
    #: Size of the placed order left resting (0 when it did not rest or the input was a cancel).
    rested: int = 0
    deltas: tuple[LevelDelta, ...] = ()


@dataclass(slots=True)
class Resting:
    seq: int
    oid: bytes
    signed: SignedOrder
    remaining: int

    @property
    def price(self) -> int:
        return self.signed.order.limit_price


@dataclass(slots=True)
class _Side:
    """One side: sorted prices (ascending) and a FIFO queue per price."""

    is_bid: bool
    prices: list[int] = field(default_factory=list)
    queues: dict[int, deque[Resting]] = field(default_factory=dict)
    totals: dict[int, int] = field(default_factory=dict)

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def add(self, r: Resting) -> None:
        q = self.queues.get(r.price)
        if q is None:
            bisect.insort(self.prices, r.price)
            q = self.queues[r.price] = deque()
            self.totals[r.price] = 0
        q.append(r)
        self.totals[r.price] += r.remaining

    def drop_level_if_empty(self, price: int) -> None:
        if not self.queues[price]:
            del self.queues[price]
            del self.totals[price]
            self.prices.pop(bisect.bisect_left(self.prices, price))

    def ordered(self) -> list[int]:
        return list(reversed(self.prices)) if self.is_bid else list(self.prices)


class OrderBook:
    """The resting orders of one market and the state needed to match them deterministically."""

    def __init__(self, config: BookConfig, context: BookContext) -> None:
        config.check()
        self.config = config
        self.context = context
        self._check_context(context)
        self.bids = _Side(True)
        self.asks = _Side(False)
        self.by_id: dict[bytes, Resting] = {}
        #: Order id -> (filled, good-til-block, good-til-time) for every order seen and not yet expired.
        self.known: dict[bytes, tuple[int, int, int]] = {}
        self.positions: dict[str, int] = {}
        self.cancel_all_nonces: dict[str, int] = {}
        self._seq = 0  # arrival sequence of resting orders
        self.delta_seq = 0
        self._deltas: list[LevelDelta] = []
        self._expiry_blocks: list[tuple[int, int, bytes]] = []
        self._expiry_times: list[tuple[int, int, bytes]] = []

    # -- inputs --------------------------------------------------------------------------------------

    def set_context(self, context: BookContext) -> Outcome:
        """Advance height/time/index (never backwards) and remove every order that expired."""
        self._check_context(context)
        if context.height < self.context.height or context.now_ms < self.context.now_ms:
            raise InvalidValue("book context cannot go back in height or time")
        self.context = context
        start = len(self._deltas)
        removed: list[Removed] = []
        for heap, limit in ((self._expiry_blocks, context.height), (self._expiry_times, context.now_ms)):
            while heap and heap[0][0] < limit:
                _, _, oid = heapq.heappop(heap)
                r = self.by_id.get(oid)
                if r is not None:
                    self._remove(r, "expired", removed)
        self.known = {
            k: v for k, v in self.known.items() if v[1] >= context.height and v[2] >= context.now_ms
        }
        return self._outcome(start, (), removed, 0)

    def set_position(self, account: str, size: int) -> None:
        """The engine's position of ``account`` in this market (for reduce-only), after non-book changes."""
        if type(size) is not int:
            raise InvalidValue(f"position of {account} must be an int")
        if size:
            self.positions[account] = size
        else:
            self.positions.pop(account, None)

    def place(self, signed: SignedOrder) -> Outcome:
        """Match ``signed`` against the book and rest what remains (per its time in force).

        Raises a typed refusal and changes nothing if the order is not acceptable."""
        cfg, ctx = self.config, self.context
        order = signed.order
        if cfg.verify_signatures:
            oid = verify_order(signed, cfg.chain_id)
        else:
            if order.chain_id != cfg.chain_id:
                raise WrongChain(f"order is for chain {order.chain_id!r}, not {cfg.chain_id!r}")
            order.check()
            oid = order_id(order)
        if order.market != cfg.market:
            raise OrderMismatch(f"order for {order.market} sent to the {cfg.market} book")
        check_grid(order, tick_size=cfg.tick_size, step_size=cfg.step_size)
        check_not_expired(order, height=ctx.height, now_ms=ctx.now_ms)
        if oid in self.known:
            raise DuplicateOrder(f"order {oid.hex()[:16]}… was already placed")
        is_buy = order.side == "buy"
        lo, hi = self._band()
        beyond = order.limit_price > hi if is_buy else order.limit_price < lo
        if order.time_in_force != "ioc" and beyond:
            raise PriceOutsideBand(
                f"{order.side} limit {order.limit_price} would rest beyond the band [{lo}, {hi}] "
                f"of {cfg.market}"
            )
        if order.reduce_only and self._reducible(order.account, is_buy) == 0:
            raise ReduceOnlyRefused(f"reduce-only {order.side} of {order.account}: no position to reduce")
        opposite = self.asks if is_buy else self.bids
        best = self._best_live(opposite)
        crosses = best is not None and (best <= order.limit_price if is_buy else best >= order.limit_price)
        if order.time_in_force == "post_only" and crosses:
            raise WouldCross(f"post-only {order.side} at {order.limit_price} would cross {best}")
        # From here on the order is accepted: nothing below raises.
        start = len(self._deltas)
        removed: list[Removed] = []
        taker = Resting(0, oid, signed, order.size)
        fills: list[MatchedFill] = []
        expire_taker = False
        while taker.remaining:
            level = opposite.best()
            if level is None or (level > order.limit_price if is_buy else level < order.limit_price):
                break
            maker = opposite.queues[level][0]
            if self._stale(maker, removed):
                continue  # stale orders in the crossed range go, so the book never stays crossed
            if level > hi if is_buy else level < lo:
                break  # the rest of this side is further beyond the band
            if maker.signed.order.account == order.account:
                if cfg.stp in ("cancel_maker", "expire_both"):
                    self._remove(maker, "self_trade", removed)
                if cfg.stp in ("expire_taker", "expire_both"):
                    expire_taker = True
                    break
                continue
            size = min(taker.remaining, maker.remaining)
            if maker.signed.order.reduce_only:
                cap = self._reducible(maker.signed.order.account, not is_buy)
                if cap == 0:
                    self._remove(maker, "reduce_only", removed)
                    continue
                size = min(size, cap)
            if order.reduce_only:
                size = min(size, self._reducible(order.account, is_buy))
                if size == 0:
                    break
            fills.append(self._fill(taker, maker, size, level, removed))
        taker_filled = order.size - taker.remaining
        self.known[oid] = (taker_filled, *_expiry(signed))
        rested = 0
        if taker.remaining:
            if (
                order.time_in_force == "ioc"
                or expire_taker
                or (order.reduce_only and self._reducible(order.account, is_buy) == 0)
            ):
                reason: RemoveReason = (
                    "ioc_remainder"
                    if order.time_in_force == "ioc"
                    else "self_trade"
                    if expire_taker
                    else "reduce_only"
                )
                removed.append(Removed(oid.hex(), reason))
            else:
                self._rest(taker)
                rested = taker.remaining
        elif fills:
            removed.append(Removed(oid.hex(), "filled"))
        return self._outcome(start, tuple(fills), removed, rested)

    def cancel(self, signed: SignedCancel) -> Outcome:
        """Remove one resting order; only its signer may."""
        cancel = signed.cancel
        self._admit_cancel(signed)
        r = self.by_id.get(bytes.fromhex(cancel.order_id))
        if r is None:
            raise UnknownOrder(f"order {cancel.order_id[:16]}… is not resting in {cancel.market}")
        if r.signed.signer != signed.signer:
            raise WrongSigner(f"order {cancel.order_id[:16]}… was signed by another key")
        removed: list[Removed] = []
        start = len(self._deltas)
        self._remove(r, "cancelled", removed)
        return self._outcome(start, (), removed, 0)

    def cancel_all(self, signed: SignedCancelAll) -> Outcome:
        """Remove every resting order of the account in this market signed by the same key."""
        cancel = signed.cancel
        self._admit_cancel(signed)
        last = self.cancel_all_nonces.get(signed.signer)
        if last is not None and cancel.nonce <= last:
            raise StaleCancelAll(f"cancel-all nonce {cancel.nonce} is not above {last}")
        self.cancel_all_nonces[signed.signer] = cancel.nonce
        removed: list[Removed] = []
        start = len(self._deltas)
        mine = [
            r
            for r in self.by_id.values()
            if r.signed.order.account == cancel.account and r.signed.signer == signed.signer
        ]
        for r in sorted(mine, key=lambda r: r.seq):
            self._remove(r, "cancel_all", removed)
        return self._outcome(start, (), removed, 0)

    # -- reads ---------------------------------------------------------------------------------------

    def depth(self, levels: int | None = None) -> Depth:
        bids = [(p, self.bids.totals[p]) for p in self.bids.ordered()[:levels]]
        asks = [(p, self.asks.totals[p]) for p in self.asks.ordered()[:levels]]
        return Depth(self.config.market, self.delta_seq, bids, asks)

    def deltas_since(self, seq: int) -> list[LevelDelta]:
        """Deltas with sequence numbers above ``seq`` (kept in full; a node trims with snapshots)."""
        i = bisect.bisect_right([d.seq for d in self._deltas], seq)
        return self._deltas[i:]

    def resting(self) -> list[Resting]:
        """Resting orders in priority order: bids best first, then asks best first."""
        out: list[Resting] = []
        for side in (self.bids, self.asks):
            for p in side.ordered():
                out.extend(side.queues[p])
        return out

    def encode(self) -> bytes:
        """Canonical bytes of everything that decides future matching (not the delta history)."""
        state = [
            self.config,
            self.context,
            self._seq,
            [
                [r.signed.order.side, r.price, r.seq, r.oid.hex(), r.remaining, r.signed.signer]
                for r in self.resting()
            ],
            sorted(self.positions.items()),
            [[k.hex(), *v] for k, v in sorted(self.known.items())],
            sorted(self.cancel_all_nonces.items()),
        ]
        return msgspec.json.encode(state, order="deterministic")

    def root(self) -> str:
        return hashlib.sha256(BOOK_DOMAIN + self.encode()).hexdigest()

    # -- internals -----------------------------------------------------------------------------------

    def _check_context(self, context: BookContext) -> None:
        for name in ("height", "now_ms"):
            v = getattr(context, name)
            if type(v) is not int or v < 0:
                raise InvalidValue(f"book context {name} must be a non-negative int")
        check_positive(context.index_price, f"index price of {self.config.market}")

    def _admit_cancel(self, signed: SignedCancel | SignedCancelAll) -> None:
        """A cancel (or cancel-all) for this chain and book, signed (or well formed when the book
        does not verify signatures)."""
        chain_id, market = signed.cancel.chain_id, signed.cancel.market
        if chain_id != self.config.chain_id:
            raise WrongChain(f"cancel is for chain {chain_id!r}, not {self.config.chain_id!r}")
        if market != self.config.market:
            raise OrderMismatch(f"cancel for {market} sent to the {self.config.market} book")
        if self.config.verify_signatures:
            verify_cancel(signed)
        else:
            signed.cancel.check()

    def _band(self) -> tuple[int, int]:
        """Lowest and highest prices inside the band (exactly ``check_fill``'s inequality)."""
        index, band = self.context.index_price, self.config.band
        reach = band * index // WAD  # largest d with d * WAD <= band * index
        return index - reach, index + reach

    def _reducible(self, account: str, is_buy: bool) -> int:
        pos = self.positions.get(account, 0)
        amount = -pos if is_buy else pos
        if amount <= 0:
            return 0
        return amount - amount % self.config.step_size

    def _stale(self, maker: Resting, removed: list[Removed]) -> bool:
        """Remove ``maker`` if it expired or the index left it beyond the band on its aggressive side."""
        if not self._is_stale(maker.signed.order):
            return False
        order, ctx = maker.signed.order, self.context
        expired = (order.good_til_block is not None and order.good_til_block < ctx.height) or (
            order.good_til_time is not None and order.good_til_time < ctx.now_ms
        )
        self._remove(maker, "expired" if expired else "outside_band", removed)
        return True

    def _is_stale(self, order: Order) -> bool:
        ctx = self.context
        if (order.good_til_block is not None and order.good_til_block < ctx.height) or (
            order.good_til_time is not None and order.good_til_time < ctx.now_ms
        ):
            return True
        lo, hi = self._band()
        if order.side == "buy":
            return order.limit_price > hi
        return order.limit_price < lo

    def _best_live(self, side: _Side) -> int | None:
        """Best price with a live order, without removing anything (so a refusal changes nothing)."""
        for p in side.ordered():
            if any(not self._is_stale(r.signed.order) for r in side.queues[p]):
                return p
        return None

    def _fill(
        self, taker: Resting, maker: Resting, size: int, price: int, removed: list[Removed]
    ) -> MatchedFill:
        t, m = taker.signed, maker.signed
        buy, sell = (t, m) if t.order.side == "buy" else (m, t)
        fill = Fill(self.config.market, size, price, "buyer" if t.order.side == "buy" else "seller")
        taker.remaining -= size
        maker.remaining -= size
        side = self.asks if t.order.side == "buy" else self.bids
        side.totals[price] -= size
        self._delta(side, price)
        f, gtb, gtt = self.known[maker.oid]
        self.known[maker.oid] = (f + size, gtb, gtt)
        for account, delta in ((buy.order.account, size), (sell.order.account, -size)):
            self.set_position(account, self.positions.get(account, 0) + delta)
        if maker.remaining == 0:
            side.queues[price].popleft()
            side.drop_level_if_empty(price)
            del self.by_id[maker.oid]
            removed.append(Removed(maker.oid.hex(), "filled"))
        return MatchedFill(buy, sell, fill)

    def _rest(self, r: Resting) -> None:
        self._seq += 1
        r.seq = self._seq
        side = self.bids if r.signed.order.side == "buy" else self.asks
        side.add(r)
        self.by_id[r.oid] = r
        gtb, gtt = _expiry(r.signed)
        if gtb != _NONE:
            heapq.heappush(self._expiry_blocks, (gtb, r.seq, r.oid))
        if gtt != _NONE:
            heapq.heappush(self._expiry_times, (gtt, r.seq, r.oid))
        self._delta(side, r.price)

    def _remove(self, r: Resting, reason: RemoveReason, removed: list[Removed]) -> None:
        side = self.bids if r.signed.order.side == "buy" else self.asks
        q = side.queues[r.price]
        q.remove(r)
        side.totals[r.price] -= r.remaining
        side.drop_level_if_empty(r.price)
        del self.by_id[r.oid]
        self._delta(side, r.price)
        removed.append(Removed(r.oid.hex(), reason))

    def _delta(self, side: _Side, price: int) -> None:
        self.delta_seq += 1
        self._deltas.append(
            LevelDelta(self.delta_seq, "bid" if side.is_bid else "ask", price, side.totals.get(price, 0))
        )

    def _outcome(
        self, start: int, fills: tuple[MatchedFill, ...], removed: list[Removed], rested: int
    ) -> Outcome:
        return Outcome(fills, tuple(removed), rested, tuple(self._deltas[start:]))


def _expiry(signed: SignedOrder) -> tuple[int, int]:
    o = signed.order
    return (
        _NONE if o.good_til_block is None else o.good_til_block,
        _NONE if o.good_til_time is None else o.good_til_time,
    )


__all__ = [
    "BOOK_DOMAIN",
    "BookConfig",
    "BookContext",
    "Depth",
    "LevelDelta",
    "OrderBook",
    "Outcome",
    "Removed",
    "Resting",
    "SelfTradePolicy",
]
