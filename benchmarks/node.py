"""The node benchmark: signed trades per second through HTTP, submit-to-inclusion latency, and the same
engine without HTTP in the same run.

Run from the repository root::

    python -m benchmarks.node             # 10,000 trades, 40 traders
    python -m benchmarks.node --quick     # 2,000 trades
    clearhouse bench node [--trades N]

A trade is a ``MatchedFill``: two signed orders (buyer's and seller's) inside an envelope signed by the
submitter, so each trade carries three ed25519 signatures. Every one is verified once: the envelope at
submission (the node's verified-signature cache lets the block skip it), the two orders by the engine
when it clears the fill; every block is journalled (SQLite, ``synchronous=FULL`` as the journal sets it).

1. **Throughput (HTTP):** a node process on 127.0.0.1 (500 ms blocks); client threads post pre-signed
   trades in batches (``POST /v1/txs/batch``) as fast as the node takes them; trades/s = trades included
   / time from the first post to the last inclusion.
2. **Latency (HTTP):** single ``POST /v1/txs`` at 50 % of the measured rate; inclusion seen on the SSE
   stream (the block header lists every transaction's outcome); p50/p99 submit-to-inclusion.
3. **Engine without HTTP:** the same trades applied in-process in blocks of the same size through
   ``Engine.apply_block`` with a SQLite journal (signatures verified by the engine, no cache).

Loopback only: the latency is not comparable to Hyperliquid's published end-to-end figures (median
0.2 s, p99 0.9 s over the internet); it is stated next to them for scale. Writes
``bench-results/node.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import msgspec
from rich.console import Console
from rich.table import Table

from benchmarks._common import write_results
from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.envelope import encode_signed, sign
from clearhouse.auth.keys import KeyPair, save_key
from clearhouse.auth.orders import Fill, Order, sign_order
from clearhouse.client import Client, W
from clearhouse.journal import open_store
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.node.config import NodeConfig, dump_config
from clearhouse.node.genesis import genesis_block

CHAIN = "clearhouse-devnet"
SIZE = W("0.01")
PRICE = W(2000)


def _keys(n: int, base: int) -> list[KeyPair]:
    return [KeyPair.from_seed((base + i).to_bytes(32, "big")) for i in range(n)]


def _setup_envelopes(
    admin: KeyPair, traders: list[KeyPair], nonce0: int, gtt: int
) -> tuple[list[bytes], list[bytes]]:
    opens = [encode_signed(sign(k, c.OpenAccount(f"t{i}", k.public_hex), chain_id=CHAIN, nonce=nonce0,
                                good_til_time=gtt)) for i, k in enumerate(traders)]
    deps = [encode_signed(sign(admin, c.Deposit(f"t{i}", "USDC", W(1_000_000)), chain_id=CHAIN,
                               nonce=nonce0 + i, good_til_time=gtt)) for i in range(len(traders))]
    return opens, deps


def _trades(traders: list[KeyPair], n: int, nonce0: int, gtt: int) -> list[list[bytes]]:
    """Pre-signed trades, grouped by submitter (trader k submits its own fills, nonces ascending).
    Trader pairs alternate sides so positions stay small."""
    k = len(traders)
    by_submitter: list[list[bytes]] = [[] for _ in range(k)]
    for i in range(n):
        a, b = (2 * i) % k, (2 * i + 1) % k
        if (i // k) % 2:
            a, b = b, a
        cid = nonce0 + i
        buy = sign_order(Order(CHAIN, f"t{a}", "ETH-PERP", "buy", SIZE, PRICE, cid, good_til_time=gtt),
                         traders[a])
        sell = sign_order(Order(CHAIN, f"t{b}", "ETH-PERP", "sell", SIZE, PRICE, cid, good_til_time=gtt),
                          traders[b])
        fill = MatchedFill(buy, sell, Fill("ETH-PERP", SIZE, PRICE, "buyer"))
        sub = a
        nonce = nonce0 + 1_000 + len(by_submitter[sub])
        by_submitter[sub].append(encode_signed(sign(traders[sub], fill, chain_id=CHAIN, nonce=nonce,
                                                    good_til_time=gtt)))
    return by_submitter


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc); 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_http(tmp: Path, admin: KeyPair, traders: list[KeyPair], trades: list[list[bytes]], latency_n: int,
             threads: int, block_ms: int) -> dict[str, object]:
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = NodeConfig(port=port, journal=f"sqlite:///{tmp}/http/journal.sqlite", data_dir=str(tmp / "http"),
                     block_time_ms=block_ms, admin_keys=(admin.public_hex,), rate_per_ip=1e9,
                     rate_per_key=1e9,
                     mempool_size=50_000, max_block_txs=5_000, max_body_bytes=1 << 20)
    conf = tmp / "node.toml"
    conf.write_text(dump_config(cfg))
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    node = subprocess.Popen([sys.executable, "-c", "from clearhouse.cli.main import app; app()", "node",
                             "--config", str(conf), "--log-level", "warning"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/v1/status", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        cl = Client(url)
        now = int(time.time() * 1000)
        opens, deps = _setup_envelopes(admin, traders, now, now + 600_000)
        for group in (opens, deps):
            res = cl.http.post("/v1/txs/batch", content=b"\n".join(group)).json()["results"]
            for r in res:
                cl.wait(r["hash"], 30)
        total = sum(len(t) for t in trades)
        # throughput: threads post their submitters' trades in batches of 500
        chunks: list[list[bytes]] = [[] for _ in range(threads)]
        for i, group in enumerate(trades):
            chunks[i % threads].extend(group)
        refused: list[str] = []
        last_hashes: list[str] = []

        def post(mine: list[bytes]) -> None:
            with httpx.Client(base_url=url, timeout=60) as h:
                for j in range(0, len(mine), 500):
                    while True:
                        res = h.post("/v1/txs/batch", content=b"\n".join(mine[j:j + 500])).json()["results"]
                        bad = [r for r in res if r.get("code")]
                        if any(r["code"] == "mempool_full" for r in bad):
                            time.sleep(0.05)  # back-pressure: resend only the refused ones
                            mine[j:j + 500] = [m for m, r in zip(mine[j:j + 500], res, strict=True)
                                               if r.get("code") == "mempool_full"]
                            continue
                        refused.extend(str(r["code"]) for r in bad)
                        good = [r["hash"] for r in res if r.get("hash")]
                        if good:
                            last_hashes.append(good[-1])
                        break

        h0 = cl.status()["height"]
        cpu0 = _cpu_seconds(node.pid)
        t0 = time.perf_counter()
        ts = [threading.Thread(target=post, args=(ch,)) for ch in chunks]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        submitted = time.perf_counter() - t0
        while cl.status()["mempool"] > 0:
            time.sleep(0.02)
        for h in last_hashes:
            cl.wait(h, 60)
        elapsed = time.perf_counter() - t0
        node_cpu = _cpu_seconds(node.pid) - cpu0
        metrics = cl.http.get("/metrics").text
        included = sum(
            float(line.split()[-1]) for line in metrics.splitlines()
            if line.startswith('clearhouse_txs_total{outcome="included"}')
        ) - 2 * len(traders)
        blocks = cl.status()["height"] - h0
        rate = included / elapsed
        # latency at 50 % of that rate: single posts, inclusion observed on the stream
        lat: list[float] = []
        sent_at: dict[str, float] = {}
        seq0 = cl.status()["next_seq"]
        done = threading.Event()

        def listen() -> None:
            with httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=30)) as h, \
                    h.stream("GET", "/v1/stream", params={"from_seq": seq0}) as r:
                for line in r.iter_lines():
                    if not line.startswith("data: ") or '"type":"block"' not in line:
                        continue
                    seen = time.perf_counter()
                    for tx in msgspec.json.decode(line[6:])["txs"]:
                        t = sent_at.get(tx["hash"])
                        if t is not None:
                            lat.append(seen - t)
                    if len(lat) >= latency_n or done.is_set():
                        return

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(0.3)
        wall_ms = int(time.time() * 1000)
        extra = _trades(traders, latency_n, wall_ms + 10_000_000, wall_ms + 600_000)
        flat = [t for g in extra for t in g]
        # order: by submitter, ascending nonces; interleave submitters round-robin to spread keys
        interval = 1.0 / max(1.0, rate * 0.5)
        with httpx.Client(base_url=url, timeout=30) as h:
            start = time.perf_counter()
            for i, raw in enumerate(flat):
                target = start + i * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                t = time.perf_counter()
                r = h.post("/v1/txs", content=raw)
                if r.status_code == 202:
                    sent_at[r.json()["hash"]] = t
        listener.join(60)
        done.set()
        cl.close()
        return {
            "trades": total, "included": int(included), "refused": len(refused), "seconds": elapsed,
            "submit_seconds": submitted, "trades_per_s": rate, "blocks": blocks, "node_cpu_seconds": node_cpu,
            "trades_per_node_cpu_s": included / node_cpu if node_cpu else None,
            "latency_load_per_s": 1 / interval, "latency_samples": len(lat),
            "p50_ms": 1000 * statistics.median(lat) if lat else None,
            "p99_ms": 1000 * _percentile(lat, 0.99) if lat else None,
        }
    finally:
        node.terminate()
        node.wait(20)


def run_engine(tmp: Path, admin: KeyPair, traders: list[KeyPair], trades: list[list[bytes]],
               block_txs: int) -> dict[str, object]:
    cfg = NodeConfig(admin_keys=(admin.public_hex,))
    (tmp / "engine").mkdir()
    store = open_store(f"sqlite:///{tmp}/engine/journal.sqlite")
    engine = Engine(journal=store)
    t = int(time.time())
    engine.apply_block(genesis_block(cfg, t))
    now = t * 1000
    opens, deps = _setup_envelopes(admin, traders, now, now + 600_000)
    engine.apply_block(Block(2, t + 1, signed=tuple(msgspec.Raw(o) for o in opens)))
    engine.apply_block(Block(3, t + 2, signed=tuple(msgspec.Raw(d) for d in deps)))
    # the same arrival order as the HTTP run would give: round-robin over submitters
    flat = [raw for group in trades for raw in group]
    height, tm = 4, t + 3
    applied = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for j in range(0, len(flat), block_txs):
        signed = tuple(msgspec.Raw(r) for r in flat[j:j + block_txs])
        res = engine.apply_block(Block(height, tm, signed=signed))
        applied += sum(type(e).__name__ == "FillCleared" for e in res.events)
        height += 1
        tm += 1
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    store.close()
    return {"trades": len(flat), "included": applied, "seconds": elapsed, "trades_per_s": applied / elapsed,
            "blocks": height - 4, "cpu_seconds": cpu, "trades_per_cpu_s": applied / cpu}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trades", type=int, default=10_000)
    p.add_argument("--traders", type=int, default=40)
    p.add_argument("--latency-trades", type=int, default=1_000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--block-ms", type=int, default=500)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("bench-results/node.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.trades, args.latency_trades = 2_000, 300
    console = Console(width=130)
    admin = KeyPair.from_seed(b"\x42" * 32)
    traders = _keys(args.traders, 1000)
    now = int(time.time() * 1000)
    console.print(f"signing {args.trades} trades ({3 * args.trades} signatures)…")
    trades = _trades(traders, args.trades, now, now + 900_000)
    with tempfile.TemporaryDirectory(prefix="clearhouse-bench-node-") as d:
        tmp = Path(d)
        save_key(tmp / "admin.key", admin)
        console.print("HTTP: node process, batch submissions, then paced single submissions…")
        http = run_http(tmp, admin, traders, trades, args.latency_trades, args.threads, args.block_ms)
        console.print("engine without HTTP…")
        trades2 = _trades(traders, args.trades, now + 50_000_000, now + 900_000)
        eng = run_engine(tmp, admin, traders, trades2, 5_000)
    table = Table(title="clearhouse node: signed trades (3 ed25519 signatures each), loopback")
    for col in ("path", "trades included", "seconds", "trades/s", "trades/CPU-s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    per_cpu = http["trades_per_node_cpu_s"]
    table.add_row("HTTP node (batches)", str(http["included"]), f"{http['seconds']:.2f}",
                  f"{http['trades_per_s']:,.0f}", f"{per_cpu:,.0f}" if per_cpu else "-", "", "")
    p50, p99 = http["p50_ms"], http["p99_ms"]
    p50s = f"{p50:.0f}" if p50 is not None else "-"
    p99s = f"{p99:.0f}" if p99 is not None else "-"
    table.add_row(f"HTTP node, singles at {http['latency_load_per_s']:,.0f}/s", str(http["latency_samples"]),
                  "", "", "", p50s, p99s)
    table.add_row("engine only (same trades)", str(eng["included"]), f"{eng['seconds']:.2f}",
                  f"{eng['trades_per_s']:,.0f}", f"{eng['trades_per_cpu_s']:,.0f}", "", "")
    table.add_row("Hyperliquid, published e2e", "", "", "", "", "200", "900")
    console.print(table)
    ratio = float(http["trades_per_s"]) / float(eng["trades_per_s"])  # type: ignore[arg-type]
    console.print(f"HTTP / engine-only throughput: {ratio:.2f}; block time {args.block_ms} ms; "
                  f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(), "block_ms": args.block_ms, "traders": args.traders}
    write_results(args.out, {"meta": meta, "http": http, "engine": eng, "ratio": ratio}, console)


if __name__ == "__main__":
    main()
