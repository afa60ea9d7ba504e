"""Dated futures and European options in the ledger: listings, positions, scenario tables, prints.

The values the engine keeps for the options mechanism (``clearhouse.mechanisms.options``). They live
in two trailing fields, ``LedgerState.contracts`` (a :class:`ContractBook`) and ``Account.contracts``
(instrument id -> :class:`ContractPosition`); both enter the state root only when non-empty, so the
roots of ledgers without dated contracts are exactly as before.

* A :class:`Listing` is an admin-listed contract spec (``options.instruments``) with its fixed margin
  fractions (used for futures in accounts that hold no option on the underlying), fees, price band,
  liquidation fee and its lifecycle: ``open`` -> (``waiting``) -> ``settled``.
* A :class:`RiskTable` is the off-chain scenario table for one underlying with the grid spec it was
  built for (``options.portfolio_margin``), supplied by ``SetScenarioTable``.
* ``prints`` are the settlement feed: the underlying's index price at every block that updated it,
  the step function the settlement TWAP integrates (``options.settlement.CumulativeFeed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from clearhouse.core.errors import InvalidParameters
from clearhouse.core.fixedpoint import WAD, check_non_negative, check_positive
from clearhouse.options.instruments import DatedFuture, EuropeanOption
from clearhouse.options.portfolio_margin import AnyGridSpec, ScenarioTable
from clearhouse.options.settlement import OracleReport

ContractSpec = DatedFuture | EuropeanOption
Status = Literal["open", "waiting", "settled"]


class ListingTerms(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Risk and fee parameters of a listed contract (fractions WAD)."""

    #: Fixed fractions of ``|size| x index`` for a future held without options on its underlying.
    initial_margin: int = WAD // 10
    maintenance_margin: int = WAD // 20
    taker_fee: int = 0
    maker_fee: int = 0
    #: Futures fill within ``price_band x index`` of the index (options: premium in (0, index]).
    price_band: int = WAD // 20
    #: Penalty of a liquidated leg, fraction of ``|size| x index``, paid to the liquidator.
    liquidation_fee: int = WAD // 100

    def validate(self, symbol: str) -> None:
        where = f"instrument {symbol!r}"
        for name in ("initial_margin", "maintenance_margin", "price_band"):
            check_positive(getattr(self, name), f"{where} {name}")
        for name in ("taker_fee", "maker_fee", "liquidation_fee"):
            check_non_negative(getattr(self, name), f"{where} {name}")
        for name in self.__struct_fields__:
            if getattr(self, name) > WAD:
                raise InvalidParameters(f"{where}: {name} must be at most 1 (1e18)")
        if self.maintenance_margin >= self.initial_margin:
            raise InvalidParameters(f"{where}: maintenance_margin must be below initial_margin")
        if self.liquidation_fee >= self.maintenance_margin:
            raise InvalidParameters(f"{where}: liquidation_fee must be below maintenance_margin")


class Listing(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A listed dated contract and its lifecycle (replaced, never mutated)."""

    spec: ContractSpec
    terms: ListingTerms
    #: Sum of long sizes (= sum of short sizes); zero once settled.
    open_interest: int = 0
    #: Futures: the counterpart of realised P&L (as a perp market's PnL pool). Options: always 0.
    pnl_pool: int = 0
    status: Status = "open"
    #: Why the expiry waits (a ``options.settlement.WaitReason`` value), while ``status == "waiting"``.
    wait_reason: str = ""
    settlement_price: int = 0
    settled_at: int = 0

    @property
    def is_option(self) -> bool:
        return isinstance(self.spec, EuropeanOption)


class RiskTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An underlying's scenario table and the grid spec it was built for."""

    spec: AnyGridSpec
    table: ScenarioTable


class ContractPosition(msgspec.Struct, frozen=True, array_like=True):
    """A position in a dated contract: signed ``size`` (WAD) and, for futures, the signed cost basis
    ``entry_value`` (quote WAD, as a perp's). Options pay their premium at trade and keep 0 here."""

    size: int
    entry_value: int = 0


@dataclass(slots=True)
class ContractBook:
    """Listings, scenario tables and settlement prints. Copied whole per transaction (small)."""

    instruments: dict[str, Listing] = field(default_factory=dict)
    tables: dict[str, RiskTable] = field(default_factory=dict)
    #: Underlying price key -> index prints (time, price), oldest first.
    prints: dict[str, tuple[OracleReport, ...]] = field(default_factory=dict)

    def clone(self) -> ContractBook:
        return ContractBook(dict(self.instruments), dict(self.tables), dict(self.prints))

    def used(self) -> bool:
        return bool(self.instruments or self.tables or self.prints)

    def pools(self) -> int:
        """Settlement value the book holds (the futures' PnL pools), for the conservation identity."""
        return sum(listing.pnl_pool for listing in self.instruments.values())

    def encode(self) -> list[object]:
        """Canonical value for the state root (sorted ids)."""
        return [
            [[iid, self.instruments[iid]] for iid in sorted(self.instruments)],
            [[u, self.tables[u]] for u in sorted(self.tables)],
            [[k, list(self.prints[k])] for k in sorted(self.prints)],
        ]


def encode_positions(positions: Mapping[str, ContractPosition]) -> list[object]:
    """Canonical value of an account's contract positions (sorted ids)."""
    return [[iid, p.size, p.entry_value] for iid, p in sorted(positions.items())]


__all__ = [
    "ContractBook",
    "ContractPosition",
    "ContractSpec",
    "Listing",
    "ListingTerms",
    "RiskTable",
    "encode_positions",
]
