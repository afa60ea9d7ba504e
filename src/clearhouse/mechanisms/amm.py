"""The AMM pool of a perp market: ``ConfigureAmm`` and ``SwapAmm``, and the fill against the pool that
the ``amm`` liquidation disposal uses (constant product, :func:`clearhouse.liquidation.perp.amm_quote`).
"""

from __future__ import annotations

from clearhouse.core.errors import (
    SelfTrade,
    SlippageExceeded,
    UnknownPool,
)
from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.model import Account, MarketState, Position
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.perp import (
    amm_quote,
)


def configure_amm(ctx: TxContext, c: cmd.ConfigureAmm) -> None:
    market = ctx.market(c.market)
    ctx.account(c.account)  # must exist
    market.amm_account, market.amm_base, market.amm_quote = c.account, c.base_reserve, c.quote_reserve
    ctx.emit(ev.AmmConfigured(c.market, c.account, c.base_reserve, c.quote_reserve))


def pool_account(ctx: TxContext, market: MarketState) -> Account:
    if not market.amm_account:
        raise UnknownPool(f"market {market.spec.id} has no AMM pool (ConfigureAmm)")
    return ctx.account(market.amm_account)


def amm_fill(
    ctx: TxContext, market: MarketState, acct: Account, size: int, quote: int
) -> Position:
    """Fill ``size`` (the account's side) against the pool for ``quote``; move the reserves."""
    pool = pool_account(ctx, market)
    pos, _ = kernel.fill(ctx, acct, market, size, quote)
    pool_pos, _ = kernel.fill(ctx, pool, market, -size, quote)
    kernel.drop_if_empty(pool, pool_pos)
    market.amm_base -= size
    market.amm_quote += quote if size > 0 else -quote
    return pos


def swap_amm(ctx: TxContext, c: cmd.SwapAmm) -> None:
    market = ctx.market(c.market)
    pool = pool_account(ctx, market)
    if c.account == pool.id:
        raise SelfTrade(f"the pool {pool.id} cannot swap with itself")
    acct = ctx.account(c.account)
    prices = kernel.prices(ctx)
    prices(market.spec.oracle)
    quote = amm_quote(market.amm_base, market.amm_quote, c.size)
    if c.size > 0 and quote * WAD > c.limit_price * c.size:
        raise SlippageExceeded(f"buying {c.size} costs {quote}, above limit {c.limit_price}")
    if c.size < 0 and quote * WAD < c.limit_price * -c.size:
        raise SlippageExceeded(f"selling {-c.size} brings {quote}, below limit {c.limit_price}")
    old = acct.positions[c.market].size if c.market in acct.positions else 0
    pos = amm_fill(ctx, market, acct, c.size, quote)
    kernel.check_fill_risk(ctx, pos.size, old, market.spec.oracle, acct.id, c.market)
    kernel.check_fill_margin(ctx, acct, pos, old, prices, f"AMM swap of {c.size} {c.market}")
    kernel.drop_if_empty(acct, pos)
    price_after = market.amm_quote * WAD // market.amm_base
    ctx.emit(ev.AmmSwapped(c.account, c.market, c.size, quote, price_after))


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.ConfigureAmm: configure_amm,
    cmd.SwapAmm: swap_amm,
}
