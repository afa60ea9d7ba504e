"""The ledger kernel: the only primitives a mechanism uses to change the ledger inside a transaction.

Every function takes the transaction's scratch view (:class:`~clearhouse.ledger.unit_of_work.TxContext`)
first, as dYdX's keeper functions take ``ctx``. Mechanisms (``clearhouse.mechanisms``) call these and
nothing of the engine; the engine only runs the block pipeline.

Reads follow one rule (R3 of the kernel design, pinned by the golden files):

* accounts, markets and pools a transaction changes are its *clones* (``tx.account``, ``tx.market``,
  ``tx.pools``);
* margin summaries read markets through ``tx.state.markets``, i.e. the *committed* markets: the open
  interest and volatility multiplier from before the transaction (``margin.cross_summary``);
* "before" summaries (``committed_summary``) and ADL's ranking read the committed accounts.

Prices do not change during the transaction loop, so :func:`prices` gives the same lookup every time it
is called within a block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from clearhouse.core.errors import (
    InsufficientBalance,
    InsufficientMargin,
    InvalidValue,
    LiquidationCapReached,
    NotLiquidatable,
    UnknownAsset,
)
from clearhouse.core.fixedpoint import wmul_up
from clearhouse.ledger import events as ev
from clearhouse.ledger.margin import (
    MarginSummary,
    PriceLookup,
    cross_summary,
    fresh_price_lookup,
    funding_owed,
    health_not_worse,
    isolated_summary,
)
from clearhouse.ledger.model import Account, AssetSpec, MarketState, Position
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.oracle.errors import OracleActionRefused
from clearhouse.oracle.rules import Action, SequencerGrace, require_allowed, twap_divergence_ok

__all__ = [
    "Handler",
    "Handlers",
    "asset",
    "bankrupt",
    "bucket_summary",
    "charge_fee",
    "check_enforceable",
    "check_fill_margin",
    "check_fill_risk",
    "check_liquidation_room",
    "committed_summary",
    "count_liquidation",
    "cover_deficit",
    "credit_balance",
    "credit_bucket",
    "debit_bucket",
    "drop_if_empty",
    "fill",
    "insurance_paid_to",
    "margin_keys",
    "pay_balance",
    "prices",
    "record_bad_debt",
    "record_insurance_paid",
    "require",
    "require_cross_initial",
    "require_initial_or_reduction",
    "risk_allowed",
    "settle",
    "settle_all_funding",
    "settle_funding",
    "to_insurance",
    "trade_fees",
]

#: A command handler: applies one command to the transaction's scratch view, or raises a typed error
#: (then the transaction changes nothing).
Handler: TypeAlias = Callable[[TxContext, Any], None]
#: A mechanism's table of handlers, keyed by command type.
Handlers: TypeAlias = Mapping[type[Any], Handler]

# -- reference data ---------------------------------------------------------------------------------


def settle(tx: TxContext) -> str:
    """The settlement asset (``LedgerParams.settlement_asset``)."""
    return tx.state.params.settlement_asset


def prices(tx: TxContext) -> PriceLookup:
    """Fresh prices at the block's time (refuses missing and stale ones)."""
    return fresh_price_lookup(tx.state)


def asset(tx: TxContext, asset_id: str, amount: int) -> AssetSpec:
    """The listed asset ``asset_id``; ``amount`` must be a whole number of its smallest unit."""
    spec = tx.state.assets.get(asset_id)
    if spec is None:
        raise UnknownAsset(f"unknown asset {asset_id!r}")
    if amount % spec.unit:
        raise InvalidValue(f"amount {amount} of {asset_id} is finer than its {spec.decimals} decimals")
    return spec


# -- oracle rules -----------------------------------------------------------------------------------


def require(tx: TxContext, action: Action, keys: Iterable[str]) -> None:
    """Refuse ``action`` if the feed of any of ``keys`` is in a state whose rule forbids it."""
    oracles = tx.state.oracles
    for key in keys:
        feed = oracles.get(key)
        if feed is not None:
            require_allowed(feed.state, action, key)


def margin_keys(tx: TxContext, acct: Account) -> list[str]:
    """Price keys the account's cross margin depends on."""
    keys = {a for a, v in acct.balances.items() if v}
    keys.update(tx.state.markets[m].spec.oracle for m, p in acct.positions.items() if p.size)
    if acct.contracts:  # dated futures and options: their underlyings
        keys.update(tx.state.contracts.instruments[i].spec.underlying for i in acct.contracts)
    return sorted(keys)


def risk_allowed(tx: TxContext) -> bool:
    """False while the sequencer is down or inside its grace period (no new risk then)."""
    state, params = tx.state, tx.state.params
    if not params.sequencer_grace:
        return True
    sentinel = SequencerGrace(params.sequencer_grace, params.grace_health_threshold)
    return sentinel.is_borrow_allowed(state.time, state.sequencer_up, state.sequencer_up_since)


# -- money ------------------------------------------------------------------------------------------


def credit_bucket(tx: TxContext, acct: Account, pos: Position | None, amount: int) -> None:
    """Credit ``amount`` settlement to the position's collateral bucket: its isolated margin, or the
    account's cross balance."""
    if pos is not None and pos.isolated:
        pos.margin += amount
    else:
        asset_id = tx.state.params.settlement_asset
        acct.balances[asset_id] = acct.balances.get(asset_id, 0) + amount


def debit_bucket(tx: TxContext, acct: Account, pos: Position | None, amount: int) -> None:
    credit_bucket(tx, acct, pos, -amount)


def credit_balance(acct: Account, asset_id: str, amount: int) -> None:
    """Add ``amount`` of ``asset_id`` to the account's balance (no entry written for zero)."""
    if amount:
        acct.balances[asset_id] = acct.balances.get(asset_id, 0) + amount


def pay_balance(acct: Account, asset_id: str, amount: int, what: str) -> None:
    """Take ``amount`` of ``asset_id`` from the account's balance, which must hold it."""
    balance = acct.balances.get(asset_id, 0)
    if balance < amount:
        raise InsufficientBalance(
            f"account {acct.id} holds {balance} {asset_id}, cannot pay {amount} for {what}"
        )
    acct.balances[asset_id] = balance - amount


def to_insurance(tx: TxContext, asset_id: str, amount: int) -> None:
    """Move ``amount`` of ``asset_id`` into (negative: out of) the insurance fund."""
    pools = tx.pools()
    pools.insurance[asset_id] = pools.insurance.get(asset_id, 0) + amount


def insurance_paid_to(tx: TxContext, account_id: str) -> int:
    """Insurance the fund has paid for ``account_id`` so far in this block (this transaction included)."""
    return tx.undo.insurance_by_account.get(account_id, 0) + tx.insurance_by_account.get(account_id, 0)


def record_insurance_paid(tx: TxContext, account_id: str, amount: int) -> None:
    """Count ``amount`` of insurance paid for ``account_id`` against its per-block cap (staged with the
    transaction: a refused transaction counts nothing)."""
    tx.insurance_by_account[account_id] = tx.insurance_by_account.get(account_id, 0) + amount


def trade_fees(notional: int, taker: str, taker_fee: int, maker_fee: int) -> dict[str, int]:
    """Each side's fee on a fill's ``notional``, rounded up: the taker side pays ``taker_fee``, the
    other ``maker_fee``."""
    return {
        "buyer": wmul_up(notional, taker_fee if taker == "buyer" else maker_fee),
        "seller": wmul_up(notional, taker_fee if taker == "seller" else maker_fee),
    }


def charge_fee(tx: TxContext, acct: Account, pos: Position, fee: int) -> None:
    """Charge a trading fee from the position's bucket into the fee pool."""
    if fee:
        debit_bucket(tx, acct, pos, fee)
        pools = tx.pools()
        asset_id = tx.state.params.settlement_asset
        pools.fees[asset_id] = pools.fees.get(asset_id, 0) + fee


def record_bad_debt(tx: TxContext, account_id: str, asset_id: str, amount: int) -> None:
    """Add ``amount`` to the recorded bad debt, then emit ``BadDebtRecorded`` (the order at every site)."""
    pools = tx.pools()
    pools.bad_debt[asset_id] = pools.bad_debt.get(asset_id, 0) + amount
    tx.emit(ev.BadDebtRecorded(account_id, asset_id, amount))


def cover_deficit(tx: TxContext, account_id: str, deficit: int) -> int:
    """Pay what the insurance fund can of ``deficit``; record the rest as bad debt. Returns what the
    fund paid."""
    asset_id = tx.state.params.settlement_asset
    pools = tx.pools()
    used = min(pools.insurance.get(asset_id, 0), deficit)
    if used:
        pools.insurance[asset_id] -= used
        tx.emit(ev.InsuranceFundUsed(account_id, asset_id, used))
    if deficit > used:
        record_bad_debt(tx, account_id, asset_id, deficit - used)
    return used


def bankrupt(tx: TxContext, acct: Account) -> None:
    """Seize a bankrupt cross account's collateral and cover its settlement deficit."""
    asset_id = tx.state.params.settlement_asset
    pools = tx.pools()
    for held in sorted(acct.balances):
        amount = acct.balances[held]
        if held != asset_id and amount > 0:
            pools.insurance[held] = pools.insurance.get(held, 0) + amount
            acct.balances[held] = 0
            tx.emit(ev.CollateralSeized(acct.id, held, amount))
    deficit = -acct.balances.get(asset_id, 0)
    if deficit > 0:
        acct.balances[asset_id] = -deficit + cover_deficit(tx, acct.id, deficit)


# -- positions --------------------------------------------------------------------------------------


def settle_funding(tx: TxContext, acct: Account, pos: Position, market: MarketState) -> None:
    """Settle the funding the position owes (or is owed) since its snapshot, through the PnL pool."""
    owed = funding_owed(pos, market.funding_index)
    pos.funding_snapshot = market.funding_index
    if owed:
        debit_bucket(tx, acct, pos, owed)
        market.pnl_pool += owed
        tx.emit(ev.FundingSettled(acct.id, pos.market, owed))


def settle_all_funding(tx: TxContext, acct: Account) -> None:
    """Settle funding on every position that owes any (market order)."""
    for mid in sorted(acct.positions):
        pos = acct.positions[mid]
        if pos.size and funding_owed(pos, tx.state.markets[mid].funding_index):
            settle_funding(tx, acct, pos, tx.market(mid))


def fill(
    tx: TxContext, acct: Account, market: MarketState, delta: int, notional: int
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
    elif pos.funding_snapshot != market.funding_index:  # else nothing is owed: settle_funding is a no-op
        settle_funding(tx, acct, pos, market)
    old = pos.size
    realised = 0
    if old == 0 or (old > 0) == (delta > 0):
        pos.entry_value += notional if delta > 0 else -notional
    else:
        sign = 1 if delta > 0 else -1
        abs_delta, abs_old = (delta if delta > 0 else -delta), (old if old > 0 else -old)
        closed = abs_delta if abs_delta < abs_old else abs_old
        closed_notional = notional if closed == abs_delta else notional * closed // abs_delta
        basis = pos.entry_value * closed // abs_old
        realised = -sign * closed_notional - basis
        pos.entry_value += sign * (notional - closed_notional) - basis
        market.pnl_pool -= realised
        if pos.isolated:  # credit_bucket, written out
            pos.margin += realised
        else:
            asset_id = tx.state.params.settlement_asset
            acct.balances[asset_id] = acct.balances.get(asset_id, 0) + realised
    new = pos.size = old + delta
    market.open_interest += (new if new > 0 else 0) - (old if old > 0 else 0)
    return pos, realised


def drop_if_empty(acct: Account, pos: Position) -> None:
    """Forget a position with no size, margin or entry value left."""
    if pos.is_empty:
        del acct.positions[pos.market]


# -- margin gates -----------------------------------------------------------------------------------


def bucket_summary(
    tx: TxContext, acct: Account, pos: Position | None, price_of: PriceLookup
) -> MarginSummary:
    """The margin summary of the bucket ``pos`` belongs to (isolated, or the account's cross bucket)."""
    if pos is not None and pos.isolated:
        return isolated_summary(tx.state, pos, price_of)
    return cross_summary(tx.state, acct, price_of)


def committed_summary(tx: TxContext, acct: Account, pos: Position, price_of: PriceLookup) -> MarginSummary:
    """The bucket's margin before this transaction: the committed state is untouched by clones."""
    committed = tx.state.accounts[acct.id]
    return bucket_summary(tx, committed, committed.positions.get(pos.market), price_of)


def check_fill_risk(tx: TxContext, new_size: int, old_size: int, oracle: str, who: str, market: str) -> None:
    """Oracle rule and sequencer sentinel for a fill (a perp position or a dated contract moving from
    ``old_size`` to ``new_size``): adding risk needs ``open``, else ``reduce``."""
    adds_risk = abs(new_size) > abs(old_size) or new_size * old_size < 0
    require(tx, Action.OPEN if adds_risk else Action.REDUCE, [oracle])
    if adds_risk and not risk_allowed(tx):
        raise OracleActionRefused(f"{who} cannot add risk in {market}: sequencer down or in grace period")


def check_fill_margin(
    tx: TxContext, acct: Account, pos: Position, old_size: int, price_of: PriceLookup, what: str
) -> None:
    """After a fill the bucket keeps initial margin, or the fill only reduced the position and
    health did not fall (dYdX's rule)."""
    after = bucket_summary(tx, acct, pos, price_of)
    require_initial_or_reduction(
        after, lambda: committed_summary(tx, acct, pos, price_of), old_size, pos.size, acct.id, what
    )


def require_initial_or_reduction(
    after: MarginSummary,
    before: Callable[[], MarginSummary],
    old_size: int,
    new_size: int,
    account_id: str,
    what: str,
) -> None:
    """dYdX's rule after a fill: ``after`` keeps initial margin, or the fill only reduced the position
    (``old_size`` -> ``new_size``) and health did not fall from ``before()`` (computed only then)."""
    if after.meets_initial:
        return
    reduce_only = abs(new_size) <= abs(old_size) and new_size * old_size >= 0
    if not (reduce_only and health_not_worse(before(), after)):
        raise InsufficientMargin(
            f"{what} leaves {account_id} with equity {after.equity} below initial "
            f"requirement {after.initial}"
        )


def require_cross_initial(tx: TxContext, acct: Account, refusal: Callable[[MarginSummary], str]) -> None:
    """A balance that backs perp positions, dated contracts (or a debt) may only shrink while the cross
    bucket keeps initial margin: checked only when the account has cross positions, contracts or a
    negative balance, under the oracle rule for ``withdraw``. ``refusal`` words the error from the
    summary after the change."""
    if (
        any(not p.isolated and p.size for p in acct.positions.values())
        or any(v < 0 for v in acct.balances.values())
        or acct.contracts
    ):
        require(tx, Action.WITHDRAW, margin_keys(tx, acct))
        after = cross_summary(tx.state, acct, prices(tx))
        if not after.meets_initial:
            raise InsufficientMargin(refusal(after))


# -- the enforcement gate ---------------------------------------------------------------------------


def check_liquidation_room(tx: TxContext) -> None:
    """Refuse one more close-out/liquidation/bark once the block's cap is used up."""
    cap = tx.state.params.max_liquidations_per_block
    if tx.undo.liquidations >= cap:
        raise LiquidationCapReached(f"block {tx.state.height} already enforced {cap} liquidations")


def count_liquidation(tx: TxContext) -> None:
    """Record one enforced liquidation against the block's cap. Every handler calls this as its last
    fallible statement, so a refused transaction never counts."""
    tx.undo.liquidations += 1


def check_enforceable(
    tx: TxContext, account: str, before: MarginSummary, markets: list[str], price_of: PriceLookup
) -> None:
    """The common gate of every perp enforcement: the oracle rule allows ``liquidate``, the bucket is
    below maintenance, and the sequencer-grace and TWAP-divergence guards pass."""
    state = tx.state
    if state.oracles:  # without any feed no rule can refuse (``require`` would find none)
        require(tx, Action.LIQUIDATE, sorted({state.markets[m].spec.oracle for m in markets}))
    if not before.liquidatable:
        raise NotLiquidatable(
            f"account {account} has equity {before.equity} >= maintenance {before.maintenance}"
        )
    _check_liquidation_guards(tx, account, markets, before, price_of)


def _check_liquidation_guards(
    tx: TxContext, account: str, markets: list[str], health: MarginSummary, price_of: PriceLookup
) -> None:
    """Aave's sequencer grace period and Drift's oracle/TWAP divergence guard."""
    state = tx.state
    params = state.params
    if params.sequencer_grace:
        sentinel = SequencerGrace(params.sequencer_grace, params.grace_health_threshold)
        h = health.health if health.health is not None else 0
        if not sentinel.is_liquidation_allowed(state.time, state.sequencer_up, state.sequencer_up_since, h):
            raise OracleActionRefused(
                f"close-out of {account} refused: sequencer grace period and health {h} is not "
                f"below {params.grace_health_threshold}"
            )
    for mid in markets:
        spec = state.markets[mid].spec
        if spec.twap_oracle is None:
            continue
        index, twap = price_of(spec.oracle), price_of(spec.twap_oracle)
        if not twap_divergence_ok(index, twap, spec.max_twap_divergence):
            raise OracleActionRefused(
                f"close-out of {account} refused: {mid} index {index} diverges from its TWAP "
                f"{twap} by more than {spec.max_twap_divergence}"
            )
