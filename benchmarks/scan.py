"""Risk-scan benchmark: a whole tick (float scan *and* the candidate list: ids and healths) with numba
and numpy, incremental mirror sync per block, and the same tick as a plain Python loop and as the exact
integer path, as ratios measured in the same run.

    python -m benchmarks.scan                  # 10k and 100k accounts, M = 10
    python -m benchmarks.scan --accounts 10000 100000 1000000
    python -m benchmarks.scan --quick          # smoke run

Big books are synthetic columnar arrays (positions on ~3 of M markets per account, ~5% isolated).
A tick is ``scan()`` plus building ``candidates``, ``isolated_candidates`` and their healths (what a
driver needs to act); the kernel alone and the ids alone are reported too. Two plain Python loops
produce the same candidate list (same candidate test, ids sorted by health; checked against the scan):
one over each account's positions (the sparse layout the scan reads; the >= 100x aim is against it) and
one over all M market cells per account (the baseline of the former dense mirror). Times are the best
of several ticks (the JSON also has medians). Prints a table and writes ``bench-results/scan.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks._common import best_of, timings, write_results
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.margin import cross_summary
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.risk.columnar import ColumnarBook
from clearhouse.risk.scan import (
    DEFAULT_MARGIN,
    HAVE_NUMBA,
    INT_UNIT,
    Backend,
    ScanResult,
    _kernel_python_row,
    gamma,
    price_keys,
    scan,
    warm_up,
)

E = WAD


def synthetic(n: int, m: int, seed: int = 7) -> tuple[ColumnarBook, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = np.zeros((n, m))
    rows = np.arange(n)
    for _ in range(3):
        size[rows, rng.integers(0, m, n)] = rng.normal(0.0, 5.0, n)
    px = np.linspace(10.0, 3000.0, m)
    entry = size * px * (1.0 + rng.normal(0.0, 0.05, (n, m)))
    iso = (rng.random((n, m)) < 0.05) & (size != 0)
    book = ColumnarBook.from_arrays(
        markets=tuple(f"M{i}-PERP" for i in range(m)),
        oracles=tuple(f"M{i}" for i in range(m)),
        assets=("ETH", "USDC"),
        settlement="USDC",
        im_frac=np.full(m, 0.1),
        mm_frac=np.full(m, 0.05),
        funding=rng.normal(0.0, 1.0, m),
        haircut=np.array([0.9, 1.0]),
        size=size,
        entry=entry,
        snapshot=rng.normal(0.0, 1.0, (n, m)) * (size != 0),
        margin=np.where(iso, np.abs(size) * px * 0.1, 0.0),
        isolated=iso,
        balances=np.c_[rng.random(n) * 10.0, rng.random(n) * 20_000.0 - 2_000.0],
    )
    prices = np.array([2000.0 if k == "ETH" else px[int(k[1:])] for k in price_keys(book)])
    return book, prices


def engine_book(n: int, m: int, seed: int = 3) -> tuple[Engine, list[Block]]:
    """A real engine with n accounts, m markets and positions, plus blocks of 1,000 trades."""
    rng = np.random.default_rng(seed)
    engine = Engine()
    genesis: list[c.AnyCommand] = [
        c.SetLedgerParams(LedgerParams("USDC", max_price_age=10**9)),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
    ]
    genesis += [c.ListMarket(MarketSpec(f"M{i}-PERP", f"M{i}", E // 10, E // 20)) for i in range(m)]
    prices = {f"M{i}": 100 * E for i in range(m)}
    engine.apply_block(Block(1, 1, prices, tuple(genesis)))
    txs: list[c.AnyCommand] = []
    for i in range(n):
        txs += [c.OpenAccount(f"a{i:07d}", f"{i:064x}"), c.Deposit(f"a{i:07d}", "USDC", 100_000 * E)]
    engine.apply_block(Block(2, 2, {}, tuple(txs)))
    blocks = []
    for h in range(3, 8):
        trades: list[c.AnyCommand] = []
        for _ in range(1000):
            a, b = rng.choice(n, 2, replace=False)
            mk = int(rng.integers(0, m))
            size = int(rng.integers(1, 100)) * E
            trades.append(c.Trade(f"M{mk}-PERP", f"a{a:07d}", f"a{b:07d}", size, 100 * E))
        blocks.append(Block(h, h, {}, tuple(trades)))
    return engine, blocks


def tick(book: ColumnarBook, prices: Any, backend: Backend = "auto") -> ScanResult:
    """One whole tick: the scan and the candidate list (ids and healths, cross and isolated)."""
    res = scan(book, prices, backend=backend)
    _ = (res.candidates, res.candidate_health, res.isolated_candidates, res.isolated_health)
    return res


def _python_lists(mirror: ColumnarBook) -> tuple[list[Any], ...]:
    """The mirror's cross positions and balances as Python lists: per row start and length into the
    per-position column / size / entry / snapshot lists (the sparse layout the scan reads)."""
    pool, n = mirror.cross_pool, mirror.n
    vals = pool.vals[: pool.end]
    return (
        pool.start[:n].tolist(), pool.length[:n].tolist(), pool.col[: pool.end].tolist(),
        vals[:, 0].tolist(), vals[:, 1].tolist(), vals[:, 2].tolist(), mirror.balances.tolist(),
    )  # fmt: skip


def python_tick(mirror: ColumnarBook, mprice: list[float], aprice: list[float]) -> tuple[str, ...]:
    """The scan's cross-bucket tick as a plain Python loop: per account equity, maintenance and the
    error-bound tolerance, the same candidate test, candidates' ids sorted by (health, row)."""
    n_m, n_a = len(mirror.markets), len(mirror.assets)
    g2 = 2.0 * gamma(n_m + n_a + 8)
    slack = (n_a + 3 * n_m + 1) * INT_UNIT
    rel = DEFAULT_MARGIN
    start, length, col, size, entry, snap, bal = _python_lists(mirror)
    fund, mm, hc = mirror.funding.tolist(), mirror.mm_frac.tolist(), mirror.haircut.tolist()
    pmm = [p * f for p, f in zip(mprice, mm, strict=True)]
    pmag = [p + abs(f) for p, f in zip(mprice, fund, strict=True)]
    ids = mirror.account_ids
    found: list[tuple[float, int]] = []
    for i in range(mirror.n):
        eq = mmt = mag = 0.0
        b_i = bal[i]
        for a in range(n_a):
            b = b_i[a]
            c = b * aprice[a] * hc[a] if b > 0.0 else b * aprice[a]
            eq += c
            mag += abs(c)
        lo = start[i]
        for p in range(lo, lo + length[i]):  # the account's cross positions, ascending market
            j, s, e, sn = col[p], size[p], entry[p], snap[p]
            mmr = abs(s) * pmm[j]
            eq += s * mprice[j] - e - s * (fund[j] - sn)
            mmt += mmr
            mag += abs(s) * (pmag[j] + abs(sn)) + abs(e) + mmr
        if eq < mmt + (mmt * rel + g2 * mag + slack):
            h = eq / mmt if mmt > 0.0 else (math.inf if eq >= 0.0 else -math.inf)
            found.append((h, i))
    found.sort()
    return tuple(ids[i] for _, i in found)


def python_tick_cells(
    mirror: ColumnarBook, dense: tuple[np.ndarray, ...], mprice: list[float], aprice: list[float]
) -> tuple[str, ...]:
    """The same tick as :func:`python_tick`, over every (account, market) cell of dense n x M arrays
    (``dense`` = size, entry, snapshot, cross, built once outside the timing): the baseline of the
    former dense mirror, which visits M cells per account however few positions it holds."""
    n_m, n_a = len(mirror.markets), len(mirror.assets)
    g2 = 2.0 * gamma(n_m + n_a + 8)
    slack = (n_a + 3 * n_m + 1) * INT_UNIT
    rel = DEFAULT_MARGIN
    size, entry, snap, cross = (a.tolist() for a in dense)
    bal = mirror.balances.tolist()
    fund, mm, hc = mirror.funding.tolist(), mirror.mm_frac.tolist(), mirror.haircut.tolist()
    pmm = [p * f for p, f in zip(mprice, mm, strict=True)]
    pmag = [p + abs(f) for p, f in zip(mprice, fund, strict=True)]
    ids = mirror.account_ids
    found: list[tuple[float, int]] = []
    for i in range(mirror.n):
        eq = mmt = mag = 0.0
        b_i = bal[i]
        for a in range(n_a):
            b = b_i[a]
            c = b * aprice[a] * hc[a] if b > 0.0 else b * aprice[a]
            eq += c
            mag += abs(c)
        s_i, e_i, sn_i, cr_i = size[i], entry[i], snap[i], cross[i]
        for j in range(n_m):
            if cr_i[j]:
                s, e, sn = s_i[j], e_i[j], sn_i[j]
                mmr = abs(s) * pmm[j]
                eq += s * mprice[j] - e - s * (fund[j] - sn)
                mmt += mmr
                mag += abs(s) * (pmag[j] + abs(sn)) + abs(e) + mmr
        if eq < mmt + (mmt * rel + g2 * mag + slack):
            h = eq / mmt if mmt > 0.0 else (math.inf if eq >= 0.0 else -math.inf)
            found.append((h, i))
    found.sort()
    return tuple(ids[i] for _, i in found)


def main() -> None:
    ap = argparse.ArgumentParser(prog="clearhouse bench scan", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--accounts", type=int, nargs="+", default=[10_000, 100_000],
                    help="book sizes of the synthetic ticks (e.g. 10000 100000 1000000)")  # fmt: skip
    ap.add_argument("--markets", type=int, default=10, help="markets per book (M)")
    ap.add_argument("--baseline-accounts", type=int, default=10_000,
                    help="engine accounts for the Python-loop / exact-integer baselines")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="smoke run: 2k and 10k accounts")
    ap.add_argument("--out", default="bench-results/scan.json", help="JSON output path")
    args = ap.parse_args()
    sizes = [2_000, 10_000] if args.quick else args.accounts
    m = args.markets
    console = Console(width=max(Console().width, 150))
    compile_s = warm_up()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numba": HAVE_NUMBA},
        "markets": m,
        "numba_warmup_s": compile_s,
        "scan": [],
    }
    table = Table(title=f"risk scan, M = {m} markets, {os.cpu_count()} cores: a tick = scan + candidate list")
    cols = ("accounts", "tick ms (numba)", "of it: kernel", "of it: ids", "numpy tick ms", "numpy/numba",
            "candidates (cross / isolated)", "mirror B/account",
            "tick <= 50 ms at 1M")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="right")
    for n in sizes:
        book, prices = synthetic(n, m)
        repeat = 9 if n <= 100_000 else 7
        ts_nb = ts_scan = ts_ids = [float("nan")]
        if HAVE_NUMBA:
            tick(book, prices, "numba")
            ts_nb, ts_scan, ts_ids = [], [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                res = scan(book, prices, backend="numba")
                t1 = time.perf_counter()
                _ = (res.candidates, res.candidate_health, res.isolated_candidates, res.isolated_health)
                t2 = time.perf_counter()
                del res, _
                ts_nb.append(t2 - t0)
                ts_scan.append(t1 - t0)
                ts_ids.append(t2 - t1)
        ts_np = timings(lambda b=book, p=prices: tick(b, p, "numpy"), max(3, repeat // 2))
        t_nb, t_np = min(ts_nb), min(ts_np)
        res = tick(book, prices)
        cands, iso_cands = len(res.candidates), len(res.isolated_candidates)
        del res
        met = "" if n != 1_000_000 else ("met" if t_nb <= 0.050 else "not met")
        results["scan"].append(
            {
                "accounts": n,
                "tick_numba_s": t_nb,
                "kernel_numba_s": min(ts_scan),
                "candidate_ids_s": min(ts_ids),
                "tick_numpy_s": t_np,
                "candidates": cands,
                "isolated_candidates": iso_cands,
                "tick_numba_median_s": statistics.median(ts_nb),
                "tick_numpy_median_s": statistics.median(ts_np),
                "numba_accounts_per_s": n / t_nb,
                "mirror_bytes_per_account": book.nbytes() / n,
                "aim_tick_1m_50ms": met or None,
            }
        )
        table.add_row(
            f"{n:,}", f"{t_nb * 1e3:.2f}", f"{min(ts_scan) * 1e3:.2f}", f"{min(ts_ids) * 1e3:.2f}",
            f"{t_np * 1e3:.1f}", f"{t_np / t_nb:.1f}x", f"{cands:,} / {iso_cands:,}",
            f"{book.nbytes() / n:.0f}", met,
        )  # fmt: skip
        del book
    console.print(table)

    # Baselines on real engine accounts: plain Python loop and the exact integer path vs a tick.
    n_sub = 2_000 if args.quick else args.baseline_accounts
    engine, blocks = engine_book(n_sub, m)
    for blk in blocks[:2]:
        engine.apply_block(blk)
    state = engine.state
    mirror = ColumnarBook.from_state(state)
    assert not mirror.iso_count.any()  # the Python loop covers cross buckets only
    iprices = {k: v for k, (v, _) in state.prices.items()}
    mp = [iprices[k] / WAD for k in mirror.oracles]
    ap_ = [1.0 for _ in mirror.assets]
    dense = (mirror.size, mirror.entry, mirror.snapshot, mirror.cross)
    scanned = tick(mirror, iprices).candidates
    if python_tick(mirror, mp, ap_) != scanned or python_tick_cells(mirror, dense, mp, ap_) != scanned:
        raise SystemExit("the Python loop and the scan name different candidates")

    def python_loop() -> None:
        start, length, col, size, entry, snap, bal = _python_lists(mirror)
        fund, mm, hc = mirror.funding.tolist(), mirror.mm_frac.tolist(), mirror.haircut.tolist()
        for i in range(mirror.n):
            lo = start[i]
            _kernel_python_row(lo, lo + length[i], col, size, entry, snap, bal[i], mp, fund, mm, ap_, hc)

    def exact() -> None:
        lookup = iprices.__getitem__

        def price_of(k: str) -> int:
            return WAD if k == "USDC" else lookup(k)

        for acct in state.accounts.values():
            cross_summary(state, acct, price_of)

    # Interleaved rounds (the machine is shared: load changes within seconds): each round times every
    # path once and the tick as the best of 7 right next to them; ratios are per round, then median.
    rounds: list[tuple[float, float, float, float, float]] = []
    for _ in range(3):
        t_tick_a = best_of(lambda: tick(mirror, iprices), 7)
        r_pyt = best_of(lambda: python_tick(mirror, mp, ap_), 1)
        r_cells = best_of(lambda: python_tick_cells(mirror, dense, mp, ap_), 1)
        r_py = best_of(python_loop, 1)
        r_ex = best_of(exact, 1)
        t_tick = min(t_tick_a, best_of(lambda: tick(mirror, iprices), 7))
        rounds.append((t_tick, r_pyt, r_py, r_ex, r_cells))
    t_scan = min(r[0] for r in rounds)
    t_pyt, t_py, t_ex, t_cells = (min(r[i] for r in rounds) for i in (1, 2, 3, 4))
    ratio_pyt, ratio_py, ratio_ex, ratio_cells = (
        statistics.median(r[i] / r[0] for r in rounds) for i in (1, 2, 3, 4)
    )
    range_pyt = (min(r[1] / r[0] for r in rounds), max(r[1] / r[0] for r in rounds))
    mirror_bytes = mirror.nbytes() / mirror.n

    # Incremental sync per block of 1,000 trades vs a full rebuild.
    sync_times = []
    for blk in blocks[2:]:
        engine.apply_block(blk)
        touched = {t.buyer for t in blk.txs if isinstance(t, c.Trade)}
        touched |= {t.seller for t in blk.txs if isinstance(t, c.Trade)}
        t0 = time.perf_counter()
        mirror.sync(engine.state, touched)
        sync_times.append(time.perf_counter() - t0)
    t_sync = min(sync_times)
    n_touched = len(touched)
    t_rebuild = best_of(lambda: ColumnarBook.from_state(engine.state), 2)
    assert mirror.equals(ColumnarBook.from_state(engine.state))
    results["baselines"] = {
        "accounts": n_sub,
        "tick_s": t_scan,
        "python_tick_s": t_pyt,
        "python_loop_equity_maintenance_only_s": t_py,
        "exact_int_s": t_ex,
        "python_tick_over_tick": ratio_pyt,
        "python_tick_over_tick_range": range_pyt,
        "python_tick_cells_s": t_cells,
        "python_tick_cells_over_tick": ratio_cells,
        "mirror_bytes_per_account": mirror_bytes,
        "python_loop_over_tick": ratio_py,
        "exact_over_tick": ratio_ex,
        "rounds_s": rounds,
        "aim_python_over_tick_100x": ratio_pyt >= 100,
        "sync_per_1000_trades_s": t_sync,
        "sync_touched_accounts": n_touched,
        "rebuild_s": t_rebuild,
    }
    t2 = Table(title=f"same tick, {n_sub:,} engine accounts (positions on {m} markets), same run")
    for col in ("path", "ms (best)", "x tick (median of 3 interleaved rounds)"):
        t2.add_column(col, justify="right")
    aim = "met" if ratio_pyt >= 100 else "not met"
    t2.add_row("tick: scan + candidate list (default backend)", f"{t_scan * 1e3:.3f}", "1.0")
    t2.add_row(f"plain Python loop over the positions, same candidate list (aim >= 100x: {aim})",
               f"{t_pyt * 1e3:.1f}", f"{ratio_pyt:.0f} ({range_pyt[0]:.0f}-{range_pyt[1]:.0f})")  # fmt: skip
    t2.add_row(f"plain Python loop over all {m} market cells per account, same list (former baseline)",
               f"{t_cells * 1e3:.1f}", f"{ratio_cells:.0f}")  # fmt: skip
    t2.add_row("plain Python loop, equity and maintenance only", f"{t_py * 1e3:.1f}", f"{ratio_py:.0f}")
    t2.add_row("exact integer (ledger.margin.cross_summary)", f"{t_ex * 1e3:.1f}", f"{ratio_ex:.0f}")
    t2.add_row("mirror sync, 1,000 trades", f"{t_sync * 1e3:.2f}", "")
    t2.add_row("mirror full rebuild", f"{t_rebuild * 1e3:.1f}", "")
    t2.add_row("mirror bytes per account (arrays, incl. spare capacity)", f"{mirror_bytes:.0f}", "")
    console.print(t2)
    write_results(Path(args.out), results, console)


if __name__ == "__main__":
    main()
