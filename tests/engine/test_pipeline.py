"""The block pipeline's order, pinned: funding accrues over the elapsed interval at the index that held
during it, before the block's own oracle reports and prices are read (docs/concepts.md, "A block's path").
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from clearhouse.engine.engine import Engine
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ledger.builders import ETH_PERP, ETH_PERP_ID, W, apply_txs, genesis_engine


def funded_engine() -> Engine:
    """ETH-PERP with 0.01 % funding interest per period and an open position, an hour before the block."""
    market = msgspec.structs.replace(ETH_PERP, funding_interest=W("0.0001"))
    engine = genesis_engine(markets=(market,))
    apply_txs(engine, [c.Trade(ETH_PERP_ID, "alice", "bob", W(1), W(2000))])
    return engine


def accrued(engine: Engine, prices: dict[str, int]) -> list[ev.FundingAccrued]:
    state = engine.state
    result = engine.apply_block(Block(state.height + 1, state.time + 3600, prices))
    return [e for e in result.events if isinstance(e, ev.FundingAccrued)]


def test_funding_accrues_at_the_previous_index_before_the_block_reprices() -> None:
    calm, jump = funded_engine(), funded_engine()
    at_old = accrued(calm, {})
    at_jump = accrued(jump, {"ETH": W(3000)})  # the block itself moves the index +50 %
    assert at_old and at_old == at_jump  # the interval is funded at 2000, not at the block's 3000
    assert jump.state.prices["ETH"][0] == W(3000)  # ...and the block's price is recorded afterwards
    index = jump.state.markets[ETH_PERP_ID].funding_index
    assert index == calm.state.markets[ETH_PERP_ID].funding_index > 0


def test_funding_events_come_before_the_blocks_transactions() -> None:
    engine = funded_engine()
    state = engine.state
    block = Block(state.height + 1, state.time + 3600, {"ETH": W(2000)}, (c.SettleFunding("alice"),))
    kinds = [type(e).__name__ for e in engine.apply_block(block).events]
    assert kinds.index("FundingAccrued") < kinds.index("FundingSettled")
