"""The engine: applies blocks to the ledger, one atomic transaction at a time.

``Engine.apply_block`` validates the block header and prices (a bad block raises and changes nothing),
accrues funding for every market over the elapsed time, records the block's prices, then applies each
transaction on a clone of what it touches. A transaction that raises a :class:`ClearhouseError` is
recorded as a ``TransactionRejected`` event and changes nothing. Finally the state root is computed
and, if a journal is attached, the block is appended to it in one database transaction; if that write
fails the whole block is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clearhouse.core.errors import (
    AlreadyExists,
    BlockOutOfOrder,
    ClearhouseError,
    InsufficientBalance,
    InsufficientMargin,
    InvalidParameters,
    InvalidValue,
    MarginModeConflict,
    NotLiquidatable,
    SelfTrade,
    UnknownAccount,
    UnknownAsset,
    UnknownMarket,
    WithdrawalsGated,
)
from clearhouse.core.fixedpoint import RAY, WAD, check_positive, check_range, wmul_up
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel, liquidate, vaults
from clearhouse.ledger.block import Block, encode_block, encode_events
from clearhouse.ledger.enforcement import (
    CandidateScanner,
    ExactScanner,
    confirm,
    rotate_by_health,
    select_targets,
    unsafe_vaults,
)
from clearhouse.ledger.margin import (
    MarginSummary,
    PriceLookup,
    cross_summary,
    fresh_price_lookup,
    isolated_summary,
)
from clearhouse.ledger.model import Account, LedgerState, MarketSpec, MarketState, Position
from clearhouse.ledger.price_band import check_fill_price
from clearhouse.ledger.state_root import StateHasher
from clearhouse.ledger.trade_window import record_fill, take_venue_price
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.oracle.feed import OracleFeed
from clearhouse.oracle.reports import SourceReport
from clearhouse.oracle.rules import Action
from clearhouse.oracle.states import OracleState

if TYPE_CHECKING:
    from clearhouse.journal.store import JournalStore


@dataclass(frozen=True, slots=True)
class BlockResult:
    height: int
    state_root: str
    events: tuple[ev.Event, ...]
    #: Canonical encodings, as journalled.
    block_bytes: bytes
    events_bytes: bytes


#: A command handler: applies one command to the transaction's scratch view or raises.
Handler = Callable[[TxContext, Any], None]


class Engine:
    """The deterministic state machine. It never reads the clock, the network or a random source."""

    def __init__(
        self,
        journal: JournalStore | None = None,
        state: LedgerState | None = None,
        scanner: CandidateScanner | None = None,
    ) -> None:
        self.state = state if state is not None else LedgerState()
        self.journal = journal
        #: Any scanner that never misses gives identical blocks (see ledger.enforcement).
        self.scanner: CandidateScanner = scanner if scanner is not None else ExactScanner()
        #: Accounts changed since the scanner last looked (its mirror syncs them).
        self._unscanned: set[str] = set(self.state.accounts)
        self._hasher = StateHasher()
        self._hasher.update(self.state.accounts.values())
        self._prev_hash = "00" * 32
        if journal is not None and journal.head() is not None:
            raise InvalidParameters(
                "journal already holds blocks; use clearhouse.journal.replay.resume to continue it"
            )

    def attach_journal(self, journal: JournalStore, prev_hash: str) -> None:
        """Journal every later block after the row whose hash is ``prev_hash`` (see ``resume``)."""
        self.journal = journal
        self._prev_hash = prev_hash

    # -- blocks ---------------------------------------------------------------------------------

    def apply_block(self, block: Block) -> BlockResult:
        state = self.state
        self._check_header(block)
        undo = BlockUndo(
            header=(state.params, state.height, state.time, state.sequencer_up, state.sequencer_up_since),
            prices=state.prices,
            oracles=state.oracles,
        )
        events: list[ev.Event] = []
        touched: set[str] = set()
        try:
            self._accrue_funding(block.time, undo, events)
            state.height, state.time = block.height, block.time
            if block.sequencer_up is not state.sequencer_up:
                state.sequencer_up = block.sequencer_up
                if block.sequencer_up:
                    state.sequencer_up_since = block.time
                events.append(ev.SequencerStatusChanged(block.sequencer_up))
            if state.oracles or block.reports:
                self._update_oracles(block, events)
            if block.prices:
                prices = dict(state.prices)
                for key, price in block.prices.items():
                    prices[key] = (price, block.time)
                state.prices = prices
            for index, command in enumerate(block.txs):
                ctx = TxContext(state, undo)
                try:
                    command.check()
                    _HANDLERS[type(command)](ctx, command)
                except ClearhouseError as err:
                    events.append(ev.TransactionRejected(index, type(command).__name__, err.code, str(err)))
                    continue
                touched.update(ctx.commit())
                events.extend(ctx.events)
            if state.params.enforcement != "off":
                self._enforce(undo, events, touched)
            self._hasher.update(state.accounts[a] for a in sorted(touched))
            root = self._hasher.root(state)
            block_bytes = encode_block(block)
            events_bytes = encode_events(events)
            if self.journal is not None:
                from clearhouse.journal.rows import make_row

                row = make_row(block.height, block_bytes, events_bytes, root, self._prev_hash)
                self.journal.append(row)
                self._prev_hash = row.row_hash
        except BaseException:
            restored, count = undo.restore(state)
            self._hasher.truncate(count)
            self._hasher.update(restored)
            self._unscanned.update(touched)
            self._unscanned.update(a.id for a in restored)
            raise
        self._unscanned.update(touched)
        return BlockResult(block.height, root, tuple(events), block_bytes, events_bytes)

    def state_root(self) -> str:
        return self._hasher.root(self.state)

    def _check_header(self, block: Block) -> None:
        state = self.state
        if type(block.height) is not int or block.height != state.height + 1:
            raise BlockOutOfOrder(f"block height {block.height} does not follow {state.height}")
        if type(block.time) is not int or block.time < 0:
            raise InvalidValue(f"block {block.height}: time {block.time!r} must be a non-negative int")
        if state.height > 0 and block.time <= state.time:
            raise BlockOutOfOrder(
                f"block {block.height}: time {block.time} is not after the last block's {state.time}"
            )
        for key, price in block.prices.items():
            if not isinstance(key, str):
                raise InvalidValue(f"block {block.height}: price key {key!r} must be a string")
            if key in state.oracles:
                raise InvalidValue(
                    f"block {block.height}: {key} is priced by its oracle feed, not set directly"
                )
            if not key or not key.isascii():
                raise InvalidValue(f"block {block.height}: price key {key!r} must be non-empty ASCII")
            check_positive(price, f"block {block.height} price of {key}")

    def _accrue_funding(self, now: int, undo: BlockUndo, events: list[ev.Event]) -> None:
        """Advance every market's funding index over ``[last_funding_time, now]`` (O(markets))."""
        state = self.state
        for mid in sorted(state.markets):
            market = state.markets[mid]
            elapsed = now - market.last_funding_time
            if elapsed <= 0:
                continue
            entry = state.prices.get(market.spec.oracle)
            new = market.clone()
            new.last_funding_time = now
            if entry is not None:
                index_price = entry[0]
                new.mark = market.mark.copy()
                mark = new.mark.update(now, index_price, take_venue_price(new, index_price))
                new.mark_price = mark.mark
                rate = funding_rate(market.spec, mark.mark, index_price)
                delta = rate * index_price * elapsed * RAY // (WAD * WAD * market.spec.funding_period)
                if delta:
                    new.funding_index += delta
                    events.append(ev.FundingAccrued(mid, mark.mark, rate, new.funding_index, elapsed))
            if mid not in undo.markets:
                undo.markets[mid] = market
            state.markets[mid] = new

    def _enforce(self, undo: BlockUndo, events: list[ev.Event], touched: set[str]) -> None:
        """Step 4: scan -> exact check -> order and cap -> report or close out against the backstop."""
        state = self.state
        params = state.params
        self._unscanned.update(touched)
        changed = frozenset(a for a in self._unscanned if a in state.accounts)
        candidates = self.scanner.candidates(state, changed)
        self._unscanned.clear()
        room = params.max_liquidations_per_block - undo.liquidations
        if state.vault_types and room > 0:
            room -= self._enforce_vaults(undo, events, touched, room)
        if not candidates or room <= 0:
            return
        confirmed = confirm(state, candidates, self.prices())
        for target in select_targets(confirmed, state.height, room):
            aid, mid = target.target
            if params.enforcement == "report":
                events.append(ev.BelowMaintenance(aid, mid, target.equity, target.maintenance))
                continue
            ctx = TxContext(state, undo)
            try:
                close_out(ctx, cmd.CloseOut(aid, params.backstop_liquidator, mid))
            except ClearhouseError as err:
                events.append(ev.EnforcementFailed(aid, mid, err.code, str(err)))
                continue
            touched.update(ctx.commit())
            events.extend(ctx.events)

    def _enforce_vaults(self, undo: BlockUndo, events: list[ev.Event], touched: set[str], room: int) -> int:
        """Step 4 for debt positions: unsafe vaults, lowest health first with the same rotation,
        reported (``VaultBelowSafety``) or barked by the backstop liquidator. Returns how many."""
        state, params = self.state, self.state.params
        unsafe = unsafe_vaults(state, self.prices())
        chosen = rotate_by_health(unsafe, state.height, room)
        health = {target: h for h, target in unsafe}
        for aid, vid in chosen:
            if params.enforcement == "report":
                events.append(ev.VaultBelowSafety(aid, vid, health[(aid, vid)]))
                continue
            ctx = TxContext(state, undo)
            try:
                vaults.bark(ctx, cmd.Bark(aid, vid, params.backstop_liquidator))
            except ClearhouseError as err:
                events.append(ev.EnforcementFailed(aid, vid, err.code, str(err)))
                continue
            touched.update(ctx.commit())
            events.extend(ctx.events)
        return len(chosen)

    def _update_oracles(self, block: Block, events: list[ev.Event]) -> None:
        """Step 1 of a block: every feed aggregates its new reports (or none) at the block's time.

        A usable reading sets the key's price; any other state keeps the last price but its rule
        (oracle.rules.ALLOWED_ACTIONS) limits what transactions may do. Bad reports reject the block.
        """
        state = self.state
        by_key: dict[str, list[SourceReport]] = {}
        for report in block.reports:
            if report.asset not in state.oracles:
                raise UnknownAsset(f"block {block.height}: report for {report.asset} which has no feed")
            by_key.setdefault(report.asset, []).append(report)
        feeds = dict(state.oracles)
        prices = dict(state.prices)
        for key in sorted(feeds):
            feed = feeds[key] = feeds[key].copy()
            old = feed.state
            reading = feed.update(block.time, by_key.get(key, ()))
            if reading.usable or (reading.state is OracleState.CLAMPED and reading.price is not None):
                assert reading.price is not None
                prices[key] = (reading.price, block.time)
            if reading.state is not old:
                events.append(ev.OracleStateChanged(key, old.value, reading.state.value, reading.reason))
        state.oracles = feeds
        state.prices = prices

    # -- queries --------------------------------------------------------------------------------

    def prices(self) -> PriceLookup:
        return fresh_price_lookup(self.state)

    def margin(self, account_id: str) -> MarginSummary:
        """Exact cross-margin summary of an account at the current (fresh) prices."""
        account = self.state.accounts.get(account_id)
        if account is None:
            raise UnknownAccount(f"unknown account {account_id!r}")
        return cross_summary(self.state, account, self.prices())

    def isolated_margin(self, account_id: str, market_id: str) -> MarginSummary:
        """Exact summary of the account's isolated bucket in ``market_id``."""
        account = self.state.accounts.get(account_id)
        if account is None:
            raise UnknownAccount(f"unknown account {account_id!r}")
        pos = account.positions.get(market_id)
        if pos is None:
            raise UnknownMarket(f"account {account_id!r} has no position in {market_id!r}")
        return isolated_summary(self.state, pos, self.prices())


# -- transaction handlers ------------------------------------------------------------------------


def set_params(ctx: TxContext, c: cmd.SetLedgerParams) -> None:
    ctx.set_params(c.params)
    ctx.emit(ev.LedgerParamsSet(c.params.settlement_asset, c.params.max_price_age))


def list_asset(ctx: TxContext, c: cmd.ListAsset) -> None:
    if c.asset.id in ctx.state.assets:
        raise AlreadyExists(f"asset {c.asset.id} is already listed")
    ctx.put_asset(c.asset)
    ctx.emit(ev.AssetListed(c.asset.id, c.asset.decimals, c.asset.haircut))


def list_market(ctx: TxContext, c: cmd.ListMarket) -> None:
    spec = c.market
    if spec.id in ctx.state.markets:
        raise AlreadyExists(f"market {spec.id} is already listed")
    if ctx.state.params.settlement_asset not in ctx.state.assets:
        raise UnknownAsset(
            f"market {spec.id}: settlement asset {ctx.state.params.settlement_asset} is not listed"
        )
    ctx.put_market(MarketState(spec, last_funding_time=ctx.state.time))
    ctx.emit(ev.MarketListed(spec.id, spec.oracle, spec.initial_margin, spec.maintenance_margin))


def update_market(ctx: TxContext, c: cmd.UpdateMarket) -> None:
    market = ctx.market(c.market.id)
    if c.market.oracle != market.spec.oracle:
        raise InvalidParameters(f"market {c.market.id}: the oracle key cannot change")
    market.spec = c.market
    s = c.market
    ctx.emit(
        ev.MarketUpdated(
            s.id, s.initial_margin, s.maintenance_margin, s.taker_fee, s.maker_fee, s.liquidation_fee
        )
    )


def set_volatility(ctx: TxContext, c: cmd.SetVolatility) -> None:
    ctx.market(c.market).vol_multiplier = c.multiplier
    ctx.emit(ev.VolatilitySet(c.market, c.multiplier))


def configure_oracle(ctx: TxContext, c: cmd.ConfigureOracle) -> None:
    feed = OracleFeed(c.feed)
    ctx.put_oracle(c.feed.asset, feed)
    ctx.emit(
        ev.OracleConfigured(c.feed.asset, c.feed.aggregator.name, tuple(p.name for p in c.feed.policies))
    )


def confirm_oracle(ctx: TxContext, c: cmd.ConfirmOracle) -> None:
    feed = ctx.state.oracles.get(c.asset)
    if feed is None:
        raise UnknownAsset(f"no oracle feed for {c.asset!r}")
    feed = feed.copy()
    old = feed.state
    feed.confirm(ctx.state.time)
    ctx.put_oracle(c.asset, feed)
    ctx.emit(ev.OracleStateChanged(c.asset, old.value, feed.state.value, "confirmed"))


def open_account(ctx: TxContext, c: cmd.OpenAccount) -> None:
    if c.account in ctx.state.accounts:
        raise AlreadyExists(f"account {c.account} already exists")
    ctx.new_account(Account(c.account, c.owner.lower(), len(ctx.state.accounts)))
    ctx.emit(ev.AccountOpened(c.account, c.owner.lower()))


def deposit(ctx: TxContext, c: cmd.Deposit) -> None:
    kernel.asset(ctx, c.asset, c.amount)
    acct = ctx.account(c.account)
    acct.balances[c.asset] = check_range(
        acct.balances.get(c.asset, 0) + c.amount, f"balance of {c.asset} in {c.account}"
    )
    ctx.deposited[c.asset] = c.amount
    ctx.emit(ev.Deposited(c.account, c.asset, c.amount))


def deposit_insurance(ctx: TxContext, c: cmd.DepositInsurance) -> None:
    kernel.asset(ctx, c.asset, c.amount)
    pools = ctx.pools()
    pools.insurance[c.asset] = check_range(
        pools.insurance.get(c.asset, 0) + c.amount, f"insurance fund balance of {c.asset}"
    )
    ctx.deposited[c.asset] = c.amount
    ctx.emit(ev.InsuranceDeposited(c.asset, c.amount))


def withdraw(ctx: TxContext, c: cmd.Withdraw) -> None:
    kernel.asset(ctx, c.asset, c.amount)
    gate = ctx.state.pools.withdrawals_gated_until
    if ctx.state.height <= gate:
        raise WithdrawalsGated(f"withdrawals are paused until block {gate} after a socialised loss")
    acct = ctx.account(c.account)
    kernel.settle_all_funding(ctx, acct)
    balance = acct.balances.get(c.asset, 0)
    if balance < c.amount:
        raise InsufficientBalance(
            f"account {c.account} holds {balance} {c.asset}, cannot withdraw {c.amount}"
        )
    acct.balances[c.asset] = balance - c.amount
    kernel.require_cross_initial(
        ctx,
        acct,
        lambda after: (
            f"withdrawing {c.amount} {c.asset} would leave account {c.account} with equity "
            f"{after.equity} below its initial requirement {after.initial}"
        ),
    )
    ctx.withdrawn[c.asset] = c.amount
    ctx.emit(ev.Withdrawn(c.account, c.asset, c.amount))


def transfer_margin(ctx: TxContext, c: cmd.TransferMargin) -> None:
    settle = ctx.state.params.settlement_asset
    kernel.asset(ctx, settle, abs(c.amount))
    acct = ctx.account(c.account)
    market = ctx.market(c.market)
    pos = acct.positions.get(c.market)
    if pos is None:
        if c.amount < 0:
            raise InsufficientBalance(f"account {c.account} has no isolated margin in {c.market}")
        pos = acct.positions[c.market] = Position(
            c.market, funding_snapshot=market.funding_index, isolated=True
        )
    elif not pos.isolated:
        raise MarginModeConflict(f"account {c.account} holds a cross position in {c.market}")
    kernel.settle_funding(ctx, acct, pos, market)
    prices = kernel.prices(ctx)
    kernel.require(ctx, Action.WITHDRAW, [market.spec.oracle, *kernel.margin_keys(ctx, acct)])
    if c.amount > 0:
        balance = acct.balances.get(settle, 0)
        if balance < c.amount:
            raise InsufficientBalance(
                f"account {c.account} holds {balance} {settle}, cannot move {c.amount} to {c.market}"
            )
        acct.balances[settle] = balance - c.amount
        pos.margin += c.amount
        after = cross_summary(ctx.state, acct, prices)
        if not after.meets_initial:
            raise InsufficientMargin(
                f"moving {c.amount} to isolated {c.market} leaves account {c.account} cross equity "
                f"{after.equity} below initial {after.initial}"
            )
    else:
        amount = -c.amount
        if pos.margin < amount:
            raise InsufficientBalance(
                f"isolated {c.market} of {c.account} holds {pos.margin}, cannot release {amount}"
            )
        pos.margin -= amount
        acct.balances[settle] = acct.balances.get(settle, 0) + amount
        if pos.size:
            after = isolated_summary(ctx.state, pos, prices)
            if not after.meets_initial:
                raise InsufficientMargin(
                    f"releasing {amount} from isolated {c.market} of {c.account} leaves equity "
                    f"{after.equity} below initial {after.initial}"
                )
    if pos.is_empty:
        del acct.positions[c.market]
    ctx.emit(ev.MarginTransferred(c.account, c.market, c.amount))


def settle_funding_cmd(ctx: TxContext, c: cmd.SettleFunding) -> None:
    acct = ctx.account(c.account)
    for mid in sorted(acct.positions):
        kernel.settle_funding(ctx, acct, acct.positions[mid], ctx.market(mid))


def trade(ctx: TxContext, c: cmd.Trade) -> None:
    if c.buyer == c.seller:
        raise SelfTrade(f"account {c.buyer} cannot trade with itself in {c.market}")
    market = ctx.market(c.market)
    spec = market.spec
    if c.size % spec.step_size:
        raise InvalidValue(f"size {c.size} is not a multiple of {c.market}'s step {spec.step_size}")
    buyer, seller = ctx.account(c.buyer), ctx.account(c.seller)
    prices = kernel.prices(ctx)
    check_fill_price(c.market, c.price, prices(spec.oracle), spec.price_band)  # fresh index, band
    notional = check_range(c.size * c.price // WAD, f"notional of the {c.market} trade")
    fees = {
        "buyer": wmul_up(notional, spec.taker_fee if c.taker == "buyer" else spec.maker_fee),
        "seller": wmul_up(notional, spec.taker_fee if c.taker == "seller" else spec.maker_fee),
    }
    realised = {}
    for side, acct, delta in (("buyer", buyer, c.size), ("seller", seller, -c.size)):
        before_pos = acct.positions.get(c.market)
        old_size = before_pos.size if before_pos is not None else 0
        pos, realised[side] = kernel.fill(ctx, acct, market, delta, notional)
        kernel.check_fill_risk(ctx, pos, old_size, spec.oracle, f"{side} {acct.id}", c.market)
        kernel.charge_fee(ctx, acct, pos, fees[side])
        what = f"trade of {c.size} {c.market} at {c.price}"
        kernel.check_fill_margin(ctx, acct, pos, old_size, prices, what)
        kernel.drop_if_empty(acct, pos)
    market.last_trade_price = c.price
    market.last_trade_time = ctx.state.time
    record_fill(market, c.size, c.price)
    ctx.emit(
        ev.Traded(
            c.market,
            c.buyer,
            c.seller,
            c.size,
            c.price,
            notional,
            fees["buyer"],
            fees["seller"],
            realised["buyer"],
            realised["seller"],
        )
    )


def close_out(ctx: TxContext, c: cmd.CloseOut) -> None:
    kernel.check_liquidation_room(ctx)
    if c.account == c.liquidator:
        raise SelfTrade(f"account {c.account} cannot close itself out")
    acct, liq = ctx.account(c.account), ctx.account(c.liquidator)
    prices = kernel.prices(ctx)
    settle = ctx.state.params.settlement_asset
    if c.market is None:
        targets = sorted(m for m, p in acct.positions.items() if not p.isolated and p.size)
        before = cross_summary(ctx.state, acct, prices)
    else:
        pos = acct.positions.get(c.market)
        if pos is None or not pos.isolated or not pos.size:
            raise UnknownMarket(f"account {c.account} has no isolated position in {c.market}")
        targets = [c.market]
        before = isolated_summary(ctx.state, pos, prices)
    if not targets:
        raise NotLiquidatable(f"account {c.account} has no cross positions to close out")
    if any(p.isolated for m, p in liq.positions.items() if m in targets):
        raise MarginModeConflict(f"liquidator {c.liquidator} holds an isolated position it would add to")
    kernel.check_enforceable(ctx, c.account, before, targets, prices)
    penalty_due = 0
    for mid in targets:
        market = ctx.market(mid)
        price = prices(market.spec.oracle)
        size = acct.positions[mid].size
        notional = abs(size) * price // WAD
        pos, pnl = kernel.fill(ctx, acct, market, -size, notional)
        if not pos.isolated:
            kernel.drop_if_empty(acct, pos)
        liq_pos, _ = kernel.fill(ctx, liq, market, size, notional)
        kernel.drop_if_empty(liq, liq_pos)
        penalty_due += wmul_up(notional, market.spec.liquidation_fee)
        ctx.emit(ev.PositionClosedOut(c.account, c.liquidator, mid, size, price, notional, pnl))
    if c.market is None:
        equity = cross_summary(ctx.state, acct, prices).equity
        isolated: Position | None = None
    else:
        isolated = acct.positions[c.market]
        equity = isolated.margin
    penalty = min(penalty_due, max(equity, 0))
    if penalty:
        share = ctx.state.markets[targets[0]].spec.liquidator_share
        reward = penalty * share // WAD
        kernel.debit_bucket(ctx, acct, isolated, penalty)
        liq.balances[settle] = liq.balances.get(settle, 0) + reward
        kernel.to_insurance(ctx, settle, penalty - reward)
        ctx.emit(ev.CloseOutPenaltyCharged(c.account, c.liquidator, penalty, reward, penalty - reward))
    if isolated is not None:
        if isolated.margin > 0:
            acct.balances[settle] = acct.balances.get(settle, 0) + isolated.margin
            isolated.margin = 0
        elif isolated.margin < 0:
            isolated.margin += kernel.cover_deficit(ctx, c.account, -isolated.margin)
        kernel.drop_if_empty(acct, isolated)
    elif equity - penalty < 0:
        kernel.bankrupt(ctx, acct)
    after = cross_summary(ctx.state, liq, prices)
    if not after.meets_initial:
        raise InsufficientMargin(
            f"liquidator {c.liquidator} lacks initial margin to take over {c.account}'s positions "
            f"(equity {after.equity}, initial {after.initial})"
        )
    kernel.count_liquidation(ctx)


def funding_rate(spec: MarketSpec, mark: int, index_price: int) -> int:
    """Funding rate per period (WAD): premium of the mark over the index plus interest, clamped to
    ``clamp_factor x (initial - maintenance)`` as dYdX v4 does.

    The mark is the median-of-three estimate (oracle + basis EMA, the venue's last trade since the
    previous accrual, external median) so one manipulated input cannot move funding alone."""
    premium = (mark - index_price) * WAD // index_price
    cap = spec.funding_clamp_factor * (spec.initial_margin - spec.maintenance_margin) // WAD
    return max(-cap, min(cap, premium + spec.funding_interest))


_HANDLERS: dict[type[cmd.Command], Handler] = {
    cmd.SetLedgerParams: set_params,
    cmd.ListAsset: list_asset,
    cmd.ListMarket: list_market,
    cmd.UpdateMarket: update_market,
    cmd.SetVolatility: set_volatility,
    cmd.ConfigureOracle: configure_oracle,
    cmd.ConfirmOracle: confirm_oracle,
    cmd.OpenAccount: open_account,
    cmd.Deposit: deposit,
    cmd.DepositInsurance: deposit_insurance,
    cmd.Withdraw: withdraw,
    cmd.TransferMargin: transfer_margin,
    cmd.SettleFunding: settle_funding_cmd,
    cmd.Trade: trade,
    cmd.CloseOut: close_out,
    cmd.Liquidate: liquidate.liquidate,
    cmd.ConfigureAmm: liquidate.configure_amm,
    cmd.SwapAmm: liquidate.swap_amm,
    cmd.DepositBackstop: liquidate.deposit_backstop,
    cmd.ListVaultType: vaults.list_vault_type,
    cmd.UpdateVaultType: vaults.update_vault_type,
    cmd.SetDebtLimit: vaults.set_debt_limit,
    cmd.Lock: vaults.lock,
    cmd.Free: vaults.free,
    cmd.Draw: vaults.draw,
    cmd.Wipe: vaults.wipe,
    cmd.Bark: vaults.bark,
    cmd.TakeAuction: vaults.take_auction,
    cmd.RedoAuction: vaults.redo_auction,
    cmd.Tend: vaults.tend,
    cmd.Dent: vaults.dent,
    cmd.Deal: vaults.deal,
    cmd.Tick: vaults.tick,
    cmd.ProvideToSP: vaults.provide_to_sp,
    cmd.WithdrawFromSP: vaults.withdraw_from_sp,
}
