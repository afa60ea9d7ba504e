"""The engine: applies blocks to the ledger, one atomic transaction at a time.

``Engine.apply_block`` validates the block header and prices (a bad block raises and changes nothing),
accrues funding for every market over the elapsed time, records the block's prices, then applies each
transaction on a clone of what it touches. A transaction that raises a :class:`ClearhouseError` is
recorded as a ``TransactionRejected`` event and changes nothing. Finally the state root is computed
and, if a journal is attached, the block is appended to it in one database transaction; if that write
fails the whole block is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import liquidate, vaults
from clearhouse.ledger.block import Block, encode_block, encode_events
from clearhouse.ledger.enforcement import (
    CandidateScanner,
    ExactScanner,
    confirm,
    rotate_by_health,
    select_targets,
    unsafe_vaults,
)
from clearhouse.ledger.errors import (
    AlreadyExists,
    BlockOutOfOrder,
    ClearhouseError,
    InsufficientBalance,
    InsufficientMargin,
    InvalidParameters,
    InvalidValue,
    LiquidationCapReached,
    MarginModeConflict,
    NotLiquidatable,
    SelfTrade,
    UnknownAsset,
    UnknownMarket,
    WithdrawalsGated,
)
from clearhouse.ledger.fixedpoint import RAY, WAD, check_positive, check_range
from clearhouse.ledger.margin import (
    MarginSummary,
    PriceLookup,
    cross_summary,
    fresh_price_lookup,
    funding_owed,
    health_not_worse,
    isolated_summary,
)
from clearhouse.ledger.model import Account, AssetSpec, LedgerState, MarketSpec, MarketState, Position
from clearhouse.ledger.price_band import check_fill_price
from clearhouse.ledger.state_root import StateHasher
from clearhouse.ledger.trade_window import record_fill, take_venue_price
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.oracle.errors import OracleActionRefused
from clearhouse.oracle.feed import OracleFeed
from clearhouse.oracle.reports import SourceReport
from clearhouse.oracle.rules import Action, SequencerGrace, require_allowed, twap_divergence_ok
from clearhouse.oracle.states import OracleState
from clearhouse.steward import handlers as steward_handlers

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


Handler = Callable[["Engine", TxContext, Any], None]


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
        self._liquidations = 0
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
        self._liquidations = 0
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
                    _HANDLERS[type(command)](self, ctx, command)
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
        room = params.max_liquidations_per_block - self._liquidations
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
                self._close_out(ctx, cmd.CloseOut(aid, params.backstop_liquidator, mid))
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
                vaults.bark(self, ctx, cmd.Bark(aid, vid, params.backstop_liquidator))
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

    def _require(self, action: Action, keys: Iterable[str]) -> None:
        """Refuse ``action`` if the feed of any of ``keys`` is in a state whose rule forbids it."""
        oracles = self.state.oracles
        for key in keys:
            feed = oracles.get(key)
            if feed is not None:
                require_allowed(feed.state, action, key)

    def _margin_keys(self, acct: Account) -> list[str]:
        """Price keys the account's cross margin depends on."""
        keys = {a for a, v in acct.balances.items() if v}
        keys.update(self.state.markets[m].spec.oracle for m, p in acct.positions.items() if p.size)
        return sorted(keys)

    # -- queries --------------------------------------------------------------------------------

    def prices(self) -> PriceLookup:
        return fresh_price_lookup(self.state)

    def margin(self, account_id: str) -> MarginSummary:
        """Exact cross-margin summary of an account at the current (fresh) prices."""
        account = self.state.accounts.get(account_id)
        if account is None:
            from clearhouse.ledger.errors import UnknownAccount

            raise UnknownAccount(f"unknown account {account_id!r}")
        return cross_summary(self.state, account, self.prices())

    def isolated_margin(self, account_id: str, market_id: str) -> MarginSummary:
        pos = self.state.accounts[account_id].positions[market_id]
        return isolated_summary(self.state, pos, self.prices())

    # -- transaction handlers -------------------------------------------------------------------

    def _set_params(self, ctx: TxContext, c: cmd.SetLedgerParams) -> None:
        ctx.set_params(c.params)
        ctx.emit(ev.LedgerParamsSet(c.params.settlement_asset, c.params.max_price_age))

    def _list_asset(self, ctx: TxContext, c: cmd.ListAsset) -> None:
        if c.asset.id in self.state.assets:
            raise AlreadyExists(f"asset {c.asset.id} is already listed")
        ctx.put_asset(c.asset)
        ctx.emit(ev.AssetListed(c.asset.id, c.asset.decimals, c.asset.haircut))

    def _list_market(self, ctx: TxContext, c: cmd.ListMarket) -> None:
        spec = c.market
        if spec.id in self.state.markets:
            raise AlreadyExists(f"market {spec.id} is already listed")
        if self.state.params.settlement_asset not in self.state.assets:
            raise UnknownAsset(
                f"market {spec.id}: settlement asset {self.state.params.settlement_asset} is not listed"
            )
        ctx.put_market(MarketState(spec, last_funding_time=self.state.time))
        ctx.emit(ev.MarketListed(spec.id, spec.oracle, spec.initial_margin, spec.maintenance_margin))

    def _update_market(self, ctx: TxContext, c: cmd.UpdateMarket) -> None:
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

    def _set_volatility(self, ctx: TxContext, c: cmd.SetVolatility) -> None:
        ctx.market(c.market).vol_multiplier = c.multiplier
        ctx.emit(ev.VolatilitySet(c.market, c.multiplier))

    def _configure_oracle(self, ctx: TxContext, c: cmd.ConfigureOracle) -> None:
        feed = OracleFeed(c.feed)
        ctx.put_oracle(c.feed.asset, feed)
        ctx.emit(
            ev.OracleConfigured(c.feed.asset, c.feed.aggregator.name, tuple(p.name for p in c.feed.policies))
        )

    def _confirm_oracle(self, ctx: TxContext, c: cmd.ConfirmOracle) -> None:
        feed = self.state.oracles.get(c.asset)
        if feed is None:
            raise UnknownAsset(f"no oracle feed for {c.asset!r}")
        feed = feed.copy()
        old = feed.state
        feed.confirm(self.state.time)
        ctx.put_oracle(c.asset, feed)
        ctx.emit(ev.OracleStateChanged(c.asset, old.value, feed.state.value, "confirmed"))

    def _open_account(self, ctx: TxContext, c: cmd.OpenAccount) -> None:
        if c.account in self.state.accounts:
            raise AlreadyExists(f"account {c.account} already exists")
        ctx.new_account(Account(c.account, c.owner.lower(), len(self.state.accounts)))
        ctx.emit(ev.AccountOpened(c.account, c.owner.lower()))

    def _asset(self, asset_id: str, amount: int) -> AssetSpec:
        asset = self.state.assets.get(asset_id)
        if asset is None:
            raise UnknownAsset(f"unknown asset {asset_id!r}")
        if amount % asset.unit:
            raise InvalidValue(f"amount {amount} of {asset_id} is finer than its {asset.decimals} decimals")
        return asset

    def _deposit(self, ctx: TxContext, c: cmd.Deposit) -> None:
        self._asset(c.asset, c.amount)
        acct = ctx.account(c.account)
        acct.balances[c.asset] = check_range(
            acct.balances.get(c.asset, 0) + c.amount, f"balance of {c.asset} in {c.account}"
        )
        ctx.deposited[c.asset] = c.amount
        ctx.emit(ev.Deposited(c.account, c.asset, c.amount))

    def _deposit_insurance(self, ctx: TxContext, c: cmd.DepositInsurance) -> None:
        self._asset(c.asset, c.amount)
        pools = ctx.pools()
        pools.insurance[c.asset] = check_range(
            pools.insurance.get(c.asset, 0) + c.amount, f"insurance fund balance of {c.asset}"
        )
        ctx.deposited[c.asset] = c.amount
        ctx.emit(ev.InsuranceDeposited(c.asset, c.amount))

    def _withdraw(self, ctx: TxContext, c: cmd.Withdraw) -> None:
        self._asset(c.asset, c.amount)
        gate = self.state.pools.withdrawals_gated_until
        if self.state.height <= gate:
            raise WithdrawalsGated(f"withdrawals are paused until block {gate} after a socialised loss")
        acct = ctx.account(c.account)
        self._settle_all_funding(ctx, acct)
        balance = acct.balances.get(c.asset, 0)
        if balance < c.amount:
            raise InsufficientBalance(
                f"account {c.account} holds {balance} {c.asset}, cannot withdraw {c.amount}"
            )
        acct.balances[c.asset] = balance - c.amount
        if any(not p.isolated and p.size for p in acct.positions.values()) or any(
            v < 0 for v in acct.balances.values()
        ):
            self._require(Action.WITHDRAW, self._margin_keys(acct))
            after = cross_summary(self.state, acct, self.prices())
            if not after.meets_initial:
                raise InsufficientMargin(
                    f"withdrawing {c.amount} {c.asset} would leave account {c.account} with equity "
                    f"{after.equity} below its initial requirement {after.initial}"
                )
        ctx.withdrawn[c.asset] = c.amount
        ctx.emit(ev.Withdrawn(c.account, c.asset, c.amount))

    def _transfer_margin(self, ctx: TxContext, c: cmd.TransferMargin) -> None:
        settle = self.state.params.settlement_asset
        self._asset(settle, abs(c.amount))
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
        self._settle_funding(ctx, acct, pos, market)
        prices = self.prices()
        self._require(Action.WITHDRAW, [market.spec.oracle, *self._margin_keys(acct)])
        if c.amount > 0:
            balance = acct.balances.get(settle, 0)
            if balance < c.amount:
                raise InsufficientBalance(
                    f"account {c.account} holds {balance} {settle}, cannot move {c.amount} to {c.market}"
                )
            acct.balances[settle] = balance - c.amount
            pos.margin += c.amount
            after = cross_summary(self.state, acct, prices)
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
                after = isolated_summary(self.state, pos, prices)
                if not after.meets_initial:
                    raise InsufficientMargin(
                        f"releasing {amount} from isolated {c.market} of {c.account} leaves equity "
                        f"{after.equity} below initial {after.initial}"
                    )
        if pos.is_empty:
            del acct.positions[c.market]
        ctx.emit(ev.MarginTransferred(c.account, c.market, c.amount))

    def _settle_funding_cmd(self, ctx: TxContext, c: cmd.SettleFunding) -> None:
        acct = ctx.account(c.account)
        for mid in sorted(acct.positions):
            self._settle_funding(ctx, acct, acct.positions[mid], ctx.market(mid))

    def _trade(self, ctx: TxContext, c: cmd.Trade) -> None:
        if c.buyer == c.seller:
            raise SelfTrade(f"account {c.buyer} cannot trade with itself in {c.market}")
        market = ctx.market(c.market)
        spec = market.spec
        if c.size % spec.step_size:
            raise InvalidValue(f"size {c.size} is not a multiple of {c.market}'s step {spec.step_size}")
        buyer, seller = ctx.account(c.buyer), ctx.account(c.seller)
        prices = self.prices()
        check_fill_price(c.market, c.price, prices(spec.oracle), spec.price_band)  # fresh index, band
        notional = check_range(c.size * c.price // WAD, f"notional of the {c.market} trade")
        fees = {
            "buyer": -((-notional * (spec.taker_fee if c.taker == "buyer" else spec.maker_fee)) // WAD),
            "seller": -((-notional * (spec.taker_fee if c.taker == "seller" else spec.maker_fee)) // WAD),
        }
        realised = {}
        for side, acct, delta in (("buyer", buyer, c.size), ("seller", seller, -c.size)):
            before_pos = acct.positions.get(c.market)
            old_size = before_pos.size if before_pos is not None else 0
            pos, realised[side] = self._fill(ctx, acct, market, delta, notional)
            self._check_fill_risk(acct, pos, old_size, spec.oracle, f"{side} {acct.id}", c.market)
            self._charge(ctx, acct, pos, fees[side])
            self._check_fill_margin(acct, pos, old_size, prices, f"trade of {c.size} {c.market} at {c.price}")
            self._drop_if_empty(acct, pos)
        market.last_trade_price = c.price
        market.last_trade_time = self.state.time
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

    def check_liquidation_room(self) -> None:
        """Refuse one more close-out/liquidation/bark once the block's cap is used up."""
        cap = self.state.params.max_liquidations_per_block
        if self._liquidations >= cap:
            raise LiquidationCapReached(f"block {self.state.height} already enforced {cap} liquidations")

    def count_liquidation(self) -> None:
        """Record one enforced liquidation against the block's cap (call when it will commit)."""
        self._liquidations += 1

    def check_enforceable(
        self, account: str, before: MarginSummary, markets: list[str], prices: PriceLookup
    ) -> None:
        """The common gate of every perp enforcement: the oracle rule allows ``liquidate``, the bucket is
        below maintenance, and the sequencer-grace and TWAP-divergence guards pass."""
        self._require(Action.LIQUIDATE, sorted({self.state.markets[m].spec.oracle for m in markets}))
        if not before.liquidatable:
            raise NotLiquidatable(
                f"account {account} has equity {before.equity} >= maintenance {before.maintenance}"
            )
        self._check_liquidation_guards(account, markets, before, prices)

    def _close_out(self, ctx: TxContext, c: cmd.CloseOut) -> None:
        self.check_liquidation_room()
        if c.account == c.liquidator:
            raise SelfTrade(f"account {c.account} cannot close itself out")
        acct, liq = ctx.account(c.account), ctx.account(c.liquidator)
        prices = self.prices()
        settle = self.state.params.settlement_asset
        if c.market is None:
            targets = sorted(m for m, p in acct.positions.items() if not p.isolated and p.size)
            before = cross_summary(self.state, acct, prices)
        else:
            pos = acct.positions.get(c.market)
            if pos is None or not pos.isolated or not pos.size:
                raise UnknownMarket(f"account {c.account} has no isolated position in {c.market}")
            targets = [c.market]
            before = isolated_summary(self.state, pos, prices)
        if not targets:
            raise NotLiquidatable(f"account {c.account} has no cross positions to close out")
        if any(p.isolated for m, p in liq.positions.items() if m in targets):
            raise MarginModeConflict(f"liquidator {c.liquidator} holds an isolated position it would add to")
        self.check_enforceable(c.account, before, targets, prices)
        penalty_due = 0
        for mid in targets:
            market = ctx.market(mid)
            price = prices(market.spec.oracle)
            size = acct.positions[mid].size
            notional = abs(size) * price // WAD
            pos, pnl = self._fill(ctx, acct, market, -size, notional)
            if not pos.isolated:
                self._drop_if_empty(acct, pos)
            liq_pos, _ = self._fill(ctx, liq, market, size, notional)
            self._drop_if_empty(liq, liq_pos)
            penalty_due += -((-notional * market.spec.liquidation_fee) // WAD)
            ctx.emit(ev.PositionClosedOut(c.account, c.liquidator, mid, size, price, notional, pnl))
        if c.market is None:
            equity = cross_summary(self.state, acct, prices).equity
            isolated: Position | None = None
        else:
            isolated = acct.positions[c.market]
            equity = isolated.margin
        penalty = min(penalty_due, max(equity, 0))
        if penalty:
            share = self.state.markets[targets[0]].spec.liquidator_share
            reward = penalty * share // WAD
            self._debit(acct, isolated, penalty)
            liq.balances[settle] = liq.balances.get(settle, 0) + reward
            pools = ctx.pools()
            pools.insurance[settle] = pools.insurance.get(settle, 0) + penalty - reward
            ctx.emit(ev.CloseOutPenaltyCharged(c.account, c.liquidator, penalty, reward, penalty - reward))
        if isolated is not None:
            if isolated.margin > 0:
                acct.balances[settle] = acct.balances.get(settle, 0) + isolated.margin
                isolated.margin = 0
            elif isolated.margin < 0:
                isolated.margin += self._cover_deficit(ctx, c.account, -isolated.margin)
            self._drop_if_empty(acct, isolated)
        elif equity - penalty < 0:
            self._bankrupt(ctx, acct)
        after = cross_summary(self.state, liq, prices)
        if not after.meets_initial:
            raise InsufficientMargin(
                f"liquidator {c.liquidator} lacks initial margin to take over {c.account}'s positions "
                f"(equity {after.equity}, initial {after.initial})"
            )
        self.count_liquidation()

    def _check_liquidation_guards(
        self, account: str, markets: list[str], health: MarginSummary, prices: PriceLookup
    ) -> None:
        """Aave's sequencer grace period and Drift's oracle/TWAP divergence guard."""
        state = self.state
        params = state.params
        if params.sequencer_grace:
            sentinel = SequencerGrace(params.sequencer_grace, params.grace_health_threshold)
            h = health.health if health.health is not None else 0
            if not sentinel.is_liquidation_allowed(
                state.time, state.sequencer_up, state.sequencer_up_since, h
            ):
                raise OracleActionRefused(
                    f"close-out of {account} refused: sequencer grace period and health {h} is not "
                    f"below {params.grace_health_threshold}"
                )
        for mid in markets:
            spec = state.markets[mid].spec
            if spec.twap_oracle is None:
                continue
            index, twap = prices(spec.oracle), prices(spec.twap_oracle)
            if not twap_divergence_ok(index, twap, spec.max_twap_divergence):
                raise OracleActionRefused(
                    f"close-out of {account} refused: {mid} index {index} diverges from its TWAP "
                    f"{twap} by more than {spec.max_twap_divergence}"
                )

    def _risk_allowed(self) -> bool:
        """False while the sequencer is down or inside its grace period (no new risk then)."""
        state, params = self.state, self.state.params
        if not params.sequencer_grace:
            return True
        sentinel = SequencerGrace(params.sequencer_grace, params.grace_health_threshold)
        return sentinel.is_borrow_allowed(state.time, state.sequencer_up, state.sequencer_up_since)

    # -- building blocks ------------------------------------------------------------------------

    def _bucket_summary(self, acct: Account, pos: Position | None, prices: PriceLookup) -> MarginSummary:
        if pos is not None and pos.isolated:
            return isolated_summary(self.state, pos, prices)
        return cross_summary(self.state, acct, prices)

    def _check_fill_risk(
        self, acct: Account, pos: Position, old_size: int, oracle: str, who: str, market: str
    ) -> None:
        """Oracle rule and sequencer sentinel for a fill: adding risk needs ``open``, else ``reduce``."""
        adds_risk = abs(pos.size) > abs(old_size) or pos.size * old_size < 0
        self._require(Action.OPEN if adds_risk else Action.REDUCE, [oracle])
        if adds_risk and not self._risk_allowed():
            raise OracleActionRefused(f"{who} cannot add risk in {market}: sequencer down or in grace period")

    def _check_fill_margin(
        self, acct: Account, pos: Position, old_size: int, prices: PriceLookup, what: str
    ) -> None:
        """After a fill the bucket keeps initial margin, or the fill only reduced the position and
        health did not fall (dYdX's rule)."""
        after = self._bucket_summary(acct, pos, prices)
        if after.meets_initial:
            return
        reduce_only = abs(pos.size) <= abs(old_size) and pos.size * old_size >= 0
        if not (reduce_only and health_not_worse(self._committed_summary(acct, pos, prices), after)):
            raise InsufficientMargin(
                f"{what} leaves {acct.id} with equity {after.equity} below initial "
                f"requirement {after.initial}"
            )

    def _committed_summary(self, acct: Account, pos: Position, prices: PriceLookup) -> MarginSummary:
        """The bucket's margin before this transaction: the committed state is untouched by clones."""
        committed = self.state.accounts[acct.id]
        return self._bucket_summary(committed, committed.positions.get(pos.market), prices)

    def _credit(self, acct: Account, pos: Position | None, amount: int) -> None:
        if pos is not None and pos.isolated:
            pos.margin += amount
        else:
            settle = self.state.params.settlement_asset
            acct.balances[settle] = acct.balances.get(settle, 0) + amount

    def _debit(self, acct: Account, pos: Position | None, amount: int) -> None:
        self._credit(acct, pos, -amount)

    def _charge(self, ctx: TxContext, acct: Account, pos: Position, fee: int) -> None:
        if fee:
            self._debit(acct, pos, fee)
            pools = ctx.pools()
            settle = self.state.params.settlement_asset
            pools.fees[settle] = pools.fees.get(settle, 0) + fee

    def _settle_funding(self, ctx: TxContext, acct: Account, pos: Position, market: MarketState) -> None:
        owed = funding_owed(pos, market.funding_index)
        pos.funding_snapshot = market.funding_index
        if owed:
            self._debit(acct, pos, owed)
            market.pnl_pool += owed
            ctx.emit(ev.FundingSettled(acct.id, pos.market, owed))

    def _settle_all_funding(self, ctx: TxContext, acct: Account) -> None:
        for mid in sorted(acct.positions):
            pos = acct.positions[mid]
            if pos.size and funding_owed(pos, self.state.markets[mid].funding_index):
                self._settle_funding(ctx, acct, pos, ctx.market(mid))

    def _fill(
        self, ctx: TxContext, acct: Account, market: MarketState, delta: int, notional: int
    ) -> tuple[Position, int]:
        """Apply a signed fill of ``delta`` for ``notional`` quote to the account's position.

        Returns the position and the PnL realised into its collateral bucket. The per-side
        identity ``d(entry_value) + d(pnl_pool) == sign(delta) x notional`` keeps every market's
        ``sum(entry_value) + pnl_pool`` exactly zero-sum across both sides of a fill.
        """
        mid = market.spec.id
        pos = acct.positions.get(mid)
        if pos is None:
            pos = acct.positions[mid] = Position(mid, funding_snapshot=market.funding_index)
        else:
            self._settle_funding(ctx, acct, pos, market)
        old = pos.size
        sign = 1 if delta > 0 else -1
        realised = 0
        if old == 0 or (old > 0) == (delta > 0):
            pos.entry_value += sign * notional
        else:
            closed = min(abs(delta), abs(old))
            closed_notional = notional if closed == abs(delta) else notional * closed // abs(delta)
            basis = pos.entry_value * closed // abs(old)
            realised = -sign * closed_notional - basis
            pos.entry_value += sign * (notional - closed_notional) - basis
            market.pnl_pool -= realised
            self._credit(acct, pos, realised)
        pos.size = old + delta
        market.open_interest += max(pos.size, 0) - max(old, 0)
        return pos, realised

    def _drop_if_empty(self, acct: Account, pos: Position) -> None:
        if pos.is_empty:
            del acct.positions[pos.market]

    def _bankrupt(self, ctx: TxContext, acct: Account) -> None:
        """Seize a bankrupt cross account's collateral and cover its settlement deficit."""
        settle = self.state.params.settlement_asset
        pools = ctx.pools()
        for asset_id in sorted(acct.balances):
            amount = acct.balances[asset_id]
            if asset_id != settle and amount > 0:
                pools.insurance[asset_id] = pools.insurance.get(asset_id, 0) + amount
                acct.balances[asset_id] = 0
                ctx.emit(ev.CollateralSeized(acct.id, asset_id, amount))
        deficit = -acct.balances.get(settle, 0)
        if deficit > 0:
            acct.balances[settle] = -deficit + self._cover_deficit(ctx, acct.id, deficit)

    def _cover_deficit(self, ctx: TxContext, account_id: str, deficit: int) -> int:
        """Pay what the insurance fund can of ``deficit``; record the rest as bad debt."""
        settle = self.state.params.settlement_asset
        pools = ctx.pools()
        used = min(pools.insurance.get(settle, 0), deficit)
        if used:
            pools.insurance[settle] -= used
            ctx.emit(ev.InsuranceFundUsed(account_id, settle, used))
        if deficit > used:
            pools.bad_debt[settle] = pools.bad_debt.get(settle, 0) + deficit - used
            ctx.emit(ev.BadDebtRecorded(account_id, settle, deficit - used))
        return used


def funding_rate(spec: MarketSpec, mark: int, index_price: int) -> int:
    """Funding rate per period (WAD): premium of the mark over the index plus interest, clamped to
    ``clamp_factor x (initial - maintenance)`` as dYdX v4 does.

    The mark is the median-of-three estimate (oracle + basis EMA, the venue's last trade since the
    previous accrual, external median) so one manipulated input cannot move funding alone."""
    premium = (mark - index_price) * WAD // index_price
    cap = spec.funding_clamp_factor * (spec.initial_margin - spec.maintenance_margin) // WAD
    return max(-cap, min(cap, premium + spec.funding_interest))


_HANDLERS: dict[type[cmd.Command], Handler] = {
    cmd.SetLedgerParams: Engine._set_params,
    cmd.ListAsset: Engine._list_asset,
    cmd.ListMarket: Engine._list_market,
    cmd.UpdateMarket: Engine._update_market,
    cmd.SetVolatility: Engine._set_volatility,
    cmd.ConfigureOracle: Engine._configure_oracle,
    cmd.ConfirmOracle: Engine._confirm_oracle,
    cmd.OpenAccount: Engine._open_account,
    cmd.Deposit: Engine._deposit,
    cmd.DepositInsurance: Engine._deposit_insurance,
    cmd.Withdraw: Engine._withdraw,
    cmd.TransferMargin: Engine._transfer_margin,
    cmd.SettleFunding: Engine._settle_funding_cmd,
    cmd.Trade: Engine._trade,
    cmd.CloseOut: Engine._close_out,
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
    cmd.ConfigureSteward: steward_handlers.configure_steward,
    cmd.SetGuardrail: steward_handlers.set_guardrail,
    cmd.ProposeParameter: steward_handlers.propose_parameter,
    cmd.ApplyParameter: steward_handlers.apply_parameter,
    cmd.VetoProposal: steward_handlers.veto_proposal,
}
