"""Named fixtures for the options mechanism tests: a genesis ledger with ETH dated contracts listed.

Expiry ``E = T0 + 2 days`` (a Friday 08:00 is not needed: the engine takes any expiry). Listed: the
future ``ETH-F`` and options ``ETH-C1900/2000/2200`` (calls) and ``ETH-P1800/2000/2100`` (puts), tick
0.1, step 0.01, minimum 0.01, settlement window 1,800 s, feed fresher than 300 s. Scenario tables are
built off-chain with ``options.scenario_table.build_table`` (floats, Black-76, vol 60 %) as a publisher
would, then carried by ``SetScenarioTable`` as WAD integers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from clearhouse.core.fixedpoint import WAD
from clearhouse.engine.sink import BlockSink
from clearhouse.ledger import commands as c
from clearhouse.ledger.contracts import ListingTerms
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import LedgerParams
from clearhouse.options.instruments import DatedFuture, EuropeanOption, OptionKind
from clearhouse.options.portfolio_margin import DeriveStyle, ScenarioTable
from clearhouse.options.scenario_table import OptionQuote, build_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ledger.builders import PARAMS, T0, W, apply_txs, genesis_block, rejections

E = T0 + 2 * 86_400
GRID = DeriveStyle()
TICK, STEP = W("0.1"), W("0.01")
FUTURE = DatedFuture("ETH-F", "ETH", E, TICK, STEP, STEP)
CALLS = {k: EuropeanOption(f"ETH-C{k}", "ETH", E, TICK, STEP, STEP, option_kind=OptionKind.CALL, strike=W(k))
         for k in (1900, 2000, 2200)}  # fmt: skip
PUTS = {k: EuropeanOption(f"ETH-P{k}", "ETH", E, TICK, STEP, STEP, option_kind=OptionKind.PUT, strike=W(k))
        for k in (1800, 2000, 2100)}  # fmt: skip
OPTIONS = [*CALLS.values(), *PUTS.values()]
TERMS = ListingTerms()


def table(spot: int, as_of: int, vol: float = 0.6) -> ScenarioTable:
    """The Derive-style table of every listed option at ``spot`` (off-chain floats -> WAD)."""
    quotes = [OptionQuote(o.symbol, o.option_kind, o.strike, o.expiry, vol) for o in OPTIONS]
    return build_table(GRID, "ETH", spot, as_of, quotes)


def options_engine(params: LedgerParams = PARAMS, journal: BlockSink | None = None) -> Engine:
    """Genesis (builders), then block 2 lists the contracts and sets the table at spot 2000."""
    engine = Engine(journal=journal)
    bad = rejections(engine.apply_block(genesis_block(params=params)))
    txs: list[c.AnyCommand] = [c.ListContract(FUTURE, TERMS), *(c.ListContract(o, TERMS) for o in OPTIONS)]
    txs.append(c.SetScenarioTable("ETH", GRID, table(W(2000), engine.state.time)))
    bad += rejections(apply_txs(engine, txs, prices={"ETH": W(2000)}))
    assert not bad, bad
    return engine


def run_to(engine: Engine, time: int, txs: list[c.AnyCommand] | None = None, price: int | None = None):  # type: ignore[no-untyped-def]
    """Apply one block at ``time`` (with ``price`` for ETH if given)."""
    from clearhouse.ledger.block import Block

    state = engine.state
    prices = {} if price is None else {"ETH": price}
    return engine.apply_block(Block(state.height + 1, time, prices, tuple(txs or ())))


__all__ = ["CALLS", "FUTURE", "GRID", "PUTS", "TERMS", "WAD", "E", "W", "options_engine", "run_to", "table"]
