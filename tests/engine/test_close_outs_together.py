"""Backstop close-outs of one block run in one transaction context (``Engine._close_out_together``)
give exactly the blocks of one transaction per close-out: same events, same state root, including
books where some close-outs are refused (the liquidator runs short of initial margin, the liquidator
is itself below maintenance, isolated and cross buckets of the same account, bankrupt accounts)."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.engine import engine as engine_module
from clearhouse.engine.engine import Engine
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.events import PositionClosedOut
from clearhouse.ledger.margin_models import OpenInterestMargin
from clearhouse.ledger.model import LedgerState, MarketSpec
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ledger.builders import ETH_PERP, PARAMS, T0, W, genesis_block

BTC_PERP = MarketSpec("BTC-PERP", "BTC", W("0.1"), W("0.05"), liquidation_fee=W("0.01"), step_size=W("0.001"))


def one_at_a_time() -> Engine:
    """The reference: every close-out its own transaction."""
    engine = Engine()
    engine.close_outs_together = False
    return engine


class CountingContext(TxContext):
    """Counts the transaction contexts the engine opens (one per close-out, or one for all of them)."""

    opened = 0

    def __init__(self, state: LedgerState, undo: BlockUndo) -> None:
        CountingContext.opened += 1
        super().__init__(state, undo)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[CountingContext]:
    monkeypatch.setattr(engine_module, "TxContext", CountingContext)
    return CountingContext


LEVERAGE = (-9, -8, -6, 0, 6, 8, 9)  # signed: short or long
trader = st.tuples(
    st.integers(500, 20_000),  # USDC deposit
    st.sampled_from(LEVERAGE),  # ETH leverage on the margin it gets
    st.sampled_from(LEVERAGE),  # BTC leverage on the margin it gets
    st.booleans(),  # BTC isolated (40 % of the deposit moved into it) or cross (half the margin each)
)


def _size(notional: int, price: int) -> int:
    """Whole steps of 0.001 (the markets' step size) for ``notional`` USDC at ``price`` USDC."""
    return notional * 1000 // price * W("0.001")


Trader = tuple[int, int, int, bool]


def _blocks(
    traders: list[Trader], keeper_deposit: int, keeper_trades: bool, moves: tuple[int, int]
) -> list[Block]:
    names = [f"t{i}" for i in range(len(traders))]
    params = msgspec.structs.replace(
        PARAMS, enforcement="backstop", backstop_liquidator="keeper", max_liquidations_per_block=50
    )
    genesis = genesis_block(
        params=params,
        prices={"ETH": W(2000), "BTC": W(60_000)},
        markets=(ETH_PERP, BTC_PERP),
        accounts=("keeper", "bob", *names),
        deposits=(
            ("keeper", "USDC", W(keeper_deposit)),
            ("bob", "USDC", W(10_000_000)),
            *((n, "USDC", W(t[0])) for n, t in zip(names, traders, strict=True)),
        ),
    )
    txs: list[c.AnyCommand] = []
    for n, (deposit, eth, btc, iso) in zip(names, traders, strict=True):
        iso_margin = deposit * 2 // 5 if iso and btc else 0
        eth_margin = deposit - iso_margin if iso_margin else deposit // 2
        btc_margin = iso_margin or deposit // 2
        if iso_margin:
            txs.append(c.TransferMargin(n, BTC_PERP.id, W(iso_margin)))
        legs = ((ETH_PERP, eth, eth_margin, 2000), (BTC_PERP, btc, btc_margin, 60_000))
        for market, lev, margin, price in legs:
            size = _size(abs(lev) * margin, price)
            if size:
                buyer, seller = (n, "bob") if lev > 0 else ("bob", n)
                txs.append(c.Trade(market.id, buyer, seller, size, W(price)))
    if keeper_trades:  # the liquidator holds a position too (it may itself fall below maintenance)
        txs.append(c.Trade(ETH_PERP.id, "keeper", "bob", W(5), W(2000)))
    eth_price, btc_price = W(2000) * (100 + moves[0]) // 100, W(60_000) * (100 + moves[1]) // 100
    return [
        genesis,
        Block(2, T0 + 60, {"ETH": W(2000), "BTC": W(60_000)}, tuple(txs)),
        Block(3, T0 + 120, {"ETH": eth_price, "BTC": btc_price}),
        Block(4, T0 + 180, {"ETH": eth_price * 98 // 100, "BTC": btc_price}),
    ]


def _run(engine: Engine, blocks: list[Block]) -> list[tuple[str, bytes]]:
    return [(r.state_root, r.events_bytes) for r in map(engine.apply_block, blocks)]


MOVES = (-25, -18, -14, 0, 14, 18, 25)  # per cent, ETH and BTC


@settings(max_examples=60, deadline=None)
@given(
    traders=st.lists(trader, min_size=2, max_size=10),
    keeper_deposit=st.sampled_from([2_000, 20_000, 10_000_000]),
    keeper_trades=st.booleans(),
    moves=st.tuples(st.sampled_from(MOVES), st.sampled_from(MOVES)),
)
def test_close_outs_together_give_the_blocks_of_one_transaction_each(
    traders: list[Trader], keeper_deposit: int, keeper_trades: bool, moves: tuple[int, int]
) -> None:
    blocks = _blocks(traders, keeper_deposit, keeper_trades, moves)
    assert _run(Engine(), blocks) == _run(one_at_a_time(), blocks)


def test_a_block_of_close_outs_is_committed_together(counting: type[CountingContext]) -> None:
    traders = [(2_000 + 50 * i, 9, 0, False) for i in range(6)]  # ~4.5x long ETH each
    blocks = _blocks(traders, 10_000_000, False, (-20, 0))
    engine = Engine()
    results = [engine.apply_block(b) for b in blocks[:2]]
    counting.opened = 0
    results.append(engine.apply_block(blocks[2]))  # no transactions: the contexts are enforcement's
    closed = [e for e in results[2].events if type(e) is PositionClosedOut]
    assert len(closed) == 6 and counting.opened == 1
    results.append(engine.apply_block(blocks[3]))
    assert [(r.state_root, r.events_bytes) for r in results] == _run(one_at_a_time(), blocks)


def test_markets_without_fixed_margin_run_one_transaction_each(counting: type[CountingContext]) -> None:
    # Open interest enters the liquidator's check under this model: it must see each close-out's.
    oi_market = msgspec.structs.replace(ETH_PERP, margin_model=OpenInterestMargin(W(10_000), W(1_000_000)))
    blocks = _blocks([(2_000 + 50 * i, 9, 0, False) for i in range(4)], 10_000_000, False, (-20, 0))
    blocks[0] = msgspec.structs.replace(
        blocks[0],
        txs=tuple(
            c.ListMarket(oi_market) if isinstance(t, c.ListMarket) and t.market.id == ETH_PERP.id else t
            for t in blocks[0].txs
        ),
    )
    engine = Engine()
    results = [engine.apply_block(b) for b in blocks[:2]]
    counting.opened = 0
    results.append(engine.apply_block(blocks[2]))
    closed = [e for e in results[2].events if type(e) is PositionClosedOut]
    assert len(closed) == 4 and counting.opened == 4
    assert [(r.state_root, r.events_bytes) for r in results] == _run(one_at_a_time(), blocks[:3])


def test_an_isolated_close_out_that_lifts_the_cross_bucket_is_seen_by_the_cross_one() -> None:
    """``x`` holds 4.5 ETH long cross (1,000 USDC) and 0.15 BTC long isolated (1,000 USDC). At ETH 1,870
    and BTC 55,200 both buckets are below maintenance, the isolated one worse (health ~0.67 vs ~0.98):
    it is closed first and hands ~193 USDC back to the cross bucket, which is then above maintenance,
    so the cross close-out is refused. Targets of the same account are never closed out together."""
    params = msgspec.structs.replace(
        PARAMS, enforcement="backstop", backstop_liquidator="keeper", max_liquidations_per_block=50
    )
    blocks = [
        genesis_block(
            params=params,
            prices={"ETH": W(2000), "BTC": W(60_000)},
            markets=(ETH_PERP, BTC_PERP),
            accounts=("keeper", "bob", "x"),
            deposits=(
                ("keeper", "USDC", W(10_000_000)),
                ("bob", "USDC", W(10_000_000)),
                ("x", "USDC", W(2_000)),
            ),
        ),
        Block(
            2,
            T0 + 60,
            {"ETH": W(2000), "BTC": W(60_000)},
            (
                c.TransferMargin("x", BTC_PERP.id, W(1_000)),
                c.Trade(BTC_PERP.id, "x", "bob", W("0.15"), W(60_000)),
                c.Trade(ETH_PERP.id, "x", "bob", W("4.5"), W(2000)),
            ),
        ),
        Block(3, T0 + 120, {"ETH": W(1870), "BTC": W(55_200)}),
    ]
    engine = Engine()
    results = [engine.apply_block(b) for b in blocks]
    assert not [e for e in results[1].events if type(e).__name__ == "TransactionRejected"]
    kinds = [(type(e).__name__, getattr(e, "market", None)) for e in results[2].events]
    assert ("PositionClosedOut", BTC_PERP.id) in kinds
    assert ("EnforcementFailed", None) in kinds  # the cross bucket, no longer below maintenance
    assert [(r.state_root, r.events_bytes) for r in results] == _run(one_at_a_time(), blocks)
