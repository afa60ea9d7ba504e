"""Liquidations 2.0 Dutch auctions (clip.sol): kick on bark, ``TakeAuction`` and ``RedoAuction``. Arithmetic
in :mod:`clearhouse.liquidation.maker` (dss units inside: ``tab`` rad, ``lot`` wad, prices ray).
"""

from __future__ import annotations

from clearhouse.core.fixedpoint import BLN, RAY, WAD, ceil_div
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.model import Account, Auction, DebtState, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.maker.clipper import kick_incentive, redo_incentive, sale_status, take_amounts
from clearhouse.liquidation.maker.dog import bark_amounts
from clearhouse.liquidation.maker.errors import (
    ClipperTooExpensive,
    ClipperZeroTopPrice,
    DogLiquidationLimitHit,
)
from clearhouse.liquidation.maker.lifecycle import SaleAction, SaleState, check_allowed, check_result
from clearhouse.liquidation.vault import (
    DUTCH,
    DutchAuction,
    WrongAuctionKind,
    auction_config,
)
from clearhouse.mechanisms.vaults.common import (
    find_auction,
    keep_cross_margin,
    oracle_price,
    pay_incentive,
    settle_proceeds,
    store_vault,
    write_off,
)
from clearhouse.oracle.rules import Action


def bark_dutch(
    ctx: TxContext,
    cfg: DutchAuction,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
    price: int,
) -> None:
    """dog.sol ``bark`` then clip.sol ``kick``."""
    debt = ctx.debt()
    spec, rate = vt.spec, vt.rate
    whole = ceil_div(vault.art * rate * spec.chop, WAD)  # room enough for the whole vault
    hole_total = debt.hole if debt.hole else debt.dirt + whole
    hole = cfg.hole * RAY if cfg.hole else vt.dirt + whole
    if not (hole_total > debt.dirt and hole > vt.dirt):
        raise DogLiquidationLimitHit(
            f"Hole={debt.hole} Dirt={debt.dirt} hole={cfg.hole * RAY} dirt={vt.dirt}"
        )
    room = min(hole_total - debt.dirt, hole - vt.dirt)
    dart, dink = bark_amounts(vault.ink, vault.art, rate, spec.dust * RAY, spec.chop, room)
    due = dart * rate
    tab = due * spec.chop // WAD
    feed = price * BLN
    top = feed * cfg.buf // RAY
    if top == 0:
        raise ClipperZeroTopPrice(f"feed_price={feed} buf={cfg.buf}")
    store_vault(acct, spec.id, Vault(vault.ink - dink, vault.art - dart))
    vt.art -= dart
    vt.dirt += tab
    debt.dirt += tab
    now = ctx.state.time
    auction_id = debt.kicks + 1
    check_allowed(SaleState.ABSENT, SaleAction.KICK, auction_id)
    debt.kicks = auction_id
    auction = Auction(auction_id, DUTCH, spec.id, acct.id, dink, tab, due, now, top=top)
    debt.auctions[auction_id] = auction
    ctx.emit(ev.VaultBarked(acct.id, spec.id, keeper.id, "dutch_auction", dink, dart, due, auction_id))
    ctx.emit(ev.AuctionKicked(auction_id, DUTCH, spec.id, acct.id, dink, tab, top, 0))
    _, coin = kick_incentive(cfg.tip * RAY, cfg.chip, tab)
    pay_incentive(ctx, auction_id, keeper, coin // RAY)
    after = _dutch_state(ctx, debt, auction_id, cfg)
    check_result(SaleState.ABSENT, SaleAction.KICK, after, auction_id)
    ctx.emit(ev.AuctionTransition(auction_id, SaleAction.KICK.value, SaleState.ABSENT.value, after.value))


def _dutch_state(ctx: TxContext, debt: DebtState, auction_id: int, cfg: DutchAuction) -> SaleState:
    a = debt.auctions.get(auction_id)
    if a is None:
        return SaleState.DONE if 0 < auction_id <= debt.kicks else SaleState.ABSENT
    done, _ = sale_status(cfg.calc(), a.tic, a.top, ctx.state.time, cfg.tail, cfg.cusp)
    return SaleState.NEEDS_REDO if done else SaleState.ACTIVE


def _open_sale(
    ctx: TxContext, auction_id: int, action: SaleAction
) -> tuple[Auction, VaultType, DutchAuction, DebtState, SaleState]:
    """What ``take`` and ``redo`` start from: the auction, its vault type and Dutch config, the debt
    state and the sale state before, once the lifecycle allows ``action`` (it refuses a finished or
    unknown sale, so the auction exists past this point)."""
    a, vt = find_auction(ctx, auction_id, DUTCH)
    cfg = auction_config(vt.spec.disposal) if vt is not None else DutchAuction(tail=1, tau=1)
    if not isinstance(cfg, DutchAuction):
        raise WrongAuctionKind(f"auction {auction_id}: its vault type no longer uses a Dutch auction")
    debt = ctx.debt()
    before = _dutch_state(ctx, debt, auction_id, cfg)
    check_allowed(before, action, auction_id)
    assert a is not None and vt is not None
    return a, vt, cfg, debt, before


def take_auction(ctx: TxContext, c: cmd.TakeAuction) -> None:
    """clip.sol ``take`` through :func:`take_amounts`; the taker pays ``ceil(owe / RAY)``."""
    a, vt, cfg, debt, before = _open_sale(ctx, c.auction, SaleAction.TAKE)
    now = ctx.state.time
    _, price = sale_status(cfg.calc(), a.tic, a.top, now, cfg.tail, cfg.cusp)
    if c.max_price < price:
        raise ClipperTooExpensive(f"price={price} > max={c.max_price}")
    chost = vt.spec.dust * RAY * vt.spec.chop // WAD
    owe, slice_ = take_amounts(a.lot, a.tab, c.amount, price, chost)
    paid = ceil_div(owe, RAY)
    settle = kernel.settle(ctx)
    taker = ctx.account(c.taker)
    kernel.pay_balance(taker, settle, paid, f"auction {c.auction}")
    kernel.credit_balance(taker, vt.spec.collateral, slice_)
    keep_cross_margin(ctx, taker, f"paying {paid} in auction {c.auction}")
    recovered, _, surplus = settle_proceeds(ctx, paid, a.debt)
    tab, lot, left = a.tab - owe, a.lot - slice_, a.debt - recovered
    dug = tab + owe if lot == 0 else owe
    debt.dirt -= dug
    vt.dirt -= dug
    ctx.emit(ev.AuctionTaken(c.auction, c.taker, price, owe, paid, slice_, tab, lot))
    if lot == 0 or tab == 0:
        owner = ctx.account(a.owner)
        refund = lot if tab == 0 else 0
        kernel.credit_balance(owner, vt.spec.collateral, refund)
        bad = write_off(ctx, a.owner, left)
        del debt.auctions[c.auction]
        ctx.emit(ev.AuctionEnded(c.auction, DUTCH, c.taker, slice_, refund, recovered, surplus, bad))
        after = SaleState.DONE
    else:
        debt.auctions[c.auction] = Auction(a.id, a.kind, a.vault_type, a.owner, lot, tab, left, a.tic, a.top)
        after = _dutch_state(ctx, debt, c.auction, cfg)
    check_result(before, SaleAction.TAKE, after, c.auction)
    ctx.emit(ev.AuctionTransition(c.auction, "take", before.value, after.value))


def redo_auction(ctx: TxContext, c: cmd.RedoAuction) -> None:
    """clip.sol ``redo``: restart from ``top = feed x buf``; incentive only for a non-dusty sale."""
    a, vt, cfg, debt, before = _open_sale(ctx, c.auction, SaleAction.REDO)
    keeper = ctx.account(c.keeper)
    feed = oracle_price(ctx, vt, Action.LIQUIDATE) * BLN
    top = feed * cfg.buf // RAY
    if top == 0:
        raise ClipperZeroTopPrice(f"feed_price={feed} buf={cfg.buf}")
    chost = vt.spec.dust * RAY * vt.spec.chop // WAD
    _, coin = redo_incentive(cfg.tip * RAY, cfg.chip, chost, a.tab, a.lot, feed)
    now = ctx.state.time
    debt.auctions[c.auction] = Auction(a.id, a.kind, a.vault_type, a.owner, a.lot, a.tab, a.debt, now, top)
    ctx.emit(ev.AuctionRedone(c.auction, c.keeper, top, coin // RAY))
    pay_incentive(ctx, c.auction, keeper, coin // RAY)
    after = _dutch_state(ctx, debt, c.auction, cfg)
    check_result(before, SaleAction.REDO, after, c.auction)
    ctx.emit(ev.AuctionTransition(c.auction, "redo", before.value, after.value))


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.TakeAuction: take_auction,
    cmd.RedoAuction: redo_auction,
}
