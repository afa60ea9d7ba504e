"""The expiry hook (engine pipeline step 4b, after the block's prices): record the settlement feed,
then settle every expired instrument atomically — or make it wait, never settling on a bad price.

**Settlement feed.** For every underlying of a live instrument, the index price of each block that
updated it is recorded as a print ``(block time, price)``; the prints are the step function whose
cumulative ``price × seconds`` aggregate gives the TWAP (``options.settlement``). Prints older than
every live instrument's window are dropped (the last one before it is kept: it carries into it).

**Expiry.** At the first block at or after ``expiry``, the settlement price is the exact TWAP of the
``settlement_window`` (1,800 s) ending at expiry. If the feed is halted, the expiry waits
(``ExpiryWaiting(halted)``). If it was stale or left gaps (no print within ``max_feed_age`` of expiry,
or a window not fully fresh), the expiry waits and is **postponed**: at each later block it settles
at the TWAP of the window ending at that block's time as soon as that window is fully fresh — so a
feed that comes back heals the expiry after one clean window, and no position ever settles on a price
the rules of ``options.settlement`` would refuse.

**Settlement** of an instrument at price ``S``: every holder (account id order) is paid
``floor(size × S) − entry_value`` (futures, against the listing's PnL pool) or
``floor(intrinsic(S) × size)`` (options) into its settlement balance; the position is gone, open
interest is zero; what flooring left (>= 0) goes to the fee pool. Events: ``ContractSettled`` per
position, then ``ExpirySettled``.
"""

from __future__ import annotations

import msgspec

from clearhouse.core.errors import ValueOutOfRange
from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.contracts import ContractBook, Listing
from clearhouse.ledger.model import LedgerState
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.options.instruments import EuropeanOption
from clearhouse.options.settlement import (
    CumulativeFeed,
    OracleReport,
    Ready,
    SettlementState,
    Waiting,
    WaitReason,
    option_payoff,
    settlement_price,
)
from clearhouse.oracle.states import OracleState

#: Reasons a postponed window may heal (a halted feed always waits).
_HEALABLE = (WaitReason.STALE, WaitReason.NO_REPORTS, WaitReason.NOT_ENOUGH_COVERAGE)


def settle_expiries(state: LedgerState, undo: BlockUndo, events: list[ev.Event]) -> list[str]:
    """The hook: record prints, settle or hold every expired instrument. Returns the accounts written."""
    book = state.contracts
    if not book.instruments:
        return []
    live = [iid for iid in sorted(book.instruments) if book.instruments[iid].status != "settled"]
    if not live and not book.prints:
        return []
    ctx = TxContext(state, undo)
    record_prints(ctx, live)
    ready: dict[str, Ready] = {}
    for iid in live:
        if book.instruments[iid].spec.is_expired(state.time):
            result = settlement_state(ctx.contracts(), book.instruments[iid], state)
            if isinstance(result, Ready):
                ready[iid] = result
            else:
                hold(ctx, iid, result)
    if ready:
        holders = holders_of(state, ready)  # one pass over the accounts for every expiry of the block
        for iid in sorted(ready):
            settle(ctx, iid, ready[iid], holders.get(iid, []))
    touched = ctx.commit()
    events.extend(ctx.events)
    return touched


def record_prints(ctx: TxContext, live: list[str]) -> None:
    """Append this block's index prices of live underlyings; drop prints no window needs."""
    state = ctx.state
    committed = state.contracts
    horizon: dict[str, int] = {}
    for iid in live:
        spec = committed.instruments[iid].spec
        start = spec.expiry - spec.settlement_window
        if spec.is_expired(state.time):  # a postponed window ends now
            start = min(start, state.time - spec.settlement_window)
        horizon[spec.underlying] = min(horizon.get(spec.underlying, start), start)
    new: dict[str, tuple[OracleReport, ...]] = {}
    for key in sorted(horizon):
        prints = list(committed.prints.get(key, ()))
        entry = state.prices.get(key)
        if entry is not None and entry[1] == state.time and (not prints or prints[-1].time < state.time):
            prints.append(OracleReport(state.time, entry[0]))
        first = 0
        while first + 1 < len(prints) and prints[first + 1].time <= horizon[key]:
            first += 1
        new[key] = tuple(prints[first:])
    if new != committed.prints:
        ctx.contracts().prints = new


def settlement_state(book: ContractBook, listing: Listing, state: LedgerState) -> SettlementState:
    """Ready at the expiry's TWAP, or at the TWAP of the window ending now once a bad window heals."""
    spec = listing.spec
    feed = CumulativeFeed(book.prints.get(spec.underlying, ()))
    oracle = state.oracles.get(spec.underlying)
    halted = oracle is not None and oracle.state is OracleState.HALTED
    window, age = spec.settlement_window, spec.max_feed_age
    result = settlement_price(feed, spec.expiry, state.time, halted=halted, window=window, max_age=age)
    if isinstance(result, Waiting) and result.reason in _HEALABLE and state.time > spec.expiry:
        late = settlement_price(feed, state.time, state.time, window=window, max_age=age)
        if isinstance(late, Ready):
            return late
    return result


def holders_of(state: LedgerState, instruments: dict[str, Ready]) -> dict[str, list[str]]:
    """Account ids holding each of ``instruments``, in id order."""
    out: dict[str, list[str]] = {}
    for aid in sorted(state.accounts):
        for iid in state.accounts[aid].contracts:
            if iid in instruments:
                out.setdefault(iid, []).append(aid)
    return out


def hold(ctx: TxContext, iid: str, result: Waiting) -> None:
    """The expiry waits: record (once per reason) why."""
    book = ctx.contracts()
    listing = book.instruments[iid]
    if listing.status != "waiting" or listing.wait_reason != result.reason.value:
        reason = result.reason.value
        book.instruments[iid] = msgspec.structs.replace(listing, status="waiting", wait_reason=reason)
        ctx.emit(ev.ExpiryWaiting(iid, result.reason.value, result.detail))


def settle(ctx: TxContext, iid: str, result: Ready, holders: list[str]) -> None:
    """Settle every position of ``iid`` (``holders``, in account id order) at ``result.price``."""
    book = ctx.contracts()
    listing = book.instruments[iid]
    price = result.price
    spec = listing.spec
    asset = kernel.settle(ctx)
    paid = 0
    for aid in holders:
        acct = ctx.account(aid)
        pos = acct.own_contracts().pop(iid)
        if isinstance(spec, EuropeanOption):
            amount = option_payoff(spec.option_kind, price, spec.strike, pos.size)
        else:
            amount = pos.size * price // WAD - pos.entry_value
        kernel.credit_balance(acct, asset, amount)
        paid += amount
        ctx.emit(ev.ContractSettled(iid, aid, pos.size, amount))
    dust = listing.pnl_pool - paid
    if dust < 0:  # impossible for a balanced book (floors); refuse the block rather than mint value
        raise ValueOutOfRange(f"expiry of {iid} would pay {-dust} more than its positions hold")
    if dust:
        pools = ctx.pools()
        pools.fees[asset] = pools.fees.get(asset, 0) + dust
    book.instruments[iid] = msgspec.structs.replace(
        listing, open_interest=0, pnl_pool=0, status="settled", wait_reason="",
        settlement_price=price, settled_at=ctx.state.time,
    )  # fmt: skip
    ctx.emit(ev.ExpirySettled(iid, price, result.window_start, result.window_end, len(holders), dust))


__all__ = ["hold", "holders_of", "record_prints", "settle", "settle_expiries", "settlement_state"]
