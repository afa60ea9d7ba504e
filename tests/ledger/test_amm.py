"""Sale into a constant-product pool: the AMM disposal path, its price impact, and arbitrage swaps."""

from __future__ import annotations

import msgspec

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import AssetSpec, MarketSpec
from clearhouse.liquidation.perp import LiquidationConfig, amm_quote

from .builders import PARAMS, T0, W, conservation_gap

E = W(1)
AMM = LiquidationConfig(disposal="amm", partial=False, adl="off", socialise=False, use_backstop_pool=False)


def test_constant_product_quotes_round_for_the_pool() -> None:
    # 100 ETH x 100,000 USDC: selling 10 brings floor(100000 x 10 / 110); buying 10 costs ceil(.../90)
    assert amm_quote(100 * E, W(100_000), -10 * E) == W(100_000) * 10 // 110
    assert amm_quote(100 * E, W(100_000), 10 * E) == -(-W(100_000) * 10 // 90)
    assert amm_quote(100 * E, W(100_000), -10 * E) < W(10_000) < amm_quote(100 * E, W(100_000), 10 * E)


def venue(base: int, quote: int, traders: int = 1) -> Engine:
    spec = MarketSpec("ETH-PERP", "ETH", W("0.1"), W("0.05"), step_size=W("0.001"), liquidation=AMM)
    names = [f"t{i}" for i in range(traders)]
    txs: list[c.AnyCommand] = [
        c.SetLedgerParams(msgspec.structs.replace(PARAMS, max_price_age=10**6)),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
        c.ListMarket(spec),
        *(c.OpenAccount(n, f"{i:064x}") for i, n in enumerate(("bob", "keeper", "pool", *names))),
        c.Deposit("bob", "USDC", W(100_000)),
        c.Deposit("pool", "USDC", W(1_000_000)),
        c.DepositInsurance("USDC", W(10_000)),
        c.ConfigureAmm("ETH-PERP", "pool", base, quote),
        *(c.Deposit(n, "USDC", W(1000)) for n in names),
    ]
    engine = Engine()
    engine.apply_block(Block(1, T0, {"ETH": W(1000)}, tuple(txs)))
    trades = tuple(c.Trade("ETH-PERP", n, "bob", 10 * E, W(1000)) for n in names)
    engine.apply_block(Block(2, T0 + 60, {}, trades))
    return engine


def run(engine: Engine, txs: tuple[c.AnyCommand, ...], price: int | None = None) -> list[ev.Event]:
    s = engine.state
    events = list(
        engine.apply_block(Block(s.height + 1, s.time + 60, {"ETH": price} if price else {}, txs)).events
    )
    assert conservation_gap(engine.state, "USDC") == 0
    return events


def test_liquidation_sells_into_the_pool_with_price_impact() -> None:
    # a deep pool at the index (1000 ETH x 940,000): selling 10 brings 940000 x 10 / 1010 = 9306.93...
    engine = venue(1000 * E, W(940_000))
    events = run(engine, (c.Liquidate("t0", "keeper"),), W(940))
    (liq,) = [e for e in events if isinstance(e, ev.PositionLiquidated)]
    assert liq.disposal == "amm" and liq.liquidator == "pool"
    assert liq.fill_quote == W(940_000) * 10 // 1010
    assert liq.bankruptcy_quote == W(9000)
    assert liq.insurance_fee == W(141)  # beat bankruptcy by 306.9, fee capped at 1.5% x 9400
    market = engine.state.markets["ETH-PERP"]
    assert (market.amm_base, market.amm_quote) == (1010 * E, W(940_000) - liq.fill_quote)
    assert engine.state.accounts["pool"].positions["ETH-PERP"].size == 10 * E
    assert market.amm_quote * E // market.amm_base < W(922)  # the sale moved the pool price down


def test_each_sale_in_a_cascade_gets_a_worse_price() -> None:
    engine = venue(200 * E, W(188_000), traders=3)
    events = run(engine, tuple(c.Liquidate(f"t{i}", "keeper") for i in range(3)), W(940))
    fills = [e.fill_quote for e in events if isinstance(e, ev.PositionLiquidated)]
    assert len(fills) == 3 and fills[0] > fills[1] > fills[2]
    # a shallow pool (200 ETH): every sale lands below bankruptcy (9000), each further than the last,
    # and the insurance fund pays the growing shortfalls
    shortfalls = [e.shortfall for e in events if isinstance(e, ev.PositionLiquidated)]
    assert 0 < shortfalls[0] < shortfalls[1] < shortfalls[2]
    assert shortfalls[0] == W(9000) - W(188_000) * 10 // 210
    assert any(isinstance(e, ev.InsuranceFundUsed) for e in events)


def test_arbitrage_swap_restores_the_pool_price_within_its_limit() -> None:
    engine = venue(200 * E, W(188_000))
    run(engine, (c.Liquidate("t0", "keeper"),), W(940))
    market = engine.state.markets["ETH-PERP"]
    low = market.amm_quote * E // market.amm_base
    # a limit below the pool's average price is refused, nothing changes
    events = run(engine, (c.SwapAmm("bob", "ETH-PERP", 5 * E, low),))
    assert [e.code for e in events if isinstance(e, ev.TransactionRejected)] == ["slippage_exceeded"]
    events = run(engine, (c.SwapAmm("bob", "ETH-PERP", 5 * E, W(1000)),))
    (swap,) = [e for e in events if isinstance(e, ev.AmmSwapped)]
    assert swap.quote == amm_quote(210 * E, W(188_000) - W(188_000) * 10 // 210, 5 * E)
    assert swap.price_after > low
    assert engine.state.accounts["pool"].positions["ETH-PERP"].size == 5 * E


def test_without_a_pool_the_amm_path_is_refused() -> None:
    engine = venue(200 * E, W(188_000))
    spec = msgspec.structs.replace(engine.state.markets["ETH-PERP"].spec)
    engine.state.markets["ETH-PERP"].amm_account = ""
    events = run(engine, (c.Liquidate("t0", "keeper"),), W(940))
    assert [e.code for e in events if isinstance(e, ev.TransactionRejected)] == ["unknown_pool"]
    assert spec.liquidation.disposal == "amm"
