"""Liquidation benchmark: liquidations enforced per second through the full engine, per disposal path.

Run from the repository root::

    python -m benchmarks.liquidation           # 2,000 liquidations per path
    python -m benchmarks.liquidation --quick   # 300

Each path runs the same book: N traders long 10 ETH at 1000 on exactly their initial margin, a
counterparty short, a keeper with deep pockets; the price drops and every trader is liquidated with
``Liquidate`` (or ``CloseOut``) in blocks of 100, journalled to SQLite — exact check, sizing, prices,
disposal, waterfall, events and journal write all included. The baseline, measured in the same run, is
the same number of plain trades through the same engine and journal, so the ratio says what
liquidation costs over a trade. Prints a table and writes ``bench-results/liquidation.json``.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks._common import write_results
from clearhouse.journal import open_store
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.liquidation.perp import LiquidationConfig

E = WAD
PER_BLOCK = 100
PATHS: dict[str, tuple[str, LiquidationConfig, int]] = {
    # name: (command, config, price at which everyone is liquidated)
    "close_out (oracle price, penalty)": ("close_out", LiquidationConfig(), 940),
    "keeper_takeover (fillable price)": ("liquidate", LiquidationConfig(partial=False, adl="off"), 940),
    "keeper_takeover, partial sizing": ("liquidate", LiquidationConfig(partial=True, adl="off"), 940),
    "backstop_vault (bankruptcy price)": (
        "liquidate",
        LiquidationConfig(disposal="backstop_vault", vault_account="vault", adl="off"),
        910,
    ),
    "waterfall: insurance + socialised": (
        "liquidate",
        LiquidationConfig(partial=False, adl="off", socialise=True, use_backstop_pool=False),
        890,
    ),
    "ADL (bankruptcy price)": ("liquidate", LiquidationConfig(partial=False, adl="profit_leverage"), 890),
}


def book(n: int, cfg: LiquidationConfig, journal: str) -> Engine:
    spec = MarketSpec(
        "ETH-PERP", "ETH", E // 10, E // 20, liquidation_fee=E // 100, step_size=E // 1000, liquidation=cfg
    )
    engine = Engine(journal=open_store(journal))
    params = LedgerParams("USDC", max_price_age=10**9, max_liquidations_per_block=10**6)
    genesis: list[c.AnyCommand] = [
        c.SetLedgerParams(params),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
        c.ListMarket(spec),
        c.OpenAccount("keeper", "00" * 32),
        c.OpenAccount("vault", "01" * 32),
        c.OpenAccount("bob", "02" * 32),
        c.Deposit("keeper", "USDC", 10**9 * E),
        c.Deposit("vault", "USDC", 10**9 * E),
        c.Deposit("bob", "USDC", 10**9 * E),
        c.DepositInsurance("USDC", 10 * E),
    ]
    engine.apply_block(Block(1, 1, {"ETH": 1000 * E}, tuple(genesis)))
    for start in range(0, n, 1000):
        txs: list[c.AnyCommand] = []
        for i in range(start, min(n, start + 1000)):
            txs += [c.OpenAccount(f"t{i:06d}", f"{i + 16:064x}"), c.Deposit(f"t{i:06d}", "USDC", 1000 * E)]
            txs.append(c.Trade("ETH-PERP", f"t{i:06d}", "bob", 10 * E, 1000 * E))
        engine.apply_block(Block(engine.state.height + 1, engine.state.time + 1, {}, tuple(txs)))
    return engine


def timed_blocks(engine: Engine, batches: list[tuple[c.AnyCommand, ...]], price: int) -> float:
    start = time.perf_counter()
    for i, txs in enumerate(batches):
        prices = {"ETH": price} if i == 0 else {}
        result = engine.apply_block(Block(engine.state.height + 1, engine.state.time + 1, prices, txs))
        rejected = [e for e in result.events if type(e).__name__ == "TransactionRejected"]
        assert not rejected, rejected[:1]
    return time.perf_counter() - start


def bench_path(n: int, command: str, cfg: LiquidationConfig, price: int, journal: Path) -> float:
    engine = book(n, cfg, str(journal))
    ids = [f"t{i:06d}" for i in range(n)]
    make = (
        (lambda a: c.CloseOut(a, "keeper"))
        if command == "close_out"
        else (lambda a: c.Liquidate(a, "keeper"))
    )
    batches = [tuple(make(a) for a in ids[i : i + PER_BLOCK]) for i in range(0, n, PER_BLOCK)]
    seconds = timed_blocks(engine, batches, price * E)
    assert engine.journal is not None
    engine.journal.close()
    return seconds


def bench_trades(n: int, tmp: Path) -> float:
    engine = book(n, LiquidationConfig(), str(tmp / "trades.sqlite"))
    ids = [f"t{i:06d}" for i in range(n)]
    batches = [
        tuple(c.Trade("ETH-PERP", "keeper", a, E // 10, 1000 * E) for a in ids[i : i + PER_BLOCK])
        for i in range(0, n, PER_BLOCK)
    ]
    seconds = timed_blocks(engine, batches, 1000 * E)
    assert engine.journal is not None
    engine.journal.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench-results/liquidation.json")
    args = parser.parse_args()
    n = 300 if args.quick else 2000
    console = Console()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        baseline = bench_trades(n, tmp)
        for k, (name, (command, cfg, price)) in enumerate(PATHS.items()):
            seconds = bench_path(n, command, cfg, price, tmp / f"path{k}.sqlite")
            rows.append(
                {"path": name, "liquidations": n, "per_second": n / seconds, "vs_trades": baseline / seconds}
            )
    table = Table(title=f"Liquidations through the engine with a SQLite journal ({n} each)")
    for col in ("disposal path", "liquidations/s", "vs trades/s (same run)"):
        table.add_column(col, justify="left" if col == "disposal path" else "right")
    table.add_row("baseline: plain trades", f"{n / baseline:,.0f}", "1.00")
    for r in rows:
        table.add_row(r["path"], f"{r['per_second']:,.0f}", f"{r['vs_trades']:.2f}")
    console.print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "n": n,
        "trades_per_second": n / baseline,
        "paths": rows,
    }
    write_results(out, payload, console)


if __name__ == "__main__":
    main()
