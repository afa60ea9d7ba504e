"""The option side of a lab path: the scenario-table publisher, the option keepers, what happened.

:class:`OptionAgents` is the runner's hook for a scenario with ``[options]`` (``docs/scenarios.md``,
"Options"). It adds transactions to blocks and reads the engine's events; the engine's rules are the
node's (no lab-only rule):

* **publisher.** A ``SetScenarioTable`` at the opening and then whenever ``table_every`` seconds have
  passed since the last table, or the index moved more than ``table_move`` from the last table's spot
  (checked each block on the block's external path price, what a publisher sees as it builds the
  table; it is the engine's index when the underlying is priced directly, as in ``options_crash``).
  The table values every option not yet expired at the block's time under the scenario's grid spec,
  at the vol ``vol × multiplier(t) × (S0 / S) ^ vol_beta`` (``options.vol_points``, ``vol_beta``).
  Options count in equity at the table's mark, so the cadence is a risk parameter: between two
  tables an option book is valued at the last table's marks while its futures move with the index.
* **keepers.** The engine's enforcement hook reports every account holding contracts below
  maintenance (``BelowMaintenance``, exact portfolio margin, ledger ``enforcement = "keepers"``); the
  report for an option book is handed round-robin to keeper ``i``, which sends
  ``LiquidateContracts(book, opt-keeper-i)`` ``latency_blocks[i]`` blocks later (refused if the book is
  healthy again by then). Keepers keep the legs they take over.
* **expiry** needs nothing from the lab: the engine settles every position at the TWAP of the last
  30 minutes of index prints at the first block at or after expiry.

Everything counted comes from the engine's events (``ContractLegLiquidated``, ``ContractSettled``,
``ExpirySettled``, ``InsuranceFundUsed`` / ``BadDebtRecorded`` of option books, ``TransactionRejected``)
and, at the horizon, the books' exact equity (deficits still open).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import WAD
from clearhouse.lab.option_population import build_option_population, keeper_latency
from clearhouse.lab.scenario import Scenario, parse_duration
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.margin import cross_summary
from clearhouse.ledger.model import LedgerState


def _units(x: int) -> float:
    return float(round(x / WAD, 6))


class OptionAgents:
    """Publisher + keepers of a scenario's ``[options]`` and the tally of their outcomes."""

    def __init__(self, scenario: Scenario, seed: int, s0: float) -> None:
        spec = scenario.spec.options
        assert spec is not None
        self.spec = spec
        self.start = scenario.spec.start_time
        self.pop = build_option_population(scenario, seed, s0)
        self.every = parse_duration(spec.table_every, scenario.file, "options.table_every")
        self.kind_of = {b.id: b.kind for b in self.pop.books}
        self.latency = [keeper_latency(spec, i) for i in range(len(self.pop.keepers))]
        #: block -> [(book, keeper)] to send in that block; books with a liquidation on its way.
        self.pending: dict[int, list[tuple[str, str]]] = {}
        self.queued: set[str] = set()
        self.assigned = 0
        self.last_table = (0, 0)  # (time, spot)
        #: The transactions this hook put into the current block: ("table" | "liquidate", book).
        self.sent: list[tuple[str, str]] = []
        self.tables_set = 0
        self.tables_refused = 0
        self.opening_rejected = 0
        self.liq_sent = 0
        self.liq_refused = 0
        self.legs = 0
        self.penalties = 0
        self.liquidated: set[str] = set()
        self.settled_positions = 0
        self.settlement_paid = 0
        self.settlement_received = 0
        self.expiries: list[dict[str, Any]] = []
        self.insurance_draws = 0
        self.bad_debt = 0
        #: Bad debt recorded per book: its balance stays that far below zero (the debt's other side).
        self.bad_debt_of: dict[str, int] = {}
        self.block_legs = 0

    # ------------------------------------------------------------------ transactions

    def setup_txs(self) -> list[c.AnyCommand]:
        return list(self.pop.setup)

    def funding_txs(self) -> list[c.AnyCommand]:
        return list(self.pop.funding)

    def opening(self, spot: int, time: int) -> list[c.AnyCommand]:
        txs = self.pop.opening(spot, time)
        self.last_table = (time, spot)
        self.sent = [("opening", "")] * len(txs)
        return txs

    def transactions(self, k: int, time: int, spot: int) -> list[c.AnyCommand]:
        """This block's table refresh (if due) and the keepers' liquidations due now."""
        txs: list[c.AnyCommand] = []
        self.sent = []
        t0, s0 = self.last_table
        moved = abs(spot - s0) * WAD > int(self.spec.table_move * WAD) * s0 if s0 else True
        if time - t0 >= self.every or moved:
            try:
                table = self.pop.market.table(spot, time)
            except ValueError:  # nothing left to value (every option expired)
                table = None
            if table is not None and table.options:
                txs.append(c.SetScenarioTable(self.spec.underlying, self.pop.market.grid, table))
                self.sent.append(("table", ""))
            self.last_table = (time, spot)
        for book, keeper in self.pending.pop(k, []):
            txs.append(c.LiquidateContracts(book, keeper))
            self.sent.append(("liquidate", book))
            self.liq_sent += 1
        return txs

    # ------------------------------------------------------------------ observation

    def record(self, k: int, events: Sequence[ev.Event], first: int) -> None:
        """Count the block's option events; schedule keepers for the books reported below maintenance.
        ``first`` is the index of this hook's first transaction in the block."""
        books = self.kind_of
        self.block_legs = 0
        for e in events:
            if isinstance(e, ev.TransactionRejected) and e.tx_index >= first:
                what, book = self.sent[e.tx_index - first]
                if what == "table":
                    self.tables_refused += 1
                elif what == "liquidate":
                    self.liq_refused += 1
                else:
                    self.opening_rejected += 1
            elif isinstance(e, ev.ScenarioTableSet):
                self.tables_set += 1
            elif isinstance(e, ev.ContractLegLiquidated) and e.account in books:
                self.legs += 1
                self.block_legs += 1
                self.penalties += e.penalty
                self.liquidated.add(e.account)
            elif isinstance(e, ev.ContractSettled) and e.account in books:
                self.settled_positions += 1
                if e.amount < 0:
                    self.settlement_paid -= e.amount
                else:
                    self.settlement_received += e.amount
            elif isinstance(e, ev.ExpirySettled):
                self.expiries.append(
                    {
                        "instrument": e.instrument,
                        "price": _units(e.price),
                        "positions": e.positions,
                        "block": k,
                        "dust": e.dust,
                    }
                )
            elif isinstance(e, ev.InsuranceFundUsed) and e.account in books:
                self.insurance_draws += e.amount
            elif isinstance(e, ev.BadDebtRecorded) and e.account in books:
                self.bad_debt += e.amount
                self.bad_debt_of[e.account] = self.bad_debt_of.get(e.account, 0) + e.amount
        for _, book in self.sent:
            self.queued.discard(book)
        for e in events:
            if isinstance(e, ev.BelowMaintenance) and e.market is None and e.account in books:
                if e.account in self.queued or not self.latency:
                    continue
                i = self.assigned % len(self.latency)
                self.assigned += 1
                self.pending.setdefault(k + self.latency[i], []).append((e.account, self.pop.keepers[i]))
                self.queued.add(e.account)

    def row(self, state: LedgerState) -> dict[str, Any]:
        """Timeseries columns of the block."""
        t, spot = self.last_table
        return {
            "option_legs_liquidated": self.block_legs,
            "option_books_liquidated": len(self.liquidated),
            "option_table_age_s": state.time - t,
            "option_vol": self.pop.market.vol(state.time - self.start, spot / WAD) if spot else 0.0,
        }

    # ------------------------------------------------------------------ summary

    def open_deficit(self, state: LedgerState) -> tuple[int, int]:
        """(Σ max(0, −equity − recorded bad debt) of the books at the last prices, how many): deficits
        not yet written off (a book bankrupted by a liquidation keeps its recorded bad debt as a
        negative balance; that part is counted once, as recorded)."""
        settle = state.params.settlement_asset

        def price_of(key: str) -> int:
            return WAD if key == settle else state.prices[key][0]

        total = count = 0
        for aid in self.kind_of:
            try:
                equity = cross_summary(state, state.accounts[aid], price_of).equity
            except ClearhouseError:
                continue
            deficit = -equity - self.bad_debt_of.get(aid, 0)
            if deficit > 0:
                total += deficit
                count += 1
        return total, count

    def summary(self, state: LedgerState) -> dict[str, Any]:
        """The ``options`` block of a path summary (settlement units; ``docs/scenarios.md``)."""
        posted = sum(self.pop.deposits.values())
        short = sum(self.pop.short_notional.values())
        kinds: dict[str, int] = {}
        liq_kinds: dict[str, int] = {}
        for b in self.pop.books:
            kinds[b.kind] = kinds.get(b.kind, 0) + 1
            if b.id in self.liquidated:
                liq_kinds[b.kind] = liq_kinds.get(b.kind, 0) + 1
        open_deficit, under = self.open_deficit(state)
        return {
            "grid": self.spec.grid,
            "books": len(self.pop.books),
            "by_kind": dict(sorted(kinds.items())),
            "posted": _units(posted),
            "short_option_notional": _units(short),
            "capital_efficiency": round(short / posted, 6) if posted else 0.0,
            "opening_rejected": self.opening_rejected,
            "liquidations": {
                "accounts": len(self.liquidated),
                "legs": self.legs,
                "penalties": _units(self.penalties),
                "sent": self.liq_sent,
                "refused": self.liq_refused,
                "by_kind": dict(sorted(liq_kinds.items())),
            },
            "expiry": {
                "settlements": self.expiries,
                "positions_settled": self.settled_positions,
                "paid_by_books": _units(self.settlement_paid),
                "received_by_books": _units(self.settlement_received),
            },
            "insurance_draws": _units(self.insurance_draws),
            "bad_debt": {
                "recorded": _units(self.bad_debt),
                "open": _units(open_deficit),
                "books_below_zero": under,
                "total": _units(self.bad_debt + open_deficit),
            },
            "tables": {
                "set": self.tables_set,
                "refused": self.tables_refused,
                "every_s": self.every,
                "move": self.spec.table_move,
            },
        }
