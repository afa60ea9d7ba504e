"""The engine: the block pipeline. It owns no mechanism; handlers come from the registry.

One block, top to bottom (:meth:`Engine.apply_block`):

1. **header**: height follows, time increases, directly set prices are well formed (else the block
   raises and changes nothing);
2. **funding hook**: every market accrues funding over ``[last accrual, block time]`` at the index price
   that held over that interval, i.e. *before* this block's oracle reports are read (a report arriving
   with the block cannot reprice the interval that led up to it);
3. **clock and sequencer**: height, time and the L2 sequencer status;
4. **oracle reports**: every feed aggregates its reports (or none) at the block's time, then prices the
   block sets directly are recorded; then the **expiry hook** (``mechanisms.options.expiry``) records
   the settlement feed and settles every expired dated contract at its TWAP, or makes it wait;
5. **transactions**: one by one on clones (:class:`~clearhouse.ledger.unit_of_work.TxContext`), each
   dispatched to its mechanism's handler; a refused one becomes ``TransactionRejected`` and changes nothing;
6. **screening**: the candidate scanner lists perp buckets that may be below maintenance (before any
   vault is barked, so barks cannot hide a candidate);
7. **enforcement**: unsafe vaults are barked (or reported), accounts holding dated contracts below
   maintenance lose their riskiest legs to the backstop (or are reported), then the perp candidates
   are confirmed exactly, ordered and capped, and closed out (or reported);
8. **state root** over the whole state; 9. **journal sink**: the block, its events and root are appended
   in the same try, so a failed write rolls the whole block back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clearhouse.core.errors import (
    BlockOutOfOrder,
    ClearhouseError,
    InvalidParameters,
    InvalidValue,
    Unauthorized,
    UnknownAccount,
    UnknownAsset,
    UnknownMarket,
)
from clearhouse.core.fixedpoint import MAX_ABS, check_positive
from clearhouse.engine.registry import HANDLERS
from clearhouse.engine.sink import GENESIS_HASH, BlockSink
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block, encode_block, encode_events
from clearhouse.ledger.enforcement import (
    CandidateScanner,
    Confirmed,
    ExactScanner,
    Target,
    confirm,
    rotate_by_health,
    select_ranked,
    select_targets,
    still_valid,
    unsafe_vaults,
)
from clearhouse.ledger.margin import (
    MarginSummary,
    PriceLookup,
    cross_summary,
    fresh_price_lookup,
    isolated_summary,
)
from clearhouse.ledger.margin_models import FixedMargin
from clearhouse.ledger.model import LedgerState
from clearhouse.ledger.state_root import StateHasher
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.mechanisms import perp_liquidation, perps
from clearhouse.mechanisms.options import expiry as options_expiry
from clearhouse.mechanisms.options import liquidation as options_liquidation
from clearhouse.mechanisms.signing import auth_hooks
from clearhouse.mechanisms.vaults import bark as vault_bark
from clearhouse.oracle.reports import SourceReport
from clearhouse.oracle.states import OracleState

#: The accounts changed since the last scan in a block that changed none (shared, immutable).
_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class BlockResult:
    height: int
    state_root: str
    events: tuple[ev.Event, ...]
    #: Canonical encodings, as journalled.
    block_bytes: bytes
    events_bytes: bytes


class Engine:
    """The deterministic state machine. It never reads the clock, the network or a random source."""

    def __init__(
        self,
        journal: BlockSink | None = None,
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
        self._prev_hash = GENESIS_HASH
        #: Screen of the accounts holding dated contracts (None: the exact reference; any screen that
        #: never misses, e.g. ``risk.contract_screen.PortfolioContractScreen``, gives identical blocks).
        self.contract_screen: options_liquidation.ContractScreen | None = None
        #: Signatures a driver already verified (``mechanisms.signing.admission.VerifiedSignatures``),
        #: so a block skips ed25519 for them with identical results; replay attaches none.
        self.signature_cache: Any = None
        #: Run a block's backstop close-outs in one transaction context when that gives the same block
        #: (``_close_out_together``); False runs one transaction each (the reference it is tested against).
        self.close_outs_together = True
        if journal is not None and journal.head() is not None:
            raise InvalidParameters(
                "journal already holds blocks; use clearhouse.journal.replay.resume to continue it"
            )

    def attach_journal(self, journal: BlockSink, prev_hash: str) -> None:
        """Journal every later block after the row whose hash is ``prev_hash`` (see ``resume``)."""
        self.journal = journal
        self._prev_hash = prev_hash

    # -- blocks ---------------------------------------------------------------------------------

    def apply_block(self, block: Block) -> BlockResult:
        """Apply one block (the pipeline in the module docstring); on any error nothing changes."""
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
            perps.accrue_funding(state, block.time, undo, events)
            self._advance_clock(block, events)
            if auth_hooks.uses_auth(state, block):  # signed content well-formed, reports whitelisted
                auth_hooks.check_block(state, block)
            self._read_prices(block, events)
            touched.update(options_expiry.settle_expiries(state, undo, events))  # expiries: settle or wait
            bare_ok = auth_hooks.bare_commands_allowed(state)  # the genesis / bootstrap rule
            for index, command in enumerate(block.txs):
                ctx = TxContext(state, undo)
                try:
                    if not bare_ok:
                        raise Unauthorized(f"unsigned {type(command).__name__}: this ledger needs signatures")
                    command.check()
                    HANDLERS[type(command)](ctx, command)
                except ClearhouseError as err:
                    events.append(ev.TransactionRejected(index, type(command).__name__, err.code, str(err)))
                    continue
                touched.update(ctx.commit())
                events.extend(ctx.events)
            if auth_hooks.uses_auth(state, block):  # signed envelopes, after the bare commands (a bare
                # ConfigureAuth in this block also registers the owners of the block's bare accounts)
                auth_hooks.apply_signed(state, HANDLERS, self.signature_cache, block, undo, events, touched)
            rescan = touched
            if state.params.enforcement != "off":
                candidates = self._screen(touched)
                # The scanner has synced every account touched so far: only what enforcement changes
                # after the scan needs the next block's sync.
                rescan = set()
                self._enforce(undo, events, rescan, candidates)
                touched |= rescan
            if touched:
                self._hasher.update(state.accounts[a] for a in sorted(touched))
            root = self._hasher.root(state)
            block_bytes = encode_block(block)
            events_bytes = encode_events(events)
            if self.journal is not None:
                self._prev_hash = self.journal.append_block(
                    block.height, block_bytes, events_bytes, root, self._prev_hash
                )
        except BaseException:
            restored, count = undo.restore(state)
            self._hasher.truncate(count)
            self._hasher.update(restored)
            self._unscanned.update(touched)
            self._unscanned.update(a.id for a in restored)
            raise
        self._unscanned.update(rescan)
        return BlockResult(block.height, root, tuple(events), block_bytes, events_bytes)

    def state_root(self) -> str:
        """The root of the current state (as the last block returned it)."""
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
        oracles = state.oracles
        for key, price in block.prices.items():
            if not isinstance(key, str):
                raise InvalidValue(f"block {block.height}: price key {key!r} must be a string")
            if key in oracles:
                raise InvalidValue(
                    f"block {block.height}: {key} is priced by its oracle feed, not set directly"
                )
            if not key or not key.isascii():
                raise InvalidValue(f"block {block.height}: price key {key!r} must be non-empty ASCII")
            if type(price) is not int or not 0 < price < MAX_ABS:  # the message only when it fails
                check_positive(price, f"block {block.height} price of {key}")

    def _advance_clock(self, block: Block, events: list[ev.Event]) -> None:
        """Step 3: the block's height and time; the sequencer status (Aave's sentinel feed)."""
        state = self.state
        state.height, state.time = block.height, block.time
        if block.sequencer_up is not state.sequencer_up:
            state.sequencer_up = block.sequencer_up
            if block.sequencer_up:
                state.sequencer_up_since = block.time
            events.append(ev.SequencerStatusChanged(block.sequencer_up))

    def _read_prices(self, block: Block, events: list[ev.Event]) -> None:
        """Step 4: the oracle feeds aggregate the block's reports, then directly set prices are recorded."""
        state = self.state
        if state.oracles or block.reports:
            self._update_oracles(block, events)
        if block.prices:
            prices = dict(state.prices)
            for key, price in block.prices.items():
                prices[key] = (price, block.time)
            state.prices = prices

    def _screen(self, touched: set[str]) -> Sequence[Target]:
        """Step 6: the perp candidates the scanner finds among all accounts, told which changed since it
        last looked (any scanner that never misses gives identical blocks, see ledger.enforcement)."""
        state = self.state
        unscanned = self._unscanned
        unscanned.update(touched)
        if not unscanned:
            return self.scanner.candidates(state, _NOTHING)
        accounts = state.accounts
        candidates = self.scanner.candidates(state, frozenset(a for a in unscanned if a in accounts))
        unscanned.clear()  # only once the scanner has seen them (a failed block keeps them)
        return candidates

    def _enforce(
        self, undo: BlockUndo, events: list[ev.Event], touched: set[str], candidates: Sequence[Target]
    ) -> None:
        """Step 7: vaults first (barked or reported), then the perp candidates: exact check -> order and
        cap -> report or close out against the backstop liquidator, within the block's liquidation cap."""
        state = self.state
        params = state.params
        room = params.max_liquidations_per_block - undo.liquidations
        if state.vault_types and room > 0:
            room -= self._enforce_vaults(undo, events, touched, room)
        if state.contracts.instruments and room > 0:  # dated contracts: riskiest legs first
            room -= options_liquidation.enforce(state, undo, events, touched, room, self.contract_screen)
        if not candidates or room <= 0:
            return
        # More candidates than room: with the scan's bounds, exact summaries only where the cap needs
        # them (identical selection, see ledger.enforcement.select_ranked); vault enforcement may have
        # written accounts after the scan, so only without vault types.
        rank = getattr(self.scanner, "ranked", None)
        binding = len(candidates) > room and not state.vault_types
        ranked = rank(state) if rank is not None and binding else None
        if ranked is not None:
            chosen = select_ranked(state, ranked, self.prices(), state.height, room)
        else:
            chosen = select_targets(confirm(state, candidates, self.prices()), state.height, room)
        if params.enforcement == "report":
            for target in chosen:
                aid, mid = target.target
                events.append(ev.BelowMaintenance(aid, mid, target.equity, target.maintenance))
            return
        together = self.close_outs_together  # one target too: close_out_all is the faster path
        if together and self._close_out_together(undo, events, touched, chosen):
            return
        liquidator, close_out, close = params.backstop_liquidator, perp_liquidation.close_out, cmd.CloseOut
        for target in chosen:
            aid, mid = target.target
            ctx = TxContext(state, undo)
            try:
                close_out(ctx, close(aid, liquidator, mid), before=still_valid(state, target))
            except ClearhouseError as err:
                events.append(ev.EnforcementFailed(aid, mid, err.code, str(err)))
                continue
            touched.update(ctx.commit())
            events.extend(ctx.events)

    def _close_out_together(
        self, undo: BlockUndo, events: list[ev.Event], touched: set[str], chosen: Sequence[Confirmed]
    ) -> bool:
        """Close out every chosen target in one transaction context, committed once; False (and nothing
        changed) if any of them is refused, and the caller then runs them one transaction each.

        When none is refused this is exactly the one-transaction-each result, written once instead of
        once per close-out (the liquidator, the market and the pools are cloned and committed once): a
        close-out writes only its target, the liquidator, the markets and the pools, and reads the
        committed state only for what no close-out changes (specs, funding indices, prices, assets,
        oracle states), except the open interest and volatility multiplier that non-fixed margin models
        read, so it is used only when every market has fixed margin; and only when the targets are
        distinct accounts (an account's isolated close-out changes its cross bucket), so ``still_valid``
        sees the same committed objects either way (the liquidator itself as a target is refused). The
        liquidations it counted are uncounted on a refusal.
        """
        state = self.state
        for market in state.markets.values():
            if type(market.spec.margin_model) is not FixedMargin:
                return False
        if len({target.target[0] for target in chosen}) != len(chosen):
            return False
        counted = undo.liquidations
        ctx = TxContext(state, undo)
        try:
            perp_liquidation.close_out_all(ctx, state.params.backstop_liquidator, chosen)
        except ClearhouseError:
            undo.liquidations = counted
            return False
        touched.update(ctx.commit())
        events.extend(ctx.events)
        return True

    def _enforce_vaults(self, undo: BlockUndo, events: list[ev.Event], touched: set[str], room: int) -> int:
        """Step 7 for debt positions: unsafe vaults, lowest health first with the same rotation,
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
                vault_bark.bark(ctx, cmd.Bark(aid, vid, params.backstop_liquidator))
            except ClearhouseError as err:
                events.append(ev.EnforcementFailed(aid, vid, err.code, str(err)))
                continue
            touched.update(ctx.commit())
            events.extend(ctx.events)
        return len(chosen)

    def _update_oracles(self, block: Block, events: list[ev.Event]) -> None:
        """Step 4 of a block: every feed aggregates its new reports (or none) at the block's time.

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
        """Fresh prices at the state's time (refuses missing and stale ones)."""
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


