"""Handlers of the commands a signed envelope may carry that the ledger's handlers do not know.

:func:`execute` runs one admitted command on a transaction context and returns the registry and fill
book after it; the caller keeps them only if nothing raised, so a refused command changes neither.

* ``AuthorizeKey`` / ``RevokeKey`` (the account's owner) and ``AuthorizeReporter`` / ``RevokeReporter``
  (an admin) update the registry and emit ``KeyAuthorized`` … ``ReporterRevoked``.
* ``OpenAccount`` runs the ledger's handler and records the owner key in the registry.
* ``MatchedFill`` runs :func:`clearhouse.auth.clearing.clear_fill` — both orders' signatures and chain,
  each signer controls its order's account, the fill against both limits, both orders' remaining size
  (the fill book), the market's price band around the fresh index price, reduce-only against the current
  positions — then the ledger's ``Trade`` (margin, fees, oracle rules), and emits ``FillCleared``.
  Markets have no tick size, so prices are on a grid of 1 (WAD units); sizes on the market's step.
* every other ledger command runs its ledger handler, exactly as a bare command would.
"""

from __future__ import annotations

from typing import Any

from clearhouse.auth.authorization import AuthRegistry
from clearhouse.auth.clearing import FillBook, clear_fill
from clearhouse.auth.commands import AuthorizeKey, AuthorizeReporter, MatchedFill, RevokeKey, RevokeReporter
from clearhouse.auth.orders import order_id
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.errors import UnknownMarket
from clearhouse.ledger.margin import fresh_price_lookup
from clearhouse.ledger.unit_of_work import TxContext


def execute(
    engine: Any,
    ctx: TxContext,
    signer: str,
    command: c.Command,
    reg: AuthRegistry,
    fills: FillBook,
    chain_id: str,
) -> tuple[AuthRegistry, FillBook]:
    """Run ``command`` from ``signer`` (already admitted) on ``ctx``; the registry and fill book after it."""
    from clearhouse.ledger.engine import _HANDLERS  # the ledger's own handler table

    command.check()
    if isinstance(command, AuthorizeKey | RevokeKey | AuthorizeReporter | RevokeReporter):
        reg = reg.apply(signer, command)
        if isinstance(command, AuthorizeKey):
            ctx.emit(ev.KeyAuthorized(command.account, command.key))
        elif isinstance(command, RevokeKey):
            ctx.emit(ev.KeyRevoked(command.account, command.key))
        elif isinstance(command, AuthorizeReporter):
            ctx.emit(ev.ReporterAuthorized(command.feed, command.source, command.key))
        else:
            ctx.emit(ev.ReporterRevoked(command.feed, command.source))
        return reg, fills
    if isinstance(command, MatchedFill):
        return reg, _matched_fill(engine, ctx, command, reg, fills, chain_id, _HANDLERS[c.Trade])
    _HANDLERS[type(command)](engine, ctx, command)
    if isinstance(command, c.OpenAccount):
        reg = reg.apply(signer, command)
    return reg, fills


def _matched_fill(
    engine: Any,
    ctx: TxContext,
    m: MatchedFill,
    reg: AuthRegistry,
    fills: FillBook,
    chain_id: str,
    trade: Any,
) -> FillBook:
    state = engine.state
    market = state.markets.get(m.fill.market)
    if market is None:
        raise UnknownMarket(f"unknown market {m.fill.market!r}")
    spec = market.spec
    index_price = fresh_price_lookup(state)(spec.oracle)
    positions = tuple(_position(state, o.order.account, spec.id) for o in (m.buy, m.sell))
    new, cmd = clear_fill(
        fills,
        reg,
        m,
        chain_id=chain_id,
        index_price=index_price,
        band=spec.price_band,
        tick_size=1,
        step_size=spec.step_size,
        height=state.height,
        now_ms=state.time * 1000,
        positions=(positions[0], positions[1]),
    )
    trade(engine, ctx, cmd)
    buy_id, sell_id = order_id(m.buy.order), order_id(m.sell.order)
    ctx.emit(ev.FillCleared(spec.id, buy_id.hex(), sell_id.hex(), new.filled(buy_id), new.filled(sell_id)))
    return new


def _position(state: Any, account: str, market: str) -> int | None:
    acct = state.accounts.get(account)
    if acct is None:
        return None
    pos = acct.positions.get(market)
    return 0 if pos is None else int(pos.size)


__all__ = ["execute"]
