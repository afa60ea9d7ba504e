"""Liquidation of accounts holding dated contracts: riskiest legs first, by keeper takeover.

``LiquidateContracts(account, liquidator)`` (anyone; the liquidator is the caller's own account) on an
account below maintenance (exact ``margin.cross_summary``, portfolio margin where it holds options):

1. **order** the contract legs: per option underlying (largest maintenance first) the legs by their
   exact contribution to the worst scenario, most negative first (``portfolio_margin.riskiest_legs``);
   when no scenario loses (an add-on binds) the short options, largest first; then futures margined
   at fixed fractions, largest notional first;
2. **take over** legs in that order — an option at the table's mark (the account receives
   ``floor(size × mark)``, negative for a short: it pays to be relieved of it), a future at the index
   (a fill, realising its P&L) — each with a penalty ``ceil(|size| × index × liquidation_fee)`` paid
   by the account to the liquidator; stop as soon as the account meets initial margin again;
3. the liquidator must meet initial margin afterwards; an account left with no position at all and
   negative equity is bankrupt: the kernel seizes its collateral and covers the deficit from the
   insurance fund, then records bad debt (the perp waterfall's first stages). Cross perps that remain
   are the perp enforcement's (same block, after this step), with its full waterfall.

The engine's enforcement hook (:func:`enforce`) takes candidates from a :class:`ContractScreen`
(default :class:`ExactContractScreen`, every account holding contracts; the vectorised
``risk.contract_screen.PortfolioContractScreen`` never misses either), confirms them exactly, lowest
health first, within the block's liquidation cap, and reports (``BelowMaintenance``) or liquidates
against the backstop liquidator.
"""

from __future__ import annotations

from collections.abc import Collection
from fractions import Fraction
from typing import Protocol

import msgspec

from clearhouse.core.errors import (
    ClearhouseError,
    InsufficientMargin,
    MissingPrice,
    NotLiquidatable,
    SelfTrade,
    StalePrice,
)
from clearhouse.core.fixedpoint import WAD, WAD2, mul_div_up
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.contract_margin import portfolios, underlying_margin
from clearhouse.ledger.enforcement import rotate_by_health
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.margin import PriceLookup, cross_summary, fresh_price_lookup
from clearhouse.ledger.model import Account, LedgerState
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.mechanisms.options.trading import move_leg
from clearhouse.options.portfolio_margin import riskiest_legs
from clearhouse.oracle.errors import OracleActionRefused
from clearhouse.oracle.rules import Action, SequencerGrace


def leg_order(state: LedgerState, account: Account, price_of: PriceLookup) -> list[str]:
    """The account's contract legs in closing order (see the module doc)."""
    book = state.contracts
    ranked: list[tuple[int, str, list[str]]] = []
    for u, portfolio in portfolios(state, account, price_of).items():
        result = underlying_margin(state, u, portfolio)
        if result.worst_scenario >= 0:
            legs = [name for name, _ in riskiest_legs(book.tables[u].table, portfolio, result.worst_scenario)]
        else:
            shorts = sorted((p.size, p.instrument) for p in portfolio.options if p.size < 0)
            legs = [name for _, name in shorts]
        ranked.append((-result.maintenance, u, [iid for iid in legs if iid in account.contracts]))
    order = [iid for _, _, legs in sorted(ranked) for iid in legs]
    rest = [
        (-abs(pos.size) * price_of(book.instruments[iid].spec.underlying), iid)
        for iid, pos in account.contracts.items()
        if iid not in order and pos.size
    ]
    return order + [iid for _, iid in sorted(rest)]


def take_over(ctx: TxContext, acct: Account, liq: Account, iid: str, price_of: PriceLookup) -> None:
    """Move the whole leg ``iid`` from ``acct`` to ``liq`` at its liquidation price, with the penalty."""
    book = ctx.contracts()
    listing = book.instruments[iid]
    spec = listing.spec
    size = acct.contracts[iid].size
    index = price_of(spec.underlying)
    if listing.is_option:
        price = ctx.state.contracts.tables[spec.underlying].table.row(iid).mark
        premium = abs(size) * price // WAD
    else:
        price = index
        premium = abs(size) * index // WAD
    oi, pool = listing.open_interest, listing.pnl_pool
    for who, delta in ((acct, -size), (liq, size)):
        old, new, realised = move_leg(ctx, who, listing, delta, premium)
        pool -= realised
        oi += max(new, 0) - max(old, 0)
    penalty = mul_div_up(abs(size) * index, listing.terms.liquidation_fee, WAD2)
    asset = kernel.settle(ctx)
    kernel.credit_balance(acct, asset, -penalty)
    kernel.credit_balance(liq, asset, penalty)
    book.instruments[iid] = msgspec.structs.replace(listing, open_interest=oi, pnl_pool=pool)
    ctx.emit(ev.ContractLegLiquidated(acct.id, liq.id, iid, size, price, penalty))


def liquidate_contracts(ctx: TxContext, c: cmd.LiquidateContracts) -> None:
    if c.account == c.liquidator:
        raise SelfTrade(f"account {c.account} cannot liquidate itself")
    kernel.check_liquidation_room(ctx)
    state = ctx.state
    acct, liq = ctx.account(c.account), ctx.account(c.liquidator)
    if not acct.contracts:
        raise NotLiquidatable(f"account {c.account} holds no dated contracts")
    price_of = kernel.prices(ctx)
    committed = state.accounts[c.account]
    underlyings = sorted({state.contracts.instruments[i].spec.underlying for i in committed.contracts})
    kernel.require(ctx, Action.LIQUIDATE, underlyings)
    before = cross_summary(state, committed, price_of)
    if not before.liquidatable:
        raise NotLiquidatable(
            f"account {c.account} has equity {before.equity} >= maintenance {before.maintenance}"
        )
    params = state.params
    if params.sequencer_grace:  # Aave's sentinel, as for perps: only the deeply unhealthy in the grace
        sentinel = SequencerGrace(params.sequencer_grace, params.grace_health_threshold)
        health = before.health if before.health is not None else 0
        up, since = state.sequencer_up, state.sequencer_up_since
        if not sentinel.is_liquidation_allowed(state.time, up, since, health):
            raise OracleActionRefused(
                f"liquidation of {c.account} refused: sequencer grace period and health {health} is not "
                f"below {params.grace_health_threshold}"
            )
    for iid in leg_order(state, committed, price_of):
        take_over(ctx, acct, liq, iid, price_of)
        if cross_summary(state, acct, price_of).meets_initial:
            break
    after = cross_summary(state, liq, price_of)
    if not after.meets_initial:
        raise InsufficientMargin(
            f"liquidator {c.liquidator} would hold equity {after.equity} below initial {after.initial}"
        )
    emptied = not acct.contracts and not any(p.size for p in acct.positions.values())
    if emptied and cross_summary(state, acct, price_of).equity < 0:  # bankrupt, as after a close-out
        kernel.bankrupt(ctx, acct)
    kernel.count_liquidation(ctx)


class ContractScreen(Protocol):
    """A superset of the accounts holding contracts that are below maintenance (the screen port; the
    exact check decides, so any screen that never misses gives identical blocks)."""

    def candidates(self, state: LedgerState) -> Collection[str]: ...


class ExactContractScreen:
    """Every account holding contracts (the reference: it cannot miss)."""

    def candidates(self, state: LedgerState) -> Collection[str]:
        return [aid for aid, account in state.accounts.items() if account.contracts]


def enforce(
    state: LedgerState,
    undo: BlockUndo,
    events: list[ev.Event],
    touched: set[str],
    room: int,
    screen: ContractScreen | None = None,
) -> int:
    """The enforcement hook for accounts holding contracts; returns how many it acted on."""
    params = state.params
    price_of = fresh_price_lookup(state)
    below: list[tuple[Fraction, str]] = []
    summaries = {}
    for aid in sorted((screen or ExactContractScreen()).candidates(state)):
        account = state.accounts[aid]
        if not account.contracts:
            continue
        try:
            summary = cross_summary(state, account, price_of)
        except (MissingPrice, StalePrice):
            continue  # nothing is enforced without a fresh price
        if summary.liquidatable:
            below.append((Fraction(summary.equity, max(summary.maintenance, 1)), aid))
            summaries[aid] = summary
    chosen = rotate_by_health(below, state.height, room)
    for aid in chosen:
        summary = summaries[aid]
        if params.enforcement == "report":
            events.append(ev.BelowMaintenance(aid, None, summary.equity, summary.maintenance))
            continue
        ctx = TxContext(state, undo)
        try:
            liquidate_contracts(ctx, cmd.LiquidateContracts(aid, params.backstop_liquidator))
        except ClearhouseError as err:
            events.append(ev.EnforcementFailed(aid, None, err.code, str(err)))
            continue
        touched.update(ctx.commit())
        events.extend(ctx.events)
    return len(chosen)


HANDLERS: Handlers = {cmd.LiquidateContracts: liquidate_contracts}
