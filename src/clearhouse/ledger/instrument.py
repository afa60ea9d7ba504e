"""The instrument interface: what the ledger needs to know about one kind of position.

A position is valued at a price, owes something at settlement, contributes to margin and has
sensitivities. Perpetuals (:class:`clearhouse.mechanisms.perps.PerpInstrument`) and debt positions
(:class:`clearhouse.mechanisms.vaults.common.DebtInstrument`) implement it now; dated futures and options
are new mechanism packages that implement it too, not edits across the engine.

All amounts are exact integers in settlement WAD, rounded in the protocol's favour: value down,
what is owed and required up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

P_contra = TypeVar("P_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Requirement:
    """A position's margin contribution at a price (settlement WAD)."""

    initial: int
    maintenance: int


@dataclass(frozen=True, slots=True)
class Sensitivities:
    """First-order sensitivities at a price: ``delta`` is d(value)/d(price) in underlying units (WAD)."""

    delta: int


class Instrument(Protocol[P_contra]):
    """How one kind of position is valued, settled and margined."""

    def value(self, position: P_contra, price: int) -> int:
        """Mark-to-market value at ``price``, net of what it owes now (rounded down)."""
        ...

    def settlement_owed(self, position: P_contra) -> int:
        """What the position owes if settled now (> 0 pays, < 0 receives), rounded up."""
        ...

    def requirement(self, position: P_contra, price: int) -> Requirement:
        """Its initial and maintenance margin contribution at ``price`` (rounded up)."""
        ...

    def sensitivities(self, position: P_contra, price: int) -> Sensitivities:
        """Its first-order price sensitivity at ``price``."""
        ...
