"""Events: past-tense records of every state change, immutable and stably serialised.

A block's events are journalled next to its inputs; replaying the inputs must reproduce them byte for
byte. Amounts are WAD integers, the funding index RAY.
"""

from __future__ import annotations

import msgspec


class Event(msgspec.Struct, frozen=True, tag_field="type", forbid_unknown_fields=True):
    """Base class; ``type`` in the encoding is the class name."""


class LedgerParamsSet(Event, frozen=True, tag=True):
    settlement_asset: str
    max_price_age: int


class AssetListed(Event, frozen=True, tag=True):
    asset: str
    decimals: int
    haircut: int


class MarketListed(Event, frozen=True, tag=True):
    market: str
    oracle: str
    initial_margin: int
    maintenance_margin: int


class MarketUpdated(Event, frozen=True, tag=True):
    market: str
    initial_margin: int
    maintenance_margin: int
    taker_fee: int
    maker_fee: int
    liquidation_fee: int


class VolatilitySet(Event, frozen=True, tag=True):
    market: str
    multiplier: int


class OracleConfigured(Event, frozen=True, tag=True):
    asset: str
    aggregator: str
    policies: tuple[str, ...]


class OracleStateChanged(Event, frozen=True, tag=True):
    """A feed moved between fresh / stale / clamped / guarded / uncertain / halted."""

    asset: str
    old: str
    new: str
    reason: str


class SequencerStatusChanged(Event, frozen=True, tag=True):
    up: bool


class AccountOpened(Event, frozen=True, tag=True):
    account: str
    owner: str


class Deposited(Event, frozen=True, tag=True):
    account: str
    asset: str
    amount: int


class Withdrawn(Event, frozen=True, tag=True):
    account: str
    asset: str
    amount: int


class MarginTransferred(Event, frozen=True, tag=True):
    account: str
    market: str
    #: > 0 cross -> isolated, < 0 isolated -> cross.
    amount: int


class FundingAccrued(Event, frozen=True, tag=True):
    market: str
    mark_price: int
    #: Funding rate per funding period (WAD, signed; > 0 longs pay shorts).
    rate: int
    index: int
    elapsed: int


class FundingSettled(Event, frozen=True, tag=True):
    account: str
    market: str
    #: Amount the position paid (> 0) or received (< 0).
    paid: int


class Traded(Event, frozen=True, tag=True):
    market: str
    buyer: str
    seller: str
    size: int
    price: int
    notional: int
    buyer_fee: int
    seller_fee: int
    buyer_realised_pnl: int
    seller_realised_pnl: int


class PositionClosedOut(Event, frozen=True, tag=True):
    """A position taken over by the liquidator at the oracle price."""

    account: str
    liquidator: str
    market: str
    #: Signed size the account held (the liquidator now holds it too).
    size: int
    price: int
    notional: int
    realised_pnl: int


class CloseOutPenaltyCharged(Event, frozen=True, tag=True):
    """The close-out penalty actually charged (capped at the equity left) and how it was split."""

    account: str
    liquidator: str
    penalty: int
    liquidator_reward: int
    insurance_share: int


class PositionLiquidated(Event, frozen=True, tag=True):
    """A (partial) liquidation: ``closed`` of the position went at ``fill_price`` (or, via ADL or the
    vault, at the bankruptcy price); ``stages`` is the lifecycle path through the loss waterfall."""

    account: str
    liquidator: str
    market: str
    disposal: str
    closed: int
    remaining: int
    oracle_price: int
    fill_price: int
    bankruptcy_quote: int
    fill_quote: int
    insurance_fee: int
    shortfall: int
    stages: tuple[str, ...]


class AmmConfigured(Event, frozen=True, tag=True):
    market: str
    account: str
    base_reserve: int
    quote_reserve: int


class AmmSwapped(Event, frozen=True, tag=True):
    """A trade with the pool (``size`` > 0: the account bought); ``price_after`` = quote / base."""

    account: str
    market: str
    size: int
    quote: int
    price_after: int


class BackstopPoolUsed(Event, frozen=True, tag=True):
    account: str
    asset: str
    amount: int


class BackstopDeposited(Event, frozen=True, tag=True):
    asset: str
    amount: int


class PositionDeleveraged(Event, frozen=True, tag=True):
    """ADL: ``counterparty``'s opposite position reduced by ``size`` at the bankruptcy price."""

    account: str
    counterparty: str
    market: str
    size: int
    quote: int


class BadDebtSocialised(Event, frozen=True, tag=True):
    """A shortfall spread over the opposite side's positions (their cost basis), pro rata to size."""

    account: str
    market: str
    amount: int
    positions: int


class WithdrawalsGated(Event, frozen=True, tag=True):
    until_height: int


class BelowMaintenance(Event, frozen=True, tag=True):
    """Step 4 found (scan) and confirmed (exact check) an account or isolated position to enforce."""

    account: str
    market: str | None
    equity: int
    maintenance: int


class VaultBelowSafety(Event, frozen=True, tag=True):
    """Step 4 found a vault below its liquidation ratio; ``health`` = ink x spot / debt (WAD)."""

    account: str
    vault_type: str
    health: int


class EnforcementFailed(Event, frozen=True, tag=True):
    """The backstop close-out of a confirmed target failed (e.g. the backstop lacks margin)."""

    account: str
    market: str | None
    code: str
    message: str


class CollateralSeized(Event, frozen=True, tag=True):
    account: str
    asset: str
    amount: int


class InsuranceFundUsed(Event, frozen=True, tag=True):
    account: str
    asset: str
    amount: int


class InsuranceDeposited(Event, frozen=True, tag=True):
    asset: str
    amount: int


class BadDebtRecorded(Event, frozen=True, tag=True):
    account: str
    asset: str
    amount: int


class TransactionRejected(Event, frozen=True, tag=True):
    """A transaction of the block failed; it changed nothing."""

    tx_index: int
    command: str
    code: str
    message: str


# -- debt positions and auctions -----------------------------------------------------------------------


class VaultTypeListed(Event, frozen=True, tag=True):
    vault_type: str
    collateral: str
    mat: int
    line: int
    disposal: str


class VaultTypeUpdated(Event, frozen=True, tag=True):
    vault_type: str
    mat: int
    line: int
    disposal: str


class DebtLimitSet(Event, frozen=True, tag=True):
    hole: int


class StabilityFeeAccrued(Event, frozen=True, tag=True):
    """jug.drip: ``rate`` (RAY) grew by ``delta_rate`` over ``elapsed`` s; ``minted`` (settlement WAD,
    rounded down from ``Art x delta_rate``) went to the insurance fund (the surplus buffer)."""

    vault_type: str
    rate: int
    delta_rate: int
    elapsed: int
    minted: int


class CollateralLocked(Event, frozen=True, tag=True):
    account: str
    vault_type: str
    amount: int
    ink: int


class CollateralFreed(Event, frozen=True, tag=True):
    account: str
    vault_type: str
    amount: int
    ink: int


class DebtDrawn(Event, frozen=True, tag=True):
    """``amount`` minted to the account; normalised debt grew by ``dart`` to ``art``."""

    account: str
    vault_type: str
    amount: int
    dart: int
    art: int


class DebtRepaid(Event, frozen=True, tag=True):
    """``amount`` burned from the account; normalised debt fell by ``dart`` to ``art``."""

    account: str
    vault_type: str
    amount: int
    dart: int
    art: int


class VaultBarked(Event, frozen=True, tag=True):
    """A vault was liquidated: ``dink`` collateral and ``dart`` normalised debt (``due`` rad) left it."""

    account: str
    vault_type: str
    keeper: str
    disposal: str
    dink: int
    dart: int
    due: int
    auction: int


class AuctionKicked(Event, frozen=True, tag=True):
    auction: int
    kind: str
    vault_type: str
    owner: str
    lot: int
    tab: int
    top: int
    end: int


class KeeperIncentivePaid(Event, frozen=True, tag=True):
    """clip.sol's ``suck``: ``amount`` paid to the keeper, ``from_fund`` of it by the insurance fund and
    ``minted`` (recorded as bad debt) when the fund was short."""

    auction: int
    keeper: str
    amount: int
    from_fund: int
    minted: int


class AuctionTaken(Event, frozen=True, tag=True):
    """A Dutch take: ``owe`` rad raised at ``price`` (RAY) for ``slice``; the taker paid ``paid`` WAD."""

    auction: int
    taker: str
    price: int
    owe: int
    paid: int
    slice: int
    tab: int
    lot: int


class AuctionRedone(Event, frozen=True, tag=True):
    auction: int
    keeper: str
    top: int
    coin: int


class AuctionBid(Event, frozen=True, tag=True):
    """An English bid (``tend`` or ``dent``); ``refunded`` went back to the previous bidder and
    ``returned`` collateral to the vault owner (dent)."""

    auction: int
    bidder: str
    phase: str
    lot: int
    bid: int
    refunded: int
    returned: int


class AuctionRestarted(Event, frozen=True, tag=True):
    auction: int
    end: int


class AuctionEnded(Event, frozen=True, tag=True):
    """An auction ended: ``winner`` got ``lot`` (English ``deal``), ``refund`` collateral went back to the
    owner, ``recovered`` settlement repaid debt, ``surplus`` went to the insurance fund (penalty),
    ``bad_debt`` of the vault's debt was not recovered."""

    auction: int
    kind: str
    winner: str
    lot: int
    refund: int
    recovered: int
    surplus: int
    bad_debt: int


class AuctionTransition(Event, frozen=True, tag=True):
    auction: int
    action: str
    before: str
    after: str


class VaultTakenOver(Event, frozen=True, tag=True):
    """Fixed-discount liquidation: the keeper repaid ``repay`` and took ``seize`` collateral at ``price``
    (WAD, oracle x (1 - bonus))."""

    account: str
    vault_type: str
    keeper: str
    repay: int
    seize: int
    price: int


class StabilityPoolProvided(Event, frozen=True, tag=True):
    """``amount`` entered the stability pool; the depositor's compounded deposit was ``compounded`` and is
    now ``deposit``."""

    account: str
    amount: int
    compounded: int
    deposit: int


class StabilityPoolWithdrawn(Event, frozen=True, tag=True):
    """``amount`` left the stability pool for the depositor's balance; ``deposit`` is what stays."""

    account: str
    amount: int
    compounded: int
    deposit: int


class StabilityPoolGainPaid(Event, frozen=True, tag=True):
    """Collateral earned by a deposit (Liquity's ETH gain) paid to the depositor's balance."""

    account: str
    asset: str
    amount: int


class StabilityPoolOffset(Event, frozen=True, tag=True):
    """A vault's ``debt`` was cancelled against the pool and its ``collateral`` went to the pool
    (``keeper_reward`` of it to the keeper). ``p``, ``scale``, ``epoch``, ``s`` are the pool's running
    product and sum after it."""

    account: str
    vault_type: str
    keeper: str
    debt: int
    collateral: int
    keeper_reward: int
    deposits: int
    p: int
    scale: int
    epoch: int
    s: int


class StabilityPoolBypassed(Event, frozen=True, tag=True):
    """The pool could not absorb the vault (``reason``); its fallback disposal path ran instead."""

    account: str
    vault_type: str
    debt: int
    deposits: int
    reason: str


class StabilityPoolDustSwept(Event, frozen=True, tag=True):
    """The last depositor left: rounding dust no deposit can claim went to the insurance fund."""

    asset: str
    amount: int


class VaultLiquidatedAave(Event, frozen=True, tag=True):
    """Aave v3 liquidation of a vault: health factor (WAD) before, close factor (bps), the debt the keeper
    repaid, the collateral it received, the protocol fee (collateral, to the insurance fund) and whether
    the insufficient-collateral branch was taken."""

    account: str
    vault_type: str
    keeper: str
    health_factor: int
    close_factor: int
    repay: int
    seize: int
    protocol_fee: int
    insufficient_collateral: bool


# -- signed transactions and authorization (mechanisms.signing) ---------------------------------------------


class AuthConfigured(Event, frozen=True, tag=True):
    """The ledger switched to signed transactions (``ConfigureAuth``)."""

    chain_id: str
    admins: tuple[str, ...]
    require_signatures: bool


class TransactionAdmitted(Event, frozen=True, tag=True):
    """A signed transaction passed admission (chain, signature, expiry, nonce, authorization): its
    nonce is used. The command's own events follow, or a ``TransactionRejected`` of the same index."""

    tx_index: int
    #: The transaction hash (hex of the domain-separated digest the signer signed).
    tx_hash: str
    signer: str
    nonce: int


class KeyAuthorized(Event, frozen=True, tag=True):
    account: str
    key: str


class KeyRevoked(Event, frozen=True, tag=True):
    account: str
    key: str


class ReporterAuthorized(Event, frozen=True, tag=True):
    feed: str
    source: str
    key: str


class ReporterRevoked(Event, frozen=True, tag=True):
    feed: str
    source: str


class FillCleared(Event, frozen=True, tag=True):
    """A ``MatchedFill`` cleared: both orders' ids (hex) and their filled amounts after it."""

    market: str
    buy_order: str
    sell_order: str
    buy_filled: int
    sell_filled: int
# -- the steward (docs/controller.md) -----------------------------------------------------------------------


class StewardConfigured(Event, frozen=True, tag=True):
    controller: str
    guardian: str
    forbidden: tuple[str, ...]


class GuardrailSet(Event, frozen=True, tag=True):
    """A guardrail set (``removed`` false) or removed for ``scope:target/parameter``."""

    scope: str
    target: str
    parameter: str
    lower: int
    upper: int
    max_up: int
    max_down: int
    relative: bool
    min_interval: int
    timelock: int
    expiry: int
    fast_direction: str
    removed: bool = False


class ParameterProposed(Event, frozen=True, tag=True):
    """``previous`` is the live value of this very (target, parameter) when proposed."""

    proposal: int
    scope: str
    target: str
    parameter: str
    previous: int
    value: int
    earliest: int
    expires_at: int


class ParameterApplied(Event, frozen=True, tag=True):
    """``previous`` is the live value of this very (target, parameter) just before the change."""

    proposal: int
    scope: str
    target: str
    parameter: str
    previous: int
    value: int


class ProposalVetoed(Event, frozen=True, tag=True):
    proposal: int
    guardian: str
    reason: str


class ProposalDropped(Event, frozen=True, tag=True):
    """A pending proposal removed without a veto: ``expired`` or ``reconfigured``."""

    proposal: int
    reason: str


# -- dated futures and options (mechanisms.options) -------------------------------------------------


class ContractListed(Event, frozen=True, tag=True):
    instrument: str
    #: "future", "call" or "put".
    kind: str
    underlying: str
    expiry: int
    strike: int


class ScenarioTableSet(Event, frozen=True, tag=True):
    underlying: str
    grid: str
    options: int
    spot: int
    as_of: int


class ContractTraded(Event, frozen=True, tag=True):
    """A fill in a dated contract; for an option ``notional`` is the premium the buyer paid."""

    instrument: str
    buyer: str
    seller: str
    size: int
    price: int
    notional: int
    buyer_fee: int
    seller_fee: int
    buyer_realised_pnl: int
    seller_realised_pnl: int


class ExpiryWaiting(Event, frozen=True, tag=True):
    """An expired instrument cannot settle yet (``reason``: a ``WaitReason``: halted, stale, ...)."""

    instrument: str
    reason: str
    detail: str


class ContractSettled(Event, frozen=True, tag=True):
    """One position settled in cash at expiry (``amount`` > 0 received, < 0 paid)."""

    instrument: str
    account: str
    size: int
    amount: int


class ExpirySettled(Event, frozen=True, tag=True):
    """Every position of ``instrument`` settled at ``price`` (the TWAP of ``[window_start, window_end]``);
    ``dust`` is what flooring left with the protocol (to the fee pool)."""

    instrument: str
    price: int
    window_start: int
    window_end: int
    positions: int
    dust: int


class ContractLegLiquidated(Event, frozen=True, tag=True):
    """A liquidated account's leg taken over by ``liquidator`` at ``price`` (option: the table's mark;
    future: the index), ``penalty`` paid by the account to the liquidator."""

    account: str
    liquidator: str
    instrument: str
    size: int
    price: int
    penalty: int


AnyEvent = (
    LedgerParamsSet
    | AssetListed
    | MarketListed
    | MarketUpdated
    | VolatilitySet
    | OracleConfigured
    | OracleStateChanged
    | SequencerStatusChanged
    | AccountOpened
    | Deposited
    | Withdrawn
    | MarginTransferred
    | FundingAccrued
    | FundingSettled
    | Traded
    | PositionClosedOut
    | CloseOutPenaltyCharged
    | BelowMaintenance
    | VaultBelowSafety
    | PositionLiquidated
    | BackstopPoolUsed
    | AmmConfigured
    | AmmSwapped
    | BackstopDeposited
    | PositionDeleveraged
    | BadDebtSocialised
    | WithdrawalsGated
    | EnforcementFailed
    | CollateralSeized
    | InsuranceFundUsed
    | InsuranceDeposited
    | BadDebtRecorded
    | TransactionRejected
    | VaultTypeListed
    | VaultTypeUpdated
    | DebtLimitSet
    | StabilityFeeAccrued
    | CollateralLocked
    | CollateralFreed
    | DebtDrawn
    | DebtRepaid
    | VaultBarked
    | AuctionKicked
    | KeeperIncentivePaid
    | AuctionTaken
    | AuctionRedone
    | AuctionBid
    | AuctionRestarted
    | AuctionEnded
    | AuctionTransition
    | VaultTakenOver
    | StabilityPoolProvided
    | StabilityPoolWithdrawn
    | StabilityPoolGainPaid
    | StabilityPoolOffset
    | StabilityPoolBypassed
    | StabilityPoolDustSwept
    | VaultLiquidatedAave
    | AuthConfigured
    | TransactionAdmitted
    | KeyAuthorized
    | KeyRevoked
    | ReporterAuthorized
    | ReporterRevoked
    | FillCleared
    | StewardConfigured
    | GuardrailSet
    | ParameterProposed
    | ParameterApplied
    | ProposalVetoed
    | ProposalDropped
    | ContractListed
    | ScenarioTableSet
    | ContractTraded
    | ExpiryWaiting
    | ContractSettled
    | ExpirySettled
    | ContractLegLiquidated
)
