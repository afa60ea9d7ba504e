"""Where the losses of a path went, stage by stage, tallied from the engine's own events.

The loss waterfall (docs/liquidation.md) pays a shortfall from the insurance fund, then the backstop
pool, then auto-deleverages profitable opposite positions or socialises the loss over them, and
records what is left as bad debt. Each stage emits its event; this module adds them up in exact
integers (WAD) and converts to settlement units only in :meth:`LossTally.summary`. Nothing here reads
engine state, so the numbers are exactly what the events say (``tests/lab/test_metrics_losses.py``
checks them against the state changes stage by stage).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger import events as ev


def _units(x: int) -> float:
    return float(round(x / WAD, 6))


@dataclass
class LossTally:
    """Exact running totals (WAD) of the loss events of the settlement asset."""

    settlement_asset: str
    #: ``InsuranceFundUsed``: the fund covering a close-out deficit or a liquidation shortfall.
    insurance_draws: int = 0
    insurance_draw_count: int = 0
    #: ``KeeperIncentivePaid.from_fund``: vault keeper incentives the fund paid.
    incentive_draws: int = 0
    #: ``BackstopPoolUsed``.
    backstop_draws: int = 0
    backstop_draw_count: int = 0
    #: ``PositionLiquidated`` with disposal ``adl`` and the ``PositionDeleveraged`` fills behind them.
    adl_liquidations: int = 0
    adl_fills: int = 0
    adl_counterparties: set[str] = field(default_factory=set)
    #: Σ closed × oracle price of the deleveraged liquidations.
    adl_notional: int = 0
    #: Σ quote of the fills (what the counterparties paid or received, at the bankruptcy price).
    adl_quote: int = 0
    #: Σ loss moved onto the counterparties against the oracle price (see :func:`adl_loss`).
    adl_loss: int = 0
    #: ``BadDebtSocialised``.
    socialised: int = 0
    socialised_count: int = 0
    socialised_positions: int = 0
    #: ``PositionLiquidated.shortfall``: fills beyond bankruptcy sent down the waterfall.
    shortfall: int = 0
    #: ``BadDebtRecorded`` (perp deficits, vault write-offs, minted keeper incentives).
    bad_debt: int = 0
    bad_debt_count: int = 0
    #: ``ContractLegLiquidated``: dated-contract legs taken over, the accounts, the penalties paid.
    contract_legs: int = 0
    contract_accounts: set[str] = field(default_factory=set)
    contract_penalties: int = 0
    #: ``ContractSettled`` / ``ExpirySettled``: positions settled at expiry and what they paid / received.
    expiry_positions: int = 0
    expiry_paid: int = 0
    expiry_received: int = 0
    expiries: int = 0

    def add(self, events: Iterable[ev.Event]) -> None:
        settle = self.settlement_asset
        for e in events:
            if isinstance(e, ev.InsuranceFundUsed) and e.asset == settle:
                self.insurance_draws += e.amount
                self.insurance_draw_count += 1
            elif isinstance(e, ev.KeeperIncentivePaid):
                self.incentive_draws += e.from_fund
            elif isinstance(e, ev.BackstopPoolUsed) and e.asset == settle:
                self.backstop_draws += e.amount
                self.backstop_draw_count += 1
            elif isinstance(e, ev.PositionDeleveraged):
                self.adl_fills += 1
                self.adl_quote += e.quote
                self.adl_counterparties.add(e.counterparty)
            elif isinstance(e, ev.PositionLiquidated):
                self.shortfall += e.shortfall
                if e.disposal == "adl":
                    self.adl_liquidations += 1
                    self.adl_notional += e.closed * e.oracle_price // WAD
                    self.adl_loss += adl_loss(e)
            elif isinstance(e, ev.BadDebtSocialised):
                self.socialised += e.amount
                self.socialised_count += 1
                self.socialised_positions += e.positions
            elif isinstance(e, ev.BadDebtRecorded) and e.asset == settle:
                self.bad_debt += e.amount
                self.bad_debt_count += 1
            elif isinstance(e, ev.ContractLegLiquidated):
                self.contract_legs += 1
                self.contract_accounts.add(e.account)
                self.contract_penalties += e.penalty
            elif isinstance(e, ev.ContractSettled):
                self.expiry_positions += 1
                if e.amount < 0:
                    self.expiry_paid -= e.amount
                else:
                    self.expiry_received += e.amount
            elif isinstance(e, ev.ExpirySettled):
                self.expiries += 1

    def summary(self) -> dict[str, Any]:
        """The ``losses`` block of a path summary (settlement units; ``docs/metrics.md``); with dated
        contracts (any leg liquidated or expiry settled) also ``contracts``."""
        out = self._summary()
        if self.contract_legs or self.expiries:
            out["contracts"] = {
                "legs_liquidated": self.contract_legs,
                "accounts_liquidated": len(self.contract_accounts),
                "liquidation_penalties": _units(self.contract_penalties),
                "expiries": self.expiries,
                "positions_settled": self.expiry_positions,
                "settlement_paid": _units(self.expiry_paid),
                "settlement_received": _units(self.expiry_received),
            }
        return out

    def _summary(self) -> dict[str, Any]:
        return {
            "insurance_draws": {
                "total": _units(self.insurance_draws + self.incentive_draws),
                "deficits": _units(self.insurance_draws),
                "count": self.insurance_draw_count,
                "vault_incentives": _units(self.incentive_draws),
            },
            "backstop_draws": {"total": _units(self.backstop_draws), "count": self.backstop_draw_count},
            "adl": {
                "liquidations": self.adl_liquidations,
                "fills": self.adl_fills,
                "counterparties": len(self.adl_counterparties),
                "notional": _units(self.adl_notional),
                "quote": _units(self.adl_quote),
                "loss_transferred": _units(self.adl_loss),
            },
            "socialised": {
                "total": _units(self.socialised),
                "count": self.socialised_count,
                "positions": self.socialised_positions,
            },
            "waterfall_shortfall": _units(self.shortfall),
            "bad_debt": {"total": _units(self.bad_debt), "count": self.bad_debt_count},
        }


def adl_loss(e: ev.PositionLiquidated) -> int:
    """What an ADL moved onto the counterparties against the oracle price (WAD, > 0 = a loss to them).

    The deleveraged account closes ``closed`` at its bankruptcy quote ``bq`` instead of at the oracle
    notional ``N``. The engine's sign convention (``bankruptcy_quote``): ``bq`` > 0 for a long (it
    sells), < 0 for a short (it pays). A long's counterparties buy at ``bq`` what is worth ``N`` and lose
    ``bq − N``; a short's sell for ``|bq|`` what is worth ``N`` and lose ``N − |bq|``. Both equal minus
    the closed part's share of the account's equity: negative when the account still had equity.
    """
    notional = e.closed * e.oracle_price // WAD
    bq = e.bankruptcy_quote
    return bq - notional if bq >= 0 else notional + bq
