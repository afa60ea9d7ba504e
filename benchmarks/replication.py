"""Replication benchmark, the parts measurable without a cluster: the order book alone, and account
proofs against a state root as the number of accounts grows.

Run from the repository root::

    python -m benchmarks.replication            # book: 20,000 orders; proofs: 1k and 100k accounts
    python -m benchmarks.replication --million  # also 1M accounts (a few minutes, ~1 GB)
    python -m benchmarks.replication --quick    # book: 5,000 orders; proofs: 1k and 10k accounts

**Book.** A deterministic random flow of signed limit orders (4 accounts, GTC/IOC/post-only, prices within
+-0.5 % of the index) is signed up front, then fed to :class:`~clearhouse.book.book.OrderBook`; the rate is
orders placed per second (refusals such as post-only crossings included), with the signature check off
(a node that verified at admission) and on. **Proofs.** A synthetic ledger of N accounts: the state tree
(the engine's shape, whose root is unchanged), then inclusion proofs for random accounts and
non-inclusion proofs (account directory, RFC 9162 tree) for random absent ids; the table shows the proof
document's size, the number of sibling hashes (log2 of the tree's capacity) and the median time of
``check_account_proof``. **Log.** RFC 9162 inclusion and consistency proofs over N journal rows: hashes
per proof and check time, and the cost of appending a row to the compact log. Writes
``bench-results/replication.json``. **Replicated** (``--replicated``, needs Debian's ``nats-server``; see
``benchmarks/replicated.py``): signed trades per second through leader -> JetStream (3 servers, R3) -> 2
followers, follower lag p50/p99 in blocks, and the same load on a single node in the same run (the ratio is
the cost of replication)::

    python -m benchmarks.replication --replicated                 # all of the above, 10,000 trades
    python -m benchmarks.replication --replicated-only --trades 2000
    clearhouse bench replication --replicated
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks._common import write_results
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.orders import Order, SignedOrder, sign_order
from clearhouse.book.book import BookConfig, BookContext, OrderBook
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import Account, LedgerState
from clearhouse.ledger.state_root import account_leaf
from clearhouse.proofs.accounts import (
    AccountTree,
    Directory,
    check_account_proof,
    encode_proof,
    prove_account,
)
from clearhouse.proofs.rfc9162 import (
    CompactLog,
    consistency_path,
    inclusion_path,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

CHAIN = "bench"
TICK, STEP = WAD // 100, WAD // 1000
INDEX = 2000 * WAD
KEY = KeyPair.from_seed(b"\x09" * 32)


def _orders(n: int, seed: int = 7) -> list[SignedOrder]:
    rng = random.Random(seed)
    keys = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
    out = []
    for i in range(n):
        a = rng.randrange(4)
        tif = rng.choices(["gtc", "ioc", "post_only"], weights=[6, 3, 1])[0]
        o = Order(
            CHAIN,
            f"acct{a}",
            "ETH-PERP",
            rng.choice(["buy", "sell"]),
            rng.randint(1, 2000) * STEP,
            INDEX + rng.randint(-1000, 1000) * TICK,
            i,
            tif,
            good_til_block=10**6,
        )
        out.append(sign_order(o, keys[a]))
    return out


def bench_book(n: int) -> list[dict[str, object]]:
    orders = _orders(n)
    rows = []
    for verify in (False, True):
        book = OrderBook(
            BookConfig(CHAIN, "ETH-PERP", TICK, STEP, WAD // 20, verify_signatures=verify),
            BookContext(1, 0, INDEX),
        )
        fills = refused = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for o in orders:
            try:
                fills += len(book.place(o).fills)
            except ClearhouseError:
                refused += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append(
            {
                "case": "book, signatures " + ("checked" if verify else "pre-verified"),
                "orders": n,
                "fills": fills,
                "refused": refused,
                "resting": len(book.by_id),
                "orders_per_s": n / wall,
                "fills_per_s": fills / wall,
                "cpu_us_per_order": cpu / n * 1e6,
            }
        )
    return rows


def bench_proofs(n: int, samples: int = 200, seed: int = 11) -> dict[str, object]:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    leaves = []
    for i in range(n):
        leaves.append(account_leaf(Account(f"acct-{i:08d}", "00" * 32, i, {"USDC": (i + 1) * WAD})))
    tree = AccountTree(leaves)
    directory = Directory((f"acct-{i:08d}", i) for i in range(n))
    build = time.perf_counter() - t0
    picked = rng.sample(range(n), min(samples, n))
    state = LedgerState(height=1)
    for i in picked:
        state.accounts[f"acct-{i:08d}"] = Account(f"acct-{i:08d}", "00" * 32, i, {"USDC": (i + 1) * WAD})
    proofs = [prove_account(state, f"acct-{i:08d}", tree=tree) for i in picked]
    absent = [
        prove_account(state, f"acct-{i:08d}x", tree=tree, key=KEY, directory=directory)
        for i in picked[: max(1, len(picked) // 10)]
    ]
    root = proofs[0].state_root

    def timed(ps: list) -> float:  # type: ignore[type-arg]
        times = []
        for p in ps:
            t = time.perf_counter()
            check_account_proof(p, root)
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e6

    return {
        "accounts": n,
        "build_s": build,
        "siblings": len(proofs[0].siblings or []),
        "inclusion_bytes": statistics.median(len(encode_proof(p)) for p in proofs),
        "inclusion_check_us": timed(proofs),
        "non_inclusion_bytes": statistics.median(len(encode_proof(p)) for p in absent),
        "non_inclusion_check_us": timed(absent),
    }


def bench_tlog(n: int, samples: int = 10, seed: int = 13) -> dict[str, object]:
    """Transparency-log proofs over ``n`` rows (synthetic 136-byte leaves): size and check time."""
    rng = random.Random(seed)
    leaves = [leaf_hash(i.to_bytes(8, "big") + bytes(128)) for i in range(n)]
    t0 = time.perf_counter()
    log = CompactLog()
    for leaf in leaves:
        log.append(leaf)
    append_us = (time.perf_counter() - t0) / n * 1e6
    root = log.root()
    picks = [rng.randrange(n) for _ in range(samples)]
    firsts = [rng.randrange(1, n) for _ in range(samples)]
    incl = [(m, inclusion_path(m, leaves)) for m in picks]
    cons = [(m, consistency_path(m, leaves)) for m in firsts]
    old = {m: root_of(leaves, 0, m) for m in firsts}

    def med(times: list[float]) -> float:
        return statistics.median(times) * 1e6

    def t_incl(m: int, path: list[bytes]) -> float:
        t = time.perf_counter()
        assert verify_inclusion(m, n, leaves[m], path, root)
        return time.perf_counter() - t

    def t_cons(m: int, path: list[bytes]) -> float:
        t = time.perf_counter()
        assert verify_consistency(m, n, old[m], root, path)
        return time.perf_counter() - t

    return {
        "rows": n,
        "append_us": append_us,
        "inclusion_hashes": statistics.median(len(p) for _, p in incl),
        "inclusion_check_us": med([t_incl(m, p) for m, p in incl]),
        "consistency_hashes": statistics.median(len(p) for _, p in cons),
        "consistency_check_us": med([t_cons(m, p) for m, p in cons]),
    }


def _meta() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }


def bench_replicated(console: Console, trades: int) -> dict[str, object] | None:
    """Leader -> JetStream -> 2 followers vs a single node, same load, same run (benchmarks/replicated.py)."""
    from clearhouse.replication.cluster import nats_server_path

    if nats_server_path() is None:
        console.print("[yellow]replicated part skipped: nats-server is not installed "
                      "(Debian: apt-get install nats-server)[/]")
        return None
    from benchmarks.replicated import run

    console.print(f"replicated: {trades:,} signed trades on a single node, then leader -> JetStream -> "
                  "2 followers…")
    res = run(trades)
    t = Table(title=f"replication cost: {trades:,} signed trades (matched fills, 3 signatures each), "
              "500 ms blocks")
    for col in ("deployment", "trades/s", "seconds", "blocks", "lag p50 (blocks)", "lag p99", "lag max"):
        t.add_column(col, justify="left" if col == "deployment" else "right")
    single, rep = res["single"], res["replicated"]
    assert isinstance(single, dict) and isinstance(rep, dict)
    t.add_row("single node (SQLite)", f"{single['leader_trades_per_s']:,.0f}",
              f"{single['leader_seconds']:.2f}", str(single["blocks"]), "-", "-", "-")
    alone, catch = res["leader_alone"], res["catch_up"]
    assert isinstance(alone, dict) and isinstance(catch, dict)
    t.add_row("leader alone -> JetStream R3 (no follower)", f"{alone['leader_trades_per_s']:,.0f}",
              f"{alone['leader_seconds']:.2f}", str(alone["blocks"]), "-", "-", "-")
    t.add_row("2 followers from scratch replay that (catch-up)", f"{catch['trades_per_s']:,.0f}",
              f"{catch['seconds']:.2f}", str(catch["blocks"]), "-", "-", "-")
    t.add_row("leader, 2 followers live: included", f"{rep['leader_trades_per_s']:,.0f}",
              f"{rep['leader_seconds']:.2f}", str(rep["blocks"]), "-", "-", "-")
    t.add_row("  through both followers (re-executed, journalled)", f"{rep['replicated_trades_per_s']:,.0f}",
              f"{rep['replicated_seconds']:.2f}", str(rep["blocks"]), f"{rep['lag_p50_blocks']}",
              f"{rep['lag_p99_blocks']}", f"{rep['lag_max_blocks']}")
    console.print(t)
    console.print(f"ratio replicated/single: leader alone {res['ratio_leader_alone']:.2f}, leader with "
                  f"followers {res['ratio_leader']:.2f}, through followers "
                  f"{res['ratio_replicated']:.2f}; followers on the same root: {rep['followers_same_root']}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--million", action="store_true", help="add the 1M-account case")
    parser.add_argument("--out", type=Path, default=Path("bench-results/replication.json"))
    parser.add_argument("--replicated", action="store_true",
                        help="also leader -> JetStream -> 2 followers vs a single node (needs nats-server)")
    parser.add_argument("--replicated-only", action="store_true", help="only the replicated part")
    parser.add_argument("--trades", type=int, default=None, help="trades per run of the replicated part")
    args = parser.parse_args()
    console = Console(width=140)
    replicated = None
    if args.replicated or args.replicated_only:
        replicated = bench_replicated(console, args.trades or (2_000 if args.quick else 10_000))
    if args.replicated_only:
        write_results(args.out, {"meta": _meta(), "replicated": replicated}, console)
        return
    book_rows = bench_book(5_000 if args.quick else 20_000)
    t = Table(title="order book alone (one market)")
    for col in ("case", "orders", "fills", "refused", "orders/s", "fills/s", "CPU µs/order"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for r in book_rows:
        t.add_row(
            str(r["case"]),
            f"{r['orders']:,}",
            f"{r['fills']:,}",
            f"{r['refused']:,}",
            f"{r['orders_per_s']:,.0f}",
            f"{r['fills_per_s']:,.0f}",
            f"{r['cpu_us_per_order']:.1f}",
        )
    console.print(t)
    sizes = [1_000, 10_000] if args.quick else [1_000, 100_000]
    if args.million:
        sizes.append(1_000_000)
    proof_rows = [bench_proofs(n) for n in sizes]
    t = Table(title="account proofs vs number of accounts")
    for col in (
        "accounts",
        "tree build s",
        "siblings",
        "inclusion bytes",
        "check µs",
        "non-inclusion bytes",
        "check µs ",
    ):
        t.add_column(col, justify="right")
    for r in proof_rows:
        t.add_row(
            f"{r['accounts']:,}",
            f"{r['build_s']:.2f}",
            str(r["siblings"]),
            f"{r['inclusion_bytes']:,.0f}",
            f"{r['inclusion_check_us']:.0f}",
            f"{r['non_inclusion_bytes']:,.0f}",
            f"{r['non_inclusion_check_us']:.0f}",
        )
    console.print(t)
    tlog_rows = [bench_tlog(n) for n in sizes]
    t = Table(title="transparency log (RFC 9162) vs number of journal rows")
    for col in ("rows", "append µs", "inclusion hashes", "check µs", "consistency hashes", "check µs "):
        t.add_column(col, justify="right")
    for r in tlog_rows:
        t.add_row(
            f"{r['rows']:,}",
            f"{r['append_us']:.1f}",
            f"{r['inclusion_hashes']:.0f}",
            f"{r['inclusion_check_us']:.0f}",
            f"{r['consistency_hashes']:.0f}",
            f"{r['consistency_check_us']:.0f}",
        )
    console.print(t)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": _meta(), "book": book_rows, "proofs": proof_rows, "tlog": tlog_rows}
    if replicated is not None:
        doc["replicated"] = replicated
    write_results(args.out, doc, console)


if __name__ == "__main__":
    main()
