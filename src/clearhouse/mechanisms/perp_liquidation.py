"""Perpetual liquidation in the engine: ``Liquidate``, the loss waterfall, the AMM pool and the backstop.

Handlers take the transaction's scratch view (:class:`TxContext`) and change the ledger only through
:mod:`clearhouse.ledger.kernel`, like the vault handlers; the prices, sizing and lifecycle they apply
are pure functions in :mod:`clearhouse.liquidation.perp`. See docs/liquidation.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from clearhouse.core.errors import (
    AdlUnavailable,
    InsufficientMargin,
    LiquidationCooldown,
    MarginModeConflict,
    NotLiquidatable,
    SelfTrade,
)
from clearhouse.core.fixedpoint import WAD, WAD2, check_range, mul_div_up, rmul_up
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.enforcement import Confirmed
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.margin import (
    MarginSummary,
    MarginTable,
    PriceLookup,
    collateral_value,
    cross_summary,
    cross_totals,
    isolated_summary,
    make_summary,
    margin_fractions,
    requirement,
    unrealised_pnl,
)
from clearhouse.ledger.margin_models import FixedMargin
from clearhouse.ledger.model import Account, MarketState, Position
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.perp import (
    Lifecycle,
    LiquidationConfig,
    Stage,
    amm_quote,
    bankruptcy_quote,
    fillable_price,
    size_to_close,
)
from clearhouse.mechanisms.amm import amm_fill, pool_account


def liquidate(ctx: TxContext, c: cmd.Liquidate) -> None:
    """Liquidate one position by its market's mechanism (see clearhouse.liquidation.perp)."""
    state = ctx.state
    kernel.check_liquidation_room(ctx)
    if c.account == c.liquidator:
        raise SelfTrade(f"account {c.account} cannot liquidate itself")
    acct, liq = ctx.account(c.account), ctx.account(c.liquidator)
    prices = kernel.prices(ctx)
    mid = c.market if c.market is not None else _largest_position(ctx, acct, prices)
    pos = acct.positions.get(mid) if mid is not None else None
    if mid is None or pos is None or not pos.size:
        raise NotLiquidatable(f"account {c.account} has no position to liquidate in {c.market}")
    market = ctx.market(mid)
    spec, cfg = market.spec, market.spec.liquidation
    before = kernel.bucket_summary(ctx, acct, pos, prices)
    kernel.check_enforceable(ctx, c.account, before, [mid], prices)
    life = Lifecycle()
    price = prices(spec.oracle)
    imf, mmf = margin_fractions(market, pos.size, price)
    tnc, tmmr = before.equity, before.maintenance
    vault = cfg.disposal == "backstop_vault" and tnc * WAD < cfg.vault_health * tmmr
    fill = fillable_price(pos.size, price, mmf, tnc, tmmr, cfg.bankruptcy_adjustment, cfg.spread_to_mmr)
    if vault or pos.size * price // WAD == 0:
        closed = abs(pos.size)
    else:
        closed = size_to_close(cfg, pos.size, price, fill, imf, tnc, before.initial, tmmr, spec.step_size)
    large = abs(pos.size) * price // WAD > cfg.step_notional
    if large and pos.last_liquidation and state.time - pos.last_liquidation < cfg.cooldown:
        raise LiquidationCooldown(
            f"{c.account} {mid} was liquidated at {pos.last_liquidation}; cooldown {cfg.cooldown}s"
        )
    life.advance(Stage.SIZED)
    size, sign = pos.size, (1 if pos.size > 0 else -1)
    mm_closed = requirement(closed, price, mmf)
    bq = bankruptcy_quote(size, closed, price, mm_closed, before.equity, before.maintenance)
    amm = cfg.disposal == "amm" and not vault
    taker = ctx.account(cfg.vault_account) if vault else (pool_account(ctx, market) if amm else liq)
    # Quote the account receives (< 0: pays), rounded against it: down for a sale, up for a purchase.
    if vault:
        fill_quote = bq
    elif amm:
        pool_quote = amm_quote(market.amm_base, market.amm_quote, -sign * closed)
        fill_quote = pool_quote if sign > 0 else -pool_quote
    else:
        fill_quote = closed * fill // WAD if sign > 0 else (-closed * fill) // WAD
    shortfall = max(bq - fill_quote, 0)
    settle = kernel.settle(ctx)
    available = _insurance_room(ctx, cfg, c.account) + (
        ctx.pools().backstop.get(settle, 0) if cfg.use_backstop_pool else 0
    )
    fee = 0
    if shortfall > available and cfg.adl != "off" and not vault:
        life.advance(Stage.ADL)
        remaining = _deleverage(ctx, acct, market, closed, bq, cfg.adl)
        if remaining:
            raise AdlUnavailable(
                f"ADL found no profitable opposite position for {remaining} of {c.account} {mid}"
            )
        fill_quote, shortfall = bq, 0
        taker_id = "adl"
    else:
        if taker.id != c.liquidator and any(p.isolated for m, p in taker.positions.items() if m == mid):
            raise MarginModeConflict(f"{taker.id} holds an isolated position in {mid}")
        if any(p.isolated for m, p in liq.positions.items() if m == mid) and not vault:
            raise MarginModeConflict(f"liquidator {c.liquidator} holds an isolated position in {mid}")
        if amm:
            pos = amm_fill(ctx, market, acct, -sign * closed, abs(fill_quote))
        else:
            pos, _ = kernel.fill(ctx, acct, market, -sign * closed, abs(fill_quote))
            taker_pos, _ = kernel.fill(ctx, taker, market, sign * closed, abs(fill_quote))
            kernel.drop_if_empty(taker, taker_pos)
        life.advance(Stage.FILLED)
        if shortfall:
            _absorb_shortfall(ctx, life, cfg, acct, pos, market, shortfall, sign)
        elif fill_quote > bq:
            fee = min(fill_quote - bq, mul_div_up(closed * price, cfg.max_fee, WAD2))
            kernel.debit_bucket(ctx, acct, pos, fee)
            kernel.to_insurance(ctx, settle, fee)
        taker_id = taker.id
        if not vault and not amm:
            after = cross_summary(state, liq, prices)
            if not after.meets_initial:
                raise InsufficientMargin(
                    f"liquidator {c.liquidator} lacks initial margin for {closed} of {mid} "
                    f"(equity {after.equity}, initial {after.initial})"
                )
    life.advance(Stage.SETTLED)
    pos = acct.positions.get(mid) or pos
    pos.last_liquidation = state.time
    if pos.isolated and not pos.size and pos.margin > 0:
        acct.balances[settle] = acct.balances.get(settle, 0) + pos.margin
        pos.margin = 0
    if pos.is_empty or (not pos.size and not pos.isolated):
        acct.positions.pop(mid, None)
    kernel.count_liquidation(ctx)
    fill_price = abs(fill_quote) * WAD // closed
    disposal = "vault" if vault else "adl" if taker_id == "adl" else "amm" if amm else "keeper_takeover"
    ctx.emit(
        ev.PositionLiquidated(
            c.account, taker_id, mid, disposal, closed, abs(size) - closed, price, fill_price, bq,
            fill_quote, fee, shortfall, tuple(str(s) for s in life.path),
        )
    )  # fmt: skip


def _largest_position(ctx: TxContext, acct: Account, prices: PriceLookup) -> str | None:
    """The position with the largest maintenance requirement (ties: market id)."""
    best: tuple[int, str] | None = None
    for mid in sorted(acct.positions):
        pos = acct.positions[mid]
        if not pos.size:
            continue
        market = ctx.state.markets[mid]
        price = prices(market.spec.oracle)
        mm = requirement(pos.size, price, margin_fractions(market, pos.size, price)[1])
        if best is None or mm > best[0]:
            best = (mm, mid)
    return None if best is None else best[1]


def _insurance_room(ctx: TxContext, cfg: LiquidationConfig, account: str) -> int:
    """What the insurance fund may still pay for this account in this block (caps applied)."""
    pools = ctx.pools()
    settle = kernel.settle(ctx)
    room = pools.insurance.get(settle, 0)
    if cfg.insurance_cap_per_block:
        used = pools.insurance_used if pools.insurance_used_height == ctx.state.height else 0
        room = min(room, max(cfg.insurance_cap_per_block - used, 0))
    if cfg.insurance_cap_per_account:
        used_by = kernel.insurance_paid_to(ctx, account)
        room = min(room, max(cfg.insurance_cap_per_account - used_by, 0))
    return max(room, 0)


def _absorb_shortfall(
    ctx: TxContext,
    life: Lifecycle,
    cfg: LiquidationConfig,
    acct: Account,
    pos: Position,
    market: MarketState,
    shortfall: int,
    side: int,
) -> None:
    """Waterfall after a fill beyond bankruptcy: insurance fund -> backstop pool -> socialised
    over the opposite side -> recorded bad debt (plus a withdrawal gate when losses spread)."""
    settle = kernel.settle(ctx)
    pools = ctx.pools()
    left = shortfall
    paid = min(left, _insurance_room(ctx, cfg, acct.id))
    if paid:
        life.advance(Stage.INSURANCE)
        pools.insurance[settle] -= paid
        if pools.insurance_used_height != ctx.state.height:
            pools.insurance_used_height, pools.insurance_used = ctx.state.height, 0
        pools.insurance_used += paid
        kernel.record_insurance_paid(ctx, acct.id, paid)
        kernel.credit_bucket(ctx, acct, pos, paid)
        ctx.emit(ev.InsuranceFundUsed(acct.id, settle, paid))
        left -= paid
    if left and cfg.use_backstop_pool and pools.backstop.get(settle, 0):
        life.advance(Stage.BACKSTOP)
        paid = min(left, pools.backstop[settle])
        pools.backstop[settle] -= paid
        kernel.credit_bucket(ctx, acct, pos, paid)
        ctx.emit(ev.BackstopPoolUsed(acct.id, settle, paid))
        left -= paid
    if left and cfg.socialise:
        spread = _socialise(ctx, acct, market, left, side)
        if spread:
            life.advance(Stage.SOCIALISED)
            kernel.credit_bucket(ctx, acct, pos, spread)
            market.pnl_pool -= spread
            left -= spread
    if left:
        life.advance(Stage.BAD_DEBT)
        kernel.record_bad_debt(ctx, acct.id, settle, left)
    if (left or Stage.SOCIALISED in life.path) and cfg.withdrawal_gate_blocks:
        until = ctx.state.height + cfg.withdrawal_gate_blocks
        if until > pools.withdrawals_gated_until:
            pools.withdrawals_gated_until = until
            ctx.emit(ev.WithdrawalsGated(until))


def _opposite_positions(
    ctx: TxContext, acct: Account, market: MarketState, side: int
) -> list[str]:
    mid = market.spec.id
    return [
        aid
        for aid in sorted(ctx.state.accounts)
        if aid != acct.id
        and (p := ctx.state.accounts[aid].positions.get(mid)) is not None
        and p.size * side < 0
    ]


def _socialise(
    ctx: TxContext, acct: Account, market: MarketState, amount: int, side: int
) -> int:
    """Spread ``amount`` over the side opposite ``side`` pro rata to size, through their cost basis
    (Drift's socialised loss applied directly: one O(positions) pass only when it happens).
    Returns what was spread."""
    holders = _opposite_positions(ctx, acct, market, side)
    if not holders:
        return 0
    positions = [ctx.account(h).positions[market.spec.id] for h in holders]
    total = sum(abs(p.size) for p in positions)
    spread = 0
    for i, p in enumerate(positions):
        share = amount - spread if i == len(positions) - 1 else amount * abs(p.size) // total
        p.entry_value += share
        spread += share
    ctx.emit(ev.BadDebtSocialised(acct.id, market.spec.id, spread, len(positions)))
    return spread


def _deleverage(
    ctx: TxContext, acct: Account, market: MarketState, closed: int, bq: int, ranking: str
) -> int:
    """ADL: close ``closed`` of the account's position against profitable opposite positions at the
    bankruptcy quote ``bq``; rank by profit x leverage (Hyperliquid) or pro rata. Returns the size
    that found no counterparty."""
    mid = market.spec.id
    pos = acct.positions[mid]
    sign = 1 if pos.size > 0 else -1
    prices = kernel.prices(ctx)
    price = prices(market.spec.oracle)
    ranked: list[tuple[Fraction, str]] = []
    for aid in _opposite_positions(ctx, acct, market, sign):
        other = ctx.state.accounts[aid]
        opp = other.positions[mid]
        pnl = unrealised_pnl(opp, price)
        if pnl <= 0:
            continue
        equity = kernel.bucket_summary(ctx, other, opp, prices).equity
        notional = abs(opp.size) * price // WAD
        score = Fraction(pnl * notional, max(equity, 1) ** 2) if ranking == "profit_leverage" else Fraction(0)
        ranked.append((score, aid))
    ranked.sort(key=lambda x: (-x[0], x[1]))
    if ranking == "pro_rata":
        avail = sum(abs(ctx.state.accounts[a].positions[mid].size) for _, a in ranked)
        sizes = {
            a: (closed * abs(ctx.state.accounts[a].positions[mid].size) // avail if avail else 0)
            for _, a in ranked
        }
        if ranked and avail >= closed:
            sizes[ranked[0][1]] += closed - sum(sizes.values())
    left, quote_left = closed, abs(bq)
    fills: list[tuple[str, int]] = []
    for _, aid in ranked:
        if not left:
            break
        opp_size = abs(ctx.state.accounts[aid].positions[mid].size)
        take = min(left, opp_size if ranking != "pro_rata" else sizes[aid])
        if take:
            fills.append((aid, take))
            left -= take
    if left:
        return left
    for i, (aid, take) in enumerate(fills):
        quote = quote_left if i == len(fills) - 1 else abs(bq) * take // closed
        quote_left -= quote
        other = ctx.account(aid)
        other_pos, _ = kernel.fill(ctx, other, market, sign * take, quote)
        kernel.drop_if_empty(other, other_pos)
        ctx.emit(ev.PositionDeleveraged(acct.id, aid, mid, take, quote))
    kernel.fill(ctx, acct, market, -sign * closed, abs(bq))
    return 0


def deposit_backstop(ctx: TxContext, c: cmd.DepositBackstop) -> None:
    kernel.asset(ctx, c.asset, c.amount)
    pools = ctx.pools()
    pools.backstop[c.asset] = check_range(
        pools.backstop.get(c.asset, 0) + c.amount, f"backstop pool balance of {c.asset}"
    )
    ctx.deposited[c.asset] = c.amount
    ctx.emit(ev.BackstopDeposited(c.asset, c.amount))


def close_out(ctx: TxContext, c: cmd.CloseOut, before: MarginSummary | None = None) -> None:
    """Close the bucket's positions at the oracle price against the liquidator, with the penalty.

    ``before`` is the bucket's exact summary when the caller already holds it for the committed
    account (the engine's enforcement, see ``ledger.enforcement.still_valid``); else it is computed.
    This is enforcement's hot path: small helpers (``drop_if_empty``, ``wmul_up``, ``emit``) are
    written out in place, with the same integers and the same order of writes and events."""
    state = ctx.state
    kernel.check_liquidation_room(ctx)
    account_id, liquidator = c.account, c.liquidator
    if account_id == liquidator:
        raise SelfTrade(f"account {account_id} cannot close itself out")
    acct, liq = ctx.account(account_id), ctx.account(liquidator)
    prices = kernel.prices(ctx)
    settle = state.params.settlement_asset
    positions = acct.positions
    if c.market is None:
        targets = [m for m, p in positions.items() if not p.isolated and p.size]
        if len(targets) > 1:
            targets.sort()
        if before is None:
            before = cross_summary(state, acct, prices)
    else:
        pos = positions.get(c.market)
        if pos is None or not pos.isolated or not pos.size:
            raise NotLiquidatable(f"account {account_id} has no isolated position in {c.market}")
        targets = [c.market]
        if before is None:
            before = isolated_summary(state, pos, prices)
    if not targets:
        raise NotLiquidatable(f"account {account_id} has no cross positions to close out")
    liq_positions = liq.positions
    for mid in targets:
        held = liq_positions.get(mid)
        if held is not None and held.isolated:
            raise MarginModeConflict(f"liquidator {liquidator} holds an isolated position it would add to")
    kernel.check_enforceable(ctx, account_id, before, targets, prices)
    penalty_due = 0
    emit = ctx.events.append
    for mid in targets:
        market = ctx.market(mid)
        spec = market.spec
        price = prices(spec.oracle)
        size = positions[mid].size
        notional = (size if size > 0 else -size) * price // WAD
        pos, pnl = kernel.fill(ctx, acct, market, -size, notional)
        if not pos.isolated and pos.is_empty:  # kernel.drop_if_empty
            del positions[mid]
        liq_pos, _ = kernel.fill(ctx, liq, market, size, notional)
        if liq_pos.is_empty:
            del liq_positions[mid]
        penalty_due -= (-notional * spec.liquidation_fee) // WAD  # wmul_up
        emit(ev.PositionClosedOut(account_id, liquidator, mid, size, price, notional, pnl))
    if c.market is None:
        # Every cross position was closed to size 0, and cross_summary skips those: the bucket's
        # equity is its collateral alone (the same integer, without walking the positions).
        equity = collateral_value(acct.balances, state, prices)
        isolated: Position | None = None
    else:
        isolated = positions[c.market]
        equity = isolated.margin
    penalty = min(penalty_due, max(equity, 0))
    if penalty:
        share = state.markets[targets[0]].spec.liquidator_share
        reward = penalty * share // WAD
        kernel.debit_bucket(ctx, acct, isolated, penalty)
        liq.balances[settle] = liq.balances.get(settle, 0) + reward
        kernel.to_insurance(ctx, settle, penalty - reward)
        emit(ev.CloseOutPenaltyCharged(account_id, liquidator, penalty, reward, penalty - reward))
    if isolated is not None:
        if isolated.margin > 0:
            acct.balances[settle] = acct.balances.get(settle, 0) + isolated.margin
            isolated.margin = 0
        elif isolated.margin < 0:
            isolated.margin += kernel.cover_deficit(ctx, account_id, -isolated.margin)
        kernel.drop_if_empty(acct, isolated)
    elif equity - penalty < 0:
        kernel.bankrupt(ctx, acct)
    after_equity, after_initial, _ = cross_totals(state, liq, prices)  # cross_summary(...).meets_initial
    if after_equity < after_initial:
        raise InsufficientMargin(
            f"liquidator {liquidator} lacks initial margin to take over {account_id}'s positions "
            f"(equity {after_equity}, initial {after_initial})"
        )
    kernel.count_liquidation(ctx)


def close_out_all(ctx: TxContext, liquidator: str, chosen: Sequence[Confirmed]) -> None:
    """``close_out(ctx, CloseOut(account, liquidator, market), before=still_valid(state, target))`` for
    every chosen target in order, in this one context: the engine's ``_close_out_together``, which
    guarantees that every market has fixed margin and that the targets are distinct accounts.

    The same integers, writes and events as those calls, with what is the same for every close-out
    of the block looked up once: the price lookup and a :class:`MarginTable` (prices, haircuts,
    fixed fractions, funding indices: nothing here changes them), each market's clone, price and
    fee, the liquidator's clone, and the oracle / sequencer / TWAP gate, which reduces to the
    maintenance test when the ledger has no feed, no sequencer grace and no TWAP guard (then the
    confirmed summary answers it). A cross close-out closes every cross position in full: the target
    is cloned without them (``TxContext.account_except``) and both fills are :func:`kernel.fill`
    written out. The liquidator's initial-margin check is proved by a lower bound while it can be
    (see the end of the loop) and computed exactly otherwise. Isolated targets, and anything
    unusual, go through :func:`close_out` itself. Any refusal raises, as the first refused call
    would; the engine then drops the context and runs them one transaction each."""
    state = ctx.state
    accounts = state.accounts
    undo = ctx.undo
    params = state.params
    cap = params.max_liquidations_per_block
    settle = params.settlement_asset
    prices = kernel.prices(ctx)
    table = MarginTable(state, prices)
    plain_gate = (
        not state.oracles
        and not params.sequencer_grace
        and all(m.spec.twap_oracle is None for m in state.markets.values())
    )
    emit = ctx.events.append
    closed_out, penalty_charged = ev.PositionClosedOut, ev.CloseOutPenaltyCharged
    liq: Account | None = None
    liq_positions: dict[str, Position] = {}
    liq_balances: dict[str, int] = {}
    insurance: dict[str, int] | None = None
    # A lower bound on the liquidator's cross equity - initial after the last close-out, or None. The
    # check after each close-out is ``equity >= initial``; the bound (see below) proves it without the
    # totals while it stays >= 0, and the totals are computed exactly whenever it does not.
    settle_spec = state.assets.get(settle)
    linear = settle_spec is not None and settle_spec.haircut == WAD  # settlement collateral = balance
    slack: int | None = None
    #: market id -> (its clone, price, close-out fee, initial fraction if fixed margin else None)
    market_terms: dict[str, tuple[MarketState, int, int, int | None]] = {}
    for confirmed in chosen:
        account_id, market_id = confirmed.target
        source = accounts.get(account_id)
        # still_valid: the confirmed summary holds while the account is the same object
        valid = confirmed.initial is not None and source is not None and source is confirmed.account
        acct = None
        if market_id is None and source is not None and account_id != liquidator:
            positions = source.positions  # the committed positions: read here, never written
            targets = []
            fast = True  # a cross position keeps no margin, so closing it drops it
            for mid, p in positions.items():
                if not p.isolated and p.size:
                    targets.append(mid)
                    if p.margin:
                        fast = False
            if len(targets) > 1:
                targets.sort()
            if targets and fast:  # clone the account without the positions it closes
                acct = ctx.account_except(account_id, targets)
        if acct is None:  # isolated, or anything unusual: the close-out itself
            before = confirmed.summary if valid else None
            close_out(ctx, cmd.CloseOut(account_id, liquidator, market_id), before)
            slack = None  # it changed the liquidator in ways the bound does not follow
            continue
        assert source is not None
        if undo.liquidations >= cap:
            kernel.check_liquidation_room(ctx)  # raises
        if liq is None:
            liq = ctx.account(liquidator)
            liq_positions, liq_balances = liq.positions, liq.balances
        if not (valid and plain_gate and confirmed.equity < confirmed.maintenance):
            # the gate in full (with plain_gate and the confirmed summary it is just this comparison)
            before = confirmed.summary if valid else None
            if before is None:
                before = make_summary(*table.cross_totals(source))
            kernel.check_enforceable(ctx, account_id, before, targets, prices)
        bounded = slack is not None
        penalty_due = 0
        need = 0  # what the liquidator's equity - initial can lose in this close-out, at most
        balances = acct.balances
        for mid in targets:
            lp = liq_positions.get(mid)
            if lp is not None and lp.isolated:
                raise MarginModeConflict(
                    f"liquidator {liquidator} holds an isolated position it would add to"
                )
            terms = market_terms.get(mid)
            if terms is None:
                market = ctx.market(mid)
                spec = market.spec
                fixed = type(spec.margin_model) is FixedMargin
                terms = market_terms[mid] = (
                    market,
                    table.price(spec.oracle),
                    spec.liquidation_fee,
                    spec.initial_margin if fixed else None,
                )
            market, price, fee, fraction = terms
            pos = positions[mid]
            size = pos.size
            notional = (size if size > 0 else -size) * price // WAD
            if bounded:
                if fraction is None or (
                    lp is not None and not lp.size and lp.entry_value  # outside the totals till it has size
                ):
                    bounded = False
                else:
                    need += (notional + 1) * fraction // WAD + 2
            # kernel.fill(ctx, acct, market, -size, notional), the full close written out: settle the
            # funding owed, realise the PnL, drop the position (it is left out of the clone)
            index, snapshot = market.funding_index, pos.funding_snapshot
            if index != snapshot:
                owed = rmul_up(size, index - snapshot)  # kernel.settle_funding
                if owed:
                    balances[settle] = balances.get(settle, 0) - owed
                    market.pnl_pool += owed
                    emit(ev.FundingSettled(account_id, mid, owed))
            pnl = (notional if size > 0 else -notional) - pos.entry_value
            market.pnl_pool -= pnl
            balances[settle] = balances.get(settle, 0) + pnl
            # kernel.fill(ctx, liq, market, size, notional) written out (its position is not isolated)
            if lp is None:
                lp = liq_positions[mid] = Position(mid, funding_snapshot=index)
            elif lp.funding_snapshot != index:
                kernel.settle_funding(ctx, liq, lp, market)
            old = lp.size
            if old == 0 or (old > 0) == (size > 0):
                lp.entry_value += notional if size > 0 else -notional
            else:
                sign = 1 if size > 0 else -1
                abs_delta, abs_old = (size if size > 0 else -size), (old if old > 0 else -old)
                closed = abs_delta if abs_delta < abs_old else abs_old
                closed_notional = notional if closed == abs_delta else notional * closed // abs_delta
                basis = lp.entry_value * closed // abs_old
                realised = -sign * closed_notional - basis
                lp.entry_value += sign * (notional - closed_notional) - basis
                market.pnl_pool -= realised
                liq_balances[settle] = liq_balances.get(settle, 0) + realised
            new = lp.size = old + size
            # open interest: the account's long (if any) closes, the liquidator's changes
            market.open_interest += (
                (new if new > 0 else 0) - (old if old > 0 else 0) - (size if size > 0 else 0)
            )
            if not new and not lp.margin and not lp.entry_value:  # kernel.drop_if_empty
                del liq_positions[mid]
            penalty_due -= (-notional * fee) // WAD  # wmul_up
            emit(closed_out(account_id, liquidator, mid, size, price, notional, pnl))
        # every cross position is closed: the bucket's equity is its collateral alone
        equity = table.collateral(balances)
        penalty = min(penalty_due, max(equity, 0))
        reward = 0
        if penalty:
            reward = penalty * market_terms[targets[0]][0].spec.liquidator_share // WAD
            balances[settle] = balances.get(settle, 0) - penalty  # kernel.debit_bucket
            liq_balances[settle] = liq_balances.get(settle, 0) + reward
            if insurance is None:
                insurance = ctx.pools().insurance
            insurance[settle] = insurance.get(settle, 0) + penalty - reward  # kernel.to_insurance
            emit(penalty_charged(account_id, liquidator, penalty, reward, penalty - reward))
        if equity - penalty < 0:
            kernel.bankrupt(ctx, acct)
        # cross_summary(state, liq, prices).meets_initial, or a proof of it. Taking over size s at
        # notional N = floor(|s| x price) (WAD) moves the liquidator's balance - entry value by exactly
        # -sign(s) x N (funding it settles leaves its equity as it was: the owed amount moves from
        # the position's term to the balance) while floor(size x price) grows by at least
        # floor(s x price) >= -sign(s) x N - 1: its equity falls by at most 1, plus the reward it is
        # paid. Its initial requirement grows by at most ceil(|s| x price x fraction) <=
        # (N + 1) x fraction + 1. This holds while the settlement balance is its own collateral value
        # (haircut 1), the markets have fixed margin and no dated contracts enter its margin.
        if slack is not None and bounded:
            slack += reward - need
        else:
            slack = None
        if slack is None or slack < 0:
            after_equity, after_initial, _ = table.cross_totals(liq)
            if after_equity < after_initial:
                raise InsufficientMargin(
                    f"liquidator {liquidator} lacks initial margin to take over {account_id}'s positions "
                    f"(equity {after_equity}, initial {after_initial})"
                )
            slack = after_equity - after_initial if linear and not liq.contracts else None
        undo.liquidations += 1  # kernel.count_liquidation


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.CloseOut: close_out,
    cmd.Liquidate: liquidate,
    cmd.DepositBackstop: deposit_backstop,
}
