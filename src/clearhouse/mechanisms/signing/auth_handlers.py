"""Handlers of the commands a signed envelope may carry that the ledger's handlers do not know.

:func:`execute` runs one admitted command on a transaction context and returns the registry and fill
book after it; the caller keeps them only if nothing raised, so a refused command changes neither.

* ``AuthorizeKey`` / ``RevokeKey`` (the account's owner) and ``AuthorizeReporter`` / ``RevokeReporter``
  (an admin) update the registry and emit ``KeyAuthorized`` … ``ReporterRevoked``.
* ``OpenAccount`` runs the ledger's handler and records the owner key in the registry.
* ``MatchedFill`` runs :func:`clearhouse.auth.clearing.clear_fill`'s pipeline — both orders'
  signatures and chain, each signer controls its order's account, the fill against both limits, both
  orders' remaining size (the fill book), the market's price band around the fresh index price,
  reduce-only against the current positions — then the ledger's ``Trade`` (margin, fees, oracle
  rules), and emits ``FillCleared``.
  Markets have no tick size, so prices are on a grid of 1 (WAD units); sizes on the market's step.
  A fill in a dated future or option (``mechanisms.options``) is checked on its contract's tick and
  step (futures: its band around the underlying's index; options: no band, the premium is bounded by
  ``TradeContract``) and clears as a ``TradeContract``.
* every other ledger command runs its ledger handler, exactly as a bare command would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clearhouse.auth.authorization import AccountKeys, AuthRegistry
from clearhouse.auth.clearing import FillBook, FilledOrder, judge_fill
from clearhouse.auth.commands import AuthorizeKey, AuthorizeReporter, MatchedFill, RevokeKey, RevokeReporter
from clearhouse.auth.orders import to_trade, verify_order
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.errors import AlreadyExists, UnknownMarket
from clearhouse.ledger.kernel import Handler
from clearhouse.ledger.margin import fresh_price_lookup
from clearhouse.ledger.unit_of_work import TxContext


class BlockFills:
    """The fill book during one block: the committed book plus the block's changes (one dict copy per
    block instead of one per fill); :meth:`book` is the value to keep at the end of the block."""

    __slots__ = ("base", "changes")

    def __init__(self, base: FillBook) -> None:
        self.base = base
        self.changes: dict[str, FilledOrder] = {}

    def filled(self, oid: bytes) -> int:
        key = oid.hex()
        entry = self.changes.get(key)
        if entry is None:
            entry = self.base.orders.get(key)
        return 0 if entry is None else entry.filled

    def book(self) -> FillBook:
        return FillBook({**self.base.orders, **self.changes}) if self.changes else self.base


@dataclass(frozen=True, slots=True)
class Effects:
    """What a command did to the auth state, for the caller to keep only if nothing raised."""

    registry: AuthRegistry
    #: Fill-book entries (order id hex -> filled) after a ``MatchedFill``.
    fills: dict[str, FilledOrder] = field(default_factory=dict)
    #: Registry accounts changed by ``registry`` (sub-keys).
    accounts: tuple[str, ...] = ()
    #: An account a signed ``OpenAccount`` opened, and its keys (the caller adds it to the registry).
    opened: tuple[str, AccountKeys] | None = None


def execute(
    ctx: TxContext,
    handlers: Mapping[type[Any], Handler],
    cache: Any,
    signer: str,
    command: c.Command,
    reg: AuthRegistry,
    fills: BlockFills,
    chain_id: str,
) -> Effects:
    """Run ``command`` from ``signer`` (already admitted) on ``ctx``; what it changes in the auth state."""
    command.check()
    if isinstance(command, AuthorizeKey | RevokeKey | AuthorizeReporter | RevokeReporter):
        new = reg.apply(signer, command)
        if isinstance(command, AuthorizeKey):
            ctx.emit(ev.KeyAuthorized(command.account, command.key))
        elif isinstance(command, RevokeKey):
            ctx.emit(ev.KeyRevoked(command.account, command.key))
        elif isinstance(command, AuthorizeReporter):
            ctx.emit(ev.ReporterAuthorized(command.feed, command.source, command.key))
        else:
            ctx.emit(ev.ReporterRevoked(command.feed, command.source))
        changed = (command.account,) if isinstance(command, AuthorizeKey | RevokeKey) else ()
        return Effects(new, accounts=changed)
    if isinstance(command, MatchedFill):
        # a fill in a dated future or option clears as a TradeContract (mechanisms.options)
        kind = c.TradeContract if command.fill.market in ctx.state.contracts.instruments else c.Trade
        return Effects(reg, _matched_fill(ctx, cache, command, reg, fills, chain_id, handlers[kind]))
    handlers[type(command)](ctx, command)
    if isinstance(command, c.OpenAccount):
        # as AuthRegistry.apply would (the signer is the owner: checked at admission), without copying
        # the registry per account
        if command.account in reg.accounts:
            raise AlreadyExists(f"account {command.account} exists")
        return Effects(reg, opened=(command.account, AccountKeys(command.owner)))
    return Effects(reg)


def _matched_fill(
    ctx: TxContext,
    cache: Any,
    m: MatchedFill,
    reg: AuthRegistry,
    fills: BlockFills,
    chain_id: str,
    trade: Any,
) -> dict[str, FilledOrder]:
    """:func:`clearhouse.auth.clearing.clear_fill`'s pipeline (:func:`~clearhouse.auth.clearing.judge_fill`:
    verify both orders, authorise both signers, ``check_fill`` against the filled amounts) on the
    block's fill book."""
    state = ctx.state
    verify = verify_order if cache is None else cache.check_order
    market = state.markets.get(m.fill.market)
    listing = state.contracts.instruments.get(m.fill.market)
    if market is not None:
        index_price = fresh_price_lookup(state)(market.spec.oracle)
        band, tick, step = market.spec.price_band, 1, market.spec.step_size
    elif listing is not None:  # a dated contract: its own tick and step
        tick, step = listing.spec.tick_size, listing.spec.step_size
        if listing.is_option:  # a premium has no band around the index (TradeContract bounds it)
            index_price, band = m.fill.price, 0
        else:
            index_price = fresh_price_lookup(state)(listing.spec.underlying)
            band = listing.terms.price_band
    else:
        raise UnknownMarket(f"unknown market {m.fill.market!r}")
    positions = tuple(_position(state, o.order.account, m.fill.market) for o in (m.buy, m.sell))
    buy_id, sell_id, buy_filled, sell_filled = judge_fill(
        m,
        reg,
        fills.filled,
        chain_id=chain_id,
        index_price=index_price,
        band=band,
        tick_size=tick,
        step_size=step,
        height=state.height,
        now_ms=state.time * 1000,
        positions=(positions[0], positions[1]),
        verify=verify,
    )
    perp = to_trade(m.fill, m.buy.order, m.sell.order)
    if market is None:
        trade(ctx, c.TradeContract(perp.market, perp.buyer, perp.seller, perp.size, perp.price, perp.taker))
    else:
        trade(ctx, perp)
    ctx.emit(ev.FillCleared(m.fill.market, buy_id.hex(), sell_id.hex(), buy_filled, sell_filled))
    b, o = m.buy.order, m.sell.order
    return {
        buy_id.hex(): FilledOrder(buy_filled, b.good_til_block, b.good_til_time),
        sell_id.hex(): FilledOrder(sell_filled, o.good_til_block, o.good_til_time),
    }


def _position(state: Any, account: str, market: str) -> int | None:
    acct = state.accounts.get(account)
    if acct is None:
        return None
    pos = acct.positions.get(market)
    if pos is None:
        held = acct.contracts.get(market)
        return 0 if held is None else int(held.size)
    return int(pos.size)


__all__ = ["BlockFills", "Effects", "execute"]
