"""The replicated part of ``benchmarks/replication.py`` (``--replicated``): signed trades per second
through leader -> JetStream (3 servers, R3) -> 2 followers, follower lag in blocks, and the same load on
a single node (embedded SQLite) in the same run; the ratio is the cost of replication.

Both runs use node processes on 127.0.0.1 with the same settings (500 ms blocks, batches of 500 pre-signed
trades posted by 4 threads) and the trades of ``benchmarks/node.py`` (a matched fill of two signed orders in
a signed envelope: three ed25519 signatures each). **Leader rate** = trades included by the leader / time
from the first post to the last inclusion (a block is included only after JetStream acknowledged it);
**replicated rate** = the same trades / time until both followers have re-executed and journalled the last
block. **Lag** = leader height - follower height, sampled every 50 ms over the run, p50/p99 per follower
pooled. In between, the same load on the leader with no follower running (**leader alone**: the cost of
the log without followers competing for the CPU), then two followers started from scratch replay that
history (**catch-up**, node starts included). All processes (3 nats-server, 3 nodes, the client) share
the machine's cores, so "through followers" measures a one-machine cluster. Needs Debian's ``nats-server``.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.node import _keys, _setup_envelopes, _trades
from clearhouse.auth.keys import KeyPair
from clearhouse.node.config import NodeConfig, ReplicationConfig, dump_config
from clearhouse.replication.cluster import JetStreamCluster

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node(
    tmp: Path, name: str, admin: KeyPair, block_ms: int, nats: str = ""
) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    d = tmp / name
    d.mkdir(parents=True)
    cfg = NodeConfig(port=port, journal=f"sqlite:///{d}/journal.sqlite", data_dir=str(d / "data"),
                     block_time_ms=block_ms, admin_keys=(admin.public_hex,), rate_per_ip=1e9,
                     rate_per_key=1e9,
                     mempool_size=50_000, max_block_txs=5_000, max_body_bytes=1 << 20,
                     replication=ReplicationConfig(nats=nats))
    (d / "node.toml").write_text(dump_config(cfg))
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = (d / "node.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-c", "from clearhouse.cli.main import app; app()", "node",
                             "--config", str(d / "node.toml"), "--log-level", "warning"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"node {name} exited: {(d / 'node.log').read_text()[-2000:]}")
        try:
            httpx.get(url + "/v1/status", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"node {name} did not come up")


def _height(h: httpx.Client) -> int:
    return int(h.get("/v1/status").json()["height"])


def _wait(h: httpx.Client, tx_hash: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while h.get(f"/v1/txs/{tx_hash}").json()["status"] not in ("included", "failed", "rejected", "expired"):
        if time.monotonic() > deadline:
            raise TimeoutError(tx_hash)
        time.sleep(0.02)


def _load(url: str, followers: list[str], admin: KeyPair, traders: list[KeyPair], n: int,
          threads: int = 4) -> dict[str, object]:
    now = int(time.time() * 1000)
    opens, deps = _setup_envelopes(admin, traders, now, now + 600_000)
    trades = _trades(traders, n, now, now + 600_000)
    with httpx.Client(base_url=url, timeout=60) as h:
        for group in (opens, deps):
            for r in h.post("/v1/txs/batch", content=b"\n".join(group)).json()["results"]:
                _wait(h, r["hash"])
        chunks: list[list[bytes]] = [[] for _ in range(threads)]
        for i, group in enumerate(trades):
            chunks[i % threads].extend(group)
        last: list[str] = []
        refused: list[str] = []

        def post(mine: list[bytes]) -> None:
            with httpx.Client(base_url=url, timeout=60) as hc:
                j = 0
                while j < len(mine):
                    batch = mine[j:j + 500]
                    res = hc.post("/v1/txs/batch", content=b"\n".join(batch)).json()["results"]
                    retry = [m for m, r in zip(batch, res, strict=True) if r.get("code") == "mempool_full"]
                    refused.extend(str(r["code"]) for r in res
                                   if r.get("code") and r["code"] != "mempool_full")
                    good = [r["hash"] for r in res if r.get("hash")]
                    if good:
                        last.append(good[-1])
                    if retry:
                        mine[j:j + 500] = retry
                        time.sleep(0.05)
                    else:
                        j += 500

        lags: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            hs = [httpx.Client(base_url=f, timeout=30) for f in followers]
            while not stop.is_set():
                try:
                    top = _height(h2)
                    lags.extend(max(0, top - _height(x)) for x in hs)
                except httpx.HTTPError:
                    pass  # a node busy applying a full block for longer than the timeout
                time.sleep(0.05)
            for x in hs:
                x.close()

        h2 = httpx.Client(base_url=url, timeout=30)
        sampler = threading.Thread(target=sample)
        if followers:
            sampler.start()
        h0 = _height(h)
        t0 = time.perf_counter()
        ts = [threading.Thread(target=post, args=(ch,)) for ch in chunks]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        while h.get("/v1/status").json()["mempool"] > 0:
            time.sleep(0.02)
        for tx in last:
            _wait(h, tx)
        leader_s = time.perf_counter() - t0
        top = _height(h)
        caught = leader_s
        if followers:
            fs = [httpx.Client(base_url=f, timeout=30) for f in followers]
            while any(_height(x) < top for x in fs):
                time.sleep(0.01)
            caught = time.perf_counter() - t0
            stop.set()
            sampler.join(10)
            roots = {x.get("/v1/status").json()["state_root"] for x in fs}
            for x in fs:
                x.close()
        h2.close()
        blocks = top - h0
        return {
            "trades": n, "refused": len(refused), "blocks": blocks, "leader_seconds": leader_s,
            "leader_trades_per_s": n / leader_s, "replicated_seconds": caught,
            "replicated_trades_per_s": n / caught,
            "lag_samples": len(lags),
            "lag_p50_blocks": statistics.median(lags) if lags else None,
            "lag_p99_blocks": sorted(lags)[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else None,
            "lag_max_blocks": max(lags) if lags else None,
            "followers_same_root": (len(roots) == 1) if followers else None,
        }


def run(n: int, traders: int = 40, block_ms: int = 500) -> dict[str, object]:
    admin = KeyPair.generate()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="clearhouse-bench-repl-") as d:
        tmp = Path(d)
        proc, url = _node(tmp, "single", admin, block_ms)
        try:
            out["single"] = _load(url, [], admin, _keys(traders, 50_000), n)
        finally:
            proc.terminate()
            proc.wait(20)
        with JetStreamCluster(tmp / "jetstream") as cluster:
            procs = []
            try:
                lp, lurl = _node(tmp, "leader", admin, block_ms, cluster.url_list)
                procs.append(lp)
                for _ in range(200):  # the first node takes the lease and writes genesis
                    if httpx.get(lurl + "/v1/replication").json()["role"] == "leader":
                        break
                    time.sleep(0.05)
                # the log alone: the leader publishing to JetStream, no follower competing for the CPU
                out["leader_alone"] = _load(lurl, [], admin, _keys(traders, 70_000), n)
                with httpx.Client(base_url=lurl, timeout=30) as h:
                    top = _height(h)
                # two followers from scratch replay that history (re-executing every block)
                t0 = time.perf_counter()
                furls = []
                for i in range(2):
                    fp, furl = _node(tmp, f"follower{i + 1}", admin, block_ms, cluster.url_list)
                    procs.append(fp)
                    furls.append(furl)
                for furl in furls:
                    with httpx.Client(base_url=furl, timeout=30) as fh:
                        while _height(fh) < top:
                            time.sleep(0.05)
                catch_up = time.perf_counter() - t0
                out["catch_up"] = {"blocks": top, "trades": n, "seconds": catch_up,
                                   "trades_per_s": n / catch_up, "note": "includes the two node starts"}
                # the same load with both followers live
                out["replicated"] = _load(lurl, furls, admin, _keys(traders, 60_000), n)
            except Exception:
                for name in ("leader", "follower1", "follower2"):
                    log = tmp / name / "node.log"
                    if log.exists():
                        print(f"--- {name}:\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
                raise
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(20)
    single = out["single"]["leader_trades_per_s"]  # type: ignore[index]
    rep = out["replicated"]
    out["ratio_leader"] = rep["leader_trades_per_s"] / single  # type: ignore[index]
    out["ratio_replicated"] = rep["replicated_trades_per_s"] / single  # type: ignore[index]
    out["ratio_leader_alone"] = out["leader_alone"]["leader_trades_per_s"] / single  # type: ignore[index]
    return out
