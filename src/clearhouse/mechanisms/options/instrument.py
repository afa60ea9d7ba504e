"""The ledger's instrument interface (``ledger.instrument.Instrument``) for dated contracts.

A standalone view of one position: a future is valued at the index (``floor(size × P) − entry``) with
its listing's fixed fractions; an option at the scenario table's mark with no standalone requirement
(accounts holding options are margined as a portfolio, ``ledger.contract_margin``). What it owes at
settlement is the negative of what expiry would pay it at ``price``.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearhouse.core.fixedpoint import WAD, WAD2, mul_div_up
from clearhouse.ledger.contracts import ContractPosition, Listing
from clearhouse.ledger.instrument import Requirement, Sensitivities
from clearhouse.options.instruments import EuropeanOption
from clearhouse.options.settlement import option_payoff


@dataclass(frozen=True, slots=True)
class ContractInstrument:
    """A position in ``listing``; ``mark`` is the option's per-unit table mark (WAD, options only)."""

    listing: Listing
    mark: int = 0
    #: The price ``settlement_owed`` settles at (the settlement price once known).
    settlement_price: int = 0

    def value(self, position: ContractPosition, price: int) -> int:
        if self.listing.is_option:
            return position.size * self.mark // WAD
        return position.size * price // WAD - position.entry_value

    def settlement_owed(self, position: ContractPosition) -> int:
        spec, price = self.listing.spec, self.settlement_price
        if isinstance(spec, EuropeanOption):
            return -option_payoff(spec.option_kind, price, spec.strike, position.size)
        return -(position.size * price // WAD - position.entry_value)

    def requirement(self, position: ContractPosition, price: int) -> Requirement:
        if self.listing.is_option:
            return Requirement(0, 0)
        terms, notional = self.listing.terms, abs(position.size) * price
        return Requirement(
            mul_div_up(notional, terms.initial_margin, WAD2),
            mul_div_up(notional, terms.maintenance_margin, WAD2),
        )

    def sensitivities(self, position: ContractPosition, price: int) -> Sensitivities:
        """Futures: delta = size. Options: the exact delta needs a model (floats, risk views only:
        ``options.greeks``); 0 here rather than a guess."""
        return Sensitivities(delta=0 if self.listing.is_option else position.size)
