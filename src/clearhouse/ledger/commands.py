"""Commands: the imperative inputs of the engine, immutable values with a stable serialisation.

Amounts, sizes and prices are WAD integers; a driver converts human numbers once with
:func:`clearhouse.ledger.fixedpoint.to_fixed`. Validation of values that need no state (signs, ranges)
lives here; everything that needs the ledger lives in the engine's handlers.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import msgspec

from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import check_positive, check_range
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.oracle.config import FeedConfig


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
        if self.taker not in ("buyer", "seller"):
            raise_invalid(f"taker of the {self.market} trade must be 'buyer' or 'seller', got {self.taker!r}")
        check_positive(self.size, f"trade size in {self.market}")
        check_positive(self.price, f"trade price in {self.market}")


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


AnyCommand = (
    SetLedgerParams
    | ListAsset
    | ListMarket
    | UpdateMarket
    | SetVolatility
    | ConfigureOracle
    | ConfirmOracle
    | OpenAccount
    | Deposit
    | Withdraw
    | TransferMargin
    | Trade
    | SettleFunding
    | CloseOut
    | Liquidate
    | DepositBackstop
    | DepositInsurance
)


def raise_invalid(message: str) -> NoReturn:
    raise InvalidValue(message)


__all__ = [
    "AnyCommand",
    "CloseOut",
    "Command",
    "ConfigureOracle",
    "ConfirmOracle",
    "Deposit",
    "DepositBackstop",
    "DepositInsurance",
    "Liquidate",
    "ListAsset",
    "ListMarket",
    "OpenAccount",
    "SetLedgerParams",
    "SetVolatility",
    "SettleFunding",
    "Trade",
    "TransferMargin",
    "UpdateMarket",
    "Withdraw",
]
