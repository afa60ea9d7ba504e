"""Ledger benchmark: trades/s with margin checks, blocks/s with SQLite journalling, state-root cost.

Run from the repository root::

    python -m benchmarks.ledger            # full run (1k, 10k, 100k accounts for the root)
    python -m benchmarks.ledger --quick    # smaller sizes, for a smoke run

Prints a table and writes ``bench-results/ledger.json``. Every figure is paired with a baseline
measured in the same run (the machines are shared and noisy): a bare Python loop doing the same
balance arithmetic without validation, margin checks, events or atomicity, and a full (non
incremental) rehash of the state.
"""

from __future__ import annotations

import argparse
import platform
import random
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
from clearhouse.ledger.state_root import StateHasher, full_state_root

E = WAD
MARKET = MarketSpec(
    id="ETH-PERP",
    oracle="ETH",
    initial_margin=E // 10,
    maintenance_margin=E // 20,
    taker_fee=E // 2000,
    maker_fee=E // 5000,
    liquidation_fee=E // 100,
    step_size=E // 1000,
)


def build_engine(accounts: int, journal: str | None = None) -> Engine:
    engine = Engine(journal=open_store(journal) if journal else None)
    genesis: list[c.AnyCommand] = [
        c.SetLedgerParams(LedgerParams("USDC", max_price_age=10**9)),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
        c.ListMarket(MARKET),
    ]
    engine.apply_block(Block(1, 1, {"ETH": 2000 * E}, tuple(genesis)))
    chunk = 20_000
    for start in range(0, accounts, chunk):
        txs: list[c.AnyCommand] = []
        for i in range(start, min(accounts, start + chunk)):
            txs.append(c.OpenAccount(f"a{i:07d}", f"{i:064x}"))
            txs.append(c.Deposit(f"a{i:07d}", "USDC", 1_000_000 * E))
        engine.apply_block(Block(engine.state.height + 1, engine.state.time + 1, {}, tuple(txs)))
    return engine


def trade_blocks(engine: Engine, n_blocks: int, per_block: int, accounts: int, seed: int) -> list[Block]:
    rng = random.Random(seed)
    blocks = []
    height, t = engine.state.height, engine.state.time
    for _ in range(n_blocks):
        height += 1
        t += 1
        txs = []
        for _ in range(per_block):
            a, b = rng.sample(range(accounts), 2)
            size = rng.randint(1, 2000) * E // 1000
            price = (2000 * E) + rng.randint(-50, 50) * E
            txs.append(c.Trade("ETH-PERP", f"a{a:07d}", f"a{b:07d}", size, price))
        blocks.append(Block(height, t, {"ETH": 2000 * E + rng.randint(-20, 20) * E}, tuple(txs)))
    return blocks


def bare_loop(blocks: list[Block]) -> float:
    """Baseline: the same fills as plain dict arithmetic (no checks, no events, no atomicity)."""
    balances: dict[str, int] = {}
    sizes: dict[str, int] = {}
    start = time.perf_counter()
    for block in blocks:
        for tx in block.txs:
            assert isinstance(tx, c.Trade)
            notional = tx.size * tx.price // E
            balances[tx.buyer] = balances.get(tx.buyer, 0) - notional // 2000
            balances[tx.seller] = balances.get(tx.seller, 0) - notional // 5000
            sizes[tx.buyer] = sizes.get(tx.buyer, 0) + tx.size
            sizes[tx.seller] = sizes.get(tx.seller, 0) - tx.size
    return time.perf_counter() - start


def apply_all(engine: Engine, blocks: list[Block]) -> float:
    start = time.perf_counter()
    for block in blocks:
        result = engine.apply_block(block)
        assert not any(type(e).__name__ == "TransactionRejected" for e in result.events)
    return time.perf_counter() - start


def bench_trades(accounts: int, n_blocks: int) -> dict[str, float]:
    engine = build_engine(accounts)
    blocks = trade_blocks(engine, n_blocks, 100, accounts, seed=1)
    n = n_blocks * 100
    engine_s = apply_all(engine, blocks)
    bare_s = bare_loop(blocks)
    return {
        "trades": n,
        "engine_trades_per_s": n / engine_s,
        "bare_loop_trades_per_s": n / bare_s,
        "engine_vs_bare": bare_s / engine_s,
    }


def bench_journal(accounts: int, n_blocks: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        memory = build_engine(accounts)
        blocks = trade_blocks(memory, n_blocks, 100, accounts, seed=2)
        mem_s = apply_all(memory, blocks)
        journalled = build_engine(accounts, journal=str(Path(tmp) / "bench.sqlite"))
        sql_s = apply_all(journalled, blocks)
        assert journalled.state_root() == memory.state_root()
        assert journalled.journal is not None
        journalled.journal.close()
    return {
        "blocks": n_blocks,
        "sqlite_blocks_per_s": n_blocks / sql_s,
        "memory_blocks_per_s": n_blocks / mem_s,
        "sqlite_vs_memory": mem_s / sql_s,
    }


def bench_root(accounts: int, touched: int = 100) -> dict[str, float]:
    engine = build_engine(accounts)
    engine.state_root()
    blocks = trade_blocks(engine, 1, touched // 2, accounts, seed=3)
    engine.apply_block(blocks[0])  # touches ~``touched`` accounts; apply_block computed the root
    # Time the incremental root alone: mark the same accounts dirty again and rehash.
    ids = sorted({tx.buyer for tx in blocks[0].txs} | {tx.seller for tx in blocks[0].txs})  # type: ignore[union-attr]
    repeats = 20
    hasher = StateHasher()  # the engine's own incremental tree, rebuilt here from its state
    hasher.update(engine.state.accounts.values())
    assert hasher.root(engine.state) == engine.state_root()
    start = time.perf_counter()
    for _ in range(repeats):
        hasher.update(engine.state.accounts[a] for a in ids)
        incremental_root = hasher.root(engine.state)
    incremental_s = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    full_root = full_state_root(engine.state)
    full_s = time.perf_counter() - start
    assert full_root == incremental_root
    return {
        "accounts": accounts,
        "touched": len(ids),
        "incremental_root_ms": incremental_s * 1e3,
        "full_root_ms": full_s * 1e3,
        "full_vs_incremental": full_s / incremental_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--out", default="bench-results/ledger.json")
    args = parser.parse_args()
    console = Console()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    n_blocks = 20 if args.quick else 100

    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "trades": bench_trades(1_000, n_blocks),
        "journal": bench_journal(1_000, n_blocks),
        "state_root": [bench_root(n) for n in sizes],
    }
    table = Table(title="clearhouse ledger benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_column("ratio", justify="right")
    t = results["trades"]
    assert isinstance(t, dict)
    table.add_row(
        "trades/s (margin-checked, 1k accounts)",
        f"{t['engine_trades_per_s']:,.0f}",
        f"bare loop {t['bare_loop_trades_per_s']:,.0f}",
        f"{t['engine_vs_bare']:.3f}",
    )
    j = results["journal"]
    assert isinstance(j, dict)
    table.add_row(
        "blocks/s, 100 trades, SQLite journal",
        f"{j['sqlite_blocks_per_s']:,.1f}",
        f"in memory {j['memory_blocks_per_s']:,.1f}",
        f"{j['sqlite_vs_memory']:.3f}",
    )
    for r in results["state_root"]:  # type: ignore[attr-defined]
        table.add_row(
            f"state root, {r['accounts']:,} accounts, {r['touched']} touched",
            f"{r['incremental_root_ms']:.2f} ms",
            f"full rehash {r['full_root_ms']:.1f} ms",
            f"{r['full_vs_incremental']:.0f}x",
        )
    console.print(table)
    write_results(Path(args.out), results, console)


if __name__ == "__main__":
    main()
