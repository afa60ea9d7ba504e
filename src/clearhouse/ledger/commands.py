"""Commands: the imperative inputs of the engine, immutable values with a stable serialisation.

Amounts, sizes and prices are WAD integers; a driver converts human numbers once with
:func:`clearhouse.ledger.fixedpoint.to_fixed`. Validation of values that need no state (signs, ranges)
lives here; everything that needs the ledger lives in the engine's handlers.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import msgspec

from clearhouse.ledger.contracts import ContractSpec, ListingTerms
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import check_positive, check_range
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec, VaultTypeSpec
from clearhouse.options.portfolio_margin import AnyGridSpec, ScenarioTable
from clearhouse.oracle.config import FeedConfig
from clearhouse.steward.guardrails import Guardrail
from clearhouse.steward.names import check_steerable, key
from clearhouse.steward.state import StewardConfig


class Command(msgspec.Struct, frozen=True, tag_field="type", forbid_unknown_fields=True):
    """Base class; ``type`` in the encoding is the class name."""

    def check(self) -> None:
        """Stateless validation of the command's own fields."""


class SetLedgerParams(Command, frozen=True, tag=True):
    params: LedgerParams

    def check(self) -> None:
        self.params.validate()


class ListAsset(Command, frozen=True, tag=True):
    asset: AssetSpec

    def check(self) -> None:
        self.asset.validate()


class ListMarket(Command, frozen=True, tag=True):
    market: MarketSpec

    def check(self) -> None:
        self.market.validate()


class UpdateMarket(Command, frozen=True, tag=True):
    """Replace a market's parameters (its id and oracle key stay)."""

    market: MarketSpec

    def check(self) -> None:
        self.market.validate()


class SetVolatility(Command, frozen=True, tag=True):
    """The risk controller's volatility multiplier for a market (WAD, >= 1.0; volatility model)."""

    market: str
    multiplier: int

    def check(self) -> None:
        check_range(self.multiplier, f"volatility multiplier of {self.market}")
        if self.multiplier < 10**18:
            raise_invalid(f"volatility multiplier of {self.market} must be >= 1.0, got {self.multiplier}")


class ConfigureOracle(Command, frozen=True, tag=True):
    """Create or replace the oracle feed of a price key (``feed.asset``); it starts stale."""

    feed: FeedConfig


class ConfigureAuth(Command, frozen=True, tag=True):
    """Switch the ledger to signed transactions (genesis / bootstrap; see docs/auth.md).

    Sent bare, before the ledger requires signatures; once applied it cannot be sent again. It names the
    chain id every envelope and report must be signed for, the admin keys, whether a bare command is
    refused from the next block on, and the replay-protection window (``clearhouse.auth.nonces``). The
    owners of accounts opened before it are taken from the ledger. Validated by its handler
    (``clearhouse.mechanisms.signing.admission``), which owns the auth types.
    """

    chain_id: str
    admins: tuple[str, ...]
    require_signatures: bool = True
    nonce_capacity: int = 100
    max_nonce_age_ms: int = 86_400_000
    max_nonce_lead_ms: int = 86_400_000
    max_good_til_blocks: int = 20
    max_good_til_ms: int = 86_400_000


class ConfirmOracle(Command, frozen=True, tag=True):
    """Lift a circuit-breaker halt on a feed (governance confirms the new level)."""

    asset: str


class OpenAccount(Command, frozen=True, tag=True):
    account: str
    #: Hex-encoded public key of the owner (ed25519, 32 bytes).
    owner: str

    def check(self) -> None:
        if not self.account or not self.account.isascii() or len(self.account) > 128:
            raise_invalid(f"account id {self.account!r} must be 1-128 ASCII characters")
        try:
            key = bytes.fromhex(self.owner)
        except ValueError:
            raise_invalid(f"owner {self.owner!r} of account {self.account} is not hex")
        if len(key) != 32:
            raise_invalid(f"owner key of account {self.account} must be 32 bytes, got {len(key)}")


class Deposit(Command, frozen=True, tag=True):
    account: str
    asset: str
    amount: int

    def check(self) -> None:
        check_positive(self.amount, f"deposit amount for {self.account}")


class Withdraw(Command, frozen=True, tag=True):
    account: str
    asset: str
    amount: int

    def check(self) -> None:
        check_positive(self.amount, f"withdrawal amount for {self.account}")


class TransferMargin(Command, frozen=True, tag=True):
    """Move settlement collateral between the cross account and an isolated position.

    ``amount`` > 0 moves cross -> isolated (creating the isolated position if needed); < 0 moves back.
    """

    account: str
    market: str
    amount: int

    def check(self) -> None:
        check_range(self.amount, f"margin transfer for {self.account}")
        if self.amount == 0:
            raise_invalid(f"margin transfer for {self.account} must be non-zero")


class Trade(Command, frozen=True, tag=True):
    """A matched fill: ``buyer`` buys ``size`` of ``market`` from ``seller`` at ``price``."""

    market: str
    buyer: str
    seller: str
    size: int
    price: int
    taker: Literal["buyer", "seller"] = "buyer"

    def check(self) -> None:
        check_trade_terms(self.market, self.size, self.price, self.taker)


class SettleFunding(Command, frozen=True, tag=True):
    account: str


class CloseOut(Command, frozen=True, tag=True):
    """Close every cross position of an account below maintenance (or one isolated position when
    ``market`` names it) at the oracle price; the liquidator takes the positions over."""

    account: str
    liquidator: str
    market: str | None = None


class Liquidate(Command, frozen=True, tag=True):
    """Permissionless liquidation of one position (``market``, or the one with the largest
    maintenance requirement) of an account below maintenance, by the market's mechanism."""

    account: str
    liquidator: str
    market: str | None = None


class ConfigureAmm(Command, frozen=True, tag=True):
    """Set a market's constant-product pool: virtual reserves and the account holding its inventory."""

    market: str
    account: str
    base_reserve: int
    quote_reserve: int

    def check(self) -> None:
        check_positive(self.base_reserve, f"AMM base reserve of {self.market}")
        check_positive(self.quote_reserve, f"AMM quote reserve of {self.market}")


class SwapAmm(Command, frozen=True, tag=True):
    """Trade ``size`` (> 0 buy, < 0 sell) with the market's pool, refused beyond ``limit_price``."""

    account: str
    market: str
    size: int
    limit_price: int

    def check(self) -> None:
        check_range(self.size, f"AMM swap size in {self.market}")
        if self.size == 0:
            raise_invalid(f"AMM swap size in {self.market} must be non-zero")
        check_positive(self.limit_price, f"AMM swap limit price in {self.market}")


class DepositBackstop(Command, frozen=True, tag=True):
    """Fund the backstop pool (it enters the ledger as a deposit)."""

    asset: str
    amount: int

    def check(self) -> None:
        check_positive(self.amount, "backstop deposit amount")


class DepositInsurance(Command, frozen=True, tag=True):
    """Seed or top up the insurance fund from outside (the amount enters the ledger as a deposit)."""

    asset: str
    amount: int

    def check(self) -> None:
        check_positive(self.amount, "insurance deposit amount")


# -- debt positions (Maker vaults) and their auctions: see docs/liquidation.md ---------------------------


class ListVaultType(Command, frozen=True, tag=True):
    vault_type: VaultTypeSpec

    def check(self) -> None:
        self.vault_type.validate()


class UpdateVaultType(Command, frozen=True, tag=True):
    """Replace a vault type's parameters (fees accrue at the old ``duty`` up to now first); its id and
    collateral stay."""

    vault_type: VaultTypeSpec

    def check(self) -> None:
        self.vault_type.validate()


class SetDebtLimit(Command, frozen=True, tag=True):
    """The Dog's ``Hole``: most debt + penalty under Dutch auction at once (settlement WAD; 0 = none)."""

    hole: int

    def check(self) -> None:
        check_range(self.hole, "debt limit hole")
        if self.hole < 0:
            raise_invalid(f"debt limit hole must be >= 0, got {self.hole}")


class _VaultAmount(Command, frozen=True):
    account: str
    vault_type: str
    amount: int

    def check(self) -> None:
        check_positive(self.amount, f"{type(self).__name__} amount for {self.account} {self.vault_type}")


class Lock(_VaultAmount, frozen=True, tag=True):
    """Move ``amount`` collateral from the account's balance into its vault (opens it if needed)."""


class Free(_VaultAmount, frozen=True, tag=True):
    """Move ``amount`` collateral from the vault back to the balance; the vault must stay safe."""


class Draw(_VaultAmount, frozen=True, tag=True):
    """Borrow ``amount`` of the settlement asset against the vault (minted into the balance)."""


class Wipe(_VaultAmount, frozen=True, tag=True):
    """Repay up to ``amount`` of the vault's debt from the balance (the repaid amount is burned)."""


class Bark(Command, frozen=True, tag=True):
    """Permissionless liquidation of an unsafe vault by its type's disposal path. ``amount`` is the debt
    the keeper repays under ``fixed_discount`` (0 = the most allowed); ignored by auctions."""

    account: str
    vault_type: str
    keeper: str
    amount: int = 0

    def check(self) -> None:
        check_range(self.amount, f"bark amount for {self.account}")
        if self.amount < 0:
            raise_invalid(f"bark amount for {self.account} must be >= 0, got {self.amount}")
        if self.account == self.keeper:
            from clearhouse.ledger.errors import SelfTrade

            raise SelfTrade(f"account {self.account} cannot liquidate its own vault")


class TakeAuction(Command, frozen=True, tag=True):
    """clip.sol ``take``: buy up to ``amount`` collateral (WAD) of a Dutch auction at its current price if
    that is at most ``max_price`` (RAY, settlement per unit of collateral)."""

    auction: int
    amount: int
    max_price: int
    taker: str

    def check(self) -> None:
        check_positive(self.amount, f"take amount in auction {self.auction}")
        check_range(self.max_price, f"max price in auction {self.auction}")
        if self.max_price < 0:
            raise_invalid(f"max price in auction {self.auction} must be >= 0")


class RedoAuction(Command, frozen=True, tag=True):
    """clip.sol ``redo``: restart a Dutch auction past ``tail`` or below ``cusp`` from the oracle price."""

    auction: int
    keeper: str


class Tend(Command, frozen=True, tag=True):
    """flip.sol ``tend``: bid ``bid`` (settlement WAD) for the whole ``lot``."""

    auction: int
    bidder: str
    lot: int
    bid: int

    def check(self) -> None:
        check_range(self.bid, f"bid in auction {self.auction}")
        check_range(self.lot, f"lot in auction {self.auction}")
        if self.bid < 0 or self.lot <= 0:
            raise_invalid(f"bid {self.bid} must be >= 0 and lot {self.lot} > 0 in auction {self.auction}")


class Dent(Tend, frozen=True, tag=True):
    """flip.sol ``dent``: accept less collateral ``lot`` for the full ``bid == tab``."""


class Deal(Command, frozen=True, tag=True):
    """flip.sol ``deal``: settle a finished English auction (anyone may call)."""

    auction: int
    keeper: str


class Tick(Command, frozen=True, tag=True):
    """flip.sol ``tick``: restart an English auction that ended without a bid."""

    auction: int
    keeper: str


class ProvideToSP(Command, frozen=True, tag=True):
    """Liquity ``provideToSP``: move ``amount`` of the settlement asset from the balance into the stability
    pool; collateral gains earned so far are paid out and the deposit restarts at its compounded value
    plus ``amount``."""

    account: str
    amount: int

    def check(self) -> None:
        check_positive(self.amount, f"stability pool deposit of {self.account}")


class WithdrawFromSP(Command, frozen=True, tag=True):
    """Liquity ``withdrawFromSP``: take ``min(amount, compounded deposit)`` back to the balance and every
    collateral gain; ``amount == 0`` only claims the gains."""

    account: str
    amount: int

    def check(self) -> None:
        check_range(self.amount, f"stability pool withdrawal of {self.account}")
        if self.amount < 0:
            raise_invalid(f"stability pool withdrawal of {self.account} must be >= 0, got {self.amount}")


# -- the steward: guarded parameter changes by a controller key (docs/controller.md) -------------------------


class ConfigureSteward(Command, frozen=True, tag=True):
    """Admin: set the controller and guardian keys and the never-touch list; drops pending proposals."""

    config: StewardConfig

    def check(self) -> None:
        self.config.validate()


class SetGuardrail(Command, frozen=True, tag=True):
    """Admin: set (or with ``guardrail=None`` remove) the guardrail of one (target, parameter)."""

    scope: Literal["market", "vault_type"]
    target: str
    parameter: str
    guardrail: Guardrail | None = None

    def check(self) -> None:
        check_steerable(self.scope, self.parameter)
        if self.guardrail is not None:
            self.guardrail.validate(key(self.scope, self.target, self.parameter))


class ProposeParameter(Command, frozen=True, tag=True):
    """Controller: propose ``value`` for one (target, parameter). ``controller`` names the sending key
    (the signed envelope's signer must equal it; the steward checks it is the configured controller)."""

    controller: str
    scope: Literal["market", "vault_type"]
    target: str
    parameter: str
    value: int

    def check(self) -> None:
        check_range(self.value, f"proposed {self.parameter} of {self.target}")
        check_steerable(self.scope, self.parameter)


class ApplyParameter(Command, frozen=True, tag=True):
    """Controller: apply a pending proposal once its timelock and the parameter's interval allow."""

    controller: str
    proposal: int


class VetoProposal(Command, frozen=True, tag=True):
    """Guardian: void a pending proposal by id."""

    guardian: str
    proposal: int
    reason: str = ""

    def check(self) -> None:
        if len(self.reason) > 256:
            raise_invalid("veto reason must be at most 256 characters")


# -- dated futures and options (mechanisms.options) -------------------------------------------------


class ListContract(Command, frozen=True, tag=True):
    """List a dated future or a European option (admin): its contract spec (underlying price key,
    expiry, tick, step, minimum size, settlement window and feed age) and its risk terms."""

    spec: ContractSpec
    terms: ListingTerms = ListingTerms()

    def check(self) -> None:
        self.spec.validate()
        self.terms.validate(self.spec.symbol)


class SetScenarioTable(Command, frozen=True, tag=True):
    """Set an underlying's portfolio-margin grid and its scenario table (admin): per-unit option
    values over the grid, computed off-chain (``options.scenario_table``), exact integers here."""

    underlying: str
    spec: AnyGridSpec
    table: ScenarioTable

    def check(self) -> None:
        self.spec.validate()
        self.table.validate()
        if self.table.underlying != self.underlying:
            raise_invalid(f"scenario table is for {self.table.underlying!r}, not {self.underlying!r}")
        if tuple(self.table.scenarios) != self.spec.scenarios():
            raise_invalid(f"scenario table of {self.underlying} was not built for {type(self.spec).__name__}")


class TradeContract(Command, frozen=True, tag=True):
    """A matched fill in a dated contract: ``buyer`` buys ``size`` at ``price`` (an option's premium
    per unit, paid at trade; a future's price)."""

    instrument: str
    buyer: str
    seller: str
    size: int
    price: int
    taker: Literal["buyer", "seller"] = "buyer"

    def check(self) -> None:
        check_trade_terms(self.instrument, self.size, self.price, self.taker)


class LiquidateContracts(Command, frozen=True, tag=True):
    """Take over an account's dated-contract legs below maintenance, riskiest first, until it meets
    initial margin again (keeper takeover; the liquidator is paid the legs' liquidation fee)."""

    account: str
    liquidator: str


AnyCommand = (
    SetLedgerParams
    | ListAsset
    | ListMarket
    | UpdateMarket
    | SetVolatility
    | ConfigureOracle
    | ConfirmOracle
    | ConfigureAuth
    | OpenAccount
    | Deposit
    | Withdraw
    | TransferMargin
    | Trade
    | SettleFunding
    | CloseOut
    | Liquidate
    | ConfigureAmm
    | SwapAmm
    | DepositBackstop
    | DepositInsurance
    | ListVaultType
    | UpdateVaultType
    | SetDebtLimit
    | Lock
    | Free
    | Draw
    | Wipe
    | Bark
    | TakeAuction
    | RedoAuction
    | Tend
    | Dent
    | Deal
    | Tick
    | ProvideToSP
    | WithdrawFromSP
    | ConfigureSteward
    | SetGuardrail
    | ProposeParameter
    | ApplyParameter
    | VetoProposal
    | ListContract
    | SetScenarioTable
    | TradeContract
    | LiquidateContracts
)


def raise_invalid(message: str) -> NoReturn:
    raise InvalidValue(message)


def check_trade_terms(name: str, size: int, price: int, taker: str) -> None:
    """What :class:`Trade` and :class:`TradeContract` both require of a fill in ``name``."""
    if taker not in ("buyer", "seller"):
        raise_invalid(f"taker of the {name} trade must be 'buyer' or 'seller', got {taker!r}")
    check_positive(size, f"trade size in {name}")
    check_positive(price, f"trade price in {name}")


__all__ = [
    "AnyCommand",
    "ApplyParameter",
    "Bark",
    "CloseOut",
    "Command",
    "ConfigureAmm",
    "ConfigureAuth",
    "ConfigureOracle",
    "ConfigureSteward",
    "ConfirmOracle",
    "Deal",
    "Dent",
    "Deposit",
    "DepositBackstop",
    "DepositInsurance",
    "Draw",
    "Free",
    "Liquidate",
    "LiquidateContracts",
    "ListAsset",
    "ListContract",
    "ListMarket",
    "ListVaultType",
    "Lock",
    "OpenAccount",
    "ProposeParameter",
    "ProvideToSP",
    "RedoAuction",
    "SetDebtLimit",
    "SetGuardrail",
    "SetLedgerParams",
    "SetScenarioTable",
    "SetVolatility",
    "SettleFunding",
    "SwapAmm",
    "TakeAuction",
    "Tend",
    "Tick",
    "Trade",
    "TradeContract",
    "TransferMargin",
    "UpdateMarket",
    "UpdateVaultType",
    "VetoProposal",
    "Wipe",
    "Withdraw",
    "WithdrawFromSP",
]
