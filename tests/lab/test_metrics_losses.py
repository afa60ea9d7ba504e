"""The loss waterfall as the lab reports it: each stage (insurance draw, backstop, ADL, socialised loss,
bad debt) tallied from the engine's events and checked against what the stage did to the state.

Venue: ETH-PERP, IM 10 %, MM 5 %, no fees; alice goes long 10 ETH at 1000 from bob on 1000 USDC.
At 890 alice's equity is -100: bankrupt, a keeper fill at 845.5 leaves a shortfall of 545.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from clearhouse.lab.losses import LossTally, adl_loss
from clearhouse.lab.runner import run_path
from clearhouse.lab.scenario import load_scenario
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.liquidation.perp import LiquidationConfig

T0 = 1_700_000_000
E = WAD
BASE = LiquidationConfig(partial=False, adl="off", socialise=False, use_backstop_pool=False)


def W(x: int) -> int:
    return x * WAD


def venue(cfg: LiquidationConfig = BASE, insurance: int = 0, backstop: int = 0) -> Engine:
    spec = MarketSpec("ETH-PERP", "ETH", W(1) // 10, W(1) // 20, step_size=E // 1000, liquidation=cfg)
    engine = Engine()
    txs: list[c.AnyCommand] = [
        c.SetLedgerParams(LedgerParams(settlement_asset="USDC", max_price_age=10**6)),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
        c.ListMarket(spec),
        *(c.OpenAccount(n, f"{i:064x}") for i, n in enumerate(("alice", "bob", "keeper", "carol"))),
        c.Deposit("alice", "USDC", W(1000)),
        c.Deposit("bob", "USDC", W(10_000)),
        c.Deposit("keeper", "USDC", W(100_000)),
        c.Deposit("carol", "USDC", W(100_000)),
    ]
    if insurance:
        txs.append(c.DepositInsurance("USDC", insurance))
    if backstop:
        txs.append(c.DepositBackstop("USDC", backstop))
    engine.apply_block(Block(1, T0, {"ETH": W(1000)}, tuple(txs)))
    result = engine.apply_block(
        Block(2, T0 + 60, {}, (c.Trade("ETH-PERP", "alice", "bob", 10 * E, W(1000)),))
    )
    assert not [e for e in result.events if isinstance(e, ev.TransactionRejected)]
    return engine


def run(engine: Engine, txs: tuple[c.AnyCommand, ...], price: int | None = None) -> list[ev.Event]:
    s = engine.state
    events = list(
        engine.apply_block(Block(s.height + 1, s.time + 60, {"ETH": price} if price else {}, txs)).events
    )
    assert not [e for e in events if isinstance(e, ev.TransactionRejected)], events
    return events


def tally(events: list[ev.Event]) -> LossTally:
    t = LossTally("USDC")
    t.add(events)
    return t


def test_insurance_draw_and_bad_debt_match_the_pools() -> None:
    engine = venue(insurance=W(100))
    ins0 = engine.state.pools.insurance["USDC"]
    events = run(engine, (c.Liquidate("alice", "keeper"),), W(890))
    t = tally(events)
    pools = engine.state.pools
    # the fund paid what it held; the rest of the 545 shortfall is bad debt
    assert t.insurance_draws == ins0 - pools.insurance.get("USDC", 0) == W(100)
    assert t.insurance_draw_count == 1
    assert t.bad_debt == pools.bad_debt["USDC"] == W(445) and t.bad_debt_count == 1
    assert t.shortfall == W(545) == t.insurance_draws + t.bad_debt
    assert (t.socialised, t.adl_liquidations, t.backstop_draws) == (0, 0, 0)
    s = t.summary()
    assert s["insurance_draws"]["total"] == 100.0 and s["bad_debt"]["total"] == 445.0


def test_close_out_deficit_covered_by_the_fund_is_an_insurance_draw() -> None:
    engine = venue(insurance=W(1000))
    ins0 = engine.state.pools.insurance["USDC"]
    events = run(engine, (c.CloseOut("alice", "keeper"),), W(890))
    t = tally(events)
    assert t.insurance_draws == ins0 - engine.state.pools.insurance["USDC"] == W(100)
    assert t.bad_debt == 0 and engine.state.pools.bad_debt.get("USDC", 0) == 0


def test_backstop_then_socialised_loss_match_the_state() -> None:
    cfg = msgspec.structs.replace(BASE, use_backstop_pool=True, socialise=True)
    engine = venue(cfg, insurance=W(100), backstop=W(200))
    bob_entry = engine.state.accounts["bob"].positions["ETH-PERP"].entry_value
    events = run(engine, (c.Liquidate("alice", "keeper"),), W(890))
    t = tally(events)
    pools = engine.state.pools
    assert t.backstop_draws == W(200) - pools.backstop.get("USDC", 0) and t.backstop_draw_count == 1
    # bob, the only short, carries the rest through his cost basis
    bob_after = engine.state.accounts["bob"].positions["ETH-PERP"].entry_value
    assert t.socialised == bob_after - bob_entry == W(245)
    assert (t.socialised_count, t.socialised_positions) == (1, 1)
    assert t.insurance_draws + t.backstop_draws + t.socialised == t.shortfall and t.bad_debt == 0
    assert t.summary()["socialised"] == {"total": 245.0, "count": 1, "positions": 1}


@pytest.mark.parametrize("ranking", ["profit_leverage", "pro_rata"])
def test_adl_volume_and_loss_moved_match_the_counterparties(ranking: str) -> None:
    engine = venue(msgspec.structs.replace(BASE, adl=ranking))
    # carol also shorts 10 from alice (entry 990): two profitable shorts at 800
    run(engine, (c.Deposit("alice", "USDC", W(2000)), c.Trade("ETH-PERP", "alice", "carol", 10 * E, W(990))))
    price = W(800)

    sizes = {a: engine.state.accounts[a].positions["ETH-PERP"].size for a in ("bob", "carol")}
    events = run(engine, (c.Liquidate("alice", "keeper"),), price)
    t = tally(events)
    (liq,) = [e for e in events if isinstance(e, ev.PositionLiquidated)]
    fills = [e for e in events if isinstance(e, ev.PositionDeleveraged)]
    assert t.adl_liquidations == 1 and t.adl_fills == len(fills) >= 1
    assert t.adl_counterparties == {f.counterparty for f in fills}
    # notional at the oracle = the size the counterparties gave up x the price
    left = {a: engine.state.accounts[a].positions.get("ETH-PERP") for a in sizes}
    given_up = sum(abs(sizes[a]) - (abs(p.size) if p is not None else 0) for a, p in left.items())
    assert given_up == liq.closed and t.adl_notional == given_up * price // WAD
    assert t.adl_quote == sum(f.quote for f in fills) == abs(liq.bankruptcy_quote)
    # the loss moved: the shorts bought back ``size`` at ``quote`` what was worth size x the oracle
    moved = sum(f.quote - f.size * price // WAD for f in fills)
    assert t.adl_loss == adl_loss(liq) and abs(t.adl_loss - moved) <= len(fills)  # rounding units
    assert t.adl_loss > 0  # alice was bankrupt: her loss went to the shorts
    assert t.bad_debt == 0 and t.socialised == 0


def _events_total(events_json: list[str], kind: str, field: str) -> int:
    total = 0
    for line in events_json:
        e = json.loads(line)
        if e["type"] == kind and e.get("asset", "USDC") == "USDC":
            total += int(e[field])
    return total


def test_a_path_with_adl_reports_what_its_events_say() -> None:
    """black_thursday with the Liquidate mechanism, ADL on, no insurance: the summary's losses equal the
    sums over the path's own events table (before the fix they were hard-coded zeros)."""
    sc = load_scenario(
        "black_thursday",
        {
            "population.accounts": 150,
            "horizon": "30h",
            "ledger.insurance_fund": 0,
            "markets.ETH-PERP.liquidation": {"adl": "profit_leverage", "socialise": True, "partial": False},
        },
    )
    result = run_path(sc)
    s: dict[str, Any] = result.summary
    lines = result.events.column("json").to_pylist()
    losses = s["losses"]
    n_adl = sum(1 for x in lines if json.loads(x)["type"] == "PositionDeleveraged")
    assert n_adl > 0, "the scenario must deleverage"
    assert losses["adl"]["fills"] == n_adl
    assert losses["adl"]["quote"] == round(_events_total(lines, "PositionDeleveraged", "quote") / WAD, 6)
    assert losses["socialised"]["total"] == round(
        _events_total(lines, "BadDebtSocialised", "amount") / WAD, 6
    )
    assert losses["bad_debt"]["total"] == round(_events_total(lines, "BadDebtRecorded", "amount") / WAD, 6)
    assert losses["bad_debt"]["total"] == s["bad_debt"]["recorded"]
    assert losses["insurance_draws"]["deficits"] == round(
        _events_total(lines, "InsuranceFundUsed", "amount") / WAD, 6
    )
    assert "adl_volume" not in s and "socialised_loss" not in s  # the hard-coded zeros are gone
