"""Options on a signed ledger: the admin lists and sets the table; a trade clears only as a
``MatchedFill`` carrying both owners' signed orders (as perps), on the contract's tick and step."""

from __future__ import annotations

import sys
from pathlib import Path

from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.orders import Fill, Order, sign_order
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.fixedpoint import WAD

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from options_fixtures import CALLS, GRID, TERMS, table

from auth.engine_world import ADMIN, ALICE, BOB, CHAIN, KEEPER, T0, World

CALL = CALLS[2000]


def _order(account: str, side: str, limit: int) -> Order:
    return Order(CHAIN, account, CALL.symbol, side, WAD, limit, client_id=7, good_til_block=50)  # type: ignore[arg-type]


def _codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.code for e in result.events if isinstance(e, ev.TransactionRejected)]


def test_an_option_trades_only_as_a_signed_matched_fill() -> None:
    w = World()
    listed = w.apply(
        w.tx(ADMIN, c.ListContract(CALL, TERMS)),
        w.tx(ADMIN, c.SetScenarioTable("ETH", GRID, table(2000 * WAD, T0))),
        w.tx(ALICE, c.ListContract(CALLS[2200], TERMS)),  # not an admin
    )
    assert _codes(listed) == ["unauthorized"]
    premium = 100 * WAD
    bare = w.apply(w.tx(ALICE, c.TradeContract(CALL.symbol, "alice", "bob", WAD, premium)))
    assert _codes(bare) == ["unauthorized"]  # one signature never moves two accounts
    fill = MatchedFill(
        sign_order(_order("alice", "buy", premium), ALICE),
        sign_order(_order("bob", "sell", premium), BOB),
        Fill(CALL.symbol, WAD, premium, "buyer"),
    )
    result = w.apply(w.tx(KEEPER, fill))
    assert _codes(result) == []
    traded = [e for e in result.events if isinstance(e, ev.ContractTraded)]
    assert [(t.buyer, t.seller, t.size, t.notional) for t in traded] == [("alice", "bob", WAD, premium)]
    assert [e.market for e in result.events if isinstance(e, ev.FillCleared)] == [CALL.symbol]
    state = w.engine.state
    assert state.accounts["alice"].contracts[CALL.symbol].size == WAD
    assert state.accounts["bob"].contracts[CALL.symbol].size == -WAD
    off_tick = MatchedFill(
        sign_order(_order("alice", "buy", premium + 1), ALICE),
        sign_order(_order("bob", "sell", premium + 1), BOB),
        Fill(CALL.symbol, WAD, premium + 1, "buyer"),
    )
    assert _codes(w.apply(w.tx(KEEPER, off_tick))) == ["off_grid"]
