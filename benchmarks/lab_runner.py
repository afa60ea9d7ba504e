"""Stress-lab benchmark: engine-driven simulation vs the same model as a bare numpy loop, and Monte
Carlo paths per second with 1 and 2 worker processes.

    python -m benchmarks.lab_runner                 # 10k and 100k accounts x 1,000 blocks, MC 8 paths
    python -m benchmarks.lab_runner --quick         # 10k x 200 and 100k x 50 blocks, MC 4 short paths
    python -m benchmarks.lab_runner --blocks-100k 300

Case = one path of a synthetic GBM scenario (one ETH perp, cross margin in USDC, 3 keepers, direct
prices, no oracle feed) run by ``clearhouse.lab.runner.run_path`` through the engine on one core,
journal in memory. Baseline, in the same run: the same population (same draws) and the same price
path as a vectorised numpy loop: mark-to-market PnL, equity, maintenance requirement, health counts
and an immediate close-out of every account below maintenance (penalty, bad debt) — no engine, no
keepers, no exact integers. Each case runs in its own subprocess; peak memory is that process's
``ru_maxrss`` (also reported above the RSS right after imports). Blocks/s counts the path blocks
(set-up and opening blocks excluded and timed separately). Prints a table and writes
``bench-results/lab_runner.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks._common import write_results

#: The synthetic scenario (``{accounts}``, ``{horizon}``, ``{vol}`` filled in).
SCENARIO = """
name = "bench_gbm"
description = "benchmark: GBM, one perp, cross margin in USDC"
seed = 1
horizon = {horizon}
block_time = 60

[ledger]
settlement_asset = "USDC"
max_price_age = 3600
enforcement = "keepers"
max_liquidations_per_block = 200
insurance_fund = 1_000_000

[assets.USDC]
decimals = 6

[assets.ETH]
decimals = 18
haircut = 0.9

[markets.ETH-PERP]
oracle = "ETH"
initial_margin = 0.10
maintenance_margin = 0.05
taker_fee = 0.0005
liquidation_fee = 0.01
liquidator_share = 0.5

[prices]
model = "gbm"
assets = ["ETH"]
s0 = 2000.0
vol = {vol}
drift = {drift}

[population]
accounts = {accounts}
long_share = 0.6
collateral = {{ dist = "lognormal", median = 5000, sigma = 1.0, min = 100, max = 500000 }}
leverage = {{ dist = "lognormal", median = 4.0, sigma = 0.5, min = 1.5, max = 9.5 }}

[keepers]
count = 5
latency_blocks = [1, 1, 2, 3, 5]
capital = 50_000_000
profit_threshold = -10.0
max_per_block = 100
gas_token_price = 2000.0
"""


def scenario_text(accounts: int, blocks: int, vol: float, drift: float = 0.0) -> str:
    return SCENARIO.format(accounts=accounts, horizon=(blocks - 1) * 60, vol=vol, drift=drift)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----------------------------------------------------------------------------- children


def child_engine(accounts: int, blocks: int, vol: float, drift: float) -> dict[str, Any]:
    from clearhouse.lab.runner import run_path
    from clearhouse.lab.scenario import validate

    base_rss = _rss_mb()
    sc = validate(tomllib.loads(scenario_text(accounts, blocks, vol, drift)), "bench_gbm.toml")
    marks: dict[str, float] = {}

    def on_block(done: int, total: int) -> None:
        if done == 1:
            marks["first"] = time.perf_counter()
        if done == total:
            marks["last"] = time.perf_counter()

    t0 = time.perf_counter()
    result = run_path(sc, 1, on_block=on_block)
    t1 = time.perf_counter()
    loop_s = marks["last"] - marks["first"]
    s = result.summary
    return {
        "blocks": sc.n_blocks,
        "setup_s": marks["first"] - t0,
        "loop_s": loop_s,
        "total_s": t1 - t0,
        "blocks_per_s": (sc.n_blocks - 1) / loop_s,
        "rss_after_imports_mb": base_rss,
        "peak_rss_mb": _maxrss_mb(),
        "liquidations": s["liquidations"]["positions"],
        "max_below_maintenance": s["liquidations"]["max_below_maintenance"],
        "bad_debt": s["bad_debt"]["total"],
    }


def child_numpy(accounts: int, blocks: int, vol: float, drift: float) -> dict[str, Any]:
    """The same population and price path as a vectorised numpy loop with a simple close-out rule."""
    import numpy as np

    import clearhouse.lab.runner  # noqa: F401  (same imports as the engine case: equal fixed RSS)
    from clearhouse.lab.population import draw
    from clearhouse.lab.scenario import validate

    base_rss = _rss_mb()
    sc = validate(tomllib.loads(scenario_text(accounts, blocks, vol, drift)), "bench_gbm.toml")
    pop = sc.spec.population
    market = sc.markets[0]
    imf, mmf = market.initial_margin / 1e18, market.maintenance_margin / 1e18
    fee, liq_fee = market.taker_fee / 1e18, market.liquidation_fee / 1e18
    step = market.step_size / 1e18
    t0 = time.perf_counter()
    offsets = np.arange(sc.n_blocks, dtype=np.int64) * sc.block_time
    path = np.asarray(sc.price_model.path(offsets, 1), dtype=np.float64)[:, 0]
    rng = np.random.Generator(np.random.PCG64([1, 1]))  # the population's draws, same order
    collateral = draw(rng, pop.collateral, accounts)
    leverage = draw(rng, pop.leverage, accounts)
    rng.choice(1, size=accounts, p=[1.0])
    is_long = rng.random(accounts) < pop.long_share
    p0 = float(path[0])
    notional = np.minimum(leverage * collateral, 0.99 * collateral / (imf + fee))
    size = np.floor(notional / p0 / step) * step
    size = np.where(is_long, size, -size)
    balance = collateral - np.abs(size) * p0 * fee
    entry = np.full(accounts, p0)
    open_ = size != 0
    insurance, bad_debt, liq_count, liq_notional = 1_000_000.0, 0.0, 0, 0.0
    below_max = 0
    t_first = time.perf_counter()
    for k in range(1, sc.n_blocks):
        p = path[k]
        pnl = size * (p - entry)
        equity = balance + pnl
        maint = np.abs(size) * p * mmf
        health = np.divide(equity, maint, out=np.full(accounts, np.inf), where=maint > 0)
        below = open_ & (health < 1.0)
        n_below = int(np.count_nonzero(below))
        below_max = max(below_max, n_below)
        _within = int(np.count_nonzero(open_ & (health >= 1.0) & (health < 1.1)))
        _neg = float(np.clip(-equity[open_], 0, None).sum())
        if n_below:
            notl = np.abs(size[below]) * p
            eq = equity[below]
            penalty = np.minimum(notl * liq_fee, np.maximum(eq, 0.0))
            shortfall = np.clip(-eq, 0, None).sum()
            cover = min(insurance, float(shortfall))
            insurance -= cover
            bad_debt += float(shortfall) - cover
            balance[below] = np.maximum(eq - penalty, 0.0)
            size[below] = 0.0
            open_[below] = False
            liq_count += n_below
            liq_notional += float(notl.sum())
    t1 = time.perf_counter()
    loop_s = t1 - t_first
    return {
        "blocks": sc.n_blocks,
        "setup_s": t_first - t0,
        "loop_s": loop_s,
        "total_s": t1 - t0,
        "blocks_per_s": (sc.n_blocks - 1) / loop_s,
        "rss_after_imports_mb": base_rss,
        "peak_rss_mb": _maxrss_mb(),
        "liquidations": liq_count,
        "max_below_maintenance": below_max,
        "bad_debt": bad_debt,
    }


def run_child(kind: str, accounts: int, blocks: int, vol: float, drift: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.lab_runner", "--child", kind, "--accounts", str(accounts)]
    cmd += ["--blocks", str(blocks), "--vol", str(vol), "--drift", str(drift)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ----------------------------------------------------------------------------- Monte Carlo


def monte_carlo(workers: int, paths: int, accounts: int, blocks: int, vol: float) -> dict[str, Any]:
    """Paths/s through ``ProcessExecutor(workers)``, pool warmed first (spawn + imports excluded)."""
    from clearhouse.lab.executors import ProcessExecutor
    from clearhouse.lab.runner import run_paths

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "bench_gbm.toml"
        src.write_text(scenario_text(accounts, blocks, vol))
        with ProcessExecutor(workers) as ex:
            warm_start = time.perf_counter()
            list(run_paths(str(src), list(range(1000, 1000 + workers)), executor=ex, keep_tables=0))
            warm_s = time.perf_counter() - warm_start
            start = time.perf_counter()
            outs = list(run_paths(str(src), list(range(1, paths + 1)), executor=ex, keep_tables=0))
            elapsed = time.perf_counter() - start
    assert len(outs) == paths
    return {
        "workers": workers,
        "paths": paths,
        "accounts": accounts,
        "blocks": blocks,
        "seconds": elapsed,
        "paths_per_s": paths / elapsed,
        "warm_up_s": warm_s,
    }


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--blocks", type=int, default=1000, help="blocks per path (10k case)")
    parser.add_argument("--blocks-100k", type=int, default=None, help="blocks for the 100k case")
    parser.add_argument("--vol", type=float, default=0.8, help="annualised GBM volatility")
    parser.add_argument("--drift", type=float, default=0.0, help="annualised GBM log drift")
    parser.add_argument("--no-stress", action="store_true", help="skip the 10k stress case")
    parser.add_argument("--mc-paths", type=int, default=None)
    parser.add_argument("--out", default="bench-results/lab_runner.json")
    parser.add_argument("--child", choices=["engine", "numpy"], help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=10_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = child_engine if args.child == "engine" else child_numpy
        print(json.dumps(fn(args.accounts, args.blocks, args.vol, args.drift)))
        return

    console = Console(width=max(Console().width, 125))
    blocks_10k = 200 if args.quick else args.blocks
    blocks_100k = args.blocks_100k or (50 if args.quick else args.blocks)
    calm = (args.vol, args.drift)
    cases = [("calm", 10_000, blocks_10k, calm), ("calm", 100_000, blocks_100k, calm)]
    if not args.no_stress:
        # a crash: vol 200 %, drift -300 %/yr -> thousands of close-outs, hundreds below maintenance
        cases.append(("stress", 10_000, blocks_10k, (2.0, -3.0)))
    results: dict[str, Any] = {"machine": machine(), "cases": [], "monte_carlo": []}
    for label, accounts, blocks, (vol, drift) in cases:
        console.print(f"[dim]case {label} {accounts:,} accounts x {blocks:,} blocks ...[/]")
        eng = run_child("engine", accounts, blocks, vol, drift)
        bare = run_child("numpy", accounts, blocks, vol, drift)
        eng_model = eng["peak_rss_mb"] - eng["rss_after_imports_mb"]
        bare_model = bare["peak_rss_mb"] - bare["rss_after_imports_mb"]
        results["cases"].append(
            {
                "case": label,
                "vol": vol,
                "drift": drift,
                "accounts": accounts,
                "blocks": blocks,
                "engine": eng,
                "numpy": bare,
                "speed_ratio": eng["blocks_per_s"] / bare["blocks_per_s"],
                "memory_ratio_peak": eng["peak_rss_mb"] / bare["peak_rss_mb"],
                "memory_ratio_above_imports": eng_model / max(bare_model, 1.0),
            }
        )
    mc_paths = args.mc_paths or (4 if args.quick else 8)
    mc_accounts, mc_blocks = (500, 100) if args.quick else (1_000, 200)
    for w in (1, 2):
        console.print(f"[dim]Monte Carlo {mc_paths} paths, {w} worker(s) ...[/]")
        results["monte_carlo"].append(monte_carlo(w, mc_paths, mc_accounts, mc_blocks, args.vol))
    mc = results["monte_carlo"]
    results["monte_carlo_speedup_2_vs_1"] = mc[1]["paths_per_s"] / mc[0]["paths_per_s"]
    results["aim"] = {
        "speed_ratio_min": 0.25,
        "memory_ratio_max": 3.0,
        "met": {
            f"{c['case']} {c['accounts']}": {
                "speed": c["speed_ratio"] >= 0.25,
                "memory_peak": c["memory_ratio_peak"] <= 3.0,
            }
            for c in results["cases"]
        },
    }

    table = Table(title="clearhouse stress-lab benchmark (one core, journal in memory)")
    for col in ("case", "engine", "bare numpy loop (same run)", "ratio"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for c in results["cases"]:
        e, b = c["engine"], c["numpy"]
        name = f"{c['case']} {c['accounts']:,} acc. x {c['blocks']:,} blocks"
        table.add_row(
            f"{name}: blocks/s",
            f"{e['blocks_per_s']:,.1f}",
            f"{b['blocks_per_s']:,.0f}",
            f"{c['speed_ratio']:.4f}",
        )
        table.add_row(
            "  peak RSS (MiB)",
            f"{e['peak_rss_mb']:,.0f}",
            f"{b['peak_rss_mb']:,.0f}",
            f"{c['memory_ratio_peak']:.2f}",
        )
        table.add_row(
            "  RSS above imports (MiB)",
            f"{e['peak_rss_mb'] - e['rss_after_imports_mb']:,.0f}",
            f"{b['peak_rss_mb'] - b['rss_after_imports_mb']:,.0f}",
            f"{c['memory_ratio_above_imports']:.2f}",
        )
        table.add_row("  set-up + opening (s)", f"{e['setup_s']:,.1f}", f"{b['setup_s']:,.2f}", "")
        table.add_row(
            "  liquidations / max below MM",
            f"{e['liquidations']:,} / {e['max_below_maintenance']:,}",
            f"{b['liquidations']:,} / {b['max_below_maintenance']:,}",
            "",
        )
    for m in mc:
        table.add_row(
            f"Monte Carlo paths/s, {m['workers']} worker(s) ({m['accounts']:,} acc. x {m['blocks']} blocks)",
            f"{m['paths_per_s']:,.2f}",
            "",
            f"{m['paths_per_s'] / mc[0]['paths_per_s']:.2f}",
        )
    console.print(table)
    console.print(f"machine: {results['machine']}")
    write_results(Path(args.out), results, console)


if __name__ == "__main__":
    main()
