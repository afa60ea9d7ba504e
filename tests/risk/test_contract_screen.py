"""The portfolio-margin screen as the engine's contract screen: it never misses an account the exact
check finds below maintenance, so an engine using it writes the same blocks as the exact reference."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.margin import cross_summary, fresh_price_lookup
from clearhouse.risk.contract_screen import PortfolioContractScreen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mechanisms"))
from options_fixtures import GRID, W, options_engine, run_to, table

from ledger.builders import PARAMS

WRITERS = ("alice", "bob", "carol")


def _book(mode: str):  # type: ignore[no-untyped-def]
    params = msgspec.structs.replace(PARAMS, enforcement=mode, backstop_liquidator="keeper")
    engine = options_engine(params)
    t = engine.state.time + 60
    run_to(engine, t, [
        c.TradeContract("ETH-P2000", "keeper", "carol", W(4), W(40)),  # carol: short puts only
        c.TradeContract("ETH-P1800", "keeper", "bob", W(30), W(15)),  # bob: far OTM puts
        c.Trade("ETH-PERP", "bob", "keeper", W(2), W(2000)),  # ... and a perp: a linear leg of the grid
        c.TradeContract("ETH-C2200", "keeper", "alice", W(10), W(10)),  # alice: calls, no risk in a crash
        c.TradeContract("ETH-F", "dave", "keeper", W(1), W(2000)),  # dave: a future at fixed fractions
    ], W(2000))  # fmt: skip
    return engine


def _crash(engine, spot: int):  # type: ignore[no-untyped-def]
    t = engine.state.time + 60
    return run_to(engine, t, [c.SetScenarioTable("ETH", GRID, table(W(spot), t, vol=1.0))], W(spot))


@pytest.mark.parametrize("spot", [1900, 1700, 1500])
def test_the_screen_nominates_every_account_below_maintenance(spot: int) -> None:
    engine = _book("off")
    _crash(engine, spot)
    state = engine.state
    price_of = fresh_price_lookup(state)
    below = {a for a in state.accounts if state.accounts[a].contracts
             and cross_summary(state, state.accounts[a], price_of).liquidatable}  # fmt: skip
    screen = PortfolioContractScreen(backend="numpy")
    found = set(screen.candidates(state))
    assert below <= found
    assert screen.screened >= 3 and screen.nominated >= 1  # dave's future is nominated, not screened
    if spot == 1500:
        assert {"carol"} <= below


def test_an_engine_with_the_screen_writes_the_same_blocks() -> None:
    exact, fast = _book("backstop"), _book("backstop")
    fast.contract_screen = PortfolioContractScreen(backend="numpy")
    legs = []
    for spot in (1800, 1500, 1300):
        a, b = _crash(exact, spot), _crash(fast, spot)
        assert (a.state_root, a.events_bytes) == (b.state_root, b.events_bytes)
        legs += [(e.account, e.instrument) for e in a.events if isinstance(e, ev.ContractLegLiquidated)]
    assert ("carol", "ETH-P2000") in legs  # the crash did liquidate: the comparison is not vacuous


def test_the_columnar_perp_scanner_writes_the_same_blocks_for_accounts_holding_options() -> None:
    from clearhouse.risk.scanner import ColumnarScanner

    def book(scanner: object):  # type: ignore[no-untyped-def]
        params = msgspec.structs.replace(PARAMS, enforcement="backstop", backstop_liquidator="keeper")
        engine = options_engine(params)
        if scanner is not None:
            engine.scanner = scanner  # type: ignore[assignment]
        run_to(engine, engine.state.time + 60, [
            c.Trade("ETH-PERP", "carol", "keeper", W(1), W(2000)),  # carol: a long perp and short puts
            c.TradeContract("ETH-P2000", "keeper", "carol", W(2), W(40)),
        ], W(2000))  # fmt: skip
        return engine

    exact, columnar = book(None), book(ColumnarScanner())
    names = []
    for spot in (1900, 1300):
        a, b = _crash(exact, spot), _crash(columnar, spot)
        assert (a.state_root, a.events_bytes) == (b.state_root, b.events_bytes)
        names += [type(e).__name__ for e in a.events if getattr(e, "account", None) == "carol"]
    assert "ContractLegLiquidated" in names and "PositionClosedOut" in names  # both paths ran
