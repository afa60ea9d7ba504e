"""A replicated devnet on 127.0.0.1 for the tests: a 3-server JetStream cluster and
node processes sharing one genesis config, each with its own port, journal and data dir."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats

import clearhouse
from clearhouse.auth.keys import KeyPair, save_key
from clearhouse.node.config import NodeConfig, ReplicationConfig, dump_config
from clearhouse.replication.cluster import JetStreamCluster

SRC = str(Path(clearhouse.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", "from clearhouse.cli.main import app; app()", *args],
                          env=env, capture_output=True, timeout=timeout, check=False)


def wait_until(pred: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``pred`` until it holds or ``timeout`` passes. A node's API that does not answer for a
    moment (its loop busy with a block, a publish waiting out a JetStream election) counts as "not yet",
    not as a failure: the bound is what is checked; the last such error is in the timeout message."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except httpx.HTTPError as err:
            last = f" (last poll: {type(err).__name__}: {err})"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}{last}")


@dataclass
class ReplicaProc:
    root: Path
    config: Path
    url: str
    journal: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        log = (self.root / "node.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from clearhouse.cli.main import app; app()", "node", "--config",
             str(self.config), "--log-level", "warning", *extra],
            env={**os.environ, "PYTHONPATH": SRC}, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited: {self.log()}")
            try:
                httpx.get(f"{self.url}/v1/status", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"node {self.url} did not come up: {self.log()}")

    def log(self, tail: int = 3000) -> str:
        path = self.root / "node.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def status(self) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/v1/replication", timeout=2)
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class ReplicatedDevnet:
    """``nodes`` node processes on one JetStream cluster (not started: call ``start_cluster``)."""

    root: Path
    nodes: int = 3
    block_time_ms: int = 200
    lease_ttl_ms: int = 1500
    replicas: list[ReplicaProc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cluster = JetStreamCluster(self.root / "jetstream")
        self.admin = KeyPair.generate()
        save_key(self.root / "keys" / "admin.key", self.admin)
        for i in range(self.nodes):
            self.replicas.append(self.make_replica(f"node{i + 1}"))

    def make_replica(self, name: str) -> ReplicaProc:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        port = free_port()
        journal = f"sqlite:///{d}/journal.sqlite"
        cfg = NodeConfig(
            port=port, journal=journal, data_dir=str(d / "data"), block_time_ms=self.block_time_ms,
            admin_keys=(self.admin.public_hex,),
            replication=ReplicationConfig(nats=self.cluster.url_list, lease_ttl_ms=self.lease_ttl_ms),
        )
        path = d / "node.toml"
        path.write_text(dump_config(cfg), encoding="utf-8")
        return ReplicaProc(d, path, f"http://127.0.0.1:{port}", journal)

    def start_cluster(self) -> None:
        self.cluster.start()

    def stream_leader(self, stream: str = "clearhouse-blocks") -> int:
        """Index of the JetStream server leading the stream's Raft group."""

        async def ask() -> str:
            nc = await nats.connect(self.cluster.urls)
            try:
                info = await nc.jetstream().stream_info(stream)
                assert info.cluster is not None
                return str(info.cluster.leader)
            finally:
                await nc.close()

        deadline = time.monotonic() + 20
        while True:  # right after a server loss the group may be electing (no leader for seconds)
            try:
                leader = asyncio.run(ask())
            except Exception as err:  # no stream leader to answer: the request times out
                leader = f"{type(err).__name__}: {err}"
            if leader.startswith("n") and leader[1:].isdigit():
                return int(leader[1:]) - 1
            if time.monotonic() > deadline:
                raise AssertionError(f"stream {stream} has no leader (cluster reports {leader!r})")
            time.sleep(0.2)

    def one_leader(self, timeout: float, what: str) -> ReplicaProc:
        """Wait until exactly one live node says it leads, and return *that* node (the one seen, not
        the result of a second poll: leadership can move between two polls)."""
        seen: list[ReplicaProc] = []

        def one() -> bool:
            seen[:] = self.leaders()
            return len(seen) == 1

        wait_until(one, timeout, what)
        return seen[0]

    def leaders(self) -> list[ReplicaProc]:
        out = []
        for r in self.replicas:
            if r.proc is None or r.proc.poll() is not None:
                continue
            try:
                if r.status()["role"] == "leader":
                    out.append(r)
            except httpx.HTTPError:
                pass
        return out

    def stop(self) -> None:
        for r in self.replicas:
            r.stop()
        self.cluster.stop()


def with_nats(cfg: NodeConfig, urls: str) -> NodeConfig:
    return msgspec.structs.replace(cfg, replication=msgspec.structs.replace(cfg.replication, nats=urls))
