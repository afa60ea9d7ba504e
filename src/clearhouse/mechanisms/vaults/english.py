"""Liquidations 1.2 English auctions (cat.sol + flip.sol): kick on bark, ``Tend``, ``Dent``, ``Deal`` and
``Tick``; the state machine is :mod:`clearhouse.liquidation.vault`.
"""

from __future__ import annotations

from clearhouse.core.fixedpoint import RAY, WAD, ceil_div
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.model import Account, Auction, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.vault import (
    ENGLISH,
    EnglishAction,
    EnglishAuction,
    EnglishState,
    FlipperNotFinished,
    IllegalAuctionTransition,
    WrongAuctionKind,
    auction_config,
    check_dent,
    check_english,
    check_tend,
    english_state,
)
from clearhouse.mechanisms.vaults.common import find_auction, keep_cross_margin, settle_proceeds, write_off


def bark_english(
    ctx: TxContext,
    cfg: EnglishAuction,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
) -> None:
    """cat.sol ``bite`` (the whole vault) then flip.sol ``kick``: ``tab = art x rate x chop``."""
    debt = ctx.debt()
    due = vault.art * vt.rate
    tab = ceil_div(due * vt.spec.chop, WAD * RAY)
    acct.own_vaults().pop(vt.spec.id)
    vt.art -= vault.art
    auction_id = debt.kicks + 1
    check_english(EnglishState.ABSENT, EnglishAction.KICK, auction_id)
    debt.kicks = auction_id
    end = ctx.state.time + cfg.tau
    debt.auctions[auction_id] = Auction(
        auction_id, ENGLISH, vt.spec.id, acct.id, vault.ink, tab, due, 0, end=end
    )
    ctx.emit(
        ev.VaultBarked(
            acct.id, vt.spec.id, keeper.id, "english_auction", vault.ink, vault.art, due, auction_id
        )
    )
    ctx.emit(ev.AuctionKicked(auction_id, ENGLISH, vt.spec.id, acct.id, vault.ink, tab, 0, end))
    ctx.emit(
        ev.AuctionTransition(
            auction_id, EnglishAction.KICK.value, EnglishState.ABSENT.value, EnglishState.OPEN.value
        )
    )


def _english(
    ctx: TxContext, auction_id: int
) -> tuple[Auction | None, EnglishAuction, EnglishState]:
    a, vt = find_auction(ctx, auction_id, ENGLISH)
    if a is None or vt is None:
        return None, EnglishAuction(), EnglishState.DEALT
    cfg = auction_config(vt.spec.disposal)
    if not isinstance(cfg, EnglishAuction):
        raise WrongAuctionKind(f"auction {auction_id}: its vault type no longer uses an English auction")
    state = english_state(True, a.bid, a.tab, bool(a.guy), a.tic, a.end, ctx.state.time)
    return a, cfg, state


def _english_after(ctx: TxContext, a: Auction) -> EnglishState:
    return english_state(True, a.bid, a.tab, bool(a.guy), a.tic, a.end, ctx.state.time)


def _transition(
    ctx: TxContext,
    a_id: int,
    action: EnglishAction,
    before: EnglishState,
    allowed: frozenset[EnglishState],
    after: EnglishState,
) -> None:
    """Emit the transition, which must land in a state ``allowed`` by ``check_english`` (called once, as
    the action's precondition, by the handler)."""
    if after not in allowed:
        raise IllegalAuctionTransition(f"auction {a_id}: {action} from {before} reached {after}")
    ctx.emit(ev.AuctionTransition(a_id, action.value, before.value, after.value))


def tend(ctx: TxContext, c: cmd.Tend) -> None:
    a, cfg, before = _english(ctx, c.auction)
    allowed = check_english(before, EnglishAction.TEND, c.auction)
    assert a is not None
    check_tend(cfg, a.lot, a.tab, a.bid, bool(a.guy), c.lot, c.bid)
    settle = kernel.settle(ctx)
    refunded = a.bid if a.guy else 0
    if a.guy:
        kernel.credit_balance(ctx.account(a.guy), settle, refunded)
    bidder = ctx.account(c.bidder)
    kernel.pay_balance(bidder, settle, c.bid, f"bidding in auction {c.auction}")
    keep_cross_margin(ctx, bidder, f"bidding {c.bid} in auction {c.auction}")
    new = Auction(a.id, a.kind, a.vault_type, a.owner, a.lot, a.tab, a.debt, ctx.state.time + cfg.ttl,
                  end=a.end, bid=c.bid, guy=c.bidder)  # fmt: skip
    ctx.debt().auctions[c.auction] = new
    ctx.emit(ev.AuctionBid(c.auction, c.bidder, "tend", c.lot, c.bid, refunded, 0))
    _transition(ctx, c.auction, EnglishAction.TEND, before, allowed, _english_after(ctx, new))


def dent(ctx: TxContext, c: cmd.Dent) -> None:
    a, cfg, before = _english(ctx, c.auction)
    allowed = check_english(before, EnglishAction.DENT, c.auction)
    assert a is not None
    check_dent(cfg, a.lot, a.tab, a.bid, c.lot, c.bid)
    settle = kernel.settle(ctx)
    kernel.credit_balance(ctx.account(a.guy), settle, a.bid)
    bidder = ctx.account(c.bidder)
    kernel.pay_balance(bidder, settle, c.bid, f"bidding in auction {c.auction}")
    keep_cross_margin(ctx, bidder, f"bidding {c.bid} in auction {c.auction}")
    returned = a.lot - c.lot
    vt = ctx.vault_type(a.vault_type)
    kernel.credit_balance(ctx.account(a.owner), vt.spec.collateral, returned)
    new = Auction(a.id, a.kind, a.vault_type, a.owner, c.lot, a.tab, a.debt, ctx.state.time + cfg.ttl,
                  end=a.end, bid=c.bid, guy=c.bidder)  # fmt: skip
    ctx.debt().auctions[c.auction] = new
    ctx.emit(ev.AuctionBid(c.auction, c.bidder, "dent", c.lot, c.bid, a.bid, returned))
    _transition(ctx, c.auction, EnglishAction.DENT, before, allowed, _english_after(ctx, new))


def deal(ctx: TxContext, c: cmd.Deal) -> None:
    """flip.sol ``deal``: the winner takes the lot; the bid repays debt, the rest is penalty income."""
    a, _, before = _english(ctx, c.auction)
    allowed = check_english(before, EnglishAction.DEAL, c.auction)
    assert a is not None
    now = ctx.state.time
    if not (a.tic < now or a.end < now):
        raise FlipperNotFinished(f"auction {c.auction}: tic {a.tic} and end {a.end} are not before {now}")
    vt = ctx.vault_type(a.vault_type)
    ctx.account(c.keeper)
    kernel.credit_balance(ctx.account(a.guy), vt.spec.collateral, a.lot)
    recovered, _, surplus = settle_proceeds(ctx, a.bid, a.debt)
    bad = write_off(ctx, a.owner, a.debt - recovered)
    del ctx.debt().auctions[c.auction]
    ctx.emit(ev.AuctionEnded(c.auction, ENGLISH, a.guy, a.lot, 0, recovered, surplus, bad))
    _transition(ctx, c.auction, EnglishAction.DEAL, before, allowed, EnglishState.DEALT)


def tick(ctx: TxContext, c: cmd.Tick) -> None:
    a, cfg, before = _english(ctx, c.auction)
    allowed = check_english(before, EnglishAction.TICK, c.auction)
    assert a is not None
    now = ctx.state.time
    if not a.end < now:
        raise FlipperNotFinished(f"auction {c.auction}: end {a.end} is not before {now}")
    ctx.account(c.keeper)
    new = Auction(a.id, a.kind, a.vault_type, a.owner, a.lot, a.tab, a.debt, 0, end=now + cfg.tau)
    ctx.debt().auctions[c.auction] = new
    ctx.emit(ev.AuctionRestarted(c.auction, new.end))
    _transition(ctx, c.auction, EnglishAction.TICK, before, allowed, _english_after(ctx, new))


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.Tend: tend,
    cmd.Dent: dent,
    cmd.Deal: deal,
    cmd.Tick: tick,
}
